//! rampart's first-party Windows Defender plugin.
//!
//! Security settings management ("MDE attach") writes Defender settings to the classic Group
//! Policy location, `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender`, with GP-style value names;
//! Defender then applies them. This plugin does the same for each setting it is given, and for
//! the other areas of the security settings management templates (Windows Security experience,
//! EDR, Windows Firewall and its rules) writes their policy locations:
//!
//! 1. map the Intune setting to its registry value (key, name, type; the CSP's `Allow*` values
//!    invert into `Disable*` registry values; lists become one value per item),
//! 2. compare with what is there: equal → `compliant` (no write), else write → `remediated`,
//! 3. read the *effective* value back through the Defender capability where Defender reports
//!    it: a value Defender did not take (tamper protection, another authority) is an `error`
//!    naming the reason.
//!
//! Windows Firewall rules are the exception to one setting, one value: the settings of one item
//! of the Firewall Rules group make one rule, written as one rule string (see [`firewall`]).
//!
//! Values the plugin wrote for a setting that a later policy revision drops are removed by the
//! host (see the host's ownership ledger), so the plugin only ever adds or changes values.
//!
//! The mapping tables are in [`mapping`]; sources and unverified rows are listed in the
//! plugin's README.

pub mod firewall;
pub mod mapping;
mod text;

use mapping::{
    AsrRuleSetting, Encoding, FirewallValue, ListMapping, ListVerify, Mapping, Scope, Verify,
};
use rampart_sdk::defender::{self, AsrAction, PreferenceValue};
use rampart_sdk::registry::{Key, RegValue};
use rampart_sdk::{
    CapabilityError, Device, Platform, Plugin, Setting, SettingResult, SettingStatus, SettingValue,
};
use std::collections::BTreeMap;

/// The Defender policy root.
pub const POLICY_ROOT: &str = mapping::DEFENDER;

/// The plugin.
#[derive(Debug)]
pub struct WindowsDefender;

impl Plugin for WindowsDefender {
    fn apply(device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        // Firewall rules are enforced per rule (a group item), the rest per setting.
        let mut switches = Switches::default();
        let mut slots: Vec<Option<SettingResult>> = settings
            .iter()
            .map(|s| (!is_rule_setting(s)).then(|| enforce(&device, s, &mut switches)))
            .collect();
        enforce_firewall_rules(&settings, &mut slots);
        let mut results: Vec<SettingResult> = slots
            .into_iter()
            .zip(&settings)
            .map(|(result, s)| {
                result.unwrap_or_else(|| s.error("the windows-defender plugin produced no result"))
            })
            .collect();
        if device.platform == Platform::WindowsServer {
            check_server_network_protection(&settings, &mut results);
        }
        results
    }
}

rampart_sdk::export_plugin!(WindowsDefender);

// Each run is a fresh instance whose memory is discarded afterwards, and a 30-setting run
// allocates under 64 KiB in all: a bump allocator is enough and is cheaper than the default.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: rampart_sdk::arena::RunArena = rampart_sdk::arena::RunArena::new();

/// The switch values (DWORD 1 that makes Defender read a group of policy values) this apply
/// has already ensured. Many settings share one switch (every ASR rule, every threat action):
/// it is read, and written if off, once per apply rather than once per setting. The setting
/// that turned a switch on reports the change.
#[derive(Debug, Default)]
struct Switches {
    on: Vec<(&'static str, &'static str)>,
}

impl Switches {
    /// Ensures `name` = DWORD 1 under `relative` (to the Defender policy root); returns whether
    /// it had to write.
    fn ensure_on(
        &mut self,
        relative: &'static str,
        name: &'static str,
    ) -> Result<bool, CapabilityError> {
        if self
            .on
            .iter()
            .any(|(r, n)| text::same(r, relative) && text::same(n, name))
        {
            return Ok(false);
        }
        let changed = key_at(mapping::DEFENDER, relative).ensure_dword(name, 1)?;
        self.on.push((relative, name));
        Ok(changed)
    }
}

fn enforce(device: &Device, setting: &Setting, switches: &mut Switches) -> SettingResult {
    let id = setting.id.as_str();
    if let Some(m) = mapping::find(id) {
        return enforce_mapped(device, setting, m);
    }
    if let Some(fw) = mapping::firewall_profile(id) {
        return enforce_firewall(setting, &fw);
    }
    if let Some(list) = mapping::find_list(id) {
        return enforce_list(setting, list, switches);
    }
    if let Some(asr) = mapping::asr_setting(id) {
        return match asr {
            AsrRuleSetting::Rule => enforce_asr_rule(setting, switches),
            AsrRuleSetting::PerRuleExclusions(rule) => {
                enforce_per_rule_exclusions(setting, rule, switches)
            }
        };
    }
    if text::starts_with(id, mapping::THREAT_ACTION_PREFIX) {
        return enforce_threat_action(setting, switches);
    }
    if text::same(id, mapping::TAMPER_PROTECTION) {
        return report_tamper_protection(setting);
    }
    if text::same(id, mapping::EDR_CONFIGURATION_TYPE)
        || mapping::EDR_BLOBS.iter().any(|blob| text::same(id, blob))
    {
        return report_onboarding(setting);
    }
    setting.error(format!(
        "the windows-defender plugin has no mapping for '{}'",
        setting.id
    ))
}

/// Whether a setting belongs to a firewall rule (a child of the Firewall Rules group).
fn is_rule_setting(setting: &Setting) -> bool {
    setting
        .group
        .as_ref()
        .is_some_and(|g| text::same(&g.definition_id, firewall::GROUP))
        || text::strip_prefix(&setting.id, firewall::GROUP)
            .is_some_and(|rest| rest.starts_with('_'))
}

/// Firewall rules: the settings of one group item make one rule, written as one REG_SZ under
/// the MDM store's `FirewallRules` key (see [`firewall`]). Every setting of a rule gets the
/// rule's outcome; a rule that cannot be encoded is an `error` and nothing is written for it,
/// while the other rules are still enforced. Fills the slots of the rule settings.
fn enforce_firewall_rules(settings: &[Setting], slots: &mut [Option<SettingResult>]) {
    let mut items: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, setting) in settings.iter().enumerate() {
        if !is_rule_setting(setting) {
            continue;
        }
        match &setting.group {
            Some(g) if g.definition_id == firewall::GROUP => {
                items.entry(g.index).or_default().push(i);
            }
            _ => {
                slots[i] = Some(setting.error(
                    "a firewall rule setting must come from an item of the Firewall Rules group",
                ));
            }
        }
    }

    // Encode every rule before writing any, so that two items naming the same registry value
    // are both refused rather than one silently overwriting the other.
    let mut rules: Vec<(Vec<usize>, String, Result<firewall::EncodedRule, String>)> = Vec::new();
    for (index, members) in items {
        let mut rule = firewall::Rule::default();
        let mut problem = None;
        for &i in &members {
            if let Err(e) = rule.set_field(&settings[i].id, &settings[i].value) {
                problem.get_or_insert(e);
            }
        }
        let label = match rule.name {
            Some(_) => rule.label(),
            None => format!("firewall rule item {index}"),
        };
        let outcome = match problem {
            Some(e) => Err(e),
            None => rule.encode(),
        };
        rules.push((members, label, outcome));
    }
    let names: Vec<Option<String>> = rules
        .iter()
        .map(|(_, _, outcome)| outcome.as_ref().ok().map(|r| r.value_name.to_lowercase()))
        .collect();
    for (rule, name) in rules.iter_mut().zip(&names) {
        if name.is_some() && names.iter().filter(|n| *n == name).count() > 1 {
            rule.2 = Err(
                "another rule of this run has the same name (ignoring case), and each rule is one registry value named by it"
                    .to_owned(),
            );
        }
    }

    let key = Key::new(firewall::RULES_KEY);
    for (members, label, outcome) in rules {
        let result = match outcome {
            // Rule text may hold anything; the report line stays one line.
            Err(e) => Err(firewall::shown(&format!("{label}: {e}"))),
            Ok(rule) => key
                .ensure(&rule.value_name, &RegValue::Sz(rule.data))
                .map_err(|e| {
                    format!(
                        "{label}: writing {}\\{}: {}",
                        key.path(),
                        rule.value_name,
                        e.message()
                    )
                }),
        };
        for i in members {
            slots[i] = Some(match &result {
                Ok(changed) => settings[i].unconfirmed(*changed, consumer(mapping::FIREWALL)),
                Err(message) => settings[i].error(message.clone()),
            });
        }
    }
}

/// On Windows Server, network protection takes effect only when
/// `AllowNetworkProtectionOnWinServer` is on as well. Checked after every setting ran, so a
/// policy that sets both passes whatever their order.
fn check_server_network_protection(settings: &[Setting], results: &mut [SettingResult]) {
    const NETWORK_PROTECTION: &str =
        "device_vendor_msft_policy_config_defender_enablenetworkprotection";
    for (setting, result) in settings.iter().zip(results.iter_mut()) {
        let on = setting.id == NETWORK_PROTECTION
            && setting.value.as_integer().is_some_and(|v| v != 0)
            && matches!(
                result.status,
                SettingStatus::Compliant | SettingStatus::Remediated
            );
        if on
            && let Ok(Some(PreferenceValue::Boolean(false))) =
                defender::preference("AllowNetworkProtectionOnWinServer")
        {
            *result = setting.error(
                "on Windows Server network protection takes effect only with AllowNetworkProtectionOnWinServer = 1, which Defender reports off",
            );
        }
    }
}

fn key_at(root: &str, relative: &str) -> Key {
    if relative.is_empty() {
        Key::new(root)
    } else {
        // Built by hand: this runs for every setting, and `format!` costs several times more.
        let mut path = String::with_capacity(root.len() + 1 + relative.len());
        path.push_str(root);
        path.push('\\');
        path.push_str(relative);
        Key::new(path)
    }
}

/// Longest policy text: the default `maxLength` of an ADMX `text` element.
const MAX_TEXT_CHARS: usize = 1023;

/// Refuses text a policy value cannot hold: a control character (it would end a REG_SZ or split
/// a line), or more than [`MAX_TEXT_CHARS`] characters.
fn check_text(text: &str) -> Result<(), String> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the text contains the control character {}",
            c.escape_default()
        ));
    }
    let length = text.chars().count();
    if length > MAX_TEXT_CHARS {
        return Err(format!(
            "the text is {length} characters, more than the {MAX_TEXT_CHARS} a policy text takes"
        ));
    }
    Ok(())
}

/// Encodes a setting's value for the registry; the error names what was wrong.
fn encode(encoding: Encoding, value: &SettingValue) -> Result<RegValue, String> {
    let integer = || {
        value
            .as_integer()
            .ok_or_else(|| format!("expected an integer value, got {}", value.kind_name()))
    };
    let flag = |v: i64, on: u32, off: u32| match v {
        1 => Ok(on),
        0 => Ok(off),
        other => Err(format!("value {other} is not 0 or 1")),
    };
    Ok(match encoding {
        Encoding::Dword | Encoding::Channel => {
            let v = integer()?;
            RegValue::Dword(
                u32::try_from(v).map_err(|_| format!("value {v} does not fit a REG_DWORD"))?,
            )
        }
        Encoding::Inverted => RegValue::Dword(flag(integer()?, 0, 1)?),
        Encoding::CloudProtection => RegValue::Dword(flag(integer()?, 2, 0)?),
        Encoding::TrueFalse => match (value.as_text(), value.as_bool()) {
            (Some("true"), _) | (_, Some(true)) => RegValue::Dword(1),
            (Some("false"), _) | (_, Some(false)) => RegValue::Dword(0),
            _ => {
                return Err(format!(
                    "expected \"true\" or \"false\", got {}",
                    value.kind_name()
                ));
            }
        },
        Encoding::Sz => {
            let text = value
                .as_text()
                .ok_or_else(|| format!("expected text, got {}", value.kind_name()))?;
            check_text(text)?;
            RegValue::Sz(text.to_owned())
        }
        Encoding::JoinedSz => {
            let joined = match (value.as_text(), value.as_text_list()) {
                (Some(text), _) => text.to_string(),
                (_, Some(items)) => {
                    if let Some(bad) = items.iter().find(|i| i.is_empty() || i.contains('|')) {
                        return Err(format!("list item '{bad}' is empty or contains '|'"));
                    }
                    items.join("|")
                }
                _ => return Err(format!("expected a list, got {}", value.kind_name())),
            };
            check_text(&joined)?;
            RegValue::Sz(joined)
        }
        Encoding::Flags(mask) => {
            let flags = match (value, value.as_integer()) {
                (SettingValue::IntegerList(flags), _) => flags.clone(),
                (_, Some(flag)) => vec![flag],
                _ => return Err(format!("expected flags, got {}", value.kind_name())),
            };
            let mut or = 0;
            for flag in flags {
                match u32::try_from(flag) {
                    Ok(bits) if bits & !mask == 0 => or |= bits,
                    _ => {
                        return Err(format!(
                            "{flag} is not a combination of the flags {mask:#x}"
                        ));
                    }
                }
            }
            RegValue::Dword(or)
        }
    })
}

fn enforce_mapped(device: &Device, setting: &Setting, m: &Mapping) -> SettingResult {
    if m.scope == Scope::ServerOnly && device.platform != Platform::WindowsServer {
        return setting.not_applicable(format!("{} applies to Windows Server only", m.value_name));
    }
    let desired = match encode(m.encoding, &setting.value) {
        Ok(v) => v,
        Err(e) => return setting.error(e),
    };
    let key = key_at(m.root, m.key);
    // An update channel left "not configured" (0) is an absent value, as Group Policy leaves it.
    let written = if m.encoding == Encoding::Channel && desired == RegValue::Dword(0) {
        key.delete_value(m.value_name)
    } else {
        key.ensure(m.value_name, &desired)
    };
    let changed = match written {
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
    if m.encoding == Encoding::Channel && desired == RegValue::Dword(0) {
        // "Not configured" asks for no policy value, and there is none: Defender's effective
        // channel is then whatever it has locally, which the policy does not set.
        return setting.enforced(changed);
    }
    if m.verify == Verify::Registry {
        return setting.unconfirmed(changed, consumer(m.root));
    }
    match verify_preference(m.verify, &desired) {
        Verification::Matches => setting.enforced(changed),
        Verification::Unconfirmed(why) => setting.unconfirmed(changed, &why),
        Verification::NoDefender(reason) => setting.error(not_verified(
            &format!("{}\\{}", key.path(), m.value_name),
            &reason,
        )),
        Verification::Differs(reason) => setting.error(reason),
    }
}

/// Why a value Defender does not report is unconfirmed.
const NOT_REPORTED: &str = "Defender does not report this value";

/// Why a value in place under a policy root other than Defender's is unconfirmed: nothing can
/// ask the component that reads it.
fn consumer(root: &str) -> &'static str {
    match root {
        mapping::SECURITY_CENTER => "Windows Security not queried",
        mapping::ATP => "Defender for Endpoint not queried",
        mapping::DEFENDER => NOT_REPORTED,
        _ => "Windows Firewall not queried",
    }
}

/// Why a value is unconfirmed when asking Defender failed with `e` (Defender present).
fn not_asked(e: &CapabilityError) -> String {
    match e {
        CapabilityError::AccessDenied(_) => {
            "Defender not queried (no grant to read its preferences)".to_owned()
        }
        other => format!("Defender query failed: {}", other.message()),
    }
}

/// The error of a setting whose registry value was written but whose effect only Defender can
/// confirm, on a device where Defender cannot be asked (not installed, or not running).
fn not_verified(target: &str, reason: &str) -> String {
    format!(
        "Defender not available: {target} was written but its effect cannot be verified ({reason})"
    )
}

/// Whether a capability error means Defender itself is absent, as opposed to this plugin not
/// being granted the read (then the registry write stands unverified, by the operator's choice).
fn defender_absent(e: &CapabilityError) -> Option<String> {
    match e {
        CapabilityError::Unavailable(m) => Some(m.clone()),
        _ => None,
    }
}

fn enforce_firewall(setting: &Setting, fw: &FirewallValue) -> SettingResult {
    let desired = match encode(fw.encoding, &setting.value) {
        Ok(v) => v,
        Err(e) => return setting.error(e),
    };
    let key = key_at(mapping::FIREWALL, &fw.key);
    // The firewall's effective state is not reachable through any capability: the value is in
    // place, and nothing confirms the firewall applies it.
    match key.ensure(fw.value_name, &desired) {
        Ok(changed) => setting.unconfirmed(changed, consumer(mapping::FIREWALL)),
        Err(e) => setting.error(format!(
            "writing {}\\{}: {}",
            key.path(),
            fw.value_name,
            e.message()
        )),
    }
}

enum Verification {
    Matches,
    /// The value is in place but unconfirmed, and why: Defender does not report it, this
    /// plugin may not ask (no grant), or the query failed.
    Unconfirmed(String),
    /// Defender is not there to ask: the write cannot be confirmed.
    NoDefender(String),
    Differs(String),
}

/// Reads the preference Defender actually uses and compares it with what the registry value
/// should have produced.
fn verify_preference(verify: Verify, written: &RegValue) -> Verification {
    let (name, expected) = match (verify, written) {
        (Verify::Registry, _) => return Verification::Unconfirmed(NOT_REPORTED.to_owned()),
        (Verify::Bool(name), RegValue::Dword(d)) => (name, PreferenceValue::Boolean(*d != 0)),
        (Verify::Int(name), RegValue::Dword(d)) => (name, PreferenceValue::Integer(i64::from(*d))),
        (Verify::Text(name), RegValue::Sz(s)) => (name, PreferenceValue::Text(s.clone())),
        _ => return Verification::Unconfirmed(NOT_REPORTED.to_owned()),
    };
    let actual = match defender::preference(name) {
        Ok(Some(v)) => v,
        Err(e) => {
            return match defender_absent(&e) {
                Some(reason) => Verification::NoDefender(reason),
                None => Verification::Unconfirmed(not_asked(&e)),
            };
        }
        Ok(None) => return Verification::Unconfirmed(NOT_REPORTED.to_owned()),
    };
    let same = match (&actual, &expected) {
        (PreferenceValue::Text(a), PreferenceValue::Text(e)) => a.eq_ignore_ascii_case(e),
        (a, e) => a == e,
    };
    if same {
        Verification::Matches
    } else {
        Verification::Differs(explain_mismatch(name, &show(&expected), &show(&actual)))
    }
}

fn explain_mismatch(name: &str, expected: &str, actual: &str) -> String {
    let tamper = matches!(defender::status(), Ok(s) if s.tamper_protected);
    if tamper {
        format!(
            "blocked by tamper protection: Defender keeps {name} = {actual} (policy asks for {expected})"
        )
    } else {
        format!(
            "Defender reports {name} = {actual} but the policy asks for {expected}; another authority may override it"
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

/// A list the Group Policy way: each item a value name with REG_SZ data `"0"`, and the
/// switch DWORD that makes Defender read the list. Items not in the policy are left alone:
/// Defender merges policy lists, and values rampart wrote for items a later revision drops are
/// removed by the host's ownership ledger, not here.
fn enforce_list(setting: &Setting, list: &ListMapping, switches: &mut Switches) -> SettingResult {
    let Some(items) = setting.value.as_text_list() else {
        return setting.error(format!(
            "expected a list of text, got {}",
            setting.value.kind_name()
        ));
    };
    if let Some(bad) = items.iter().find(|i| i.trim().is_empty()) {
        return setting.error(format!("list item '{bad}' is empty"));
    }
    if let Some(problem) = items.iter().find_map(|i| check_text(i).err()) {
        return setting.error(format!("a list item: {problem}"));
    }
    let key = key_at(mapping::DEFENDER, list.key);
    let mut changed = false;
    for item in items {
        match key.ensure_sz(item, "0") {
            Ok(c) => changed |= c,
            Err(e) => {
                return setting.error(format!("writing {}\\{item}: {}", key.path(), e.message()));
            }
        }
    }
    if !items.is_empty() {
        let (switch_key, switch_name) = list.switch;
        match switches.ensure_on(switch_key, switch_name) {
            Ok(c) => changed |= c,
            Err(e) => return setting.error(format!("enabling the list: {}", e.message())),
        }
    }
    // `Ok(None)`: Defender does not report this list, so the value is in place, unconfirmed.
    let effective = match list.verify {
        ListVerify::Exclusions(kind) => defender::exclusions(kind).map(Some),
        ListVerify::Preference(name) => match defender::preference(name) {
            Ok(Some(PreferenceValue::TextList(l))) => Ok(Some(l)),
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        },
    };
    let effective = match effective {
        Ok(Some(list)) => list,
        Ok(None) => return setting.unconfirmed(changed, NOT_REPORTED),
        Err(e) => match defender_absent(&e) {
            Some(reason) => return setting.error(not_verified(key.path(), &reason)),
            None => return setting.unconfirmed(changed, &not_asked(&e)),
        },
    };
    let missing: Vec<&String> = items
        .iter()
        .filter(|i| !effective.iter().any(|e| e.eq_ignore_ascii_case(i)))
        .collect();
    if let Some(first) = missing.first() {
        return setting.error(format!(
            "Defender does not report {} of the listed items after they were written (first: '{first}'); another authority may override the list",
            missing.len(),
        ));
    }
    setting.enforced(changed)
}

/// An ASR rule arrives as text `"<GUID>=<action>"` (the catalog's option value). Each rule is
/// one REG_SZ value under `Windows Defender Exploit Guard\ASR\Rules`, and the
/// `ExploitGuard_ASR_Rules` switch must be 1 for Defender to read them.
fn enforce_asr_rule(setting: &Setting, switches: &mut Switches) -> SettingResult {
    let Some(text) = setting.value.as_text() else {
        return setting.error(format!(
            "expected '<GUID>=<action>' text, got {}",
            setting.value.kind_name()
        ));
    };
    let Some((guid, action)) = mapping::parse_asr_value(text) else {
        return setting.error(format!("'{text}' is not '<GUID>=<0|1|2|6>'"));
    };
    let asr = key_at(mapping::DEFENDER, mapping::ASR_KEY);
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
    let wrote_switch = match switches.ensure_on(mapping::ASR_KEY, "ExploitGuard_ASR_Rules") {
        Ok(changed) => changed,
        Err(e) => return setting.error(format!("enabling ASR rules: {}", e.message())),
    };
    match defender::asr_rule(&name) {
        Err(e) if defender_absent(&e).is_some() => setting.error(not_verified(
            &format!("{}\\{name}", rules.path()),
            &defender_absent(&e).unwrap_or_default(),
        )),
        Ok(Some(effective)) if effective != action => setting.error(format!(
            "Defender reports ASR rule {name} = {effective:?} but the policy asks for {action:?}; another authority may override it"
        )),
        Ok(None) if action != AsrAction::Off => setting.error(format!(
            "Defender does not report ASR rule {name} after it was written"
        )),
        Err(e) => setting.unconfirmed(wrote_rule || wrote_switch, &not_asked(&e)),
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

/// Per-rule ASR exclusions (best guess, see the README): one REG_SZ per rule under
/// `…\ASR\ASROnlyPerRuleExclusions`, named by the rule's GUID, holding the paths joined by `>`
/// (the CSP's per-rule separator, which is why items may not contain `|`, `=` or `>`), and the
/// `ExploitGuard_ASR_ASROnlyPerRuleExclusions` switch. Defender does not report these lists, so
/// the registry is the only evidence.
fn enforce_per_rule_exclusions(
    setting: &Setting,
    rule: &str,
    switches: &mut Switches,
) -> SettingResult {
    let Some(guid) = mapping::asr_rule_guid(rule) else {
        return setting.error(format!("'{rule}' is not a known ASR rule"));
    };
    let Some(items) = setting.value.as_text_list() else {
        return setting.error(format!(
            "expected a list of paths, got {}",
            setting.value.kind_name()
        ));
    };
    if let Some(bad) = items
        .iter()
        .find(|i| i.trim().is_empty() || i.contains(['|', '=', '>']))
    {
        return setting.error(format!(
            "exclusion '{bad}' is empty or contains '|', '=' or '>'"
        ));
    }
    if let Some(problem) = items.iter().find_map(|i| check_text(i).err()) {
        return setting.error(format!("an exclusion: {problem}"));
    }
    let key = key_at(mapping::DEFENDER, mapping::ASR_PER_RULE_EXCLUSIONS_KEY);
    // Per-rule exclusions do not merge between policies (a conflict is withheld upstream), so
    // the rule's value is the policy's list exactly.
    let changed = match key.ensure_sz(guid, &items.join(">")) {
        Ok(c) => c,
        Err(e) => {
            return setting.error(format!(
                "writing per-rule exclusions of {guid}: {}",
                e.message()
            ));
        }
    };
    match switches.ensure_on(mapping::ASR_KEY, mapping::ASR_PER_RULE_EXCLUSIONS_SWITCH) {
        Ok(c) => setting.unconfirmed(changed || c, NOT_REPORTED),
        Err(e) => setting.error(format!("enabling per-rule exclusions: {}", e.message())),
    }
}

/// A threat severity default action `"<level>=<action>"`: value name = level, REG_SZ action,
/// under `Threats\ThreatSeverityDefaultAction`, with the `Threats_ThreatSeverityDefaultAction`
/// switch; read back as `<Level>ThreatDefaultAction`.
fn enforce_threat_action(setting: &Setting, switches: &mut Switches) -> SettingResult {
    let Some(text) = setting.value.as_text() else {
        return setting.error(format!(
            "expected '<level>=<action>' text, got {}",
            setting.value.kind_name()
        ));
    };
    let Some((level, action, preference)) = mapping::parse_threat_action(text) else {
        return setting.error(format!("'{text}' is not '<1|2|4|5>=<1|2|3|6|8|9|10>'"));
    };
    let key = key_at(mapping::DEFENDER, mapping::THREAT_ACTIONS_KEY);
    let written = RegValue::Sz(action.to_string());
    let mut changed = match key.ensure(&level.to_string(), &written) {
        Ok(c) => c,
        Err(e) => {
            return setting.error(format!("writing {}\\{level}: {}", key.path(), e.message()));
        }
    };
    let (switch_key, switch_name) = mapping::THREAT_ACTIONS_SWITCH;
    match switches.ensure_on(switch_key, switch_name) {
        Ok(c) => changed |= c,
        Err(e) => return setting.error(format!("enabling default actions: {}", e.message())),
    }
    match verify_preference(Verify::Int(preference), &RegValue::Dword(action)) {
        Verification::Differs(reason) => setting.error(reason),
        Verification::NoDefender(reason) => {
            setting.error(not_verified(&format!("{}\\{level}", key.path()), &reason))
        }
        Verification::Unconfirmed(why) => setting.unconfirmed(changed, &why),
        Verification::Matches => setting.enforced(changed),
    }
}

/// Tamper protection is switched on and off by the Defender for Endpoint service with a signed
/// payload, never by a registry or preference write, so it is *reported*: compliant when
/// Defender's state is what the policy asks for, else an error saying so. Option `0` is "On"
/// and `1` "Off" (the option ids of Microsoft's exported policies).
fn report_tamper_protection(setting: &Setting) -> SettingResult {
    let wanted = match setting.value.as_integer() {
        Some(0) => true,
        Some(1) => false,
        _ => return setting.error(format!("unexpected value {:?}", setting.value)),
    };
    match defender::status() {
        Ok(status) if status.tamper_protected == wanted => setting.compliant(),
        Ok(status) => setting.error(format!(
            "tamper protection is {} but the policy asks for {}; rampart reports tamper protection and does not change it (only the Defender for Endpoint service can)",
            on_off(status.tamper_protected),
            on_off(wanted)
        )),
        Err(e) => setting.error(format!(
            "cannot read Defender's tamper protection state: {}",
            e.message()
        )),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// EDR onboarding. A device reaches security settings management only once it is onboarded to
/// Defender for Endpoint, so the onboarding package the policy carries has already done its
/// work: the plugin checks the Sense onboarding state and never writes, logs or echoes the
/// (secret) package. Offboarding is refused: it would cut the channel the policy came through.
fn report_onboarding(setting: &Setting) -> SettingResult {
    if setting.id.ends_with("_offboarding")
        || setting
            .value
            .as_text()
            .is_some_and(|t| t.eq_ignore_ascii_case("offboard"))
    {
        return setting
            .error("offboarding through security settings management is not performed by rampart");
    }
    match Key::new(mapping::ATP_STATUS).dword("OnboardingState") {
        Ok(Some(1)) => setting.compliant(),
        Ok(_) => setting.error(
            "the device is not onboarded to Defender for Endpoint (OnboardingState is not 1); rampart does not install onboarding packages",
        ),
        Err(e) => setting.error(format!(
            "cannot read the onboarding state: {}",
            e.message()
        )),
    }
}
