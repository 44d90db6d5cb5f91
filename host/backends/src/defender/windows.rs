//! Microsoft Defender Antivirus on Windows, through its WMI provider: the
//! `ROOT\Microsoft\Windows\Defender` namespace, the same classes `Get-MpPreference`,
//! `Set-MpPreference` and `Get-MpComputerStatus` use (`MSFT_MpPreference`,
//! `MSFT_MpComputerStatus`), through the `wmi` crate.
//!
//! Where Defender is absent (another antivirus replaced it and removed its provider, Windows
//! editions without it, Wine) the namespace or its classes do not exist; every call then fails
//! with [`DefenderError::Unavailable`], and the first such failure is logged once as a warning so
//! that an operator sees why settings could not be verified through Defender.
//!
//! A WMI connection is bound to the thread that made it (COM apartments), while a
//! [`DefenderBackend`] is shared between threads, so each call opens its own connection. That
//! costs a few milliseconds per call, which is small next to Defender's own latency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use wmi::{Variant, WMIConnection, WMIError};

use super::{
    AsrAction, ComputerStatus, DefenderBackend, DefenderError, ExclusionKind, PreferenceValue,
};

/// Defender's WMI namespace.
const NAMESPACE: &str = r"ROOT\Microsoft\Windows\Defender";

/// WMI errors that mean "there is no Defender provider here".
/// <https://learn.microsoft.com/en-us/windows/win32/wmisdk/wmi-error-constants>
const ABSENT: &[(u32, &str)] = &[
    (0x8004_100E, "WBEM_E_INVALID_NAMESPACE"),
    (0x8004_1010, "WBEM_E_INVALID_CLASS"),
    (0x8004_1002, "WBEM_E_NOT_FOUND"),
    (0x8004_1013, "WBEM_E_PROVIDER_LOAD_FAILURE"),
    (0x8004_1011, "WBEM_E_PROVIDER_NOT_FOUND"),
    (0x8004_0154, "REGDB_E_CLASSNOTREG"),
];

/// The Defender of this Windows machine, reached through WMI.
#[derive(Debug, Default)]
pub struct WmiDefender {
    /// Whether the "Defender is not available" warning was logged already.
    warned: AtomicBool,
}

impl WmiDefender {
    /// The Defender of this machine. Nothing is contacted until the first call.
    pub fn new() -> WmiDefender {
        WmiDefender::default()
    }

    /// Maps a WMI error, logging the first "absent" one.
    fn error(&self, what: &str, e: WMIError) -> DefenderError {
        if let WMIError::HResultError { hres } = e {
            // HRESULTs are compared as the unsigned numbers the documentation lists.
            let code = hres as u32;
            if let Some((_, name)) = ABSENT.iter().find(|(c, _)| *c == code) {
                let message = format!(
                    "Microsoft Defender is not available on this device \
                     (WMI namespace {NAMESPACE}: {name}, {code:#010X})"
                );
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!("{message}; settings verified through Defender cannot be");
                }
                return DefenderError::Unavailable(message);
            }
        }
        DefenderError::Backend(format!("{what}: {e}"))
    }

    fn connect(&self) -> Result<WMIConnection, DefenderError> {
        WMIConnection::with_namespace_path(NAMESPACE)
            .map_err(|e| self.error(&format!("cannot connect to {NAMESPACE}"), e))
    }

    /// The single instance of `class`, as property name → value.
    fn instance(&self, class: &str) -> Result<HashMap<String, Variant>, DefenderError> {
        let connection = self.connect()?;
        let mut rows: Vec<HashMap<String, Variant>> = connection
            .raw_query(format!("SELECT * FROM {class}"))
            .map_err(|e| self.error(&format!("cannot query {class}"), e))?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(DefenderError::Backend(format!(
                "{class} returned {n} instances, expected 1"
            ))),
        }
    }

    /// Calls a static method of `MSFT_MpPreference` (`Set`, `Add`, `Remove`) with `params`.
    fn call(&self, method: &str, params: Vec<(String, Variant)>) -> Result<(), DefenderError> {
        let connection = self.connect()?;
        let fail = |e: WMIError| self.error(&format!("MSFT_MpPreference.{method}"), e);
        let signature = connection
            .get_object("MSFT_MpPreference")
            .map_err(fail)?
            .get_method(method)
            .map_err(fail)?
            .ok_or_else(|| {
                DefenderError::Backend(format!("MSFT_MpPreference has no method {method}"))
            })?;
        let input = signature.spawn_instance().map_err(fail)?;
        for (name, value) in params {
            // An unknown parameter name is refused by WMI itself (WBEM_E_NOT_FOUND would read
            // as "no Defender"), so it is reported as the caller's mistake.
            input.put_property(&name, value).map_err(|e| {
                DefenderError::InvalidArgument(format!(
                    "MSFT_MpPreference.{method} does not take {name}: {e}"
                ))
            })?;
        }
        let output = connection
            .exec_method("MSFT_MpPreference", method, Some(&input))
            .map_err(fail)?;
        // The methods return a uint32 ReturnValue; 0 is success.
        if let Some(output) = output
            && let Ok(value) = output.get_property("ReturnValue")
            && let Some(code) = integer(&value)
            && code != 0
        {
            return Err(DefenderError::Backend(format!(
                "MSFT_MpPreference.{method} returned {code:#X}"
            )));
        }
        Ok(())
    }
}

/// Looks a property up case-insensitively, as Defender's names are.
fn property<'a>(instance: &'a HashMap<String, Variant>, name: &str) -> Option<&'a Variant> {
    instance
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn integer(v: &Variant) -> Option<i64> {
    Some(match *v {
        Variant::I1(i) => i.into(),
        Variant::I2(i) => i.into(),
        Variant::I4(i) => i.into(),
        Variant::I8(i) => i,
        Variant::UI1(i) => i.into(),
        Variant::UI2(i) => i.into(),
        Variant::UI4(i) => i.into(),
        Variant::UI8(i) => i64::try_from(i).ok()?,
        _ => return None,
    })
}

/// A WMI value as a preference value; `None` for types preferences do not use.
fn preference(v: &Variant) -> Option<PreferenceValue> {
    match v {
        Variant::Bool(b) => Some(PreferenceValue::Boolean(*b)),
        Variant::String(s) => Some(PreferenceValue::Text(s.clone())),
        // An unset list (ExclusionPath with no exclusions) is NULL.
        Variant::Null | Variant::Empty => Some(PreferenceValue::TextList(Vec::new())),
        Variant::Array(items) => items
            .iter()
            .map(|i| match i {
                Variant::String(s) => Some(s.clone()),
                other => integer(other).map(|n| n.to_string()),
            })
            .collect::<Option<Vec<_>>>()
            .map(PreferenceValue::TextList),
        other => integer(other).map(PreferenceValue::Integer),
    }
}

fn to_variant(value: PreferenceValue) -> Variant {
    match value {
        PreferenceValue::Integer(i) => match i32::try_from(i) {
            Ok(small) => Variant::I4(small),
            Err(_) => Variant::I8(i),
        },
        PreferenceValue::Boolean(b) => Variant::Bool(b),
        PreferenceValue::Text(t) => Variant::String(t),
        PreferenceValue::TextList(l) => {
            Variant::Array(l.into_iter().map(Variant::String).collect())
        }
    }
}

fn exclusion_property(kind: ExclusionKind) -> &'static str {
    match kind {
        ExclusionKind::Path => "ExclusionPath",
        ExclusionKind::Extension => "ExclusionExtension",
        ExclusionKind::Process => "ExclusionProcess",
    }
}

fn text_list(v: Option<&Variant>) -> Vec<String> {
    match v.and_then(preference) {
        Some(PreferenceValue::TextList(l)) => l,
        Some(PreferenceValue::Text(t)) => vec![t],
        _ => Vec::new(),
    }
}

fn check_name(name: &str) -> Result<(), DefenderError> {
    // The name ends up in a WMI property lookup, never in query text, but a name that is not a
    // plain identifier is certainly not a preference.
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DefenderError::InvalidArgument(format!(
            "'{name}' is not a Defender preference name"
        )));
    }
    Ok(())
}

impl DefenderBackend for WmiDefender {
    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, DefenderError> {
        check_name(name)?;
        let instance = self.instance("MSFT_MpPreference")?;
        match property(&instance, name) {
            None => Ok(None),
            Some(v) => preference(v).map(Some).ok_or_else(|| {
                DefenderError::Backend(format!("{name} has a value of an unsupported type: {v:?}"))
            }),
        }
    }

    fn set_preference(&self, name: &str, value: PreferenceValue) -> Result<(), DefenderError> {
        check_name(name)?;
        self.call("Set", vec![(name.to_string(), to_variant(value))])
    }

    fn list_exclusions(&self, kind: ExclusionKind) -> Result<Vec<String>, DefenderError> {
        let instance = self.instance("MSFT_MpPreference")?;
        let mut list = text_list(property(&instance, exclusion_property(kind)));
        list.sort_by_key(|s| s.to_lowercase());
        list.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Ok(list)
    }

    fn add_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<(), DefenderError> {
        let list = Variant::Array(vec![Variant::String(value.to_string())]);
        self.call("Add", vec![(exclusion_property(kind).to_string(), list)])
    }

    fn remove_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<bool, DefenderError> {
        let existed = self
            .list_exclusions(kind)?
            .iter()
            .any(|v| v.eq_ignore_ascii_case(value));
        if existed {
            let list = Variant::Array(vec![Variant::String(value.to_string())]);
            self.call("Remove", vec![(exclusion_property(kind).to_string(), list)])?;
        }
        Ok(existed)
    }

    fn get_asr_rule(&self, id: &str) -> Result<Option<AsrAction>, DefenderError> {
        let instance = self.instance("MSFT_MpPreference")?;
        let ids = text_list(property(&instance, "AttackSurfaceReductionRules_Ids"));
        let actions = text_list(property(&instance, "AttackSurfaceReductionRules_Actions"));
        let Some(index) = ids.iter().position(|i| i.eq_ignore_ascii_case(id)) else {
            return Ok(None);
        };
        let action = actions
            .get(index)
            .and_then(|a| a.parse::<u32>().ok())
            .ok_or_else(|| {
                DefenderError::Backend(format!("ASR rule {id} has no readable action"))
            })?;
        AsrAction::from_code(action)
            .map(Some)
            .ok_or_else(|| DefenderError::Backend(format!("ASR rule {id} has action {action}")))
    }

    fn set_asr_rule(&self, id: &str, action: AsrAction) -> Result<(), DefenderError> {
        // `Add` with one id and one action sets that rule and keeps the others (what
        // `Add-MpPreference -AttackSurfaceReductionRules_Ids ... _Actions ...` does).
        let code = u8::try_from(action.code()).unwrap_or(u8::MAX);
        self.call(
            "Add",
            vec![
                (
                    "AttackSurfaceReductionRules_Ids".to_string(),
                    Variant::Array(vec![Variant::String(id.to_string())]),
                ),
                (
                    "AttackSurfaceReductionRules_Actions".to_string(),
                    Variant::Array(vec![Variant::UI1(code)]),
                ),
            ],
        )
    }

    fn computer_status(&self) -> Result<ComputerStatus, DefenderError> {
        let status = self.instance("MSFT_MpComputerStatus")?;
        let flag = |name: &str| matches!(property(&status, name), Some(Variant::Bool(true)));
        let text = |name: &str| match property(&status, name) {
            Some(Variant::String(s)) => s.clone(),
            _ => String::new(),
        };
        Ok(ComputerStatus {
            tamper_protected: flag("IsTamperProtected"),
            real_time_protection_enabled: flag("RealTimeProtectionEnabled"),
            running_mode: text("AMRunningMode"),
            product_version: text("AMProductVersion"),
        })
    }
}

/// These run on Windows or under Wine. Under Wine (no Defender) every call must report
/// "not available"; on a Windows machine with Defender, reads must succeed.
#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this machine has Defender's WMI provider at all.
    fn present() -> bool {
        !matches!(
            WmiDefender::new().computer_status(),
            Err(DefenderError::Unavailable(_))
        )
    }

    #[test]
    fn every_call_is_typed_unavailable_or_answers() {
        let defender = WmiDefender::new();
        if present() {
            defender.computer_status().unwrap();
            assert!(
                defender
                    .get_preference("DisableRealtimeMonitoring")
                    .unwrap()
                    .is_some()
            );
            assert_eq!(defender.get_preference("NoSuchPreference").unwrap(), None);
            return;
        }
        let unavailable = |r: Result<(), DefenderError>| match r {
            Err(DefenderError::Unavailable(m)) => assert!(m.contains("not available"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        };
        unavailable(
            defender
                .get_preference("DisableRealtimeMonitoring")
                .map(drop),
        );
        unavailable(
            defender.set_preference("DisableRealtimeMonitoring", PreferenceValue::Boolean(false)),
        );
        unavailable(defender.list_exclusions(ExclusionKind::Path).map(drop));
        unavailable(defender.add_exclusion(ExclusionKind::Path, r"C:\x"));
        unavailable(
            defender
                .remove_exclusion(ExclusionKind::Path, r"C:\x")
                .map(drop),
        );
        unavailable(
            defender
                .get_asr_rule("56a863a9-875e-4185-98a7-b882c64b5ce5")
                .map(drop),
        );
        unavailable(
            defender.set_asr_rule("56a863a9-875e-4185-98a7-b882c64b5ce5", AsrAction::Block),
        );
        unavailable(defender.computer_status().map(drop));
    }

    #[test]
    fn bad_names_are_invalid_arguments_before_any_call() {
        let defender = WmiDefender::new();
        for name in ["", "a b", "x'; --", "Disable\\Thing"] {
            assert!(matches!(
                defender.get_preference(name),
                Err(DefenderError::InvalidArgument(_))
            ));
        }
    }

    #[test]
    fn values_convert_both_ways() {
        assert_eq!(
            preference(&Variant::Bool(true)),
            Some(PreferenceValue::Boolean(true))
        );
        assert_eq!(
            preference(&Variant::UI1(2)),
            Some(PreferenceValue::Integer(2))
        );
        assert_eq!(
            preference(&Variant::Null),
            Some(PreferenceValue::TextList(vec![]))
        );
        assert_eq!(
            preference(&Variant::Array(vec![Variant::UI1(1), Variant::UI1(6)])),
            Some(PreferenceValue::TextList(vec!["1".into(), "6".into()]))
        );
        assert!(matches!(
            to_variant(PreferenceValue::Integer(5)),
            Variant::I4(5)
        ));
        assert!(matches!(
            to_variant(PreferenceValue::Integer(1 << 40)),
            Variant::I8(_)
        ));
    }
}
