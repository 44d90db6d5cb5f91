//! `rampart:plugin/defender` for a sandboxed plugin.

use rampart_backends::defender::{
    AsrAction as BackendAsr, ExclusionKind as BackendKind, PreferenceValue as BackendPref,
};

use crate::sandbox::bindings::defender::{
    AsrAction, ComputerStatus, ExclusionKind, Host, PreferenceValue,
};

use super::{Answer, RunState, answer};

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
        answer(self.gate.defender_get_preference(&name), |v| {
            v.map(pref_from_backend)
        })
    }

    fn set_preference(&mut self, name: String, value: PreferenceValue) -> Answer<()> {
        answer(
            self.gate
                .defender_set_preference(&name, pref_to_backend(value)),
            |()| (),
        )
    }

    fn list_exclusions(&mut self, k: ExclusionKind) -> Answer<Vec<String>> {
        answer(self.gate.defender_list_exclusions(kind(k)), |l| l)
    }

    fn add_exclusion(&mut self, k: ExclusionKind, value: String) -> Answer<()> {
        answer(self.gate.defender_add_exclusion(kind(k), &value), |()| ())
    }

    fn remove_exclusion(&mut self, k: ExclusionKind, value: String) -> Answer<bool> {
        answer(self.gate.defender_remove_exclusion(kind(k), &value), |b| b)
    }

    fn get_asr_rule(&mut self, id: String) -> Answer<Option<AsrAction>> {
        answer(self.gate.defender_get_asr_rule(&id), |a| {
            a.map(asr_from_backend)
        })
    }

    fn set_asr_rule(&mut self, id: String, action: AsrAction) -> Answer<()> {
        answer(
            self.gate.defender_set_asr_rule(&id, asr_to_backend(action)),
            |()| (),
        )
    }

    fn get_computer_status(&mut self) -> Answer<ComputerStatus> {
        answer(self.gate.defender_computer_status(), |s| ComputerStatus {
            tamper_protected: s.tamper_protected,
            real_time_protection_enabled: s.real_time_protection_enabled,
            running_mode: s.running_mode,
            product_version: s.product_version,
        })
    }
}
