//! rampart's first-party macOS plugin for Microsoft Defender for Endpoint.
//!
//! rampart is the device side of security settings management, and on macOS security settings
//! management keeps its policy in `/Library/Preferences/com.microsoft.mdeattach.plist`, which
//! takes priority over an MDM profile's `/Library/Managed Preferences/com.microsoft.wdav.plist`
//! (mac-troubleshoot-mode.md; see the README's "Assumptions"). This plugin turns one device's
//! resolved `com.apple.managedclient.preferences_*` settings into that property list, with the
//! keys and layout of the `com.microsoft.wdav` preference domain:
//!
//! 1. screen what the mapping cannot judge: a proxy must be an `http://` or `https://` URL; a
//!    setting that fails is an `error` and is left out;
//! 2. map every other setting to its key ([`mapping::KEYS`]) or to one field of a repeating
//!    group item ([`mapping::GROUPS`]: scan exclusions with `$type`, threat type settings, EDR
//!    device tags, tamper protection exclusions), checking values against what Microsoft
//!    documents; a setting that does not fit is an `error` and is left out;
//! 3. build the whole dictionary — the plugin owns the file, so keys that are not in the
//!    resolved policy are removed (macOS does not merge several profiles of one domain either) —
//!    serialize it as an XML plist with the `plist` crate (which escapes text), and write it
//!    atomically through the `files` capability (root [`mapping::ROOT`]) unless the file
//!    already holds exactly these bytes;
//! 4. parse the file back and check every value landed.
//!
//! The plugin asks Defender nothing (it requests no Defender grant), so no value is confirmed
//! by the component that consumes it: every value that landed is *unconfirmed*
//! ([`Setting::unconfirmed`], reported `unknown` by the host) with [`NOT_QUERIED`] as the
//! reason, "already in place" when the file held it and "written" when this run wrote it (see
//! the README). When no setting is enforceable the file is left untouched.

pub mod mapping;

use mapping::{MANAGED_FILE, MAPPING, ROOT};
use rampart_sdk::managed::{ManagedFile, Value};
use rampart_sdk::{Device, Plugin, Setting, SettingResult, SettingValue};

/// The plugin.
#[derive(Debug)]
pub struct MacosDefender;

impl Plugin for MacosDefender {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        enforce(&settings)
    }
}

rampart_sdk::export_plugin!(MacosDefender);

/// Why every value that landed stays unconfirmed: whether `wdavdaemon` applies the file is
/// not read back from Defender.
pub const NOT_QUERIED: &str =
    "Defender not queried (the plugin does not read wdavdaemon's effective values)";

/// `com.microsoft.mdeattach.plist`, an XML property list.
const FILE: ManagedFile = ManagedFile {
    root: ROOT,
    name: MANAGED_FILE,
    format: "a readable XML plist",
    parse: parse_plist,
    serialize: to_plist_xml,
};

fn enforce(settings: &[Setting]) -> Vec<SettingResult> {
    let screened: Vec<Option<SettingResult>> = settings.iter().map(screen).collect();
    let passed: Vec<Setting> = settings
        .iter()
        .zip(&screened)
        .filter(|(_, decided)| decided.is_none())
        .map(|(s, _)| s.clone())
        .collect();
    let mut written = write_and_verify(&passed).into_iter();
    settings
        .iter()
        .zip(screened)
        .map(|(s, decided)| {
            decided
                .or_else(|| written.next())
                .unwrap_or_else(|| s.error("internal: the setting got no result"))
        })
        .collect()
}

/// The result decided before the file is touched (`None`: the mapping decides): an `error` for
/// a proxy that is not an HTTP(S) URL.
fn screen(s: &Setting) -> Option<SettingResult> {
    match (s.id.as_str(), &s.value) {
        ("com.apple.managedclient.preferences_proxy", SettingValue::Text(url)) => {
            rampart_sdk::managed::proxy_url_problem(url)
                .map(|p| s.error(format!("cloudService.proxy: {p}")))
        }
        _ => None,
    }
}

/// Writes the file and reads it back: one result per setting, in their order.
fn write_and_verify(settings: &[Setting]) -> Vec<SettingResult> {
    if settings.is_empty() {
        return Vec::new();
    }
    let document = MAPPING.build(settings);
    match document.write(settings, &FILE) {
        Ok(written) => written.results(settings, &document, |s, _, changed| {
            s.unconfirmed(changed, NOT_QUERIED)
        }),
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
