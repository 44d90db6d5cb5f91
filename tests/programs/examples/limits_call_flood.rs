//! Calls the host without end (asking whether a log level is enabled, which keeps no record):
//! the run must trap at the host-call budget.

use rampart_sdk::log::{self, Level};
use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Flood;

impl Plugin for Flood {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut n: u64 = 0;
        loop {
            std::hint::black_box(log::enabled(Level::Debug));
            n += 1;
            if std::hint::black_box(n) == u64::MAX {
                break;
            }
        }
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    Flood,
    manifest = r#"[plugin]
name = "limits-call-flood"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
