//! Writes a registry value for every setting (the setting's text is the key), deletes the key
//! `HKLM\SOFTWARE\Policies\Rampart Test\Doomed` with its subtree, and then — if any setting's
//! value is the text `trap` — panics, so the host must roll all of it back.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, registry};

struct WriteThenTrap;

impl Plugin for WriteThenTrap {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let mut results = Vec::new();
        for (i, s) in settings.iter().enumerate() {
            let Some(key) = s.value.as_text() else {
                continue;
            };
            if key == "trap" {
                continue;
            }
            let r = registry::set(key, "Written", &registry::RegValue::Dword(i as u32)).and_then(
                |()| {
                    registry::set(
                        key,
                        "Text",
                        &registry::RegValue::Sz(format!("run wrote {i}")),
                    )
                },
            );
            results.push(match r {
                Ok(()) => s.remediated(),
                Err(e) => s.error(e.message()),
            });
        }
        let _ = registry::delete_key(r"HKLM\SOFTWARE\Policies\Rampart Test\Doomed");
        if settings.iter().any(|s| s.value.as_text() == Some("trap")) {
            panic!("deliberate failure after writing");
        }
        results
    }
}

rampart_sdk::export_plugin!(
    WriteThenTrap,
    manifest = r#"
[plugin]
name = "txn-write-then-trap"
version = "0.1.0"
platforms = ["windows-client", "windows-server"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"
"#
);
