//! What a run changed, as the journal records it: one [`Change`] per write, with the value
//! before and after, in a form that survives a crash (JSON lines) and can be undone.

use base64::Engine as _;
use rampart_backends::defender::{AsrAction, ExclusionKind, PreferenceValue};
use rampart_backends::registry::{RegValue, RegistryBackend, RegistryError, RegistryPath};
use serde::{Deserialize, Serialize};

/// A registry value as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JournalValue {
    /// REG_DWORD.
    RegDword(u32),
    /// REG_QWORD.
    RegQword(u64),
    /// REG_SZ.
    RegSz(String),
    /// REG_EXPAND_SZ.
    RegExpandSz(String),
    /// REG_MULTI_SZ.
    RegMultiSz(Vec<String>),
    /// REG_BINARY, base64.
    RegBinary(String),
}

impl From<&RegValue> for JournalValue {
    fn from(v: &RegValue) -> Self {
        match v {
            RegValue::Dword(d) => JournalValue::RegDword(*d),
            RegValue::Qword(q) => JournalValue::RegQword(*q),
            RegValue::Sz(s) => JournalValue::RegSz(s.clone()),
            RegValue::ExpandSz(s) => JournalValue::RegExpandSz(s.clone()),
            RegValue::MultiSz(l) => JournalValue::RegMultiSz(l.clone()),
            RegValue::Binary(b) => {
                JournalValue::RegBinary(base64::engine::general_purpose::STANDARD.encode(b))
            }
        }
    }
}

impl JournalValue {
    /// The bytes of the value's data (strings by their UTF-8 length, binary decoded).
    pub fn data_len(&self) -> usize {
        match self {
            JournalValue::RegDword(_) => 4,
            JournalValue::RegQword(_) => 8,
            JournalValue::RegSz(s) | JournalValue::RegExpandSz(s) => s.len(),
            JournalValue::RegMultiSz(l) => l.iter().map(|s| s.len() + 1).sum(),
            JournalValue::RegBinary(b) => b.len() * 3 / 4,
        }
    }

    pub(crate) fn to_reg(&self) -> Result<RegValue, String> {
        Ok(match self {
            JournalValue::RegDword(d) => RegValue::Dword(*d),
            JournalValue::RegQword(q) => RegValue::Qword(*q),
            JournalValue::RegSz(s) => RegValue::Sz(s.clone()),
            JournalValue::RegExpandSz(s) => RegValue::ExpandSz(s.clone()),
            JournalValue::RegMultiSz(l) => RegValue::MultiSz(l.clone()),
            JournalValue::RegBinary(b) => RegValue::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|e| format!("bad base64 in journal: {e}"))?,
            ),
        })
    }
}

impl std::fmt::Display for JournalValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalValue::RegDword(d) => write!(f, "REG_DWORD {d}"),
            JournalValue::RegQword(q) => write!(f, "REG_QWORD {q}"),
            JournalValue::RegSz(s) => write!(f, "REG_SZ {s:?}"),
            JournalValue::RegExpandSz(s) => write!(f, "REG_EXPAND_SZ {s:?}"),
            JournalValue::RegMultiSz(l) => write!(f, "REG_MULTI_SZ {l:?}"),
            JournalValue::RegBinary(b) => write!(f, "REG_BINARY ({} base64 chars)", b.len()),
        }
    }
}

/// One key of a deleted subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySnapshot {
    /// The key.
    pub key: String,
    /// Its values.
    pub values: Vec<(String, JournalValue)>,
}

/// A Defender preference value as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "camelCase")]
pub enum JournalPreference {
    /// Integer.
    Integer(i64),
    /// Boolean.
    Boolean(bool),
    /// Text.
    Text(String),
    /// List of text.
    TextList(Vec<String>),
}

impl From<&PreferenceValue> for JournalPreference {
    fn from(v: &PreferenceValue) -> Self {
        match v {
            PreferenceValue::Integer(i) => JournalPreference::Integer(*i),
            PreferenceValue::Boolean(b) => JournalPreference::Boolean(*b),
            PreferenceValue::Text(t) => JournalPreference::Text(t.clone()),
            PreferenceValue::TextList(l) => JournalPreference::TextList(l.clone()),
        }
    }
}

impl From<&JournalPreference> for PreferenceValue {
    fn from(v: &JournalPreference) -> Self {
        match v {
            JournalPreference::Integer(i) => PreferenceValue::Integer(*i),
            JournalPreference::Boolean(b) => PreferenceValue::Boolean(*b),
            JournalPreference::Text(t) => PreferenceValue::Text(t.clone()),
            JournalPreference::TextList(l) => PreferenceValue::TextList(l.clone()),
        }
    }
}

/// One change a run made (or, in a what-if run, would make).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum Change {
    /// A registry value was set (`after`) or deleted (`after: None`).
    #[serde(rename_all = "camelCase")]
    RegistryValue {
        /// Key (canonical).
        key: String,
        /// Value name.
        name: String,
        /// What was there.
        before: Option<JournalValue>,
        /// What is there now.
        after: Option<JournalValue>,
    },
    /// A key that did not exist was created (with any missing parents below it).
    #[serde(rename_all = "camelCase")]
    RegistryKeyCreated {
        /// The highest key that did not exist.
        key: String,
    },
    /// A key was deleted with its subtree.
    #[serde(rename_all = "camelCase")]
    RegistryKeyDeleted {
        /// The key.
        key: String,
        /// The subtree as it was, parents first.
        subtree: Vec<KeySnapshot>,
    },
    /// A file was written (`after_size`) or removed (`after_size: None`).
    #[serde(rename_all = "camelCase")]
    File {
        /// Root name.
        root: String,
        /// Path in the root.
        path: String,
        /// Old contents, base64; `None` if the file did not exist.
        before: Option<String>,
        /// New size; `None` when removed.
        after_size: Option<u64>,
        /// New contents as text when they are short UTF-8 (for plans), else `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_text: Option<String>,
    },
    /// A Defender preference was set.
    #[serde(rename_all = "camelCase")]
    DefenderPreference {
        /// Preference name.
        name: String,
        /// Effective value before.
        before: Option<JournalPreference>,
        /// Value set.
        after: JournalPreference,
    },
    /// A Defender exclusion was added or removed.
    #[serde(rename_all = "camelCase")]
    DefenderExclusion {
        /// `path`, `extension` or `process`.
        kind: String,
        /// The exclusion.
        value: String,
        /// True when added, false when removed.
        added: bool,
    },
    /// An ASR rule's action was set.
    #[serde(rename_all = "camelCase")]
    AsrRule {
        /// Rule GUID.
        id: String,
        /// Action before (`off`, `block`, `audit`, `warn`), if configured.
        before: Option<String>,
        /// Action set.
        after: String,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show =
            |v: &Option<JournalValue>| v.as_ref().map_or("(none)".to_string(), ToString::to_string);
        match self {
            Change::RegistryValue {
                key,
                name,
                before,
                after,
            } => {
                let name = if name.is_empty() { "(default)" } else { name };
                write!(
                    f,
                    "registry {key}\\{name}: {} → {}",
                    show(before),
                    show(after)
                )
            }
            Change::RegistryKeyCreated { key } => write!(f, "registry key {key}: created"),
            Change::RegistryKeyDeleted { key, subtree } => {
                write!(f, "registry key {key}: deleted ({} keys)", subtree.len())
            }
            Change::File {
                root,
                path,
                before,
                after_size,
                ..
            } => {
                let before = before.as_ref().map_or("(none)".to_string(), |b| {
                    format!("{} bytes", b.len() * 3 / 4)
                });
                let after = after_size.map_or("(removed)".to_string(), |n| format!("{n} bytes"));
                write!(f, "file {root}:{path}: {before} → {after}")
            }
            Change::DefenderPreference {
                name,
                before,
                after,
            } => {
                write!(f, "defender preference {name}: {before:?} → {after:?}")
            }
            Change::DefenderExclusion { kind, value, added } => {
                write!(
                    f,
                    "defender {kind} exclusion {value:?}: {}",
                    if *added { "added" } else { "removed" }
                )
            }
            Change::AsrRule { id, before, after } => {
                write!(
                    f,
                    "ASR rule {id}: {} → {after}",
                    before.as_deref().unwrap_or("(none)")
                )
            }
        }
    }
}

/// The name journaled for an exclusion kind.
pub fn exclusion_kind_name(kind: ExclusionKind) -> &'static str {
    match kind {
        ExclusionKind::Path => "path",
        ExclusionKind::Extension => "extension",
        ExclusionKind::Process => "process",
    }
}

pub(crate) fn exclusion_kind(name: &str) -> Result<ExclusionKind, String> {
    match name {
        "path" => Ok(ExclusionKind::Path),
        "extension" => Ok(ExclusionKind::Extension),
        "process" => Ok(ExclusionKind::Process),
        other => Err(format!("unknown exclusion kind '{other}'")),
    }
}

/// The name journaled for an ASR action.
pub fn asr_action_name(a: AsrAction) -> &'static str {
    match a {
        AsrAction::Off => "off",
        AsrAction::Block => "block",
        AsrAction::Audit => "audit",
        AsrAction::Warn => "warn",
    }
}

pub(crate) fn asr_action(name: &str) -> Result<AsrAction, String> {
    match name {
        "off" => Ok(AsrAction::Off),
        "block" => Ok(AsrAction::Block),
        "audit" => Ok(AsrAction::Audit),
        "warn" => Ok(AsrAction::Warn),
        other => Err(format!("unknown ASR action '{other}'")),
    }
}

/// Records `key`'s subtree (parents first) before it is deleted. Bounded: a subtree larger than
/// `MAX_SNAPSHOT_KEYS` is refused, so a plugin cannot make the host copy a whole hive.
pub fn snapshot_subtree(
    registry: &dyn RegistryBackend,
    key: &RegistryPath,
) -> Result<Vec<KeySnapshot>, String> {
    const MAX_SNAPSHOT_KEYS: usize = 10_000;
    let mut out = Vec::new();
    let mut stack = vec![key.clone()];
    while let Some(k) = stack.pop() {
        if out.len() >= MAX_SNAPSHOT_KEYS {
            return Err(format!(
                "'{key}' has more than {MAX_SNAPSHOT_KEYS} subkeys; refusing to delete it"
            ));
        }
        let values = match registry.list_values(&k) {
            Ok(v) => v,
            Err(RegistryError::KeyNotFound(_)) => continue,
            Err(e) => return Err(e.to_string()),
        };
        out.push(KeySnapshot {
            key: k.to_string(),
            values: values
                .iter()
                .map(|(n, v)| (n.clone(), JournalValue::from(v)))
                .collect(),
        });
        let mut children = registry.list_subkeys(&k).map_err(|e| e.to_string())?;
        children.reverse();
        for c in children {
            stack.push(k.join(&c).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

/// The highest ancestor of `key` (or `key` itself) that does not exist, if any: what a write
/// to `key` would create.
pub fn highest_missing(
    registry: &dyn RegistryBackend,
    key: &RegistryPath,
) -> Result<Option<RegistryPath>, RegistryError> {
    let exists = |k: &RegistryPath| registry.key_exists(k);
    if exists(key)? {
        return Ok(None);
    }
    let mut highest = key.clone();
    while let Some(parent) = highest.parent() {
        if parent.is_hive_root() || exists(&parent)? {
            break;
        }
        highest = parent;
    }
    Ok(Some(highest))
}
