//! `rampart:plugin/defender`: Defender calls checked against the plugin's Defender grant.

use rampart_backends::defender::{
    AsrAction, ComputerStatus, DefenderBackend, DefenderError, ExclusionKind, PreferenceValue,
};

use crate::grants::Access;
use crate::txn::journal::{Change, JournalPreference, asr_action_name, exclusion_kind_name};

use super::{CallError, Gate, GateAnswer, need};

/// Longest preference name accepted; real names are under 64 characters.
pub const MAX_PREFERENCE_NAME: usize = 256;

impl Gate {
    fn defender_backend(&self) -> Result<&dyn DefenderBackend, CallError> {
        self.capabilities
            .defender
            .as_deref()
            .ok_or_else(|| CallError::Unavailable("Microsoft Defender is not available".into()))
    }

    fn has_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<bool, CallError> {
        Ok(self
            .defender_backend()?
            .list_exclusions(kind)
            .map_err(backend_error)?
            .iter()
            .any(|v| v.eq_ignore_ascii_case(value)))
    }

    /// One Defender call: counted, checked by `check` (grant and arguments), answered by
    /// `call`, audited as `operation` on `target`.
    fn defender_call<T>(
        &mut self,
        operation: &str,
        target: impl FnOnce() -> String,
        write: bool,
        call: impl FnOnce(&mut Gate) -> Result<T, CallError>,
    ) -> GateAnswer<T> {
        self.count_call()?;
        let r = call(self);
        self.audit(operation, target, write, &r);
        Ok(r)
    }

    /// `defender.get-preference`: the effective value of preference `name`.
    pub fn defender_get_preference(&mut self, name: &str) -> GateAnswer<Option<PreferenceValue>> {
        self.defender_call(
            "defender.get-preference",
            || name.to_owned(),
            false,
            |g| {
                check_preference_name(name)?;
                if !g.grants.defender_can_read(name) {
                    return Err(CallError::AccessDenied(format!(
                        "defender preference {name} (read)"
                    )));
                }
                g.defender_backend()?
                    .get_preference(name)
                    .map_err(backend_error)
            },
        )
    }

    /// `defender.set-preference`: sets preference `name` to `value`.
    pub fn defender_set_preference(
        &mut self,
        name: &str,
        value: PreferenceValue,
    ) -> GateAnswer<()> {
        let bytes = match &value {
            PreferenceValue::Text(t) => t.len(),
            PreferenceValue::TextList(l) => l.iter().map(String::len).sum(),
            _ => 8,
        };
        self.count_call()?;
        self.check_write_budget(bytes)?;
        let r = (|| {
            check_preference_name(name)?;
            if !self.grants.defender_can_write(name) {
                return Err(CallError::AccessDenied(format!(
                    "defender preference {name} (write)"
                )));
            }
            self.check_size("preference value", bytes)?;
            let before = self
                .defender_backend()?
                .get_preference(name)
                .map_err(backend_error)?;
            self.journal(Change::DefenderPreference {
                name: name.to_owned(),
                before: before.as_ref().map(JournalPreference::from),
                after: JournalPreference::from(&value),
            })?;
            self.defender_backend()?
                .set_preference(name, value)
                .map_err(backend_error)
        })();
        self.wrote(bytes, &r);
        self.audit("defender.set-preference", || name.to_owned(), true, &r);
        Ok(r)
    }

    /// `defender.list-exclusions`: the exclusions of one kind.
    pub fn defender_list_exclusions(&mut self, kind: ExclusionKind) -> GateAnswer<Vec<String>> {
        self.defender_call(
            "defender.list-exclusions",
            || exclusion_kind_name(kind).to_owned(),
            false,
            |g| {
                need(
                    g.grants.defender_exclusions(),
                    Access::Read,
                    "defender exclusions (read)",
                )?;
                g.defender_backend()?
                    .list_exclusions(kind)
                    .map_err(backend_error)
            },
        )
    }

    /// `defender.add-exclusion`: adds an exclusion (present already: nothing changes).
    pub fn defender_add_exclusion(&mut self, kind: ExclusionKind, value: &str) -> GateAnswer<()> {
        self.defender_call(
            "defender.add-exclusion",
            || format!("{} {value}", exclusion_kind_name(kind)),
            true,
            |g| {
                need(
                    g.grants.defender_exclusions(),
                    Access::ReadWrite,
                    "defender exclusions (write)",
                )?;
                g.check_size("exclusion", value.len())?;
                if !g.has_exclusion(kind, value)? {
                    g.journal(Change::DefenderExclusion {
                        kind: exclusion_kind_name(kind).into(),
                        value: value.to_owned(),
                        added: true,
                    })?;
                }
                g.defender_backend()?
                    .add_exclusion(kind, value)
                    .map_err(backend_error)
            },
        )
    }

    /// `defender.remove-exclusion`: removes an exclusion; whether it was there.
    pub fn defender_remove_exclusion(
        &mut self,
        kind: ExclusionKind,
        value: &str,
    ) -> GateAnswer<bool> {
        self.defender_call(
            "defender.remove-exclusion",
            || format!("{} {value}", exclusion_kind_name(kind)),
            true,
            |g| {
                need(
                    g.grants.defender_exclusions(),
                    Access::ReadWrite,
                    "defender exclusions (write)",
                )?;
                if !g.has_exclusion(kind, value)? {
                    return Ok(false);
                }
                g.journal(Change::DefenderExclusion {
                    kind: exclusion_kind_name(kind).into(),
                    value: value.to_owned(),
                    added: false,
                })?;
                g.defender_backend()?
                    .remove_exclusion(kind, value)
                    .map_err(backend_error)
            },
        )
    }

    /// `defender.get-asr-rule`: the action of ASR rule `id`, if it has one.
    pub fn defender_get_asr_rule(&mut self, id: &str) -> GateAnswer<Option<AsrAction>> {
        self.defender_call(
            "defender.get-asr-rule",
            || id.to_owned(),
            false,
            |g| {
                need(
                    g.grants.defender_asr_rules(),
                    Access::Read,
                    "defender ASR rules (read)",
                )?;
                g.defender_backend()?
                    .get_asr_rule(id)
                    .map_err(backend_error)
            },
        )
    }

    /// `defender.set-asr-rule`: sets the action of ASR rule `id`.
    pub fn defender_set_asr_rule(&mut self, id: &str, action: AsrAction) -> GateAnswer<()> {
        self.defender_call(
            "defender.set-asr-rule",
            || id.to_owned(),
            true,
            |g| {
                need(
                    g.grants.defender_asr_rules(),
                    Access::ReadWrite,
                    "defender ASR rules (write)",
                )?;
                let before = g
                    .defender_backend()?
                    .get_asr_rule(id)
                    .map_err(backend_error)?;
                g.journal(Change::AsrRule {
                    id: id.to_owned(),
                    before: before.map(|a| asr_action_name(a).to_string()),
                    after: asr_action_name(action).to_string(),
                })?;
                g.defender_backend()?
                    .set_asr_rule(id, action)
                    .map_err(backend_error)
            },
        )
    }

    /// `defender.get-computer-status`: Defender's own health.
    pub fn defender_computer_status(&mut self) -> GateAnswer<ComputerStatus> {
        self.defender_call("defender.get-computer-status", String::new, false, |g| {
            if !g.grants.defender_status() {
                return Err(CallError::AccessDenied("defender computer status".into()));
            }
            g.defender_backend()?
                .computer_status()
                .map_err(backend_error)
        })
    }
}

/// Refuses anything but a preference name: ASCII letters, digits and `_`, at most
/// [`MAX_PREFERENCE_NAME`] bytes.
fn check_preference_name(name: &str) -> Result<(), CallError> {
    // The length first, so an over-long name is refused without reading it. The bytes are
    // then checked without an early exit, which the compiler turns into a few vector
    // operations: this runs on every Defender call.
    let allowed_bytes = |name: &str| {
        name.bytes()
            .fold(true, |ok, b| ok & (b.is_ascii_alphanumeric() | (b == b'_')))
    };
    if name.is_empty() || name.len() > MAX_PREFERENCE_NAME || !allowed_bytes(name) {
        return Err(CallError::InvalidArgument(format!(
            "'{}' is not a Defender preference name",
            name.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

fn backend_error(e: DefenderError) -> CallError {
    match e {
        DefenderError::TamperProtected(n) => CallError::TamperProtected(n),
        DefenderError::InvalidArgument(m) => CallError::InvalidArgument(m),
        DefenderError::Unavailable(m) => CallError::Unavailable(m),
        other => CallError::Failed(other.to_string()),
    }
}
