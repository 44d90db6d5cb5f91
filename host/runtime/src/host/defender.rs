//! `rampart:plugin/defender`: Defender calls checked against the plugin's Defender grant.

use rampart_backends::defender::{
    AsrAction as BackendAsr, DefenderBackend, DefenderError, ExclusionKind as BackendKind,
    PreferenceValue as BackendPref,
};

use crate::bindings::defender::{AsrAction, ComputerStatus, ExclusionKind, Host, PreferenceValue};
use crate::bindings::types::CapabilityError;
use crate::grants::Access;
use crate::journal::{Change, JournalPreference, asr_action_name, exclusion_kind_name};

use super::RunState;

type Answer<T> = wasmtime::Result<Result<T, CapabilityError>>;

/// Longest preference name accepted; real names are under 64 characters.
const MAX_PREFERENCE_NAME: usize = 256;

impl RunState {
    fn defender_backend(&self) -> Result<&dyn DefenderBackend, CapabilityError> {
        self.capabilities.defender.as_deref().ok_or_else(|| {
            CapabilityError::Unavailable("Microsoft Defender is not available".into())
        })
    }

    fn check_preference_name(&self, name: &str) -> Result<(), CapabilityError> {
        // The length first, so an over-long name is refused without reading it. The bytes are
        // then checked without an early exit, which the compiler turns into a few vector
        // operations: this runs on every Defender call.
        let allowed_bytes = |name: &str| {
            name.bytes()
                .fold(true, |ok, b| ok & (b.is_ascii_alphanumeric() | (b == b'_')))
        };
        if name.is_empty() || name.len() > MAX_PREFERENCE_NAME || !allowed_bytes(name) {
            return Err(CapabilityError::InvalidArgument(format!(
                "'{}' is not a Defender preference name",
                name.chars().take(64).collect::<String>()
            )));
        }
        Ok(())
    }

    fn has_exclusion(&self, k: ExclusionKind, value: &str) -> Result<bool, CapabilityError> {
        Ok(self
            .defender_backend()?
            .list_exclusions(kind(k))
            .map_err(backend_error)?
            .iter()
            .any(|v| v.eq_ignore_ascii_case(value)))
    }

    fn need(
        &self,
        granted: Option<Access>,
        needed: Access,
        what: &str,
    ) -> Result<(), CapabilityError> {
        match granted {
            Some(a) if a >= needed => Ok(()),
            _ => Err(CapabilityError::AccessDenied(what.to_string())),
        }
    }
}

fn backend_error(e: DefenderError) -> CapabilityError {
    match e {
        DefenderError::TamperProtected(n) => CapabilityError::TamperProtected(n),
        DefenderError::InvalidArgument(m) => CapabilityError::InvalidArgument(m),
        DefenderError::Unavailable(m) => CapabilityError::Unavailable(m),
        other => CapabilityError::Failed(other.to_string()),
    }
}

fn pref_to_backend(v: PreferenceValue) -> BackendPref {
    match v {
        PreferenceValue::Integer(i) => BackendPref::Integer(i),
        PreferenceValue::Boolean(b) => BackendPref::Boolean(b),
        PreferenceValue::Text(t) => BackendPref::Text(t),
        PreferenceValue::TextList(l) => BackendPref::TextList(l),
    }
}

fn pref_from_backend(v: BackendPref) -> PreferenceValue {
    match v {
        BackendPref::Integer(i) => PreferenceValue::Integer(i),
        BackendPref::Boolean(b) => PreferenceValue::Boolean(b),
        BackendPref::Text(t) => PreferenceValue::Text(t),
        BackendPref::TextList(l) => PreferenceValue::TextList(l),
    }
}

fn kind(k: ExclusionKind) -> BackendKind {
    match k {
        ExclusionKind::Path => BackendKind::Path,
        ExclusionKind::Extension => BackendKind::Extension,
        ExclusionKind::Process => BackendKind::Process,
    }
}

fn asr_to_backend(a: AsrAction) -> BackendAsr {
    match a {
        AsrAction::Off => BackendAsr::Off,
        AsrAction::Block => BackendAsr::Block,
        AsrAction::Audit => BackendAsr::Audit,
        AsrAction::Warn => BackendAsr::Warn,
    }
}

fn asr_from_backend(a: BackendAsr) -> AsrAction {
    match a {
        BackendAsr::Off => AsrAction::Off,
        BackendAsr::Block => AsrAction::Block,
        BackendAsr::Audit => AsrAction::Audit,
        BackendAsr::Warn => AsrAction::Warn,
    }
}

impl Host for RunState {
    fn get_preference(&mut self, name: String) -> Answer<Option<PreferenceValue>> {
        self.count_call()?;
        let r = (|| {
            self.check_preference_name(&name)?;
            if !self.grants.defender_can_read(&name) {
                return Err(CapabilityError::AccessDenied(format!(
                    "defender preference {name} (read)"
                )));
            }
            let v = self
                .defender_backend()?
                .get_preference(&name)
                .map_err(backend_error)?;
            Ok(v.map(pref_from_backend))
        })();
        self.audit("defender.get-preference", || name.clone(), false, &r);
        Ok(r)
    }

    fn set_preference(&mut self, name: String, value: PreferenceValue) -> Answer<()> {
        self.count_call()?;
        let bytes = match &value {
            PreferenceValue::Text(t) => t.len(),
            PreferenceValue::TextList(l) => l.iter().map(String::len).sum(),
            _ => 8,
        };
        self.check_write_budget(bytes)?;
        let r = (|| {
            self.check_preference_name(&name)?;
            if !self.grants.defender_can_write(&name) {
                return Err(CapabilityError::AccessDenied(format!(
                    "defender preference {name} (write)"
                )));
            }
            self.check_size("preference value", bytes)?;
            let before = self
                .defender_backend()?
                .get_preference(&name)
                .map_err(backend_error)?;
            let value = pref_to_backend(value);
            self.journal(Change::DefenderPreference {
                name: name.clone(),
                before: before.as_ref().map(JournalPreference::from),
                after: JournalPreference::from(&value),
            })?;
            self.defender_backend()?
                .set_preference(&name, value)
                .map_err(backend_error)
        })();
        self.wrote(bytes, &r);
        self.audit("defender.set-preference", || name.clone(), true, &r);
        Ok(r)
    }

    fn list_exclusions(&mut self, k: ExclusionKind) -> Answer<Vec<String>> {
        self.count_call()?;
        let r = (|| {
            self.need(
                self.grants.defender_exclusions(),
                Access::Read,
                "defender exclusions (read)",
            )?;
            self.defender_backend()?
                .list_exclusions(kind(k))
                .map_err(backend_error)
        })();
        self.audit("defender.list-exclusions", || format!("{k:?}"), false, &r);
        Ok(r)
    }

    fn add_exclusion(&mut self, k: ExclusionKind, value: String) -> Answer<()> {
        self.count_call()?;
        let r = (|| {
            self.need(
                self.grants.defender_exclusions(),
                Access::ReadWrite,
                "defender exclusions (write)",
            )?;
            self.check_size("exclusion", value.len())?;
            if !self.has_exclusion(k, &value)? {
                self.journal(Change::DefenderExclusion {
                    kind: exclusion_kind_name(kind(k)).into(),
                    value: value.clone(),
                    added: true,
                })?;
            }
            self.defender_backend()?
                .add_exclusion(kind(k), &value)
                .map_err(backend_error)
        })();
        self.audit(
            "defender.add-exclusion",
            || format!("{k:?} {value}"),
            true,
            &r,
        );
        Ok(r)
    }

    fn remove_exclusion(&mut self, k: ExclusionKind, value: String) -> Answer<bool> {
        self.count_call()?;
        let r = (|| {
            self.need(
                self.grants.defender_exclusions(),
                Access::ReadWrite,
                "defender exclusions (write)",
            )?;
            if !self.has_exclusion(k, &value)? {
                return Ok(false);
            }
            self.journal(Change::DefenderExclusion {
                kind: exclusion_kind_name(kind(k)).into(),
                value: value.clone(),
                added: false,
            })?;
            self.defender_backend()?
                .remove_exclusion(kind(k), &value)
                .map_err(backend_error)
        })();
        self.audit(
            "defender.remove-exclusion",
            || format!("{k:?} {value}"),
            true,
            &r,
        );
        Ok(r)
    }

    fn get_asr_rule(&mut self, id: String) -> Answer<Option<AsrAction>> {
        self.count_call()?;
        let r = (|| {
            self.need(
                self.grants.defender_asr_rules(),
                Access::Read,
                "defender ASR rules (read)",
            )?;
            let v = self
                .defender_backend()?
                .get_asr_rule(&id)
                .map_err(backend_error)?;
            Ok(v.map(asr_from_backend))
        })();
        self.audit("defender.get-asr-rule", || id.clone(), false, &r);
        Ok(r)
    }

    fn set_asr_rule(&mut self, id: String, action: AsrAction) -> Answer<()> {
        self.count_call()?;
        let r = (|| {
            self.need(
                self.grants.defender_asr_rules(),
                Access::ReadWrite,
                "defender ASR rules (write)",
            )?;
            let before = self
                .defender_backend()?
                .get_asr_rule(&id)
                .map_err(backend_error)?;
            let action = asr_to_backend(action);
            self.journal(Change::AsrRule {
                id: id.clone(),
                before: before.map(|a| asr_action_name(a).to_string()),
                after: asr_action_name(action).to_string(),
            })?;
            self.defender_backend()?
                .set_asr_rule(&id, action)
                .map_err(backend_error)
        })();
        self.audit("defender.set-asr-rule", || id.clone(), true, &r);
        Ok(r)
    }

    fn get_computer_status(&mut self) -> Answer<ComputerStatus> {
        self.count_call()?;
        let r = (|| {
            if !self.grants.defender_status() {
                return Err(CapabilityError::AccessDenied(
                    "defender computer status".into(),
                ));
            }
            let s = self
                .defender_backend()?
                .computer_status()
                .map_err(backend_error)?;
            Ok(ComputerStatus {
                tamper_protected: s.tamper_protected,
                real_time_protection_enabled: s.real_time_protection_enabled,
                running_mode: s.running_mode,
                product_version: s.product_version,
            })
        })();
        self.audit("defender.get-computer-status", String::new, false, &r);
        Ok(r)
    }
}
