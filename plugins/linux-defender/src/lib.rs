//! rampart's first-party Linux plugin for Microsoft Defender for Endpoint.
//!
//! Defender for Endpoint on Linux reads its enterprise configuration from
//! `/etc/opt/microsoft/mdatp/managed/mdatp_managed.json`; values there override local
//! `mdatp config` settings and are picked up without a restart. This plugin turns one device's
//! resolved Linux antivirus, exclusion and EDR settings into that file:
//!
//! 1. map every setting to its key ([`mapping::KEYS`]) or to one field of a repeating group item
//!    ([`mapping::GROUPS`]: exclusions with `$type`, threat type settings, EDR tags), checking
//!    values against what Microsoft documents; a setting that does not fit is an `error` and is
//!    left out;
//! 2. build the whole document — the plugin owns the file, so keys that are not in the resolved
//!    policy are removed, the way a withdrawn policy stops applying — and write it atomically
//!    through the `files` capability (root [`mapping::ROOT`]) unless it already holds exactly
//!    these bytes;
//! 3. read the file back and check every value landed;
//! 4. where `mdatp health` reports the effective value, ask Defender through the `defender`
//!    capability. A value Defender does not show yet right after a write is `remediated` with a
//!    note (Defender applies the file asynchronously); a mismatch that persists on a later run
//!    is an `error` naming the likely cause. Without Defender (not installed, or no grant) the
//!    read-back stands and every result says that Defender could not be asked.
//!
//! Per setting, `compliant` means the file already held the value and `remediated` that this
//! run wrote it. When no setting is enforceable the file is left untouched rather than emptied.

pub mod mapping;

use mapping::{MANAGED_FILE, MAPPING, ROOT};
use rampart_sdk::defender::{self, PreferenceValue};
use rampart_sdk::managed::{Document, GroupKind, ManagedFile, Plan, Value};
use rampart_sdk::{Device, Plugin, Setting, SettingResult};

/// The plugin.
#[derive(Debug)]
pub struct LinuxDefender;

impl Plugin for LinuxDefender {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        enforce(&settings)
    }
}

rampart_sdk::export_plugin!(LinuxDefender);

/// `mdatp_managed.json`, pretty-printed JSON.
const FILE: ManagedFile = ManagedFile {
    root: ROOT,
    name: MANAGED_FILE,
    format: "valid JSON",
    parse: |bytes| serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}")),
    serialize: |value| {
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        Ok(bytes)
    },
};

fn enforce(settings: &[Setting]) -> Vec<SettingResult> {
    if settings.is_empty() {
        return Vec::new();
    }
    let document = MAPPING.build(settings);
    let written = match document.write(settings, &FILE) {
        Ok(written) => written,
        Err(results) => return results,
    };
    let check = Check {
        defender: defender::status().map(drop).map_err(|e| e.message()),
    };
    let tags = expected_tags(&document);
    written.results(settings, &document, |s, plan, changed| match plan {
        Plan::Key { key, value } if key.in_health => {
            check.through_defender(s, &key.preference(), &to_preference(value), changed)
        }
        Plan::Item { group, .. } if group.kind == GroupKind::Tags => match &tags {
            Some(expected) => check.through_defender(s, "edr_tags", expected, changed),
            None => check.read_back_only(s, changed),
        },
        _ => check.read_back_only(s, changed),
    })
}

/// What `mdatp health` should report for `edr_tags`: every valid tag as `KEY=value`.
fn expected_tags(document: &Document) -> Option<PreferenceValue> {
    let tags = document.document.get("edr")?.get("tags")?.as_array()?;
    Some(PreferenceValue::TextList(
        tags.iter()
            .filter_map(|t| {
                Some(format!(
                    "{}={}",
                    t.get("key")?.as_str()?,
                    t.get("value")?.as_str()?
                ))
            })
            .collect(),
    ))
}

/// How a value that landed in the file is verified through Defender.
struct Check {
    /// `Err(reason)` when Defender could not be asked at all.
    defender: Result<(), String>,
}

impl Check {
    /// A value `mdatp health` does not report: the read-back is the verification.
    fn read_back_only(&self, s: &Setting, changed: bool) -> SettingResult {
        match &self.defender {
            Ok(()) => s.enforced(changed),
            Err(reason) => with_message(
                s.enforced(changed),
                format!(
                    "verified by reading {MANAGED_FILE} back; could not ask Defender: {reason}"
                ),
            ),
        }
    }

    /// Compares what Defender reports for `name` with `expected`.
    fn through_defender(
        &self,
        s: &Setting,
        name: &str,
        expected: &PreferenceValue,
        changed: bool,
    ) -> SettingResult {
        if self.defender.is_err() {
            return self.read_back_only(s, changed);
        }
        let actual = match defender::preference(name) {
            Ok(Some(actual)) => actual,
            Ok(None) => {
                return with_message(
                    s.enforced(changed),
                    format!(
                        "verified by reading {MANAGED_FILE} back; this mdatp does not report {name}"
                    ),
                );
            }
            Err(e) => {
                return with_message(
                    s.enforced(changed),
                    format!(
                        "verified by reading {MANAGED_FILE} back; could not ask Defender for {name}: {}",
                        e.message()
                    ),
                );
            }
        };
        if actual == *expected {
            return s.enforced(changed);
        }
        if changed {
            return with_message(
                s.remediated(),
                format!(
                    "written to {MANAGED_FILE}; Defender still reports {name} = {} (it applies the file asynchronously; the next run verifies it)",
                    show(&actual)
                ),
            );
        }
        let managed = matches!(
            defender::preference(&format!("{name}_isManaged")),
            Ok(Some(PreferenceValue::Boolean(true)))
        );
        if managed {
            s.error(format!(
                "Defender reports {name} = {} from a managed source, but {MANAGED_FILE} sets {}: another managed configuration takes precedence (for example security settings management's mdeattach_managed.json)",
                show(&actual),
                show(expected)
            ))
        } else {
            s.error(format!(
                "{MANAGED_FILE} sets {}, but Defender reports {name} = {} and does not mark it managed: Defender has not applied the file",
                show(expected),
                show(&actual)
            ))
        }
    }
}

fn with_message(result: SettingResult, message: String) -> SettingResult {
    SettingResult {
        message: Some(message),
        ..result
    }
}

/// A JSON value as the preference value `mdatp health` would report for it.
fn to_preference(value: &Value) -> PreferenceValue {
    match value {
        Value::Bool(b) => PreferenceValue::Boolean(*b),
        Value::Number(n) => n.as_i64().map_or_else(
            || PreferenceValue::Text(n.to_string()),
            PreferenceValue::Integer,
        ),
        Value::String(t) => PreferenceValue::Text(t.clone()),
        Value::Array(items) => PreferenceValue::TextList(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect(),
        ),
        other => PreferenceValue::Text(other.to_string()),
    }
}

fn show(v: &PreferenceValue) -> String {
    match v {
        PreferenceValue::Integer(i) => i.to_string(),
        PreferenceValue::Boolean(b) => b.to_string(),
        PreferenceValue::Text(t) => format!("'{t}'"),
        PreferenceValue::TextList(l) => format!("{l:?}"),
    }
}
