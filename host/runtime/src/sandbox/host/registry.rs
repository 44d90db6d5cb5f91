//! `rampart:plugin/registry` for a sandboxed plugin.

use rampart_backends::registry::RegValue as BackendValue;

use crate::sandbox::bindings::registry::{Host, NamedValue, RegValue};

use super::{Answer, RunState, answer};

fn to_backend(v: RegValue) -> BackendValue {
    match v {
        RegValue::Dword(d) => BackendValue::Dword(d),
        RegValue::Qword(q) => BackendValue::Qword(q),
        RegValue::Sz(s) => BackendValue::Sz(s),
        RegValue::ExpandSz(s) => BackendValue::ExpandSz(s),
        RegValue::MultiSz(l) => BackendValue::MultiSz(l),
        RegValue::Binary(b) => BackendValue::Binary(b),
    }
}

fn from_backend(v: BackendValue) -> RegValue {
    match v {
        BackendValue::Dword(d) => RegValue::Dword(d),
        BackendValue::Qword(q) => RegValue::Qword(q),
        BackendValue::Sz(s) => RegValue::Sz(s),
        BackendValue::ExpandSz(s) => RegValue::ExpandSz(s),
        BackendValue::MultiSz(l) => RegValue::MultiSz(l),
        BackendValue::Binary(b) => RegValue::Binary(b),
    }
}

impl Host for RunState {
    fn get_value(&mut self, key: String, name: String) -> Answer<Option<RegValue>> {
        answer(self.gate.registry_get_value(&key, &name), |v| {
            v.map(from_backend)
        })
    }

    fn set_value(&mut self, key: String, name: String, value: RegValue) -> Answer<()> {
        answer(
            self.gate.registry_set_value(&key, &name, to_backend(value)),
            |()| (),
        )
    }

    fn delete_value(&mut self, key: String, name: String) -> Answer<bool> {
        answer(self.gate.registry_delete_value(&key, &name), |b| b)
    }

    fn create_key(&mut self, key: String) -> Answer<()> {
        answer(self.gate.registry_create_key(&key), |()| ())
    }

    fn delete_key(&mut self, key: String) -> Answer<bool> {
        answer(self.gate.registry_delete_key(&key), |b| b)
    }

    fn list_values(&mut self, key: String) -> Answer<Vec<NamedValue>> {
        answer(self.gate.registry_list_values(&key), |values| {
            values
                .into_iter()
                .map(|(name, value)| NamedValue {
                    name,
                    value: from_backend(value),
                })
                .collect()
        })
    }

    fn list_subkeys(&mut self, key: String) -> Answer<Vec<String>> {
        answer(self.gate.registry_list_subkeys(&key), |k| k)
    }
}
