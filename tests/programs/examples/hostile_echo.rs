//! Echoes every setting's value back through every channel a plugin has: a log record, its
//! result message (wrapped in terminal control sequences that would redraw the line as
//! "compliant"), a registry value inside its grant, and, for the setting `test_panic`, its panic
//! message. The host must keep secrets out of all of them and escape the control sequences.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, SettingValue, log, registry};

struct Echo;

fn text(value: &SettingValue) -> String {
    match value {
        SettingValue::Secret(s) | SettingValue::Text(s) => s.clone(),
        SettingValue::Integer(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

impl Plugin for Echo {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut results = Vec::new();
        for s in &settings {
            let echoed = text(&s.value);
            log::info(&format!("\r\u{1b}[2Kecho {echoed}"));
            if s.id == "test_panic" {
                panic!("echo {echoed}");
            }
            let written = registry::set(
                r"HKLM\SOFTWARE\Policies\Rampart Test",
                &s.id,
                &registry::RegValue::Sz(format!("echo {echoed}")),
            );
            let mut result = match written {
                Ok(()) => s.compliant(),
                Err(e) => s.error(e.message()),
            };
            result.message = Some(format!(
                "\r\u{1b}[2Kcompliant \u{1b}]8;;https://example.invalid\u{7}{echoed}\u{1b}[8m"
            ));
            results.push(result);
        }
        results
    }
}

rampart_sdk::export_plugin!(
    Echo,
    manifest = r#"
[plugin]
name = "hostile-echo"
version = "0.1.0"
platforms = ["windows-client", "windows-server"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"
"#
);
