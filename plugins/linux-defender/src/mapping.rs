//! From Intune Linux setting ids to keys of `mdatp_managed.json`.
//!
//! Key names, types and allowed values are those of Microsoft's "Set preferences for Microsoft
//! Defender for Endpoint on Linux" (`linux-preferences.md`). The setting ids and the values the
//! catalog resolves options to are documented (with what is unverified) in
//! `host/policy/catalog/linux.toml` and the plugin's README.

use rampart_sdk::managed::{Encoding, ExclusionType, Field, Group, GroupKind, Key, Mapping};

/// The file root the host maps to `/etc/opt/microsoft/mdatp/managed`.
pub const ROOT: &str = "mdatp-managed";
/// The managed configuration file inside [`ROOT`].
pub const MANAGED_FILE: &str = "mdatp_managed.json";

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
    key!(
        "networkprotection_enforcementlevel",
        "networkProtection",
        "enforcementLevel",
        Encoding::Enum(&["disabled", "audit", "block"]),
        health
    ),
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
        let claimed = manifest["plugin"]["settings"].as_array().expect("list");
        assert_eq!(
            MAPPING.check(claimed.iter().filter_map(|v| v.as_str())),
            Ok(())
        );
    }
}
