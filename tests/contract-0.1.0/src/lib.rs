//! A plugin built against `rampart:plugin@0.1.0` — the contract as first released, frozen in
//! `sdk/wit/rampart-plugin-0.1.0` — with wit-bindgen directly rather than the current SDK, the
//! way a third party's old plugin binary would have been built. The host implements a newer
//! compatible version and must still load and run it. For each setting it writes the DWORD
//! `Old` = 1 under the key named by the setting's text value. `tests/all/contracts.rs` runs it as
//! the plugin of the released 0.1.0 contract.

#[allow(missing_docs, clippy::too_many_arguments, reason = "generated code")]
mod bindings {
    wit_bindgen::generate!({ world: "plugin", path: "../../sdk/wit/rampart-plugin-0.1.0" });
}

use bindings::rampart::plugin::registry::{RegValue, set_value};
use bindings::rampart::plugin::types::{Device, Setting, SettingStatus, SettingValue};
use bindings::{Guest, SettingResult};

// The sections the SDK's `export_plugin!` would have embedded, written out by hand.
#[unsafe(link_section = "rampart:manifest")]
#[used]
static MANIFEST: [u8; MANIFEST_TEXT.len()] = copy(MANIFEST_TEXT);

#[unsafe(link_section = "rampart:contract")]
#[used]
static CONTRACT: [u8; 5] = *b"0.1.0";

const MANIFEST_TEXT: &str = r#"
[plugin]
name = "contract-0-1-0"
version = "0.1.0"
platforms = ["windows-client"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"
"#;

const fn copy<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

struct OldPlugin;

impl Guest for OldPlugin {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        settings
            .into_iter()
            .map(|s| {
                let (status, message) = match &s.value {
                    SettingValue::Text(key) => match set_value(key, "Old", &RegValue::Dword(1)) {
                        Ok(()) => (SettingStatus::Remediated, None),
                        Err(e) => (SettingStatus::Error, Some(format!("{e:?}"))),
                    },
                    _ => (
                        SettingStatus::Error,
                        Some("expected a key path".to_string()),
                    ),
                };
                SettingResult {
                    id: s.id,
                    group: s.group,
                    status,
                    message,
                    code: None,
                }
            })
            .collect()
    }
}

bindings::export!(OldPlugin with_types_in bindings);
