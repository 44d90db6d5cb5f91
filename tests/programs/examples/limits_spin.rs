//! Never returns: the run must end in a timeout error.

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Spin;

impl Plugin for Spin {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
            if n == 0 {
                break;
            }
        }
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    Spin,
    manifest = r#"[plugin]
name = "limits-spin"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
