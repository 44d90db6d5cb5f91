//! The windows-defender plugin's enforcement logic compiled natively, for the benchmarks'
//! "native" baselines (in-process, and the one-process-per-setting DSC model).
//!
//! It uses the plugin crate's own mapping table and parsers (`rampart_plugin_windows_defender::
//! mapping`) and follows `plugins/windows-defender/src/lib.rs` step for step — map, compare,
//! write only if different, verify through Defender — but calls the backends directly instead
//! of going through the sandbox: no grant checks, no call budget, no copies across the
//! component boundary. Every write is journaled first through `journal`, as the host does.

use rampart_backends::defender::{AsrAction, PreferenceValue};
use rampart_backends::registry::{RegValue, RegistryPath};
use rampart_plugin_windows_defender::POLICY_ROOT;
use rampart_plugin_windows_defender::mapping::{self, AsrRuleSetting, Mapping, ValueMap};
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::Capabilities;
use rampart_runtime::journal::{Change, JournalValue};

/// One setting's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeOutcome {
    /// Setting id.
    pub id: String,
    /// Compliant, remediated or error.
    pub status: SettingStatus,
    /// Why, for errors.
    pub message: Option<String>,
}

/// Enforces `settings` with the plugin's logic; `journal` is called before each write and a
/// write whose journal record fails is not made.
pub fn apply(
    caps: &Capabilities,
    settings: &[ResolvedSetting],
    journal: &mut dyn FnMut(&Change) -> Result<(), String>,
) -> Vec<NativeOutcome> {
    settings
        .iter()
        .map(|s| {
            let result = if let Some(m) = mapping::find(&s.id) {
                enforce_mapped(caps, s, m, journal)
            } else {
                match mapping::asr_setting(&s.id) {
                    Some(AsrRuleSetting::Rule) => enforce_asr_rule(caps, s, journal),
                    Some(AsrRuleSetting::PerRuleExclusions) => {
                        Err("per-rule ASR exclusions are not enforced".to_string())
                    }
                    None => Err(format!(
                        "the windows-defender plugin has no mapping for '{}'",
                        s.id
                    )),
                }
            };
            match result {
                Ok(changed) => NativeOutcome {
                    id: s.id.clone(),
                    status: if changed {
                        SettingStatus::Remediated
                    } else {
                        SettingStatus::Compliant
                    },
                    message: None,
                },
                Err(message) => NativeOutcome {
                    id: s.id.clone(),
                    status: SettingStatus::Error,
                    message: Some(message),
                },
            }
        })
        .collect()
}

fn key(relative: &str) -> Result<RegistryPath, String> {
    let text = if relative.is_empty() {
        POLICY_ROOT.to_string()
    } else {
        format!("{POLICY_ROOT}\\{relative}")
    };
    RegistryPath::parse(&text).map_err(|e| e.to_string())
}

/// Writes `value` unless it is already there; returns whether it wrote.
fn ensure(
    caps: &Capabilities,
    key: &RegistryPath,
    name: &str,
    value: RegValue,
    journal: &mut dyn FnMut(&Change) -> Result<(), String>,
) -> Result<bool, String> {
    let registry = caps.registry.as_deref().ok_or("no registry")?;
    let before = registry.get_value(key, name).map_err(|e| e.to_string())?;
    if before.as_ref() == Some(&value) {
        return Ok(false);
    }
    journal(&Change::RegistryValue {
        key: key.to_string(),
        name: name.to_string(),
        before: before.as_ref().map(JournalValue::from),
        after: Some(JournalValue::from(&value)),
    })?;
    registry
        .set_value(key, name, value)
        .map_err(|e| e.to_string())?;
    Ok(true)
}

fn enforce_mapped(
    caps: &Capabilities,
    s: &ResolvedSetting,
    m: &Mapping,
    journal: &mut dyn FnMut(&Change) -> Result<(), String>,
) -> Result<bool, String> {
    let SettingValue::Integer(desired) = s.value else {
        return Err("expected an integer value".into());
    };
    let registry_value = m
        .map
        .to_registry(desired)
        .ok_or_else(|| format!("value {desired} is not valid for {}", m.preference))?;
    let changed = ensure(
        caps,
        &key(m.key)?,
        m.value_name,
        RegValue::Dword(registry_value),
        journal,
    )?;
    let expected = match m.map {
        ValueMap::Same | ValueMap::CloudProtection => {
            PreferenceValue::Integer(i64::from(registry_value))
        }
        ValueMap::InvertedToDisable => PreferenceValue::Boolean(registry_value != 0),
    };
    if let Some(defender) = caps.defender.as_deref()
        && let Ok(Some(actual)) = defender.get_preference(m.preference)
        && actual != expected
    {
        return Err(format!(
            "Defender reports {} = {actual:?} but the policy asks for {expected:?}",
            m.preference
        ));
    }
    Ok(changed)
}

fn enforce_asr_rule(
    caps: &Capabilities,
    s: &ResolvedSetting,
    journal: &mut dyn FnMut(&Change) -> Result<(), String>,
) -> Result<bool, String> {
    let SettingValue::Text(text) = &s.value else {
        return Err("expected '<GUID>=<action>' text".into());
    };
    let (guid, action) =
        mapping::parse_asr_value(text).ok_or_else(|| format!("'{text}' is not an ASR value"))?;
    let asr = key(r"Windows Defender Exploit Guard\ASR")?;
    let rules = key(r"Windows Defender Exploit Guard\ASR\Rules")?;
    let name = guid.to_ascii_lowercase();
    let registry = caps.registry.as_deref().ok_or("no registry")?;
    let current = match registry
        .get_value(&rules, &name)
        .map_err(|e| e.to_string())?
    {
        Some(RegValue::Sz(v)) => v.trim().parse::<u32>().ok(),
        Some(RegValue::Dword(d)) => Some(d),
        _ => None,
    };
    let wrote_rule = if current == Some(action.code()) {
        false
    } else {
        // `ensure` re-reads the value; the plugin writes unconditionally here.
        ensure(
            caps,
            &rules,
            &name,
            RegValue::Sz(action.code().to_string()),
            journal,
        )?
    };
    let wrote_switch = ensure(
        caps,
        &asr,
        "ExploitGuard_ASR_Rules",
        RegValue::Dword(1),
        journal,
    )?;
    if let Some(defender) = caps.defender.as_deref() {
        let want = AsrAction::from_code(action.code());
        match defender.get_asr_rule(&name) {
            Ok(Some(effective)) if Some(effective) != want => {
                return Err(format!(
                    "Defender reports ASR rule {name} = {effective:?} but the policy asks for {want:?}"
                ));
            }
            Ok(None) if action.code() != 0 => {
                return Err(format!(
                    "Defender does not report ASR rule {name} after it was written"
                ));
            }
            _ => {}
        }
    }
    Ok(wrote_rule || wrote_switch)
}
