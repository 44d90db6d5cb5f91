//! Asks for registry access far beyond any sensible ceiling: a strict host refuses it at load,
//! a narrowing host cuts its grants down.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, registry};

struct Greedy;

impl Plugin for Greedy {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        settings
            .iter()
            .map(|s| {
                match registry::set(r"HKLM\SYSTEM\Greedy", "x", &registry::RegValue::Dword(1)) {
                    Ok(()) => s.remediated(),
                    Err(e) => s.error(e.message()),
                }
            })
            .collect()
    }
}

rampart_sdk::export_plugin!(
    Greedy,
    manifest = r#"
[plugin]
name = "caps-over-privileged"
version = "0.1.0"
platforms = ["windows-client"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM'
access = "read-write"
"#
);
