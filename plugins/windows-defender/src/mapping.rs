//! From Intune setting ids to Group Policy registry values.
//!
//! Facts come from Microsoft's Policy CSP documentation ("Group policy mapping" blocks of
//! `policy-csp-defender`) and the `Set-MpPreference` reference; see the plugin README for the
//! rows whose encoding is a documented best guess.

use rampart_sdk::defender::AsrAction;

/// How an Intune (CSP) value becomes a registry DWORD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMap {
    /// The registry holds the CSP value unchanged.
    Same,
    /// The CSP's `Allow*` 1/0 becomes a `Disable*` 0/1 registry value; Defender reports the
    /// `Disable*` preference as a boolean.
    InvertedToDisable,
    /// `AllowCloudProtection` 0/1 becomes `SpynetReporting` 0/2 (MAPS off / advanced). Which
    /// MAPS level the CSP's "allowed" writes is not documented: 2 is the best guess.
    CloudProtection,
}

impl ValueMap {
    /// The registry DWORD for a CSP value, or `None` if the value is not valid.
    pub fn to_registry(self, csp: i64) -> Option<u32> {
        match self {
            ValueMap::Same => u32::try_from(csp).ok(),
            ValueMap::InvertedToDisable => match csp {
                0 => Some(1),
                1 => Some(0),
                _ => None,
            },
            ValueMap::CloudProtection => match csp {
                0 => Some(0),
                1 => Some(2),
                _ => None,
            },
        }
    }
}

/// One Intune setting and where it lands.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// Settings-catalog definition id.
    pub id: &'static str,
    /// Key relative to the policy root (empty for the root itself).
    pub key: &'static str,
    /// REG_DWORD value name.
    pub value_name: &'static str,
    /// How the value is encoded.
    pub map: ValueMap,
    /// The `MSFT_MpPreference` property that shows the effective value.
    pub preference: &'static str,
}

const P: &str = "device_vendor_msft_policy_config_defender_";

macro_rules! row {
    ($suffix:literal, $key:literal, $name:literal, $map:ident, $pref:literal) => {
        Mapping {
            id: concat!("device_vendor_msft_policy_config_defender_", $suffix),
            key: $key,
            value_name: $name,
            map: ValueMap::$map,
            preference: $pref,
        }
    };
}

/// Every single-value setting this plugin enforces.
pub const SETTINGS: &[Mapping] = &[
    row!(
        "allowrealtimemonitoring",
        "Real-Time Protection",
        "DisableRealtimeMonitoring",
        InvertedToDisable,
        "DisableRealtimeMonitoring"
    ),
    row!(
        "allowbehaviormonitoring",
        "Real-Time Protection",
        "DisableBehaviorMonitoring",
        InvertedToDisable,
        "DisableBehaviorMonitoring"
    ),
    row!(
        "allowioavprotection",
        "Real-Time Protection",
        "DisableIOAVProtection",
        InvertedToDisable,
        "DisableIOAVProtection"
    ),
    row!(
        "allowscriptscanning",
        "Real-Time Protection",
        "DisableScriptScanning",
        InvertedToDisable,
        "DisableScriptScanning"
    ),
    row!(
        "allowcloudprotection",
        "Spynet",
        "SpynetReporting",
        CloudProtection,
        "MAPSReporting"
    ),
    row!(
        "submitsamplesconsent",
        "Spynet",
        "SubmitSamplesConsent",
        Same,
        "SubmitSamplesConsent"
    ),
    row!(
        "cloudblocklevel",
        "MpEngine",
        "MpCloudBlockLevel",
        Same,
        "CloudBlockLevel"
    ),
    row!(
        "cloudextendedtimeout",
        "MpEngine",
        "MpBafsExtendedTimeout",
        Same,
        "CloudExtendedTimeout"
    ),
    row!("puaprotection", "", "PUAProtection", Same, "PUAProtection"),
    row!(
        "enablenetworkprotection",
        r"Windows Defender Exploit Guard\Network Protection",
        "EnableNetworkProtection",
        Same,
        "EnableNetworkProtection"
    ),
];

/// The mapping for a setting id.
pub fn find(id: &str) -> Option<&'static Mapping> {
    SETTINGS.iter().find(|m| m.id == id)
}

/// What an ASR-group child setting is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsrRuleSetting {
    /// A rule's action (`...attacksurfacereductionrules_<rule>`).
    Rule,
    /// A rule's exclusion list (`...attacksurfacereductionrules_<rule>_perruleexclusions`).
    PerRuleExclusions,
}

/// Classifies a child of the ASR rules group.
pub fn asr_setting(id: &str) -> Option<AsrRuleSetting> {
    let rest = id
        .strip_prefix(P)?
        .strip_prefix("attacksurfacereductionrules_")?;
    if rest.is_empty() {
        None
    } else if rest.ends_with("_perruleexclusions") {
        Some(AsrRuleSetting::PerRuleExclusions)
    } else {
        Some(AsrRuleSetting::Rule)
    }
}

/// Parses the catalog's ASR option value `"<GUID>=<action>"`.
pub fn parse_asr_value(text: &str) -> Option<(&str, AsrAction)> {
    let (guid, action) = text.split_once('=')?;
    let guid = guid.trim();
    if !is_guid(guid) {
        return None;
    }
    let action = AsrAction::from_code(action.trim().parse().ok()?)?;
    Some((guid, action))
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_settings_invert_into_disable_values() {
        let m = find("device_vendor_msft_policy_config_defender_allowrealtimemonitoring").unwrap();
        assert_eq!(m.map.to_registry(1), Some(0));
        assert_eq!(m.map.to_registry(0), Some(1));
        assert_eq!(m.map.to_registry(2), None);
    }

    #[test]
    fn asr_values_parse_with_either_guid_case() {
        let (g, a) = parse_asr_value("D4F940AB-401B-4EFC-AADC-AD5F3C50688A=1").unwrap();
        assert_eq!(g, "D4F940AB-401B-4EFC-AADC-AD5F3C50688A");
        assert_eq!(a, AsrAction::Block);
        assert_eq!(
            parse_asr_value("56a863a9-875e-4185-98a7-b882c64b5ce5=6")
                .unwrap()
                .1,
            AsrAction::Warn
        );
        assert!(parse_asr_value("not-a-guid=1").is_none());
        assert!(parse_asr_value("56a863a9-875e-4185-98a7-b882c64b5ce5=3").is_none());
    }

    #[test]
    fn asr_children_are_classified() {
        let base = "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_";
        assert_eq!(
            asr_setting(&format!("{base}blockwebshellcreationforservers")),
            Some(AsrRuleSetting::Rule)
        );
        assert_eq!(
            asr_setting(&format!(
                "{base}blockwebshellcreationforservers_perruleexclusions"
            )),
            Some(AsrRuleSetting::PerRuleExclusions)
        );
        assert_eq!(
            asr_setting("device_vendor_msft_policy_config_defender_puaprotection"),
            None
        );
    }
}
