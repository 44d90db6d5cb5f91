//! rampart's first-party Linux plugin for Microsoft Defender for Endpoint.
//!
//! rampart is the device side of security settings management, and on Linux security settings
//! management keeps the portal's policy in `/etc/opt/microsoft/mdatp/managed/
//! mdeattach_managed.json`, next to the `mdatp_managed.json` other management tools write and
//! taking precedence over it; Defender picks changes up without a restart (see the README's
//! "Assumptions" for the sources). This plugin turns one device's resolved Linux antivirus,
//! exclusion, global exclusion and EDR settings into that file:
//!
//! 1. screen what the mapping cannot judge: `features.*` settings are `notApplicable` (Microsoft
//!    lists them as not available in the Defender portal), a proxy must be an `http://` or
//!    `https://` URL, and a global exclusion must name a full path without wildcards — a
//!    setting that fails is an `error` (every setting of a bad global exclusion item is) and is
//!    left out;
//! 2. map every other setting to its key ([`mapping::KEYS`]) or to one field of a repeating
//!    group item ([`mapping::GROUPS`]: exclusions with `$type`, global exclusions with their
//!    `global` scope, threat type settings, EDR tags), checking values against what Microsoft
//!    documents; a setting that does not fit is an `error` and is left out;
//! 3. build the whole document — the plugin owns the file, so keys that are not in the resolved
//!    policy are removed, the way a withdrawn policy stops applying — and write it atomically
//!    through the `files` capability (root [`mapping::ROOT`]) unless it already holds exactly
//!    these bytes;
//! 4. read the file back and check every value landed;
//! 5. where `mdatp health` reports the effective value, ask Defender through the `defender`
//!    capability. Only a value Defender reports is `compliant` (the file already held it) or
//!    `remediated` (this run wrote it). Every other value that landed is *unconfirmed*
//!    ([`Setting::unconfirmed`], which the host reports `unknown`) with the reason: Defender
//!    does not report the key, this `mdatp` does not report it, Defender could not be asked
//!    (not installed, no grant), or Defender still shows another value right after a write
//!    (it applies the file asynchronously; the next run verifies it). A mismatch that persists
//!    on a later run is an `error` naming the likely cause.
//!
//! When no setting is enforceable the file is left untouched rather than emptied.

pub mod mapping;

use std::collections::{BTreeMap, BTreeSet};

use mapping::{
    GLOBAL_EXCLUSIONS, GLOBAL_NAME, GLOBAL_PATH, GLOBAL_SCOPE, GLOBAL_SCOPES, MANAGED_FILE,
    MAPPING, ROOT,
};
use rampart_sdk::defender::{self, PreferenceValue};
use rampart_sdk::managed::{Document, GroupKind, ManagedFile, Plan, Value};
use rampart_sdk::{
    CapabilityError, Device, GroupPosition, Plugin, Setting, SettingResult, SettingValue,
};

/// The plugin.
#[derive(Debug)]
pub struct LinuxDefender;

impl Plugin for LinuxDefender {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        enforce(&settings)
    }
}

rampart_sdk::export_plugin!(LinuxDefender);

/// `mdeattach_managed.json`, pretty-printed JSON.
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
    let screened = screen(settings);
    let passed: Vec<Setting> = settings
        .iter()
        .zip(&screened)
        .filter(|(_, decided)| decided.is_none())
        .map(|(s, _)| s.clone())
        .collect();
    let mut written = write_and_verify(&with_scopes(&passed)).into_iter();
    // `write_and_verify` answers in its input's order: the passed settings first, then the
    // scope fields this plugin added, whose results are its own business.
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

/// The results decided before the file is touched, one per setting (`None`: the mapping
/// decides): `notApplicable` for the [`mapping::FEATURES`] keys, an `error` for a proxy that is
/// not an HTTP(S) URL and for every setting of a global exclusion item that Defender would
/// refuse.
fn screen(settings: &[Setting]) -> Vec<Option<SettingResult>> {
    let mut bad_items: BTreeMap<u32, String> = BTreeMap::new();
    for s in settings {
        let Some(index) = global_item(s) else {
            continue;
        };
        let problem = match (s.id.as_str(), &s.value) {
            (GLOBAL_PATH, SettingValue::Text(path)) => global_path_problem(path),
            (GLOBAL_NAME, SettingValue::Text(name)) => global_process_problem(name),
            _ => None,
        };
        if let Some(problem) = problem {
            bad_items.entry(index).or_insert(problem);
        }
    }
    settings
        .iter()
        .map(|s| {
            if let Some(reason) = mapping::not_applicable(&s.id) {
                return Some(s.not_applicable(reason));
            }
            if let Some(problem) = global_item(s).and_then(|index| {
                bad_items
                    .get(&index)
                    .map(|p| format!("global exclusion item {index}: {p}"))
            }) {
                return Some(s.error(problem));
            }
            match (s.id.as_str(), &s.value) {
                ("linux_mdatp_managed_cloudservice_proxy", SettingValue::Text(url)) => {
                    rampart_sdk::managed::proxy_url_problem(url)
                        .map(|p| s.error(format!("cloudService.proxy: {p}")))
                }
                _ => None,
            }
        })
        .collect()
}

/// The item index of a setting that belongs to a global exclusion item.
fn global_item(s: &Setting) -> Option<u32> {
    s.group
        .as_ref()
        .filter(|g| g.definition_id == GLOBAL_EXCLUSIONS)
        .map(|g| g.index)
}

/// linux-exclusions.md: "Wildcards aren't supported while configuring global exclusions."
fn global_path_problem(path: &str) -> Option<String> {
    if path.contains(['*', '?']) {
        Some(format!(
            "'{path}' has a wildcard, which a global exclusion cannot have"
        ))
    } else if !path.starts_with('/') {
        Some(format!(
            "'{path}' is not a full path, which a global exclusion needs"
        ))
    } else {
        None
    }
}

/// linux-preferences.md, "Process excluded from the scan": "Wildcards and process names aren't
/// supported if the exclusion has a global scope. You need to provide the full path."
fn global_process_problem(name: &str) -> Option<String> {
    if name.contains(['*', '?']) || !name.starts_with('/') {
        Some(format!(
            "'{name}' is not a process's full path without wildcards, which a global process \
             exclusion needs"
        ))
    } else {
        None
    }
}

/// `settings` with the scope field added to every global exclusion item they set.
fn with_scopes(settings: &[Setting]) -> Vec<Setting> {
    let items: BTreeSet<u32> = settings.iter().filter_map(global_item).collect();
    let scopes = items.into_iter().map(|index| Setting {
        id: GLOBAL_SCOPES.into(),
        value: SettingValue::TextList(vec![GLOBAL_SCOPE.into()]),
        group: Some(GroupPosition {
            definition_id: GLOBAL_EXCLUSIONS.into(),
            index,
        }),
        csp_uri: None,
    });
    settings.iter().cloned().chain(scopes).collect()
}

/// Writes the file and verifies every setting: one result per setting, in their order.
fn write_and_verify(settings: &[Setting]) -> Vec<SettingResult> {
    if settings.is_empty() {
        return Vec::new();
    }
    let document = MAPPING.build(settings);
    let written = match document.write(settings, &FILE) {
        Ok(written) => written,
        Err(results) => return results,
    };
    let check = Check {
        defender: defender::status()
            .map(drop)
            .map_err(|e| not_queried(&e, "its status")),
    };
    let tags = expected_tags(&document);
    written.results(settings, &document, |s, plan, changed| match plan {
        Plan::Key { key, value } if key.in_health => {
            check.through_defender(s, &key.preference(), &to_preference(value), changed)
        }
        Plan::Item { group, .. } if group.kind == GroupKind::Tags => match &tags {
            Some(expected) => check.through_defender(s, "edr_tags", expected, changed),
            None => Check::read_back_only(s, changed),
        },
        _ => Check::read_back_only(s, changed),
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

/// Why a value Defender does not report stays unconfirmed.
const NOT_REPORTED: &str = "Defender does not report this key";

/// How a value that landed in the file is verified through Defender.
struct Check {
    /// `Err(why)` when Defender could not be asked at all.
    defender: Result<(), String>,
}

impl Check {
    /// A value `mdatp health` does not report: in place, unconfirmed.
    fn read_back_only(s: &Setting, changed: bool) -> SettingResult {
        s.unconfirmed(changed, NOT_REPORTED)
    }

    /// Compares what Defender reports for `name` with `expected`.
    fn through_defender(
        &self,
        s: &Setting,
        name: &str,
        expected: &PreferenceValue,
        changed: bool,
    ) -> SettingResult {
        if let Err(why) = &self.defender {
            return s.unconfirmed(changed, why);
        }
        let actual = match defender::preference(name) {
            Ok(Some(actual)) => actual,
            Ok(None) => {
                return s.unconfirmed(changed, &format!("this mdatp does not report {name}"));
            }
            Err(e) => return s.unconfirmed(changed, &not_queried(&e, name)),
        };
        if actual == *expected {
            return s.enforced(changed);
        }
        if changed {
            return s.unconfirmed(
                true,
                &format!(
                    "Defender still reports {name} = {} (it applies the file asynchronously; the next run verifies it)",
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
                "Defender reports {name} = {} from a managed source, but {MANAGED_FILE} sets {}: another managed configuration takes precedence",
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

/// Why a value stays unconfirmed when reading `what` from Defender failed: the plugin is not
/// granted the read, or Defender cannot be asked (not installed, `mdatp` failing).
fn not_queried(e: &CapabilityError, what: &str) -> String {
    match e {
        CapabilityError::AccessDenied(_) => {
            format!("Defender not queried (no grant to read {what})")
        }
        other => format!("Defender not queried: {}", other.message()),
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
