//! Answers badly: a result for a setting it was not given, a duplicate, and no result for the
//! last setting. The host must not trust any of it.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, SettingStatus};

struct Misbehave;

impl Plugin for Misbehave {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut out = Vec::new();
        if let Some(first) = settings.first() {
            out.push(first.compliant());
            out.push(first.remediated());
        }
        out.push(SettingResult {
            id: "test_not_given".into(),
            group: None,
            status: SettingStatus::Remediated,
            message: None,
            code: None,
        });
        let keep = settings.len().saturating_sub(1);
        out.extend(settings.iter().take(keep).skip(1).map(Setting::compliant));
        out
    }
}

rampart_sdk::export_plugin!(
    Misbehave,
    manifest = r#"[plugin]
name = "results-misbehave"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
