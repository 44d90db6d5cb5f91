//! A write-absorbing overlay over a [`DefenderBackend`] that cannot be forked, for what-if runs:
//! local changes are kept in memory and read back, the real Defender is only read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{
    AsrAction, ComputerStatus, DefenderBackend, DefenderError, ExclusionKind, PreferenceValue,
};

#[derive(Debug, Default)]
struct Changes {
    preferences: BTreeMap<String, PreferenceValue>,
    added: BTreeSet<(u8, String)>,
    removed: BTreeSet<(u8, String)>,
    asr: BTreeMap<String, AsrAction>,
}

fn kind_key(kind: ExclusionKind) -> u8 {
    match kind {
        ExclusionKind::Path => 0,
        ExclusionKind::Extension => 1,
        ExclusionKind::Process => 2,
    }
}

/// Answers with the planned local changes where there are some, else with the base. It does
/// not model how a change would affect *effective* values beyond that (a real Defender merges
/// policy and local settings); what-if reports say so.
#[derive(Debug)]
pub struct OverlayDefender {
    base: Arc<dyn DefenderBackend>,
    changes: Mutex<Changes>,
}

impl OverlayDefender {
    /// An empty overlay over `base`.
    pub fn new(base: Arc<dyn DefenderBackend>) -> Self {
        OverlayDefender {
            base,
            changes: Mutex::new(Changes::default()),
        }
    }

    fn changes(&self) -> MutexGuard<'_, Changes> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DefenderBackend for OverlayDefender {
    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, DefenderError> {
        if let Some(v) = self.changes().preferences.get(&name.to_ascii_lowercase()) {
            return Ok(Some(v.clone()));
        }
        self.base.get_preference(name)
    }

    fn set_preference(&self, name: &str, value: PreferenceValue) -> Result<(), DefenderError> {
        self.changes()
            .preferences
            .insert(name.to_ascii_lowercase(), value);
        Ok(())
    }

    fn list_exclusions(&self, kind: ExclusionKind) -> Result<Vec<String>, DefenderError> {
        let mut list = self.base.list_exclusions(kind)?;
        let changes = self.changes();
        let k = kind_key(kind);
        list.retain(|v| !changes.removed.contains(&(k, v.to_lowercase())));
        for (ck, v) in &changes.added {
            if *ck == k && !list.iter().any(|x| x.eq_ignore_ascii_case(v)) {
                list.push(v.clone());
            }
        }
        list.sort_by_key(|v| v.to_lowercase());
        Ok(list)
    }

    fn add_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<(), DefenderError> {
        let mut changes = self.changes();
        let entry = (kind_key(kind), value.to_lowercase());
        changes.removed.remove(&entry);
        changes.added.insert((kind_key(kind), value.to_string()));
        Ok(())
    }

    fn remove_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<bool, DefenderError> {
        let existed = self
            .list_exclusions(kind)?
            .iter()
            .any(|v| v.eq_ignore_ascii_case(value));
        let mut changes = self.changes();
        let k = kind_key(kind);
        changes
            .added
            .retain(|(ck, v)| !(*ck == k && v.eq_ignore_ascii_case(value)));
        changes.removed.insert((k, value.to_lowercase()));
        Ok(existed)
    }

    fn get_asr_rule(&self, id: &str) -> Result<Option<AsrAction>, DefenderError> {
        if let Some(a) = self.changes().asr.get(&id.to_ascii_lowercase()) {
            return Ok(Some(*a));
        }
        self.base.get_asr_rule(id)
    }

    fn set_asr_rule(&self, id: &str, action: AsrAction) -> Result<(), DefenderError> {
        self.changes().asr.insert(id.to_ascii_lowercase(), action);
        Ok(())
    }

    fn computer_status(&self) -> Result<ComputerStatus, DefenderError> {
        self.base.computer_status()
    }
}
