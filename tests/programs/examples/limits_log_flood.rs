//! Logs 500 messages of 64 KiB each, then answers `compliant`: the host must keep a bounded
//! number of log bytes (each message truncated, the total capped) and count the rest as dropped.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, log};

struct LogFlood;

impl Plugin for LogFlood {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let big = "x".repeat(64 << 10);
        for _ in 0..500 {
            log::warn(&big);
        }
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    LogFlood,
    manifest = r#"[plugin]
name = "limits-log-flood"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
