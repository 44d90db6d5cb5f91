//! Answers with 200 000 results (for settings it was never given) and a 1 MiB message: the
//! host must refuse the answer as a whole with a typed error rather than process it.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, SettingStatus};

struct HugeResults;

impl Plugin for HugeResults {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut out: Vec<SettingResult> = settings
            .iter()
            .map(|s| s.error("m".repeat(1 << 20)))
            .collect();
        out.extend((0..200_000).map(|i| SettingResult {
            id: format!("test_{i}"),
            group: None,
            status: SettingStatus::Compliant,
            message: None,
            code: None,
        }));
        out
    }
}

rampart_sdk::export_plugin!(
    HugeResults,
    manifest = r#"[plugin]
name = "limits-huge-results"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
