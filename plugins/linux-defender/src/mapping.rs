//! From Intune Linux setting ids to keys of the managed configuration security settings
//! management writes, `mdeattach_managed.json`.
//!
//! The file has the layout of `mdatp_managed.json` (see the README's "Assumptions"). Key names,
//! types and allowed values are those of Microsoft's "Set preferences for Microsoft Defender for
//! Endpoint on Linux" (`linux-preferences.md`, revised as "Configure security settings in
//! Microsoft Defender for Endpoint on Linux"). The setting ids and the values the catalog
//! resolves options to are documented (with what is unverified) in
//! `host/policy/catalog/linux.toml` and the plugin's README.

use rampart_sdk::managed::{Encoding, ExclusionType, Field, Group, GroupKind, Key, Mapping};

/// The file root the host maps to `/etc/opt/microsoft/mdatp/managed`.
pub const ROOT: &str = "mdatp-managed";
/// The managed configuration file of security settings management inside [`ROOT`]. Defender
/// also reads `mdatp_managed.json` there (the file other management tools write); the plugin
/// never touches that one.
pub const MANAGED_FILE: &str = "mdeattach_managed.json";

const BOOL: Encoding = Encoding::Bool;
const MERGE: Encoding = Encoding::Enum(&["merge", "admin_only"]);

macro_rules! key {
    ($id:literal, $section:literal, $key:literal, $encoding:expr) => {
        key!($id, $section, $key, $encoding, false)
    };
    ($id:literal, $section:literal, $key:literal, $encoding:expr, health) => {
        key!($id, $section, $key, $encoding, true)
    };
    ($id:literal, $section:literal, $key:literal, $encoding:expr, $health:expr) => {
        Key {
            id: concat!("linux_mdatp_managed_", $id),
            section: $section,
            key: $key,
            encoding: $encoding,
            in_health: $health,
        }
    };
}

/// Every single-key setting.
pub const KEYS: &[Key] = &[
    key!(
        "antivirusengine_enforcementlevel",
        "antivirusEngine",
        "enforcementLevel",
        Encoding::Enum(&["real_time", "on_demand", "passive"]),
        health
    ),
    key!(
        "antivirusengine_enablerealtimeprotection",
        "antivirusEngine",
        "enableRealTimeProtection",
        BOOL,
        health
    ),
    key!(
        "antivirusengine_passivemode",
        "antivirusEngine",
        "passiveMode",
        BOOL,
        health
    ),
    key!(
        "antivirusengine_behaviormonitoring",
        "antivirusEngine",
        "behaviorMonitoring",
        Encoding::Enum(&["disabled", "enabled"]),
        health
    ),
    key!(
        "antivirusengine_scanafterdefinitionupdate",
        "antivirusEngine",
        "scanAfterDefinitionUpdate",
        BOOL
    ),
    key!(
        "antivirusengine_scanarchives",
        "antivirusEngine",
        "scanArchives",
        BOOL
    ),
    key!(
        "antivirusengine_maximumondemandscanthreads",
        "antivirusEngine",
        "maximumOnDemandScanThreads",
        Encoding::Integer { min: 1, max: 64 }
    ),
    key!(
        "antivirusengine_exclusionsmergepolicy",
        "antivirusEngine",
        "exclusionsMergePolicy",
        MERGE
    ),
    key!(
        "antivirusengine_allowedthreats",
        "antivirusEngine",
        "allowedThreats",
        Encoding::TextList(None)
    ),
    key!(
        "antivirusengine_disallowedthreatactions",
        "antivirusEngine",
        "disallowedThreatActions",
        Encoding::TextList(Some(&["allow", "restore"]))
    ),
    key!(
        "antivirusengine_nonexecmountpolicy",
        "antivirusEngine",
        "nonExecMountPolicy",
        Encoding::Enum(&["unmute", "mute"])
    ),
    key!(
        "antivirusengine_unmonitoredfilesystems",
        "antivirusEngine",
        "unmonitoredFilesystems",
        Encoding::TextList(None)
    ),
    key!(
        "antivirusengine_enablefilehashcomputation",
        "antivirusEngine",
        "enableFileHashComputation",
        BOOL
    ),
    key!(
        "antivirusengine_threattypesettingsmergepolicy",
        "antivirusEngine",
        "threatTypeSettingsMergePolicy",
        MERGE
    ),
    key!(
        "antivirusengine_scanresultsretentiondays",
        "antivirusEngine",
        "scanResultsRetentionDays",
        Encoding::Integer { min: 1, max: 180 }
    ),
    key!(
        "antivirusengine_scanhistorymaximumitems",
        "antivirusEngine",
        "scanHistoryMaximumItems",
        Encoding::Integer {
            min: 5000,
            max: 15000
        }
    ),
    key!(
        "cloudservice_enabled",
        "cloudService",
        "enabled",
        BOOL,
        health
    ),
    key!(
        "cloudservice_diagnosticlevel",
        "cloudService",
        "diagnosticLevel",
        Encoding::Enum(&["optional", "required"]),
        health
    ),
    key!(
        "cloudservice_automaticsamplesubmissionconsent",
        "cloudService",
        "automaticSampleSubmissionConsent",
        Encoding::Enum(&["none", "safe", "all"]),
        health
    ),
    key!(
        "cloudservice_automaticdefinitionupdateenabled",
        "cloudService",
        "automaticDefinitionUpdateEnabled",
        BOOL,
        health
    ),
    key!(
        "cloudservice_cloudblocklevel",
        "cloudService",
        "cloudBlockLevel",
        Encoding::Enum(&["normal", "moderate", "high", "high_plus", "zero_tolerance"])
    ),
    // linux-static-proxy-configuration.md, "Using managed configuration"; the URL's form is
    // checked before the mapping runs (`lib.rs`, `proxy_url`).
    key!(
        "cloudservice_proxy",
        "cloudService",
        "proxy",
        Encoding::Text
    ),
    key!(
        "networkprotection_enforcementlevel",
        "networkProtection",
        "enforcementLevel",
        Encoding::Enum(&["disabled", "audit", "block"]),
        health
    ),
    // linux-preferences.md, "Add tag or group ID to the configuration profile"; `mdatp health`
    // reports it as `edrGroupIds`.
    key!("edr_groupids", "edr", "groupIds", Encoding::Text, health),
];

/// The exclusion types and the fields each needs (`required`) or may carry (`optional`).
/// `scopes` is carried only by global exclusions (the plugin adds it, see [`GLOBAL_SCOPES`]);
/// a file extension cannot be a global exclusion.
pub const EXCLUSION_TYPES: &[ExclusionType] = &[
    ("excludedPath", &["path"], &["isDirectory", "scopes"]),
    ("excludedFileExtension", &["extension"], &[]),
    ("excludedFileName", &["name"], &["scopes"]),
];

/// The group collection of the "Microsoft Defender Global Exclusions (AV+EDR)" template.
pub const GLOBAL_EXCLUSIONS: &str = "linux_mdatp_managed_exclusionsettings_exclusions";
/// A global exclusion's path (a file or a directory).
pub const GLOBAL_PATH: &str = "linux_mdatp_managed_exclusionsettings_exclusions_item_path";
/// A global exclusion's process.
pub const GLOBAL_NAME: &str = "linux_mdatp_managed_exclusionsettings_exclusions_item_name";
/// Not an Intune setting: the field through which the plugin gives every global exclusion item
/// its scope. The template has no scope setting; its items are the `global` scope
/// (linux-exclusions.md, "Supported exclusion scopes"), written out explicitly.
pub const GLOBAL_SCOPES: &str = "rampart.linux-defender.exclusionsettings_exclusions_item_scopes";
/// The scope every global exclusion item carries.
pub const GLOBAL_SCOPE: &str = "global";

/// Every repeating group.
pub const GROUPS: &[Group] = &[
    Group {
        id: "linux_mdatp_managed_antivirusengine_exclusions",
        section: "antivirusEngine",
        key: "exclusions",
        kind: GroupKind::Exclusions,
        fields: &[
            Field {
                id: "linux_mdatp_managed_antivirusengine_exclusions_item_$type",
                name: "$type",
                encoding: Encoding::Enum(&[
                    "excludedPath",
                    "excludedFileExtension",
                    "excludedFileName",
                ]),
            },
            Field {
                id: "linux_mdatp_managed_antivirusengine_exclusions_item_path",
                name: "path",
                encoding: Encoding::Text,
            },
            Field {
                id: "linux_mdatp_managed_antivirusengine_exclusions_item_isdirectory",
                name: "isDirectory",
                encoding: Encoding::Bool,
            },
            Field {
                id: "linux_mdatp_managed_antivirusengine_exclusions_item_extension",
                name: "extension",
                encoding: Encoding::Text,
            },
            Field {
                id: "linux_mdatp_managed_antivirusengine_exclusions_item_name",
                name: "name",
                encoding: Encoding::Text,
            },
        ],
    },
    Group {
        id: "linux_mdatp_managed_antivirusengine_threattypesettings",
        section: "antivirusEngine",
        key: "threatTypeSettings",
        kind: GroupKind::ThreatTypes,
        fields: &[
            Field {
                id: "linux_mdatp_managed_antivirusengine_threattypesettings_item_key",
                name: "key",
                encoding: Encoding::Enum(&["potentially_unwanted_application", "archive_bomb"]),
            },
            Field {
                id: "linux_mdatp_managed_antivirusengine_threattypesettings_item_value",
                name: "value",
                encoding: Encoding::Enum(&["audit", "block", "off"]),
            },
        ],
    },
    // linux-preferences.md, "Exclusion setting preferences": `exclusionSettings.exclusions[]`
    // with `$type`, `path`/`isDirectory` or `name`, and `scopes`.
    Group {
        id: GLOBAL_EXCLUSIONS,
        section: "exclusionSettings",
        key: "exclusions",
        kind: GroupKind::Exclusions,
        fields: &[
            Field {
                id: "linux_mdatp_managed_exclusionsettings_exclusions_item_$type",
                name: "$type",
                encoding: Encoding::Enum(&["excludedPath", "excludedFileName"]),
            },
            Field {
                id: GLOBAL_PATH,
                name: "path",
                encoding: Encoding::Text,
            },
            Field {
                id: "linux_mdatp_managed_exclusionsettings_exclusions_item_isdirectory",
                name: "isDirectory",
                encoding: Encoding::Bool,
            },
            Field {
                id: GLOBAL_NAME,
                name: "name",
                encoding: Encoding::Text,
            },
            Field {
                id: GLOBAL_SCOPES,
                name: "scopes",
                encoding: Encoding::TextList(Some(&[GLOBAL_SCOPE])),
            },
        ],
    },
    Group {
        id: "linux_mdatp_managed_edr_tags",
        section: "edr",
        key: "tags",
        kind: GroupKind::Tags,
        fields: &[
            Field {
                id: "linux_mdatp_managed_edr_tags_item_key",
                name: "key",
                encoding: Encoding::Enum(&["GROUP"]),
            },
            Field {
                id: "linux_mdatp_managed_edr_tags_item_value",
                name: "value",
                encoding: Encoding::Text,
            },
        ],
    },
];

/// The `features` keys of linux-preferences.md ("Configure advanced optional features", with
/// "Module load feature", "Remediate Infected File feature" and "Configure supplementary sensor
/// settings"; `ebpfSupplementaryEventProvider` and `offlineDefinitionUpdateVerifySig` from its
/// full profile example), as (setting id, key path). Microsoft lists the `features` dictionary
/// and each of these keys with the Microsoft Defender portal value *Not available*: security
/// settings management does not deliver them, so the plugin reports each `notApplicable` and
/// writes nothing for it.
pub const FEATURES: &[(&str, &str)] = &[
    (
        "linux_mdatp_managed_features_moduleload",
        "features.moduleLoad",
    ),
    (
        "linux_mdatp_managed_features_remediateinfectedfile",
        "features.remediateInfectedFile",
    ),
    (
        "linux_mdatp_managed_features_ebpfsupplementaryeventprovider",
        "features.ebpfSupplementaryEventProvider",
    ),
    (
        "linux_mdatp_managed_features_offlinedefinitionupdateverifysig",
        "features.offlineDefinitionUpdateVerifySig",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enablefilepermissionevents",
        "features.supplementarySensorConfigurations.enableFilePermissionEvents",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enablefileownershipevents",
        "features.supplementarySensorConfigurations.enableFileOwnershipEvents",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enablerawsocketevent",
        "features.supplementarySensorConfigurations.enableRawSocketEvent",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enablebootloadercalls",
        "features.supplementarySensorConfigurations.enableBootLoaderCalls",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enableprocesscalls",
        "features.supplementarySensorConfigurations.enableProcessCalls",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enablepseudofscalls",
        "features.supplementarySensorConfigurations.enablePseudofsCalls",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enableebpfmoduleloadevents",
        "features.supplementarySensorConfigurations.enableEbpfModuleLoadEvents",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enableotherfsopenevents",
        "features.supplementarySensorConfigurations.enableOtherFsOpenEvents",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enableebpfsourceenrichment",
        "features.supplementarySensorConfigurations.enableEbpfSourceEnrichment",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_enableantivirusenginecache",
        "features.supplementarySensorConfigurations.enableAntivirusEngineCache",
    ),
    (
        "linux_mdatp_managed_features_supplementarysensorconfigurations_sendlowfievents",
        "features.supplementarySensorConfigurations.sendLowfiEvents",
    ),
];

/// Why a setting the plugin claims does not apply, for the [`FEATURES`] keys.
pub fn not_applicable(id: &str) -> Option<String> {
    let (_, path) = FEATURES.iter().find(|(f, _)| *f == id)?;
    Some(format!(
        "{path} is not delivered by security settings management: Microsoft lists it with the \
         Microsoft Defender portal value 'Not available' (linux-preferences.md, \
         \"Configure advanced optional features\")"
    ))
}

/// The whole mapping, as [`rampart_sdk::managed`] plans it.
pub const MAPPING: Mapping = Mapping {
    plugin: "linux-defender",
    keys: KEYS,
    groups: GROUPS,
    exclusion_types: EXCLUSION_TYPES,
    secret: "a secret cannot be written to this file",
    refine: Ok,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_is_unique_and_the_manifest_claims_exactly_its_ids() {
        let manifest: toml::Table =
            toml::from_str(include_str!("../rampart-plugin.toml")).expect("valid manifest");
        let claimed: Vec<&str> = manifest["plugin"]["settings"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        // The manifest claims the mapped ids and the features it reports not applicable; the
        // scope field is the plugin's own and no policy can set it.
        let features: Vec<&str> = FEATURES.iter().map(|(id, _)| *id).collect();
        assert!(!claimed.contains(&GLOBAL_SCOPES));
        for id in &features {
            assert!(claimed.contains(id), "{id} is not claimed");
            assert!(MAPPING.key(id).is_none() && MAPPING.field(id).is_none());
        }
        let mapped = claimed
            .iter()
            .copied()
            .filter(|id| !features.contains(id))
            .chain([GLOBAL_SCOPES]);
        assert_eq!(MAPPING.check(mapped), Ok(()));
    }

    #[test]
    fn every_feature_is_not_applicable_with_the_documented_reason() {
        for (id, path) in FEATURES {
            let reason = not_applicable(id).expect("a reason");
            assert!(reason.starts_with(path), "{reason}");
            assert!(reason.contains("'Not available'"), "{reason}");
        }
        assert_eq!(
            not_applicable("linux_mdatp_managed_cloudservice_enabled"),
            None
        );
    }
}
