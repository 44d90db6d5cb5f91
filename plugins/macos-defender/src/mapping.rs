//! From Intune macOS setting ids (`com.apple.managedclient.preferences_*`) to keys of the
//! `com.microsoft.wdav` preference domain, written to security settings management's
//! `com.microsoft.mdeattach.plist`.
//!
//! Key names, types and allowed values are those of Microsoft's "Set preferences for Microsoft
//! Defender for Endpoint on macOS" (`mac-preferences.md`) unless a key's comment names another
//! page. The setting ids and the values the catalog resolves options to are documented (with
//! what is unverified) in `host/policy/catalog/macos.toml` and the plugin's README.

use rampart_sdk::managed::{Encoding, ExclusionType, Field, Group, GroupKind, Key, Mapping, Value};

/// The file root the host maps to the system preferences directory (`/Library/Preferences`).
pub const ROOT: &str = "library-preferences";
/// The preference file of security settings management inside [`ROOT`]
/// (mac-troubleshoot-mode.md, "Validate the required profile paths"); it holds the
/// `com.microsoft.wdav` keys.
pub const MANAGED_FILE: &str = "com.microsoft.mdeattach.plist";

const BOOL: Encoding = Encoding::Bool;
const MERGE: Encoding = Encoding::Enum(&["merge", "admin_only"]);
const ENABLED: Encoding = Encoding::Enum(&["enabled", "disabled"]);
const LEVEL: Encoding = Encoding::Enum(&["disabled", "audit", "block"]);

macro_rules! key {
    ($id:literal, $section:literal, $key:literal, $encoding:expr) => {
        Key {
            id: concat!("com.apple.managedclient.preferences_", $id),
            section: $section,
            key: $key,
            encoding: $encoding,
            in_health: false,
        }
    };
}

/// Every single-key setting.
pub const KEYS: &[Key] = &[
    key!(
        "enforcementlevel_antivirusengine",
        "antivirusEngine",
        "enforcementLevel",
        Encoding::Enum(&["real_time", "on_demand", "passive"])
    ),
    key!(
        "enablerealtimeprotection",
        "antivirusEngine",
        "enableRealTimeProtection",
        BOOL
    ),
    key!("passivemode", "antivirusEngine", "passiveMode", BOOL),
    key!(
        "behaviormonitoring",
        "antivirusEngine",
        "behaviorMonitoring",
        ENABLED
    ),
    key!(
        "scanafterdefinitionupdate",
        "antivirusEngine",
        "scanAfterDefinitionUpdate",
        BOOL
    ),
    key!("scanarchives", "antivirusEngine", "scanArchives", BOOL),
    key!(
        "maximumondemandscanthreads",
        "antivirusEngine",
        "maximumOnDemandScanThreads",
        Encoding::Integer { min: 1, max: 64 }
    ),
    key!(
        "exclusionsmergepolicy",
        "antivirusEngine",
        "exclusionsMergePolicy",
        MERGE
    ),
    key!(
        "allowedthreats",
        "antivirusEngine",
        "allowedThreats",
        Encoding::TextList(None)
    ),
    key!(
        "disallowedthreatactions",
        "antivirusEngine",
        "disallowedThreatActions",
        Encoding::TextList(Some(&["allow", "restore"]))
    ),
    key!(
        "enablefilehashcomputation",
        "antivirusEngine",
        "enableFileHashComputation",
        BOOL
    ),
    key!(
        "threattypesettingsmergepolicy",
        "antivirusEngine",
        "threatTypeSettingsMergePolicy",
        MERGE
    ),
    // Documented as String on macOS (an integer on Linux).
    key!(
        "scanresultsretentiondays",
        "antivirusEngine",
        "scanResultsRetentionDays",
        Encoding::IntegerAsString { min: 1, max: 180 }
    ),
    key!(
        "scanhistorymaximumitems",
        "antivirusEngine",
        "scanHistoryMaximumItems",
        Encoding::IntegerAsString {
            min: 5000,
            max: 15000
        }
    ),
    key!("enabled", "cloudService", "enabled", BOOL),
    key!(
        "diagnosticlevel",
        "cloudService",
        "diagnosticLevel",
        Encoding::Enum(&["optional", "required"])
    ),
    key!(
        "automaticsamplesubmission",
        "cloudService",
        "automaticSampleSubmission",
        BOOL
    ),
    key!(
        "automaticsamplesubmissionconsent",
        "cloudService",
        "automaticSampleSubmissionConsent",
        Encoding::Enum(&["none", "safe", "all"])
    ),
    key!(
        "automaticdefinitionupdateenabled",
        "cloudService",
        "automaticDefinitionUpdateEnabled",
        BOOL
    ),
    key!(
        "cloudblocklevel",
        "cloudService",
        "cloudBlockLevel",
        Encoding::Enum(&["normal", "moderate", "high", "high_plus", "zero_tolerance"])
    ),
    key!(
        "definitionupdatedue",
        "cloudService",
        "definitionUpdateDue",
        Encoding::Integer { min: 1, max: 30 }
    ),
    // "Security intelligence update interval (in seconds)": 60 through 86400.
    key!(
        "definitionupdatesinterval",
        "cloudService",
        "definitionUpdatesInterval",
        Encoding::Integer {
            min: 60,
            max: 86400
        }
    ),
    // "Proxy for Defender for Endpoint communication": `http://proxy.server:port` or
    // `https://proxy.server:port`, checked before the mapping runs (`rampart_sdk::managed::proxy_url_problem`).
    key!("proxy", "cloudService", "proxy", Encoding::Text),
    key!(
        "hidestatusmenuicon",
        "userInterface",
        "hideStatusMenuIcon",
        BOOL
    ),
    key!(
        "userinitiatedfeedback",
        "userInterface",
        "userInitiatedFeedback",
        ENABLED
    ),
    key!(
        "consumerexperience",
        "userInterface",
        "consumerExperience",
        ENABLED
    ),
    // A boolean in the `edr` dictionary per Microsoft's "Enable Microsoft Defender ATP Insider
    // Machine" (windows-itpro-docs, endpoint-detection-response-mac-preview.md).
    key!("earlypreview", "edr", "earlyPreview", BOOL),
    // "Group identifier": a string.
    key!("groupids", "edr", "groupIds", Encoding::Text),
    key!(
        "enforcementlevel_tamperprotection",
        "tamperProtection",
        "enforcementLevel",
        LEVEL
    ),
    // network-protection-macos.md: the settings catalog's Microsoft Defender > Network
    // protection > Enforcement level writes `networkProtection.enforcementLevel`; that its id is
    // the unsuffixed one is inferred (the antivirus and tamper protection levels are suffixed).
    key!(
        "enforcementlevel",
        "networkProtection",
        "enforcementLevel",
        LEVEL
    ),
    // `features.systemExtensions`, a string (`enabled`), per Microsoft Purview's "Onboard and
    // offboard macOS devices into Compliance solutions using Intune for Microsoft Defender for
    // Endpoint customers" (microsoft-365-docs, device-onboarding-offboarding-macos-intune-mde.md).
    key!("systemextensions", "features", "systemExtensions", ENABLED),
];

/// The exclusion types and the fields each needs (`required`) or may carry (`optional`).
pub const EXCLUSION_TYPES: &[ExclusionType] = &[
    ("excludedPath", &["path"], &["isDirectory"]),
    ("excludedFileExtension", &["extension"], &[]),
    ("excludedFileName", &["name"], &[]),
];

/// Every repeating group.
pub const GROUPS: &[Group] = &[
    Group {
        id: "com.apple.managedclient.preferences_exclusions",
        section: "antivirusEngine",
        key: "exclusions",
        kind: GroupKind::Exclusions,
        fields: &[
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_$type",
                name: "$type",
                encoding: Encoding::Enum(&[
                    "excludedPath",
                    "excludedFileExtension",
                    "excludedFileName",
                ]),
            },
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_path",
                name: "path",
                encoding: Encoding::Text,
            },
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_isdirectory",
                name: "isDirectory",
                encoding: Encoding::Bool,
            },
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_extension",
                name: "extension",
                encoding: Encoding::Text,
            },
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_name",
                name: "name",
                encoding: Encoding::Text,
            },
        ],
    },
    Group {
        id: "com.apple.managedclient.preferences_threattypesettings",
        section: "antivirusEngine",
        key: "threatTypeSettings",
        kind: GroupKind::ThreatTypes,
        fields: &[
            Field {
                id: "com.apple.managedclient.preferences_threattypesettings_item_key",
                name: "key",
                encoding: Encoding::Enum(&["potentially_unwanted_application", "archive_bomb"]),
            },
            Field {
                id: "com.apple.managedclient.preferences_threattypesettings_item_value",
                name: "value",
                encoding: Encoding::Enum(&["audit", "block", "off"]),
            },
        ],
    },
    // "Device tags": `edr.tags[]` of `{key, value}`, key `GROUP` only, one value per key.
    Group {
        id: "com.apple.managedclient.preferences_tags",
        section: "edr",
        key: "tags",
        kind: GroupKind::Tags,
        fields: &[
            Field {
                id: "com.apple.managedclient.preferences_tags_item_key",
                name: "key",
                encoding: Encoding::Enum(&["GROUP"]),
            },
            Field {
                id: "com.apple.managedclient.preferences_tags_item_value",
                name: "value",
                encoding: Encoding::Text,
            },
        ],
    },
    Group {
        id: "com.apple.managedclient.preferences_exclusions_tamperprotection",
        section: "tamperProtection",
        key: "exclusions",
        kind: GroupKind::TamperExclusions,
        fields: &[
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_path_tamperprotection",
                name: "path",
                encoding: Encoding::Text,
            },
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_teamid_tamperprotection",
                name: "teamId",
                encoding: Encoding::Text,
            },
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_signingid_tamperprotection",
                name: "signingId",
                encoding: Encoding::Text,
            },
            Field {
                id: "com.apple.managedclient.preferences_exclusions_item_args_tamperprotection",
                name: "args",
                encoding: Encoding::TextList(None),
            },
        ],
    },
];

/// The whole mapping, as [`rampart_sdk::managed`] plans it.
pub const MAPPING: Mapping = Mapping {
    plugin: "macos-defender",
    keys: KEYS,
    groups: GROUPS,
    exclusion_types: EXCLUSION_TYPES,
    secret: "a secret cannot be written to a preference file",
    refine: xml_text,
};

/// Refuses text XML 1.0 cannot carry (control characters other than tab and line breaks):
/// the plist would not parse on the device.
fn xml_text(value: Value) -> Result<Value, String> {
    fn bad(v: &Value) -> bool {
        match v {
            Value::String(s) => s
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
            Value::Array(items) => items.iter().any(bad),
            _ => false,
        }
    }
    if bad(&value) {
        Err("the text contains control characters a property list cannot hold".into())
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_is_unique_and_the_manifest_claims_exactly_its_ids() {
        let manifest: toml::Table =
            toml::from_str(include_str!("../rampart-plugin.toml")).expect("valid manifest");
        let claimed = manifest["plugin"]["settings"].as_array().expect("list");
        assert_eq!(
            MAPPING.check(claimed.iter().filter_map(|v| v.as_str())),
            Ok(())
        );
    }
}
