//! Allocates without bound: the run must end in a memory-limit error.

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Bomb;

impl Plugin for Bomb {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            if std::hint::black_box(hoard.len()) == usize::MAX {
                break;
            }
        }
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    Bomb,
    manifest = r#"[plugin]
name = "limits-memory-bomb"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
