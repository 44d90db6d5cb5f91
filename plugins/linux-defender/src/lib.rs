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

use std::collections::{BTreeMap, BTreeSet};

use mapping::{EXCLUSION_TYPES, Group, GroupKind, Key, MANAGED_FILE, ROOT};
use rampart_sdk::defender::{self, PreferenceValue};
use rampart_sdk::{CapabilityError, Device, Plugin, Setting, SettingResult, files, log};
use serde_json::{Map, Value};

/// The plugin.
#[derive(Debug)]
pub struct LinuxDefender;

impl Plugin for LinuxDefender {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        enforce(&settings)
    }
}

rampart_sdk::export_plugin!(LinuxDefender);

/// What the plugin decided for one setting before touching the device.
enum Plan {
    /// Set `section.key` to `value`.
    Key { key: &'static Key, value: Value },
    /// One field of item `index` of `group`.
    Item { group: &'static Group, index: u32 },
    /// Not enforceable; the message says why.
    Refused(String),
}

/// One item of a repeating group, assembled from its child settings.
#[derive(Default)]
struct Item {
    fields: Map<String, Value>,
    problem: Option<String>,
}

type ItemKey = (&'static str, u32);

/// The document to write, with what each setting expects to find in it.
struct Document {
    plans: Vec<Plan>,
    items: BTreeMap<ItemKey, Item>,
    json: Map<String, Value>,
}

fn enforce(settings: &[Setting]) -> Vec<SettingResult> {
    if settings.is_empty() {
        return Vec::new();
    }
    let document = build(settings);
    let enforceable = document.plans.iter().any(|p| match p {
        Plan::Key { .. } => true,
        Plan::Item { group, index } => item_problem(&document, group, *index).is_none(),
        Plan::Refused(_) => false,
    });
    if !enforceable {
        // Writing an empty document would erase the device's managed configuration because
        // of settings that could not be read; leave the file alone instead.
        return refuse_all(settings, &document, "nothing in this run could be enforced");
    }

    let current = match files::read(ROOT, MANAGED_FILE) {
        Ok(bytes) => Some(bytes),
        Err(CapabilityError::NotFound(_)) => None,
        Err(e) => {
            return refuse_all(
                settings,
                &document,
                &format!("reading {MANAGED_FILE}: {}", e.message()),
            );
        }
    };
    let old: Option<Value> = current
        .as_deref()
        .and_then(|bytes| serde_json::from_slice(bytes).ok());
    if current.is_some() && old.is_none() {
        log::warn(&format!(
            "the existing {MANAGED_FILE} is not valid JSON; it is replaced"
        ));
    }
    let new = Value::Object(document.json.clone());
    let bytes = match serde_json::to_vec_pretty(&new) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            bytes
        }
        Err(e) => {
            return refuse_all(
                settings,
                &document,
                &format!("serializing {MANAGED_FILE}: {e}"),
            );
        }
    };
    let wrote = current.as_deref() != Some(bytes.as_slice());
    if wrote {
        if let Some(old) = &old {
            report_dropped_keys(old, &new);
        }
        if let Err(e) = files::write(ROOT, MANAGED_FILE, &bytes) {
            return refuse_all(
                settings,
                &document,
                &format!("writing {MANAGED_FILE}: {}", e.message()),
            );
        }
        log::info(&format!("wrote {MANAGED_FILE} ({} bytes)", bytes.len()));
    }

    let read_back = files::read(ROOT, MANAGED_FILE)
        .map_err(|e| e.message())
        .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| format!("not JSON: {e}")));
    let read_back = match read_back {
        Ok(value) => value,
        Err(e) => {
            return refuse_all(
                settings,
                &document,
                &format!("{MANAGED_FILE} could not be read back: {e}"),
            );
        }
    };
    let defender = defender::status().map(drop).map_err(|e| e.message());
    let tags = expected_tags(&document);
    let check = Check {
        old: old.as_ref(),
        wrote,
        read_back: &read_back,
        defender: &defender,
    };
    settings
        .iter()
        .zip(&document.plans)
        .map(|(s, plan)| check.result(s, plan, &document, tags.as_ref()))
        .collect()
}

/// Maps every setting and assembles the document.
fn build(settings: &[Setting]) -> Document {
    let mut plans = Vec::with_capacity(settings.len());
    let mut items: BTreeMap<ItemKey, Item> = BTreeMap::new();
    let mut keys_seen = BTreeSet::new();
    for s in settings {
        plans.push(plan(s, &mut items, &mut keys_seen));
    }
    validate_items(&mut items);

    // Sections are gathered by name first so each is created once, in a stable order.
    let mut sections: BTreeMap<&'static str, Map<String, Value>> = BTreeMap::new();
    for p in &plans {
        if let Plan::Key { key, value } = p {
            sections
                .entry(key.section)
                .or_default()
                .insert(key.key.to_owned(), value.clone());
        }
    }
    for group in mapping::GROUPS {
        let valid: Vec<Value> = items
            .iter()
            .filter(|((id, _), item)| *id == group.id && item.problem.is_none())
            .map(|(_, item)| Value::Object(item.fields.clone()))
            .collect();
        if !valid.is_empty() {
            sections
                .entry(group.section)
                .or_default()
                .insert(group.key.to_owned(), Value::Array(valid));
        }
    }
    let json = sections
        .into_iter()
        .map(|(name, keys)| (name.to_owned(), Value::Object(keys)))
        .collect();
    Document { plans, items, json }
}

fn plan(
    s: &Setting,
    items: &mut BTreeMap<ItemKey, Item>,
    keys_seen: &mut BTreeSet<&'static str>,
) -> Plan {
    if let Some(key) = mapping::key(&s.id) {
        if s.group.is_some() {
            return Plan::Refused(format!(
                "{}.{} is a single value, not part of a repeating group",
                key.section, key.key
            ));
        }
        if !keys_seen.insert(key.id) {
            return Plan::Refused("set more than once in this run".into());
        }
        return match key.encoding.encode(&s.value) {
            Ok(value) => Plan::Key { key, value },
            Err(e) => Plan::Refused(format!("{}.{}: {e}", key.section, key.key)),
        };
    }
    if let Some((group, field)) = mapping::field(&s.id) {
        let Some(position) = s.group.as_ref().filter(|g| g.definition_id == group.id) else {
            return Plan::Refused(format!(
                "'{}' must come from an item of the group '{}'",
                field.name, group.id
            ));
        };
        let item = items.entry((group.id, position.index)).or_default();
        match field.encoding.encode(&s.value) {
            Ok(value) => {
                if item.fields.insert(field.name.to_owned(), value).is_some() {
                    item.problem
                        .get_or_insert_with(|| format!("'{}' is set twice", field.name));
                }
            }
            Err(e) => {
                item.problem
                    .get_or_insert_with(|| format!("{}: {e}", field.name));
            }
        }
        return Plan::Item {
            group,
            index: position.index,
        };
    }
    Plan::Refused(format!(
        "the linux-defender plugin has no mapping for '{}'",
        s.id
    ))
}

/// Checks each item's fields against its kind, and refuses repeated threat types and tag keys
/// (mdatp would keep one of them arbitrarily; Intune's rule for contradicting values is that
/// neither applies).
fn validate_items(items: &mut BTreeMap<ItemKey, Item>) {
    for ((group_id, _), item) in items.iter_mut() {
        if item.problem.is_some() {
            continue;
        }
        let Some(group) = mapping::GROUPS.iter().find(|g| g.id == *group_id) else {
            continue;
        };
        if let Err(problem) = validate(group, &mut item.fields) {
            item.problem = Some(problem);
        }
    }
    for group in mapping::GROUPS {
        if group.kind == GroupKind::Exclusions {
            continue;
        }
        let mut by_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for ((id, index), item) in items.iter() {
            if *id == group.id
                && item.problem.is_none()
                && let Some(Value::String(k)) = item.fields.get("key")
            {
                by_key.entry(k.clone()).or_default().push(*index);
            }
        }
        for (k, indexes) in by_key.into_iter().filter(|(_, v)| v.len() > 1) {
            let list = indexes
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            for index in &indexes {
                if let Some(item) = items.get_mut(&(group.id, *index)) {
                    item.problem = Some(format!(
                        "'{k}' is set by items {list} of this group; none of them is applied"
                    ));
                }
            }
        }
    }
}

fn validate(group: &Group, fields: &mut Map<String, Value>) -> Result<(), String> {
    match group.kind {
        GroupKind::Exclusions => {
            let Some(Value::String(kind)) = fields.get("$type").cloned() else {
                return Err("the exclusion has no $type".into());
            };
            let Some((_, required, optional)) = EXCLUSION_TYPES.iter().find(|(t, ..)| *t == kind)
            else {
                return Err(format!("'{kind}' is not an exclusion type"));
            };
            if let Some(missing) = required.iter().find(|r| !fields.contains_key(**r)) {
                return Err(format!("an {kind} exclusion needs '{missing}'"));
            }
            if let Some(extra) = fields.keys().find(|k| {
                k.as_str() != "$type"
                    && !required.contains(&k.as_str())
                    && !optional.contains(&k.as_str())
            }) {
                return Err(format!("'{extra}' does not apply to an {kind} exclusion"));
            }
            if kind == "excludedPath" && !fields.contains_key("isDirectory") {
                // Microsoft's default, written out as every documented example does.
                fields.insert("isDirectory".into(), Value::Bool(false));
            }
            Ok(())
        }
        GroupKind::ThreatTypes | GroupKind::Tags => {
            match group.fields.iter().find(|f| !fields.contains_key(f.name)) {
                Some(missing) => Err(format!("the item needs '{}'", missing.name)),
                None => Ok(()),
            }
        }
    }
}

/// What `mdatp health` should report for `edr_tags`: every valid tag as `KEY=value`.
fn expected_tags(document: &Document) -> Option<PreferenceValue> {
    let tags = document.json.get("edr")?.get("tags")?.as_array()?;
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

/// Results for a run that stops before writing: every setting is an error, with its own reason
/// when it had one and `reason` otherwise.
fn refuse_all(settings: &[Setting], document: &Document, reason: &str) -> Vec<SettingResult> {
    settings
        .iter()
        .zip(&document.plans)
        .map(|(s, p)| match p {
            Plan::Refused(message) => s.error(message.clone()),
            Plan::Item { group, index } => match item_problem(document, group, *index) {
                Some(problem) => s.error(problem),
                None => s.error(reason),
            },
            Plan::Key { .. } => s.error(reason),
        })
        .collect()
}

fn item_problem(document: &Document, group: &Group, index: u32) -> Option<String> {
    let problem = document.items.get(&(group.id, index))?.problem.as_ref()?;
    let label = match group.kind {
        GroupKind::Exclusions => "exclusion",
        GroupKind::ThreatTypes => "threat type setting",
        GroupKind::Tags => "device tag",
    };
    Some(format!("{label} item {index}: {problem}"))
}

/// Logs the keys an earlier version of the file had that the policy no longer sets.
fn report_dropped_keys(old: &Value, new: &Value) {
    let Some(old) = old.as_object() else { return };
    let mut dropped = Vec::new();
    for (name, section) in old {
        match (
            section.as_object(),
            new.get(name).and_then(Value::as_object),
        ) {
            (Some(keys), new_keys) => dropped.extend(
                keys.keys()
                    .filter(|k| new_keys.is_none_or(|n| !n.contains_key(*k)))
                    .map(|k| format!("{name}.{k}")),
            ),
            (None, _) if new.get(name).is_none() => dropped.push(name.clone()),
            (None, _) => {}
        }
    }
    if !dropped.is_empty() {
        log::info(&format!(
            "removing keys the policy no longer sets: {}",
            dropped.join(", ")
        ));
    }
}

/// What a finished write is checked against.
struct Check<'a> {
    old: Option<&'a Value>,
    wrote: bool,
    read_back: &'a Value,
    /// `Err(reason)` when Defender could not be asked at all.
    defender: &'a Result<(), String>,
}

impl Check<'_> {
    fn result(
        &self,
        s: &Setting,
        plan: &Plan,
        document: &Document,
        tags: Option<&PreferenceValue>,
    ) -> SettingResult {
        match plan {
            Plan::Refused(message) => s.error(message.clone()),
            Plan::Key { key, value } => {
                let at = |doc: Option<&Value>| {
                    doc.and_then(|d| d.get(key.section))
                        .and_then(|sec| sec.get(key.key))
                        .cloned()
                };
                let changed = self.wrote && at(self.old).as_ref() != Some(value);
                match at(Some(self.read_back)) {
                    Some(found) if found == *value => {}
                    found => {
                        return s.error(format!(
                            "{MANAGED_FILE} read back holds {} for {}.{}, not {value}",
                            found.map_or("nothing".into(), |f| f.to_string()),
                            key.section,
                            key.key
                        ));
                    }
                }
                if key.in_health {
                    self.through_defender(s, &key.preference(), &to_preference(value), changed)
                } else {
                    self.read_back_only(s, changed)
                }
            }
            Plan::Item { group, index } => {
                if let Some(problem) = item_problem(document, group, *index) {
                    return s.error(problem);
                }
                let Some(item) = document.items.get(&(group.id, *index)) else {
                    return s.error("internal: the item was not assembled");
                };
                let object = Value::Object(item.fields.clone());
                let holds = |doc: Option<&Value>| {
                    doc.and_then(|d| d.get(group.section))
                        .and_then(|sec| sec.get(group.key))
                        .and_then(Value::as_array)
                        .is_some_and(|array| array.contains(&object))
                };
                let changed = self.wrote && !holds(self.old);
                if !holds(Some(self.read_back)) {
                    return s.error(format!(
                        "{MANAGED_FILE} read back does not hold {object} in {}.{}",
                        group.section, group.key
                    ));
                }
                match (group.kind, tags) {
                    (GroupKind::Tags, Some(expected)) => {
                        self.through_defender(s, "edr_tags", expected, changed)
                    }
                    _ => self.read_back_only(s, changed),
                }
            }
        }
    }

    /// A value `mdatp health` does not report: the read-back is the verification.
    fn read_back_only(&self, s: &Setting, changed: bool) -> SettingResult {
        match self.defender {
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
