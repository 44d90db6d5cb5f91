//! rampart's first-party macOS plugin for Microsoft Defender for Endpoint.
//!
//! Defender for Endpoint on macOS reads its enterprise configuration from the managed
//! preferences of the `com.microsoft.wdav` domain — what an MDM configuration profile installs
//! as `/Library/Managed Preferences/com.microsoft.wdav.plist`. This plugin turns one device's
//! resolved `com.apple.managedclient.preferences_*` settings into that property list:
//!
//! 1. map every setting to its key ([`mapping::KEYS`]) or to one field of a repeating group item
//!    ([`mapping::GROUPS`]: scan exclusions with `$type`, threat type settings, tamper
//!    protection exclusions), checking values against what Microsoft documents; a setting that
//!    does not fit is an `error` and is left out;
//! 2. build the whole dictionary — the plugin owns the file, so keys that are not in the
//!    resolved policy are removed (macOS does not merge several profiles of one domain either) —
//!    serialize it as an XML plist with the `plist` crate (which escapes text), and write it
//!    atomically through the `files` capability (root [`mapping::ROOT`]) unless the file
//!    already holds exactly these bytes;
//! 3. parse the file back and check every value landed.
//!
//! Per setting, `compliant` means the file already held the value and `remediated` that this
//! run wrote it. The plugin asks Defender nothing: whether `wdavdaemon` applied the profile is
//! not verified (see the README). When no setting is enforceable the file is left untouched.

pub mod mapping;

use mapping::{MANAGED_FILE, MAPPING, ROOT};
use rampart_sdk::managed::{ManagedFile, Value};
use rampart_sdk::{Device, Plugin, Setting, SettingResult};

/// The plugin.
#[derive(Debug)]
pub struct MacosDefender;

impl Plugin for MacosDefender {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        enforce(&settings)
    }
}

rampart_sdk::export_plugin!(MacosDefender);

/// `com.microsoft.wdav.plist`, an XML property list.
const FILE: ManagedFile = ManagedFile {
    root: ROOT,
    name: MANAGED_FILE,
    format: "a readable XML plist",
    parse: parse_plist,
    serialize: to_plist_xml,
};

fn enforce(settings: &[Setting]) -> Vec<SettingResult> {
    if settings.is_empty() {
        return Vec::new();
    }
    let document = MAPPING.build(settings);
    match document.write(settings, &FILE) {
        Ok(written) => written.results(settings, &document, |s, _, changed| s.enforced(changed)),
        Err(results) => results,
    }
}

/// The dictionary as an XML property list (the `plist` crate escapes all text).
fn to_plist_xml(value: &Value) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    json_to_plist(value)?
        .to_writer_xml(&mut bytes)
        .map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn json_to_plist(value: &Value) -> Result<plist::Value, String> {
    Ok(match value {
        Value::Bool(b) => plist::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => plist::Value::Integer(i.into()),
            None => return Err(format!("{n} is not an integer")),
        },
        Value::String(s) => plist::Value::String(s.clone()),
        Value::Array(items) => plist::Value::Array(
            items
                .iter()
                .map(json_to_plist)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Value::Object(map) => {
            let mut dict = plist::Dictionary::new();
            for (k, v) in map {
                dict.insert(k.clone(), json_to_plist(v)?);
            }
            plist::Value::Dictionary(dict)
        }
        Value::Null => return Err("null has no plist form".into()),
    })
}

/// Reads an XML (or binary) plist into the same JSON model the plugin builds, so values
/// compare exactly. Types this plugin never writes (reals, dates, data) read as `null`.
fn parse_plist(bytes: &[u8]) -> Result<Value, String> {
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a property list: {e}"))?;
    Ok(plist_to_json(&value))
}

fn plist_to_json(value: &plist::Value) -> Value {
    match value {
        plist::Value::Boolean(b) => Value::Bool(*b),
        plist::Value::Integer(i) => i
            .as_signed()
            .map_or(Value::Null, |i| Value::Number(i.into())),
        plist::Value::String(s) => Value::String(s.clone()),
        plist::Value::Array(items) => Value::Array(items.iter().map(plist_to_json).collect()),
        plist::Value::Dictionary(dict) => Value::Object(
            dict.iter()
                .map(|(k, v)| (k.clone(), plist_to_json(v)))
                .collect(),
        ),
        _ => Value::Null,
    }
}
