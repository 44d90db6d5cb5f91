//! Version 1 of the `swap-test` plugin: answers every setting with `compliant` and the
//! message `v1`, so tests can tell which version served a run.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, SettingStatus};

struct Swap;

impl Plugin for Swap {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        settings
            .iter()
            .map(|s| SettingResult {
                message: Some("v1".into()),
                ..s.result_with(SettingStatus::Compliant)
            })
            .collect()
    }
}

rampart_sdk::export_plugin!(
    Swap,
    manifest = r#"
[plugin]
name = "swap-test"
version = "1.0.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]
"#
);
