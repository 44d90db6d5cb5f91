//! rampart's first-party Windows Defender plugin.
//!
//! Security settings management ("MDE attach") writes Defender settings to the classic Group
//! Policy location, `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender`, with GP-style value names;
//! Defender then applies them. This plugin does the same for each setting it is given:
//!
//! 1. map the Intune setting to its registry value (key, name, type; the CSP's `Allow*` values
//!    invert into `Disable*` registry values),
//! 2. compare with what is there: equal → `compliant`, else write → `remediated`,
//! 3. read the *effective* value back through the Defender capability: a value Defender did not
//!    take (tamper protection, another authority) is an `error` naming the reason.
//!
//! The mapping table is [`mapping::SETTINGS`]; sources and unverified rows are listed in the
//! plugin's README.

pub mod mapping;

use mapping::{AsrRuleSetting, Mapping, ValueMap};
use rampart_sdk::defender::{self, AsrAction, PreferenceValue};
use rampart_sdk::registry::{Key, RegValue};
use rampart_sdk::{Device, Plugin, Setting, SettingResult};

/// The policy root every value of this plugin lives under.
pub const POLICY_ROOT: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender";

/// The plugin.
#[derive(Debug)]
pub struct WindowsDefender;

impl Plugin for WindowsDefender {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let root = Key::new(POLICY_ROOT);
        settings.iter().map(|s| enforce(&root, s)).collect()
    }
}

rampart_sdk::export_plugin!(WindowsDefender);

fn enforce(root: &Key, setting: &Setting) -> SettingResult {
    if let Some(m) = mapping::find(&setting.id) {
        return enforce_mapped(root, setting, m);
    }
    if let Some(asr) = mapping::asr_setting(&setting.id) {
        return match asr {
            AsrRuleSetting::Rule => enforce_asr_rule(root, setting),
            AsrRuleSetting::PerRuleExclusions => setting.error(
                "per-rule ASR exclusions are not enforced by this plugin version (no verified registry location)",
            ),
        };
    }
    setting.error(format!(
        "the windows-defender plugin has no mapping for '{}'",
        setting.id
    ))
}

fn enforce_mapped(root: &Key, setting: &Setting, m: &Mapping) -> SettingResult {
    let Some(desired) = setting.value.as_integer() else {
        return setting.error(format!(
            "expected an integer value, got {}",
            setting.value.kind_name()
        ));
    };
    let Some(registry_value) = m.map.to_registry(desired) else {
        return setting.error(format!("value {desired} is not valid for {}", m.preference));
    };
    let key = root.subkey_path(m.key);
    let changed = match key.ensure_dword(m.value_name, registry_value) {
        Ok(changed) => changed,
        Err(e) => {
            return setting.error(format!(
                "writing {}\\{}: {}",
                key.path(),
                m.value_name,
                e.message()
            ));
        }
    };
    match verify_preference(m, registry_value) {
        Verification::Matches | Verification::Unavailable => setting.enforced(changed),
        Verification::Differs(reason) => setting.error(reason),
    }
}

enum Verification {
    Matches,
    /// Defender could not be asked (no grant, or no Defender): the registry write stands.
    Unavailable,
    Differs(String),
}

/// Reads the preference Defender actually uses and compares it with what the registry value
/// should have produced.
fn verify_preference(m: &Mapping, registry_value: u32) -> Verification {
    let expected = m.map.to_preference(registry_value);
    let actual = match defender::preference(m.preference) {
        Ok(Some(v)) => v,
        Ok(None) => return Verification::Unavailable,
        Err(_) => return Verification::Unavailable,
    };
    if actual == expected {
        return Verification::Matches;
    }
    Verification::Differs(explain_mismatch(m.preference, &expected, &actual))
}

fn explain_mismatch(name: &str, expected: &PreferenceValue, actual: &PreferenceValue) -> String {
    let tamper = matches!(defender::status(), Ok(s) if s.tamper_protected);
    if tamper {
        format!(
            "blocked by tamper protection: Defender keeps {name} = {} (policy asks for {})",
            show(actual),
            show(expected)
        )
    } else {
        format!(
            "Defender reports {name} = {} but the policy asks for {}; another authority may override it",
            show(actual),
            show(expected)
        )
    }
}

fn show(v: &PreferenceValue) -> String {
    match v {
        PreferenceValue::Integer(i) => i.to_string(),
        PreferenceValue::Boolean(b) => b.to_string(),
        PreferenceValue::Text(t) => format!("'{t}'"),
        PreferenceValue::TextList(l) => format!("{l:?}"),
    }
}

/// An ASR rule arrives as text `"<GUID>=<action>"` (the catalog's option value). Each rule is
/// one REG_SZ value under `Windows Defender Exploit Guard\ASR\Rules`, and the
/// `ExploitGuard_ASR_Rules` switch must be 1 for Defender to read them.
fn enforce_asr_rule(root: &Key, setting: &Setting) -> SettingResult {
    let Some(text) = setting.value.as_text() else {
        return setting.error(format!(
            "expected '<GUID>=<action>' text, got {}",
            setting.value.kind_name()
        ));
    };
    let Some((guid, action)) = mapping::parse_asr_value(text) else {
        return setting.error(format!("'{text}' is not '<GUID>=<0|1|2|6>'"));
    };
    let asr = root.subkey(r"Windows Defender Exploit Guard\ASR");
    let rules = asr.subkey("Rules");
    // The GUID is written lower-case: Defender compares case-insensitively and the catalog's
    // option values mix cases.
    let name = guid.to_ascii_lowercase();
    let wrote_rule = match existing_rule_value(&rules, &name) {
        Ok(Some(current)) if current == action.code() => false,
        Ok(_) => match rules.set(&name, &RegValue::Sz(action.code().to_string())) {
            Ok(()) => true,
            Err(e) => return setting.error(format!("writing ASR rule {name}: {}", e.message())),
        },
        Err(e) => return setting.error(format!("reading ASR rule {name}: {}", e.message())),
    };
    let wrote_switch = match asr.ensure_dword("ExploitGuard_ASR_Rules", 1) {
        Ok(changed) => changed,
        Err(e) => return setting.error(format!("enabling ASR rules: {}", e.message())),
    };
    match defender::asr_rule(&name) {
        Ok(Some(effective)) if effective != action => setting.error(format!(
            "Defender reports ASR rule {name} = {effective:?} but the policy asks for {action:?}"
        )),
        Ok(None) if action != AsrAction::Off => setting.error(format!(
            "Defender does not report ASR rule {name} after it was written"
        )),
        _ => setting.enforced(wrote_rule || wrote_switch),
    }
}

/// Reads a rule value whether it was stored as REG_SZ (what Group Policy writes) or REG_DWORD.
fn existing_rule_value(
    rules: &Key,
    name: &str,
) -> Result<Option<u32>, rampart_sdk::CapabilityError> {
    Ok(match rules.get(name)? {
        Some(RegValue::Sz(s)) => s.trim().parse().ok(),
        Some(RegValue::Dword(d)) => Some(d),
        _ => None,
    })
}

impl ValueMap {
    fn to_preference(self, registry_value: u32) -> PreferenceValue {
        match self {
            ValueMap::Same | ValueMap::CloudProtection => {
                PreferenceValue::Integer(i64::from(registry_value))
            }
            ValueMap::InvertedToDisable => PreferenceValue::Boolean(registry_value != 0),
        }
    }
}

trait SubkeyPath {
    fn subkey_path(&self, relative: &str) -> Key;
}

impl SubkeyPath for Key {
    fn subkey_path(&self, relative: &str) -> Key {
        if relative.is_empty() {
            self.clone()
        } else {
            self.subkey(relative)
        }
    }
}
