//! Prints 64 KiB to stderr (which the host captures to explain panics), then answers
//! `compliant` for every setting.

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct StderrFlood;

impl Plugin for StderrFlood {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let line = "x".repeat(1023);
        for _ in 0..64 {
            eprintln!("{line}");
        }
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    StderrFlood,
    manifest = r#"[plugin]
name = "hostile-stderr-flood"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
