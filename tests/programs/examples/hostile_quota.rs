//! Fills its own registry key or file root: for each setting `test_*` with integer value `n`,
//! writes `n` REG_EXPAND_SZ values of 1 MiB each, named after the setting (or, for
//! `test_file_*`, `n` files of 1 MiB in the root `data`). Each is within the per-value cap;
//! together they must run into the run's write budget.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, SettingValue, files, registry};

struct Quota;

impl Plugin for Quota {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut results = Vec::new();
        for s in &settings {
            let SettingValue::Integer(n) = s.value else {
                results.push(s.error("an integer count is expected"));
                continue;
            };
            let mut outcome = s.remediated();
            for i in 0..n {
                let text = format!("{i:08}").repeat(1 << 17);
                let name = format!("{}-{i}", s.id);
                let written = if s.id.starts_with("test_file") {
                    files::write("data", &name, text.as_bytes())
                } else {
                    registry::set(
                        r"HKLM\SOFTWARE\Policies\Rampart Test",
                        &name,
                        &registry::RegValue::ExpandSz(text),
                    )
                };
                if let Err(e) = written {
                    outcome = s.error(e.message());
                    break;
                }
            }
            results.push(outcome);
        }
        results
    }
}

rampart_sdk::export_plugin!(
    Quota,
    manifest = r#"
[plugin]
name = "hostile-quota"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"

[[grants.files]]
root = "data"
access = "read-write"
"#
);
