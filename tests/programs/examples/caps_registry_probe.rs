//! For each setting, writes DWORD `Probe` = 1 under the key path given as the setting's text
//! value and reports `remediated` on success or `error` with the capability error. Its grant
//! is read-write on `HKLM\SOFTWARE\Policies\Rampart Test` only, so tests can probe escapes.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, registry};

struct Probe;

impl Plugin for Probe {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        settings
            .iter()
            .map(|s| match s.value.as_text() {
                Some(key) => match registry::set(key, "Probe", &registry::RegValue::Dword(1)) {
                    Ok(()) => s.remediated(),
                    Err(e) => s.error(e.message()),
                },
                None => s.error("expected a key path"),
            })
            .collect()
    }
}

rampart_sdk::export_plugin!(
    Probe,
    manifest = r#"
[plugin]
name = "caps-registry-probe"
version = "0.1.0"
platforms = ["windows-client", "windows-server"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart ReadOnly'
access = "read"
"#
);
