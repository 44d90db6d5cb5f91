//! Reads a file through std, so the component imports wasi:filesystem: it must be refused at
//! load (plugins reach files only through the rampart files capability).

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Fs;

impl Plugin for Fs {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let read = std::fs::read("/etc/passwd").is_ok();
        settings
            .iter()
            .map(|s| {
                if read {
                    s.remediated()
                } else {
                    s.error("no file")
                }
            })
            .collect()
    }
}

rampart_sdk::export_plugin!(
    Fs,
    manifest = r#"[plugin]
name = "caps-forbidden-filesystem"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
