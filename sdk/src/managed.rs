//! Settings planned into a managed configuration document that the plugin owns.
//!
//! Defender for Endpoint on Linux and on macOS read their enterprise configuration from one
//! document of sections, each holding keys and arrays of repeating-group items: on Linux
//! security settings management's `mdeattach_managed.json` (with the layout of the documented
//! `mdatp_managed.json`), on macOS its `com.microsoft.mdeattach.plist` (with the keys of the
//! `com.microsoft.wdav` preference domain); the first-party plugins write those two files. This
//! module (feature `managed`) holds what enforcing such a document takes, whatever its
//! serialisation:
//!
//! 1. a [`Mapping`] from setting ids to single [`Key`]s and to [`Field`]s of repeating
//!    [`Group`]s, with the [`Encoding`] that checks each value;
//! 2. [`Mapping::build`] plans every setting ([`Plan`]), assembles and validates group items and
//!    builds the whole [`Document`] (keys the policy does not set are left out: the plugin owns
//!    the file);
//! 3. [`Document::write`] writes it through the [`files`] capability as a
//!    [`ManagedFile`] unless the file already holds exactly these bytes, logs the keys it drops,
//!    and reads it back; when nothing can be enforced or a step fails, every setting is refused
//!    ([`Document::refuse_all`]) and the file is left alone;
//! 4. [`Written::results`] checks every value landed and lets the plugin add its own
//!    verification. The read-back shows only that the file holds the value: a value Defender
//!    did not confirm is reported [`Setting::unconfirmed`](crate::Setting::unconfirmed).
//!
//! The document is modelled as a [`serde_json::Value`] whatever the file format; a plugin
//! writing another format converts it in [`ManagedFile::serialize`] and [`ManagedFile::parse`].

use std::collections::{BTreeMap, BTreeSet};

pub use serde_json::{Map, Value};

use crate::{CapabilityError, Setting, SettingResult, SettingValue, files, log};

/// Why `url` is not a proxy Defender for Endpoint on Linux or macOS can use, or `None` when it
/// is one. Microsoft documents the form `http://proxy.server:port/` (Linux: "Configure Defender
/// for Endpoint on Linux for static proxy discovery"; macOS: the `cloudService.proxy`
/// preference): an `http://` or `https://` URL with a host and, if any, a numeric port.
pub fn proxy_url_problem(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    // The authority, without any user information.
    let host = rest.map(|r| {
        let authority = r.split(['/', '?', '#']).next().unwrap_or_default();
        authority.rsplit('@').next().unwrap_or_default()
    });
    match host {
        None => Some(format!(
            "'{url}' is not an http:// or https:// URL (the documented form is \
             http://proxy.server:port/)"
        )),
        Some(h) if h.is_empty() || h.starts_with(':') || h.contains(char::is_whitespace) => {
            Some(format!("'{url}' has no valid proxy host"))
        }
        Some(h) => match h.rsplit_once(':') {
            Some((_, port)) if !h.ends_with(']') && port.parse::<u16>().is_err() => {
                Some(format!("'{url}' has no valid port ('{port}')"))
            }
            _ => None,
        },
    }
}

/// How a setting value becomes a document value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Text `"true"` / `"false"` (the catalog's option values) → a boolean.
    Bool,
    /// Text that must be one of the listed values → a string.
    Enum(&'static [&'static str]),
    /// An integer in `min..=max` → a number.
    Integer {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// An integer in `min..=max` → a string (keys Microsoft documents as String although they
    /// hold numbers, e.g. `scanResultsRetentionDays` on macOS).
    IntegerAsString {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// Non-empty text → a string.
    Text,
    /// A list of text → an array of strings, each one of the listed values when given.
    TextList(Option<&'static [&'static str]>),
}

impl Encoding {
    /// The document value for `value`, or why it does not fit.
    pub fn encode(self, value: &SettingValue) -> Result<Value, String> {
        match (self, value) {
            (Encoding::Bool, SettingValue::Text(t)) => match t.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                other => Err(format!("'{other}' is not 'true' or 'false'")),
            },
            (Encoding::Bool, SettingValue::Boolean(b)) => Ok(Value::Bool(*b)),
            (Encoding::Enum(allowed), SettingValue::Text(t)) => {
                if allowed.contains(&t.as_str()) {
                    Ok(Value::String(t.clone()))
                } else {
                    Err(format!("'{t}' is not one of {}", allowed.join(", ")))
                }
            }
            (Encoding::Integer { min, max }, SettingValue::Integer(i)) => {
                if (min..=max).contains(i) {
                    Ok(Value::from(*i))
                } else {
                    Err(format!("{i} is outside {min}..={max}"))
                }
            }
            (Encoding::IntegerAsString { min, max }, SettingValue::Integer(i)) => {
                if (min..=max).contains(i) {
                    Ok(Value::String(i.to_string()))
                } else {
                    Err(format!("{i} is outside {min}..={max}"))
                }
            }
            (Encoding::Text, SettingValue::Text(t)) => {
                if t.is_empty() {
                    Err("the value is empty".into())
                } else {
                    Ok(Value::String(t.clone()))
                }
            }
            (Encoding::TextList(allowed), SettingValue::TextList(items)) => {
                if let Some(allowed) = allowed
                    && let Some(bad) = items.iter().find(|i| !allowed.contains(&i.as_str()))
                {
                    return Err(format!("'{bad}' is not one of {}", allowed.join(", ")));
                }
                Ok(Value::Array(
                    items.iter().cloned().map(Value::String).collect(),
                ))
            }
            (_, SettingValue::Secret(_)) => {
                Err("a secret cannot be written to a managed file".into())
            }
            (encoding, other) => Err(format!(
                "expected {}, got {}",
                encoding.expected(),
                other.kind_name()
            )),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Encoding::Bool => "'true' or 'false' text",
            Encoding::Enum(_) | Encoding::Text => "text",
            Encoding::Integer { .. } | Encoding::IntegerAsString { .. } => "an integer",
            Encoding::TextList(_) => "a text list",
        }
    }
}

/// One setting that sets one key of one section.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Settings-catalog definition id.
    pub id: &'static str,
    /// The section (`antivirusEngine`, `cloudService`, ...).
    pub section: &'static str,
    /// The key inside the section.
    pub key: &'static str,
    /// How the value is encoded.
    pub encoding: Encoding,
    /// Whether Defender reports the effective value (as [`Key::preference`]), so the plugin
    /// verifies it through Defender and not only by reading the file back.
    pub in_health: bool,
}

impl Key {
    /// The Defender preference name that reports this key (`<section>_<key>`).
    pub fn preference(&self) -> String {
        format!("{}_{}", self.section, self.key)
    }
}

/// What a repeating group's items are, which decides how they are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// Scan exclusions: `$type` plus the fields that type needs ([`Mapping::exclusion_types`]).
    Exclusions,
    /// Threat type settings: `key` and `value`, one item per threat type.
    ThreatTypes,
    /// EDR device tags: `key` and `value`, one item per tag key.
    Tags,
    /// Tamper protection exclusions: a process by `path`, `teamId` and/or `signingId`, with
    /// optional `args`.
    TamperExclusions,
}

impl GroupKind {
    /// How an item of this kind is named in messages.
    fn label(self) -> &'static str {
        match self {
            GroupKind::Exclusions => "exclusion",
            GroupKind::ThreatTypes => "threat type setting",
            GroupKind::Tags => "device tag",
            GroupKind::TamperExclusions => "tamper protection exclusion",
        }
    }
}

/// One child setting of a repeating group: one field of the item object.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Settings-catalog definition id.
    pub id: &'static str,
    /// The field name in the item.
    pub name: &'static str,
    /// How the value is encoded.
    pub encoding: Encoding,
}

/// A repeating group that becomes an array of objects.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// The group-collection definition id (the group position every child carries).
    pub id: &'static str,
    /// The section holding the array.
    pub section: &'static str,
    /// The array's key.
    pub key: &'static str,
    /// What the items are.
    pub kind: GroupKind,
    /// The item fields.
    pub fields: &'static [Field],
}

/// An exclusion type with the fields it needs (`required`) or may carry (`optional`).
pub type ExclusionType = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// One plugin's mapping from setting ids to its document.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// The plugin's name, for settings it has no mapping for.
    pub plugin: &'static str,
    /// Every single-key setting.
    pub keys: &'static [Key],
    /// Every repeating group.
    pub groups: &'static [Group],
    /// The exclusion types of [`GroupKind::Exclusions`] items.
    pub exclusion_types: &'static [ExclusionType],
    /// Why a secret value is refused.
    pub secret: &'static str,
    /// A last check of every encoded value (e.g. text the file format cannot carry); `Ok` when
    /// the format takes every value.
    pub refine: fn(Value) -> Result<Value, String>,
}

/// What the plugin decided for one setting before touching the device.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Set `section.key` to `value`.
    Key {
        /// The key.
        key: &'static Key,
        /// The encoded value.
        value: Value,
    },
    /// One field of item `index` of `group`.
    Item {
        /// The group.
        group: &'static Group,
        /// The item's index in the group.
        index: u32,
    },
    /// Not enforceable; the message says why.
    Refused(String),
}

/// One item of a repeating group, assembled from its child settings.
#[derive(Debug, Default)]
struct Item {
    fields: Map<String, Value>,
    problem: Option<String>,
}

type ItemKey = (&'static str, u32);

impl Mapping {
    /// The single-key mapping for a setting id.
    pub fn key(&self, id: &str) -> Option<&'static Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The group and field for a child setting id.
    pub fn field(&self, id: &str) -> Option<(&'static Group, &'static Field)> {
        self.groups
            .iter()
            .find_map(|g| g.fields.iter().find(|f| f.id == id).map(|f| (g, f)))
    }

    /// Every setting id this mapping enforces (keys and group fields).
    pub fn all_ids(&self) -> impl Iterator<Item = &'static str> + use<> {
        let (keys, groups) = (self.keys, self.groups);
        keys.iter()
            .map(|k| k.id)
            .chain(groups.iter().flat_map(|g| g.fields.iter().map(|f| f.id)))
    }

    /// Checks that no setting id and no `section.key` is mapped twice and that `claimed` (the
    /// manifest's setting ids) are exactly the mapped ids; for the plugin's tests.
    pub fn check<'a>(&self, claimed: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        if let Some(id) = self.all_ids().find(|id| !ids.insert(*id)) {
            return Err(format!("duplicate setting id {id}"));
        }
        let mut paths = BTreeSet::new();
        let keys = self.keys.iter().map(|k| (k.section, k.key));
        let groups = self.groups.iter().map(|g| (g.section, g.key));
        if let Some((section, key)) = keys.chain(groups).find(|p| !paths.insert(*p)) {
            return Err(format!("duplicate path {section}.{key}"));
        }
        let claimed: BTreeSet<&str> = claimed.into_iter().collect();
        if claimed == ids {
            Ok(())
        } else {
            Err(format!(
                "claimed but not mapped: {:?}; mapped but not claimed: {:?}",
                claimed.difference(&ids).collect::<Vec<_>>(),
                ids.difference(&claimed).collect::<Vec<_>>()
            ))
        }
    }

    fn encode(&self, encoding: Encoding, value: &SettingValue) -> Result<Value, String> {
        if matches!(value, SettingValue::Secret(_)) {
            return Err(self.secret.into());
        }
        encoding.encode(value).and_then(self.refine)
    }

    /// Maps every setting and assembles the document.
    pub fn build(&self, settings: &[Setting]) -> Document {
        let mut plans = Vec::with_capacity(settings.len());
        let mut items: BTreeMap<ItemKey, Item> = BTreeMap::new();
        let mut keys_seen = BTreeSet::new();
        for s in settings {
            plans.push(self.plan(s, &mut items, &mut keys_seen));
        }
        self.validate_items(&mut items);

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
        for group in self.groups {
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
        let document = sections
            .into_iter()
            .map(|(name, keys)| (name.to_owned(), Value::Object(keys)))
            .collect();
        Document {
            plans,
            items,
            document,
        }
    }

    fn plan(
        &self,
        s: &Setting,
        items: &mut BTreeMap<ItemKey, Item>,
        keys_seen: &mut BTreeSet<&'static str>,
    ) -> Plan {
        if let Some(key) = self.key(&s.id) {
            if s.group.is_some() {
                return Plan::Refused(format!(
                    "{}.{} is a single value, not part of a repeating group",
                    key.section, key.key
                ));
            }
            if !keys_seen.insert(key.id) {
                return Plan::Refused("set more than once in this run".into());
            }
            return match self.encode(key.encoding, &s.value) {
                Ok(value) => Plan::Key { key, value },
                Err(e) => Plan::Refused(format!("{}.{}: {e}", key.section, key.key)),
            };
        }
        if let Some((group, field)) = self.field(&s.id) {
            let Some(position) = s.group.as_ref().filter(|g| g.definition_id == group.id) else {
                return Plan::Refused(format!(
                    "'{}' must come from an item of the group '{}'",
                    field.name, group.id
                ));
            };
            let item = items.entry((group.id, position.index)).or_default();
            match self.encode(field.encoding, &s.value) {
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
            "the {} plugin has no mapping for '{}'",
            self.plugin, s.id
        ))
    }

    /// Checks each item's fields against its kind, and refuses repeated threat types and tag keys
    /// (mdatp would keep one of them arbitrarily; Intune's rule for contradicting values is that
    /// neither applies).
    fn validate_items(&self, items: &mut BTreeMap<ItemKey, Item>) {
        for ((group_id, _), item) in items.iter_mut() {
            if item.problem.is_some() {
                continue;
            }
            let Some(group) = self.groups.iter().find(|g| g.id == *group_id) else {
                continue;
            };
            if let Err(problem) = self.validate(group, &mut item.fields) {
                item.problem = Some(problem);
            }
        }
        for group in self.groups {
            if !matches!(group.kind, GroupKind::ThreatTypes | GroupKind::Tags) {
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

    fn validate(&self, group: &Group, fields: &mut Map<String, Value>) -> Result<(), String> {
        match group.kind {
            GroupKind::Exclusions => {
                let Some(Value::String(kind)) = fields.get("$type").cloned() else {
                    return Err("the exclusion has no $type".into());
                };
                let Some((_, required, optional)) =
                    self.exclusion_types.iter().find(|(t, ..)| *t == kind)
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
}

/// The document to write, with what each setting expects to find in it.
#[derive(Debug)]
pub struct Document {
    /// One plan per setting, in the settings' order.
    pub plans: Vec<Plan>,
    items: BTreeMap<ItemKey, Item>,
    /// The whole document: sections of keys and item arrays.
    pub document: Map<String, Value>,
}

/// Where the document is stored and how it is serialised.
#[derive(Debug, Clone, Copy)]
pub struct ManagedFile {
    /// The file root (a `files` capability grant).
    pub root: &'static str,
    /// The file inside [`ManagedFile::root`].
    pub name: &'static str,
    /// What an unreadable existing file is said not to be ("valid JSON").
    pub format: &'static str,
    /// The file's bytes as a document, or why they are not one.
    pub parse: fn(&[u8]) -> Result<Value, String>,
    /// The document as the file's bytes.
    pub serialize: fn(&Value) -> Result<Vec<u8>, String>,
}

/// A document written (or found already in place) and read back.
#[derive(Debug)]
pub struct Written {
    /// The file name, for messages.
    pub file: &'static str,
    /// The file as it was before, when it existed and could be parsed.
    pub old: Option<Value>,
    /// Whether this run wrote the file.
    pub wrote: bool,
    /// The file as read back after the write.
    pub read_back: Value,
}

impl Document {
    /// Whether any setting can be enforced (otherwise writing would erase the device's managed
    /// configuration because of settings that could not be read).
    pub fn enforceable(&self) -> bool {
        self.plans.iter().any(|p| match p {
            Plan::Key { .. } => true,
            Plan::Item { group, index } => self.item_problem(group, *index).is_none(),
            Plan::Refused(_) => false,
        })
    }

    /// Why item `index` of `group` is not written, if it is not.
    pub fn item_problem(&self, group: &Group, index: u32) -> Option<String> {
        let problem = self.items.get(&(group.id, index))?.problem.as_ref()?;
        Some(format!("{} item {index}: {problem}", group.kind.label()))
    }

    /// Results for a run that stops before writing: every setting is an error, with its own
    /// reason when it had one and `reason` otherwise.
    pub fn refuse_all(&self, settings: &[Setting], reason: &str) -> Vec<SettingResult> {
        settings
            .iter()
            .zip(&self.plans)
            .map(|(s, p)| match p {
                Plan::Refused(message) => s.error(message.clone()),
                Plan::Item { group, index } => match self.item_problem(group, *index) {
                    Some(problem) => s.error(problem),
                    None => s.error(reason),
                },
                Plan::Key { .. } => s.error(reason),
            })
            .collect()
    }

    /// Writes the document to `file` unless it already holds exactly these bytes, and reads it
    /// back. `Err` holds the results of a run that stops before or while writing.
    pub fn write(
        &self,
        settings: &[Setting],
        file: &ManagedFile,
    ) -> Result<Written, Vec<SettingResult>> {
        let name = file.name;
        if !self.enforceable() {
            // Writing an empty document would erase the device's managed configuration because
            // of settings that could not be read; leave the file alone instead.
            return Err(self.refuse_all(settings, "nothing in this run could be enforced"));
        }
        let current = match files::read(file.root, name) {
            Ok(bytes) => Some(bytes),
            Err(CapabilityError::NotFound(_)) => None,
            Err(e) => {
                return Err(self.refuse_all(settings, &format!("reading {name}: {}", e.message())));
            }
        };
        let old = current
            .as_deref()
            .and_then(|bytes| (file.parse)(bytes).ok());
        if current.is_some() && old.is_none() {
            log::warn(&format!(
                "the existing {name} is not {}; it is replaced",
                file.format
            ));
        }
        let new = Value::Object(self.document.clone());
        let bytes = match (file.serialize)(&new) {
            Ok(bytes) => bytes,
            Err(e) => return Err(self.refuse_all(settings, &format!("serializing {name}: {e}"))),
        };
        let wrote = current.as_deref() != Some(bytes.as_slice());
        if wrote {
            if let Some(old) = &old {
                report_dropped_keys(old, &new);
            }
            if let Err(e) = files::write(file.root, name, &bytes) {
                return Err(self.refuse_all(settings, &format!("writing {name}: {}", e.message())));
            }
            log::info(&format!("wrote {name} ({} bytes)", bytes.len()));
        }
        let read_back = files::read(file.root, name)
            .map_err(|e| e.message())
            .and_then(|b| (file.parse)(&b));
        match read_back {
            Ok(read_back) => Ok(Written {
                file: name,
                old,
                wrote,
                read_back,
            }),
            Err(e) => {
                Err(self.refuse_all(settings, &format!("{name} could not be read back: {e}")))
            }
        }
    }
}

impl Written {
    /// Whether `plan`'s value landed in the file read back: `Ok(changed)` (this run wrote it)
    /// or the error message.
    pub fn landed(&self, document: &Document, plan: &Plan) -> Result<bool, String> {
        let file = self.file;
        match plan {
            Plan::Refused(message) => Err(message.clone()),
            Plan::Key { key, value } => {
                let at = |doc: Option<&Value>| {
                    doc.and_then(|d| d.get(key.section))
                        .and_then(|sec| sec.get(key.key))
                        .cloned()
                };
                let changed = self.wrote && at(self.old.as_ref()).as_ref() != Some(value);
                match at(Some(&self.read_back)) {
                    Some(found) if found == *value => Ok(changed),
                    found => Err(format!(
                        "{file} read back holds {} for {}.{}, not {value}",
                        found.map_or("nothing".into(), |f| f.to_string()),
                        key.section,
                        key.key
                    )),
                }
            }
            Plan::Item { group, index } => {
                if let Some(problem) = document.item_problem(group, *index) {
                    return Err(problem);
                }
                let Some(item) = document.items.get(&(group.id, *index)) else {
                    return Err("internal: the item was not assembled".into());
                };
                let object = Value::Object(item.fields.clone());
                let holds = |doc: Option<&Value>| {
                    doc.and_then(|d| d.get(group.section))
                        .and_then(|sec| sec.get(group.key))
                        .and_then(Value::as_array)
                        .is_some_and(|array| array.contains(&object))
                };
                let changed = self.wrote && !holds(self.old.as_ref());
                if holds(Some(&self.read_back)) {
                    Ok(changed)
                } else {
                    Err(format!(
                        "{file} read back does not hold {object} in {}.{}",
                        group.section, group.key
                    ))
                }
            }
        }
    }

    /// One result per setting: an error when its value did not land ([`Written::landed`]),
    /// otherwise what `verify` makes of it given whether this run changed it.
    pub fn results(
        &self,
        settings: &[Setting],
        document: &Document,
        mut verify: impl FnMut(&Setting, &Plan, bool) -> SettingResult,
    ) -> Vec<SettingResult> {
        settings
            .iter()
            .zip(&document.plans)
            .map(|(s, plan)| match self.landed(document, plan) {
                Ok(changed) => verify(s, plan, changed),
                Err(message) => s.error(message),
            })
            .collect()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_http_urls_with_a_host_and_a_numeric_port() {
        for good in [
            "http://proxy.contoso.com:8080/",
            "https://proxy.contoso.com",
            "http://user@10.0.0.1:3128",
            "http://[2001:db8::1]:8080/",
        ] {
            assert_eq!(proxy_url_problem(good), None, "{good}");
        }
        for (bad, why) in [
            ("proxy.contoso.com:8080", "not an http:// or https:// URL"),
            ("ftp://proxy", "not an http:// or https:// URL"),
            ("http://", "no valid proxy host"),
            ("http://:8080", "no valid proxy host"),
            ("http://pro xy:8080", "no valid proxy host"),
            ("http://proxy:port", "no valid port ('port')"),
            ("http://proxy:99999", "no valid port ('99999')"),
        ] {
            let problem = proxy_url_problem(bad).unwrap_or_default();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn encodings_check_kinds_and_values() {
        assert_eq!(
            Encoding::Bool.encode(&SettingValue::Text("true".into())),
            Ok(Value::Bool(true))
        );
        assert!(
            Encoding::Bool
                .encode(&SettingValue::Text("1".into()))
                .is_err()
        );
        assert!(
            Encoding::Enum(&["a"])
                .encode(&SettingValue::Text("b".into()))
                .unwrap_err()
                .contains("not one of a")
        );
        let threads = Encoding::Integer { min: 1, max: 64 };
        assert_eq!(
            threads.encode(&SettingValue::Integer(64)),
            Ok(Value::from(64))
        );
        assert!(threads.encode(&SettingValue::Integer(65)).is_err());
        assert!(
            threads
                .encode(&SettingValue::Text("2".into()))
                .unwrap_err()
                .contains("expected an integer")
        );
        assert_eq!(
            Encoding::IntegerAsString { min: 1, max: 180 }.encode(&SettingValue::Integer(90)),
            Ok(Value::String("90".into()))
        );
        assert!(
            Encoding::Text
                .encode(&SettingValue::Text(String::new()))
                .is_err()
        );
        let actions = Encoding::TextList(Some(&["allow", "restore"]));
        assert!(
            actions
                .encode(&SettingValue::TextList(vec![
                    "allow".into(),
                    "delete".into()
                ]))
                .is_err()
        );
        assert!(
            Encoding::Text
                .encode(&SettingValue::Secret("s".into()))
                .unwrap_err()
                .contains("secret")
        );
    }
}
