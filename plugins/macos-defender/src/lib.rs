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

use std::collections::{BTreeMap, BTreeSet};

use mapping::{EXCLUSION_TYPES, Group, GroupKind, Key, MANAGED_FILE, ROOT};
use rampart_sdk::{CapabilityError, Device, Plugin, Setting, SettingResult, files, log};
use serde_json::{Map, Value};

/// The plugin.
#[derive(Debug)]
pub struct MacosDefender;

impl Plugin for MacosDefender {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        enforce(&settings)
    }
}

rampart_sdk::export_plugin!(MacosDefender);

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
        // Writing an empty dictionary would erase the device's managed preferences because of
        // settings that could not be read; leave the file alone instead.
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
    let old: Option<Value> = current.as_deref().and_then(|bytes| parse_plist(bytes).ok());
    if current.is_some() && old.is_none() {
        log::warn(&format!(
            "the existing {MANAGED_FILE} is not a readable XML plist; it is replaced"
        ));
    }
    let new = Value::Object(document.json.clone());
    let bytes = match to_plist_xml(&new) {
        Ok(bytes) => bytes,
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
        .and_then(|b| parse_plist(&b));
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
    let check = Check {
        old: old.as_ref(),
        wrote,
        read_back: &read_back,
    };
    settings
        .iter()
        .zip(&document.plans)
        .map(|(s, plan)| check.result(s, plan, &document))
        .collect()
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
        return match key.encoding.encode(&s.value).and_then(xml_text) {
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
        match field.encoding.encode(&s.value).and_then(xml_text) {
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
        "the macos-defender plugin has no mapping for '{}'",
        s.id
    ))
}

/// Refuses text XML 1.0 cannot carry (control characters other than tab and line breaks):
/// the plist would not parse on the device.
fn xml_text(value: Value) -> Result<Value, String> {
    fn bad(v: &Value) -> bool {
        match v {
            Value::String(s) => s
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
            Value::Array(items) => items.iter().any(bad),
            _ => false,
        }
    }
    if bad(&value) {
        Err("the text contains control characters a property list cannot hold".into())
    } else {
        Ok(value)
    }
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
        if group.kind != GroupKind::ThreatTypes {
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
        GroupKind::ThreatTypes => {
            match group.fields.iter().find(|f| !fields.contains_key(f.name)) {
                Some(missing) => Err(format!("the item needs '{}'", missing.name)),
                None => Ok(()),
            }
        }
        GroupKind::TamperExclusions => {
            // Microsoft: "either path, or teamId, or signingId, or their combination must be
            // provided"; args only narrow one of those down.
            if ["path", "teamId", "signingId"]
                .iter()
                .any(|k| fields.contains_key(*k))
            {
                Ok(())
            } else {
                Err("the exclusion needs a path, teamId or signingId".into())
            }
        }
    }
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
        GroupKind::TamperExclusions => "tamper protection exclusion",
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
}

impl Check<'_> {
    fn result(&self, s: &Setting, plan: &Plan, document: &Document) -> SettingResult {
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
                    Some(found) if found == *value => s.enforced(changed),
                    found => s.error(format!(
                        "{MANAGED_FILE} read back holds {} for {}.{}, not {value}",
                        found.map_or("nothing".into(), |f| f.to_string()),
                        key.section,
                        key.key
                    )),
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
                if holds(Some(self.read_back)) {
                    s.enforced(self.wrote && !holds(self.old))
                } else {
                    s.error(format!(
                        "{MANAGED_FILE} read back does not hold {object} in {}.{}",
                        group.section, group.key
                    ))
                }
            }
        }
    }
}
