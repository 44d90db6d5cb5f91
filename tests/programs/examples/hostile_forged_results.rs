//! Answers with forged results: for each setting it was given, a result with the right id but a
//! shifted group position, one with the id in upper case, one without a group for a grouped
//! setting, and one with an empty id; then a genuine `compliant` for every setting but the
//! last, a second (contradicting) `error` for the first, and nothing for the last. The host
//! must count only the genuine answers.

use rampart_sdk::{Device, GroupPosition, Plugin, Setting, SettingResult, SettingStatus};

struct Forged;

impl Plugin for Forged {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut out = Vec::new();
        for s in &settings {
            let forged = |id: String, group: Option<GroupPosition>| SettingResult {
                id,
                group,
                status: SettingStatus::Remediated,
                message: Some("forged".into()),
                code: None,
            };
            let shifted = Some(match &s.group {
                Some(g) => GroupPosition {
                    definition_id: g.definition_id.clone(),
                    index: g.index + 1000,
                },
                None => GroupPosition {
                    definition_id: "test_group".into(),
                    index: 0,
                },
            });
            out.push(forged(s.id.clone(), shifted));
            out.push(forged(s.id.to_uppercase(), s.group.clone()));
            if s.group.is_some() {
                out.push(forged(s.id.clone(), None));
            }
            out.push(forged(String::new(), None));
        }
        let keep = settings.len().saturating_sub(1);
        out.extend(settings.iter().take(keep).map(Setting::compliant));
        if let Some(first) = settings.first() {
            out.push(first.error("contradicts the first answer"));
        }
        out
    }
}

rampart_sdk::export_plugin!(
    Forged,
    manifest = r#"[plugin]
name = "hostile-forged-results"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
