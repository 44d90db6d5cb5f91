//! From Intune macOS setting ids (`com.apple.managedclient.preferences_*`) to keys of the
//! `com.microsoft.wdav` preference domain.
//!
//! Key names, types and allowed values are those of Microsoft's "Set preferences for Microsoft
//! Defender for Endpoint on macOS" (`mac-preferences.md`). The setting ids and the values the
//! catalog resolves options to are documented (with what is unverified) in
//! `host/policy/catalog/macos.toml` and the plugin's README.

use rampart_sdk::SettingValue;
use serde_json::Value;

/// The file root the host maps to the managed-preferences directory
/// (`/Library/Managed Preferences`).
pub const ROOT: &str = "managed-preferences";
/// The preference file of the `com.microsoft.wdav` domain inside [`ROOT`].
pub const MANAGED_FILE: &str = "com.microsoft.wdav.plist";

/// How a setting value becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Text `"true"` / `"false"` (the catalog's option values) → a JSON boolean.
    Bool,
    /// Text that must be one of the listed values → a JSON string.
    Enum(&'static [&'static str]),
    /// An integer in `min..=max` → a JSON number.
    Integer {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// An integer in `min..=max` → a string (keys Microsoft documents as String although they
    /// hold numbers, e.g. `scanResultsRetentionDays` on macOS).
    IntegerAsString {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// Non-empty text → a JSON string.
    Text,
    /// A list of text → a JSON array of strings, each one of the listed values when given.
    TextList(Option<&'static [&'static str]>),
}

impl Encoding {
    /// The JSON value for `value`, or why it does not fit.
    pub fn encode(self, value: &SettingValue) -> Result<Value, String> {
        match (self, value) {
            (Encoding::Bool, SettingValue::Text(t)) => match t.as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                other => Err(format!("'{other}' is not 'true' or 'false'")),
            },
            (Encoding::Bool, SettingValue::Boolean(b)) => Ok(Value::Bool(*b)),
            (Encoding::Enum(allowed), SettingValue::Text(t)) => {
                if allowed.contains(&t.as_str()) {
                    Ok(Value::String(t.clone()))
                } else {
                    Err(format!("'{t}' is not one of {}", allowed.join(", ")))
                }
            }
            (Encoding::Integer { min, max }, SettingValue::Integer(i)) => {
                if (min..=max).contains(i) {
                    Ok(Value::from(*i))
                } else {
                    Err(format!("{i} is outside {min}..={max}"))
                }
            }
            (Encoding::IntegerAsString { min, max }, SettingValue::Integer(i)) => {
                if (min..=max).contains(i) {
                    Ok(Value::String(i.to_string()))
                } else {
                    Err(format!("{i} is outside {min}..={max}"))
                }
            }
            (Encoding::Text, SettingValue::Text(t)) => {
                if t.is_empty() {
                    Err("the value is empty".into())
                } else {
                    Ok(Value::String(t.clone()))
                }
            }
            (Encoding::TextList(allowed), SettingValue::TextList(items)) => {
                if let Some(allowed) = allowed
                    && let Some(bad) = items.iter().find(|i| !allowed.contains(&i.as_str()))
                {
                    return Err(format!("'{bad}' is not one of {}", allowed.join(", ")));
                }
                Ok(Value::Array(
                    items.iter().cloned().map(Value::String).collect(),
                ))
            }
            (_, SettingValue::Secret(_)) => {
                Err("a secret cannot be written to a preference file".into())
            }
            (encoding, other) => Err(format!(
                "expected {}, got {}",
                encoding.expected(),
                other.kind_name()
            )),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Encoding::Bool => "'true' or 'false' text",
            Encoding::Enum(_) | Encoding::Text => "text",
            Encoding::Integer { .. } | Encoding::IntegerAsString { .. } => "an integer",
            Encoding::TextList(_) => "a text list",
        }
    }
}

/// One setting that sets one key of one section.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Settings-catalog definition id.
    pub id: &'static str,
    /// The section (`antivirusEngine`, `cloudService`, ...).
    pub section: &'static str,
    /// The key inside the section.
    pub key: &'static str,
    /// How the value is encoded.
    pub encoding: Encoding,
}

/// What a repeating group's items are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// Scan exclusions: `$type` plus the fields that type needs.
    Exclusions,
    /// Threat type settings: `key` and `value`, one item per threat type.
    ThreatTypes,
    /// Tamper protection exclusions: a process by `path`, `teamId` and/or `signingId`, with
    /// optional `args`.
    TamperExclusions,
}

/// One child setting of a repeating group: one field of the item object.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Settings-catalog definition id.
    pub id: &'static str,
    /// The JSON field name.
    pub name: &'static str,
    /// How the value is encoded.
    pub encoding: Encoding,
}

/// A repeating group that becomes an array of objects.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// The group-collection definition id (the group position every child carries).
    pub id: &'static str,
    /// The section holding the array.
    pub section: &'static str,
    /// The array's key.
    pub key: &'static str,
    /// What the items are.
    pub kind: GroupKind,
    /// The item fields.
    pub fields: &'static [Field],
}

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
    key!("earlypreview", "edr", "earlyPreview", BOOL),
    key!(
        "enforcementlevel_tamperprotection",
        "tamperProtection",
        "enforcementLevel",
        LEVEL
    ),
    // ASSUMPTION: the unsuffixed enforcement level is network protection's.
    key!(
        "enforcementlevel",
        "networkProtection",
        "enforcementLevel",
        LEVEL
    ),
    // ASSUMPTION: section `features`, key `systemExtensions`.
    key!("systemextensions", "features", "systemExtensions", ENABLED),
];

/// The exclusion types and the fields each needs (`required`) or may carry (`optional`).
pub const EXCLUSION_TYPES: &[(&str, &[&str], &[&str])] = &[
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

/// The single-key mapping for a setting id.
pub fn key(id: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.id == id)
}

/// The group and field for a child setting id.
pub fn field(id: &str) -> Option<(&'static Group, &'static Field)> {
    GROUPS
        .iter()
        .find_map(|g| g.fields.iter().find(|f| f.id == id).map(|f| (g, f)))
}

/// Every setting id this plugin enforces (keys and group fields).
pub fn all_ids() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .map(|k| k.id)
        .chain(GROUPS.iter().flat_map(|g| g.fields.iter().map(|f| f.id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_and_json_paths_are_unique() {
        let ids: Vec<&str> = all_ids().collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(ids.len(), unique.len(), "duplicate setting id");
        let mut paths = BTreeSet::new();
        for k in KEYS {
            assert!(paths.insert((k.section, k.key)), "{}.{}", k.section, k.key);
        }
        for g in GROUPS {
            assert!(paths.insert((g.section, g.key)), "{}.{}", g.section, g.key);
        }
    }

    #[test]
    fn the_manifest_claims_exactly_the_mapped_ids() {
        let manifest: toml::Table =
            toml::from_str(include_str!("../rampart-plugin.toml")).expect("valid manifest");
        let claimed: BTreeSet<String> = manifest["plugin"]["settings"]
            .as_array()
            .expect("settings list")
            .iter()
            .map(|v| v.as_str().expect("text").to_owned())
            .collect();
        let mapped: BTreeSet<String> = all_ids().map(str::to_owned).collect();
        assert_eq!(claimed, mapped);
    }

    #[test]
    fn encodings_check_kinds_and_values() {
        assert_eq!(
            Encoding::Bool.encode(&SettingValue::Text("true".into())),
            Ok(Value::Bool(true))
        );
        assert!(
            Encoding::Bool
                .encode(&SettingValue::Text("1".into()))
                .is_err()
        );
        assert!(
            Encoding::Enum(&["a"])
                .encode(&SettingValue::Text("b".into()))
                .unwrap_err()
                .contains("not one of a")
        );
        let threads = Encoding::Integer { min: 1, max: 64 };
        assert_eq!(
            threads.encode(&SettingValue::Integer(64)),
            Ok(Value::from(64))
        );
        assert!(threads.encode(&SettingValue::Integer(65)).is_err());
        assert!(
            threads
                .encode(&SettingValue::Text("2".into()))
                .unwrap_err()
                .contains("expected an integer")
        );
        assert!(
            Encoding::Text
                .encode(&SettingValue::Text(String::new()))
                .is_err()
        );
        let actions = Encoding::TextList(Some(&["allow", "restore"]));
        assert!(
            actions
                .encode(&SettingValue::TextList(vec![
                    "allow".into(),
                    "delete".into()
                ]))
                .is_err()
        );
        assert!(
            Encoding::Text
                .encode(&SettingValue::Secret("s".into()))
                .unwrap_err()
                .contains("secret")
        );
    }
}
