//! Fills its own registry key: for each setting `test_*` with integer value `n`, writes `n`
//! REG_EXPAND_SZ values of 1 MiB each, named after the setting. Each value is within the
//! per-value cap; together they must run into the run's write budget.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, SettingValue, registry};

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
                let value = registry::RegValue::ExpandSz(format!("{i:08}").repeat(1 << 17));
                if let Err(e) = registry::set(
                    r"HKLM\SOFTWARE\Policies\Rampart Test",
                    &format!("{}-{i}", s.id),
                    &value,
                ) {
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
platforms = ["windows-client", "windows-server"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"
"#
);
