//! The first-party Windows Defender plugin, run in the sandbox against the emulated registry and
//! the simulated Defender.

use std::sync::Arc;

use rampart_backends::defender::{PreferenceValue, SimulatedDefender};
use rampart_backends::registry::{RegValue, RegistryBackend, RegistryPath};
use rampart_policy::catalog::{Catalog, DefinitionKind, OptionValue};
use rampart_policy::device::load_device_file;
use rampart_policy::graph::load_policy_file;
use rampart_policy::resolve::resolve;
use rampart_policy::settings::{GroupPosition, ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::drift::Ledger;
use rampart_runtime::{Enforcer, GrantPolicy, Grants, PluginSet, RunLimits};
use rampart_tests::{
    assert_golden, backends, permissive_ceiling, policy_of, setting, shared_data, windows_client,
    windows_defender, windows_server,
};

const P: &str = "device_vendor_msft_policy_config_defender_";
const WD: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender";

fn key(rel: &str) -> RegistryPath {
    let full = if rel.is_empty() {
        WD.to_string()
    } else {
        format!(r"{WD}\{rel}")
    };
    RegistryPath::parse(&full).unwrap()
}

/// (setting suffix, CSP value, key under WD, value name, DWORD written)
const LANDINGS: &[(&str, i64, &str, &str, u32)] = &[
    (
        "allowrealtimemonitoring",
        1,
        "Real-Time Protection",
        "DisableRealtimeMonitoring",
        0,
    ),
    (
        "allowbehaviormonitoring",
        1,
        "Real-Time Protection",
        "DisableBehaviorMonitoring",
        0,
    ),
    (
        "allowioavprotection",
        1,
        "Real-Time Protection",
        "DisableIOAVProtection",
        0,
    ),
    (
        "allowscriptscanning",
        0,
        "Real-Time Protection",
        "DisableScriptScanning",
        1,
    ),
    ("allowcloudprotection", 1, "Spynet", "SpynetReporting", 2),
    (
        "submitsamplesconsent",
        3,
        "Spynet",
        "SubmitSamplesConsent",
        3,
    ),
    ("cloudblocklevel", 4, "MpEngine", "MpCloudBlockLevel", 4),
    (
        "cloudextendedtimeout",
        50,
        "MpEngine",
        "MpBafsExtendedTimeout",
        50,
    ),
    ("puaprotection", 2, "", "PUAProtection", 2),
    (
        "enablenetworkprotection",
        2,
        r"Windows Defender Exploit Guard\Network Protection",
        "EnableNetworkProtection",
        2,
    ),
];

fn landing_settings() -> Vec<ResolvedSetting> {
    LANDINGS
        .iter()
        .map(|(suffix, value, ..)| setting(&format!("{P}{suffix}"), SettingValue::Integer(*value)))
        .collect()
}

#[test]
fn settings_land_at_the_group_policy_location_with_inversions() {
    let plugin = windows_defender(&permissive_ceiling());
    // Tamper protection off: AllowScriptScanning = 0 weakens protection and must take effect.
    let (registry, caps) = backends(false);
    let out = plugin
        .run(
            &windows_client(),
            &landing_settings(),
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    for ((suffix, _, rel, name, dword), outcome) in LANDINGS.iter().zip(&out.outcomes) {
        assert_eq!(
            outcome.status,
            SettingStatus::Remediated,
            "{suffix}: {outcome:?}"
        );
        assert_eq!(
            registry.get_value(&key(rel), name).unwrap(),
            Some(RegValue::Dword(*dword)),
            "{suffix} → {rel}\\{name}"
        );
    }
    // The same policy again changes nothing and reports compliant.
    let before = registry.export_reg();
    let again = plugin
        .run(
            &windows_client(),
            &landing_settings(),
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    assert!(
        again
            .outcomes
            .iter()
            .all(|o| o.status == SettingStatus::Compliant),
        "{again:?}"
    );
    assert_eq!(registry.export_reg(), before);
}

#[test]
fn a_changed_value_is_remediated_and_an_equal_one_compliant() {
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, caps) = backends(true);
    registry
        .set_value(&key("MpEngine"), "MpCloudBlockLevel", RegValue::Dword(2))
        .unwrap();
    registry
        .set_value(&key("Spynet"), "SubmitSamplesConsent", RegValue::Dword(0))
        .unwrap();
    let settings = [
        setting(&format!("{P}cloudblocklevel"), SettingValue::Integer(2)),
        setting(
            &format!("{P}submitsamplesconsent"),
            SettingValue::Integer(1),
        ),
    ];
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    assert_eq!(out.outcomes[0].status, SettingStatus::Compliant);
    assert_eq!(out.outcomes[1].status, SettingStatus::Remediated);
    assert_eq!(
        registry
            .get_value(&key("Spynet"), "SubmitSamplesConsent")
            .unwrap(),
        Some(RegValue::Dword(1))
    );
}

#[test]
fn tamper_protection_blocks_weakening_and_says_so() {
    let plugin = windows_defender(&permissive_ceiling());
    let (_, caps) = backends(true);
    let settings = [setting(
        &format!("{P}allowrealtimemonitoring"),
        SettingValue::Integer(0),
    )];
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let o = &out.outcomes[0];
    assert_eq!(o.status, SettingStatus::Error);
    assert!(
        o.message.as_deref().unwrap().contains("tamper protection"),
        "{o:?}"
    );
}

#[test]
fn asr_rules_are_written_per_rule_with_the_switch() {
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, caps) = backends(true);
    let group = |i| {
        Some(GroupPosition {
            definition_id: format!("{P}attacksurfacereductionrules"),
            index: i,
        })
    };
    let rule = |suffix: &str, value: &str| ResolvedSetting {
        id: format!("{P}attacksurfacereductionrules_{suffix}"),
        value: SettingValue::Text(value.into()),
        group: group(0),
        csp_uri: None,
    };
    let settings = [
        rule(
            "blockallofficeapplicationsfromcreatingchildprocesses",
            "D4F940AB-401B-4EFC-AADC-AD5F3C50688A=1",
        ),
        rule(
            "blockwebshellcreationforservers",
            "a8f5898e-1dc8-49a9-9878-85004b8a61e6=2",
        ),
        rule(
            "useadvancedprotectionagainstransomware",
            "c1db55ab-c21a-4637-bb3f-a12568109d35=6",
        ),
        rule(
            "blockadobereaderfromcreatingchildprocesses_perruleexclusions",
            "C:\\x",
        ),
        rule(
            "blockadobereaderfromcreatingchildprocesses",
            "not a rule value",
        ),
    ];
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            SettingStatus::Remediated,
            SettingStatus::Remediated,
            SettingStatus::Remediated,
            SettingStatus::Error,
            SettingStatus::Error
        ],
        "{out:?}"
    );
    let rules = key(r"Windows Defender Exploit Guard\ASR\Rules");
    // GUIDs are written lower-case whatever case the catalog used; values are REG_SZ.
    assert_eq!(
        registry
            .get_value(&rules, "d4f940ab-401b-4efc-aadc-ad5f3c50688a")
            .unwrap(),
        Some(RegValue::Sz("1".into()))
    );
    assert_eq!(
        registry
            .get_value(&rules, "c1db55ab-c21a-4637-bb3f-a12568109d35")
            .unwrap(),
        Some(RegValue::Sz("6".into()))
    );
    assert_eq!(
        registry
            .get_value(
                &key(r"Windows Defender Exploit Guard\ASR"),
                "ExploitGuard_ASR_Rules"
            )
            .unwrap(),
        Some(RegValue::Dword(1))
    );
}

#[test]
fn a_narrowed_grant_is_denied_and_leaves_the_registry_unchanged() {
    // The operator allows no registry access at all: every write is refused as a value the
    // plugin reports, never a trap.
    let plugin = windows_defender(&GrantPolicy::Ceiling(Grants::none()));
    assert!(plugin.grants().is_empty());
    let (registry, caps) = backends(false);
    let before = registry.export_reg();
    let out = plugin
        .run(
            &windows_client(),
            &landing_settings(),
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    for o in &out.outcomes {
        assert_eq!(o.status, SettingStatus::Error, "{o:?}");
        assert!(
            o.message.as_deref().unwrap().contains("access denied"),
            "{o:?}"
        );
    }
    assert_eq!(registry.export_reg(), before);
}

#[test]
fn invalid_values_are_errors_for_that_setting_only() {
    let plugin = windows_defender(&permissive_ceiling());
    let (_, caps) = backends(true);
    let settings = [
        setting(
            &format!("{P}allowrealtimemonitoring"),
            SettingValue::Integer(5),
        ),
        setting(
            &format!("{P}cloudblocklevel"),
            SettingValue::Text("high".into()),
        ),
        setting(&format!("{P}puaprotection"), SettingValue::Integer(1)),
    ];
    let out = plugin
        .run(&windows_server(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            SettingStatus::Error,
            SettingStatus::Error,
            SettingStatus::Remediated
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Coverage of the shared mapping table (`windows-defender-settings.csv`).

/// Splits one CSV line (RFC 4180 quoting; the table has no line breaks inside fields).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// The table's rows as column → value maps.
fn mapping_table() -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(shared_data().join("windows-defender-settings.csv"))
        .expect("mapping table");
    let mut lines = text.lines();
    let header = csv_fields(lines.next().expect("header"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| header.iter().cloned().zip(csv_fields(l)).collect())
        .collect()
}

const PROFILES: [(&str, &str); 3] = [
    ("domainprofile", "DomainProfile"),
    ("privateprofile", "PrivateProfile"),
    ("publicprofile", "PublicProfile"),
];

/// The concrete setting ids one table row stands for (placeholders expanded).
fn expand_row(id: &str, catalog: &Catalog) -> Vec<String> {
    let asr = format!("{P}attacksurfacereductionrules");
    let rule_names = || {
        let prefix = format!("{asr}_");
        catalog
            .iter()
            .filter_map(|d| d.id.strip_prefix(&prefix).map(str::to_owned))
            .filter(|r| !r.ends_with("_perruleexclusions"))
            .collect::<Vec<_>>()
    };
    if id == asr {
        return rule_names()
            .into_iter()
            .map(|r| format!("{asr}_{r}"))
            .collect();
    }
    if id == format!("{asr}_<rule>_perruleexclusions") {
        return rule_names()
            .into_iter()
            .map(|r| format!("{asr}_{r}_perruleexclusions"))
            .filter(|id| catalog.get(id).is_some())
            .collect();
    }
    if id == format!("{P}threatseveritydefaultaction") {
        return ["low", "moderate", "high", "severe"]
            .iter()
            .map(|l| {
                let suffix = if *l == "severe" {
                    "severethreats".to_owned()
                } else {
                    format!("{l}severitythreats")
                };
                format!("{P}threatseveritydefaultaction_{suffix}")
            })
            .collect();
    }
    if id == FIREWALL_RULES {
        // One rule that uses every setting of the group's items.
        let prefix = format!("{FIREWALL_RULES}_");
        return catalog
            .iter()
            .filter(|d| d.id.starts_with(&prefix))
            .map(|d| d.id.clone())
            .collect();
    }
    if id == "(not in captured definitions)" {
        // AllowNetworkProtectionOnWinServer: the catalog's best-guess id.
        return vec![
            "device_vendor_msft_defender_configuration_allownetworkprotectiononwinserver".into(),
        ];
    }
    if let Some(rest) = id.strip_prefix("vendor_msft_firewall_mdmstore_<profile>profile_") {
        let suffixes: Vec<&str> = if rest.ends_with("(etc.)") {
            vec![
                "enablelogdroppedpackets",
                "enablelogsuccessconnections",
                "enablelogignoredrules",
                "logfilepath",
                "logmaxfilesize",
            ]
        } else {
            vec![rest]
        };
        return PROFILES
            .iter()
            .flat_map(|(p, _)| {
                suffixes
                    .iter()
                    .map(move |s| format!("vendor_msft_firewall_mdmstore_{p}_{s}"))
            })
            .collect();
    }
    vec![id.to_owned()]
}

/// A valid value for a definition: the last option of a choice, the top of an integer range,
/// a sample path for text and lists.
fn sample_value(id: &str, catalog: &Catalog) -> SettingValue {
    if id == "vendor_msft_defender_configuration_tamperprotection_options" {
        return SettingValue::Integer(0); // "On", which the simulated Defender reports
    }
    if id.ends_with("signatureupdatefallbackorder") {
        return SettingValue::Text("MMPC|FileShares".into());
    }
    if let Some(field) = id.strip_prefix(&format!("{FIREWALL_RULES}_")) {
        return firewall_rule_sample(field);
    }
    let def = catalog
        .get(id)
        .unwrap_or_else(|| panic!("{id}: not in the embedded catalog"));
    match def.kind {
        DefinitionKind::Choice => match def.options.values().last().expect("options") {
            OptionValue::Integer(i) => SettingValue::Integer(*i),
            OptionValue::Text(t) => SettingValue::Text(t.clone()),
        },
        DefinitionKind::Simple if def.range.is_some() => {
            SettingValue::Integer(def.range.unwrap().1)
        }
        DefinitionKind::Simple => SettingValue::Text(r"C:\Data\sample".into()),
        DefinitionKind::SimpleCollection => {
            SettingValue::TextList(vec![r"C:\Data\sample".into(), r"C:\Tools\tool.exe".into()])
        }
        other => panic!("{id}: unexpected kind {other}"),
    }
}

/// The Firewall Rules group collection and the key its rules land under.
const FIREWALL_RULES: &str = "vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}";
const FIREWALL_RULES_KEY: &str = r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\Mdm\FirewallRules";

/// The name of the sample rule the coverage test builds.
const SAMPLE_RULE: &str = "rampart sample rule";

/// A value for each setting of one consistent firewall rule (an inbound TCP rule may carry every
/// field at once, edge traversal included).
fn firewall_rule_sample(field: &str) -> SettingValue {
    let texts =
        |items: &[&str]| SettingValue::TextList(items.iter().map(|s| (*s).to_owned()).collect());
    match field {
        "name" => SettingValue::Text(SAMPLE_RULE.into()),
        "description" => SettingValue::Text("every field of a rule".into()),
        "enabled" | "action_type" | "edgetraversal" => SettingValue::Integer(1),
        "direction" => SettingValue::Text("IN".into()),
        "protocol" => SettingValue::Integer(6),
        "localportranges" => texts(&["443", "8000-8010"]),
        "remoteportranges" => texts(&["1024-65535"]),
        "localaddressranges" => texts(&["10.0.0.10"]),
        "remoteaddressranges" => texts(&["10.0.0.0/8", "LocalSubnet"]),
        "interfacetypes" => texts(&["Lan"]),
        "profiles" => SettingValue::IntegerList(vec![1, 2]),
        "app_filepath" => SettingValue::Text(r"C:\Tools\tool.exe".into()),
        "app_packagefamilyname" => SettingValue::Text("Contoso.Tool_8wekyb3d8bbwe".into()),
        "app_servicename" => SettingValue::Text("ToolSvc".into()),
        other => panic!("no sample value for the firewall rule setting '{other}'"),
    }
}

/// Rows of the table security settings management supports that this plugin does not
/// enforce yet, with the reason. Kept explicit so a gap cannot hide.
const NOT_ENFORCED: &[(&str, &str)] = &[];

#[test]
fn every_supported_row_of_the_mapping_table_is_enforced() {
    let catalog = Catalog::embedded();
    let mut settings = Vec::new();
    for row in mapping_table() {
        if !row["supported_via_security_settings_management"].starts_with("yes") {
            continue;
        }
        let id = row["settings_catalog_id"].as_str();
        if NOT_ENFORCED.iter().any(|(gap, _)| *gap == id) {
            continue;
        }
        for concrete in expand_row(id, &catalog) {
            let group = concrete
                .strip_prefix(&format!("{P}attacksurfacereductionrules_"))
                .map(|_| format!("{P}attacksurfacereductionrules"))
                .or_else(|| {
                    concrete
                        .starts_with(&format!("{P}threatseveritydefaultaction_"))
                        .then(|| format!("{P}threatseveritydefaultaction"))
                })
                .or_else(|| {
                    concrete
                        .starts_with(&format!("{FIREWALL_RULES}_"))
                        .then(|| FIREWALL_RULES.to_owned())
                });
            settings.push(ResolvedSetting {
                value: sample_value(&concrete, &catalog),
                id: concrete,
                group: group.map(|definition_id| GroupPosition {
                    definition_id,
                    index: 0,
                }),
                csp_uri: None,
            });
        }
    }
    assert!(settings.len() > 120, "{} settings", settings.len());

    let plugin = windows_defender(&permissive_ceiling());
    let (registry, caps) = backends(true);
    registry
        .set_value(
            &RegistryPath::parse(
                r"HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status",
            )
            .unwrap(),
            "OnboardingState",
            RegValue::Dword(1),
        )
        .unwrap();
    // Windows Server, so that the server-only network protection switches apply too.
    let out = plugin
        .run(&windows_server(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let mut unconfirmed = 0;
    for o in &out.outcomes {
        let reported_only =
            o.id.ends_with("tamperprotection_options") || o.id.ends_with("_configurationtype");
        if o.status == SettingStatus::Unknown {
            // In place where its consumer reads it, but that consumer was not asked.
            let message = o.message.as_deref().unwrap_or_default();
            assert!(message.starts_with("written; "), "{o:?}");
            unconfirmed += 1;
            continue;
        }
        let expected = if reported_only {
            SettingStatus::Compliant
        } else {
            SettingStatus::Remediated
        };
        assert_eq!(o.status, expected, "{o:?}");
    }
    // The firewall, Windows Security and the per-rule exclusions cannot be asked; the Defender
    // preferences it reports are confirmed.
    assert!(
        unconfirmed > 40 && unconfirmed < out.outcomes.len() / 2,
        "{unconfirmed} of {} unconfirmed",
        out.outcomes.len()
    );
    // The table names the rule's value by the rule name: the sample rule's.
    assert!(
        matches!(
            registry
                .get_value(&RegistryPath::parse(FIREWALL_RULES_KEY).unwrap(), SAMPLE_RULE)
                .unwrap(),
            Some(RegValue::Sz(rule)) if rule.contains("|Edge=TRUE|")
        ),
        "the sample firewall rule was not written"
    );

    // The same settings again: all compliant, and not one write.
    let before = registry.export_reg();
    let again = plugin
        .run(&windows_server(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let settled = |o: &&rampart_runtime::SettingOutcome| {
        o.status == SettingStatus::Compliant
            || (o.status == SettingStatus::Unknown
                && o.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("already in place; ")))
    };
    assert!(
        again.outcomes.iter().all(|o| settled(&o)),
        "{:?}",
        again
            .outcomes
            .iter()
            .filter(|o| !settled(o))
            .collect::<Vec<_>>()
    );
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(registry.export_reg(), before);
}

#[test]
fn lists_are_written_the_group_policy_way_and_read_back() {
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, caps) = backends(true);
    let list =
        |items: &[&str]| SettingValue::TextList(items.iter().map(|s| (*s).to_owned()).collect());
    let settings = [
        setting(
            &format!("{P}excludedpaths"),
            list(&[r"C:\Build", r"D:\Cache"]),
        ),
        setting(&format!("{P}excludedextensions"), list(&[".iso"])),
        setting(&format!("{P}excludedprocesses"), list(&["tool.exe"])),
        setting(
            &format!("{P}attacksurfacereductiononlyexclusions"),
            list(&[r"C:\Admin"]),
        ),
        setting(
            &format!("{P}controlledfolderaccessallowedapplications"),
            list(&[r"C:\App\app.exe"]),
        ),
        setting(
            &format!("{P}controlledfolderaccessprotectedfolders"),
            list(&[r"E:\Finance"]),
        ),
        setting(&format!("{P}excludedpaths"), list(&["  "])),
    ];
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(&statuses[..6], [SettingStatus::Remediated; 6], "{out:?}");
    assert_eq!(statuses[6], SettingStatus::Error);
    for (key, item, switch_key, switch) in [
        (
            r"Exclusions\Paths",
            r"D:\Cache",
            "Exclusions",
            "Exclusions_Paths",
        ),
        (
            r"Exclusions\Extensions",
            ".iso",
            "Exclusions",
            "Exclusions_Extensions",
        ),
        (
            r"Exclusions\Processes",
            "tool.exe",
            "Exclusions",
            "Exclusions_Processes",
        ),
        (
            r"Windows Defender Exploit Guard\ASR\ASROnlyExclusions",
            r"C:\Admin",
            r"Windows Defender Exploit Guard\ASR",
            "ExploitGuard_ASR_ASROnlyExclusions",
        ),
        (
            r"Windows Defender Exploit Guard\Controlled Folder Access\ProtectedFolders",
            r"E:\Finance",
            r"Windows Defender Exploit Guard\Controlled Folder Access",
            "ExploitGuard_ControlledFolderAccess_ProtectedFolders",
        ),
    ] {
        assert_eq!(
            registry.get_value(&key_path(key), item).unwrap(),
            Some(RegValue::Sz("0".into())),
            "{key}\\{item}"
        );
        assert_eq!(
            registry.get_value(&key_path(switch_key), switch).unwrap(),
            Some(RegValue::Dword(1)),
            "{switch}"
        );
    }
}

fn key_path(rel: &str) -> RegistryPath {
    key(rel)
}

#[test]
fn per_rule_asr_exclusions_land_per_rule_guid() {
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, caps) = backends(true);
    let group = Some(GroupPosition {
        definition_id: format!("{P}attacksurfacereductionrules"),
        index: 0,
    });
    let item = |suffix: &str, value: SettingValue| ResolvedSetting {
        id: format!("{P}attacksurfacereductionrules_{suffix}"),
        value,
        group: group.clone(),
        csp_uri: None,
    };
    let settings = [
        item(
            "blockallofficeapplicationsfromcreatingchildprocesses_perruleexclusions",
            SettingValue::TextList(vec![r"C:\Office\addin.exe".into(), r"C:\Tools".into()]),
        ),
        item(
            "blockadobereaderfromcreatingchildprocesses_perruleexclusions",
            SettingValue::TextList(vec![r"C:\a>b".into()]),
        ),
        item(
            "nosuchrule_perruleexclusions",
            SettingValue::TextList(vec![r"C:\x".into()]),
        ),
    ];
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            SettingStatus::Unknown,
            SettingStatus::Error,
            SettingStatus::Error
        ],
        "{out:?}"
    );
    assert_eq!(
        registry
            .get_value(
                &key(r"Windows Defender Exploit Guard\ASR\ASROnlyPerRuleExclusions"),
                "d4f940ab-401b-4efc-aadc-ad5f3c50688a"
            )
            .unwrap(),
        Some(RegValue::Sz(r"C:\Office\addin.exe>C:\Tools".into()))
    );
    assert_eq!(
        registry
            .get_value(
                &key(r"Windows Defender Exploit Guard\ASR"),
                "ExploitGuard_ASR_ASROnlyPerRuleExclusions"
            )
            .unwrap(),
        Some(RegValue::Dword(1))
    );
}

#[test]
fn threat_severity_default_actions_are_written_and_read_back() {
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, caps) = backends(true);
    let group = Some(GroupPosition {
        definition_id: format!("{P}threatseveritydefaultaction"),
        index: 0,
    });
    let child = |suffix: &str, value: &str| ResolvedSetting {
        id: format!("{P}threatseveritydefaultaction_{suffix}"),
        value: SettingValue::Text(value.into()),
        group: group.clone(),
        csp_uri: None,
    };
    let settings = [
        child("severethreats", "5=3"),
        child("lowseveritythreats", "1=10"),
        child("highseveritythreats", "4=7"),
    ];
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            SettingStatus::Remediated,
            SettingStatus::Remediated,
            SettingStatus::Error
        ],
        "{out:?}"
    );
    assert_eq!(
        registry
            .get_value(&key(r"Threats\ThreatSeverityDefaultAction"), "5")
            .unwrap(),
        Some(RegValue::Sz("3".into()))
    );
    assert_eq!(
        registry
            .get_value(&key("Threats"), "Threats_ThreatSeverityDefaultAction")
            .unwrap(),
        Some(RegValue::Dword(1))
    );
}

#[test]
fn tamper_protection_is_reported_never_written() {
    let plugin = windows_defender(&permissive_ceiling());
    let id = "vendor_msft_defender_configuration_tamperprotection_options";
    // Policy "On", Defender on: compliant. Policy "On", Defender off: an error that says rampart
    // does not switch it, and nothing is written either way.
    for (tamper, expected) in [
        (true, SettingStatus::Compliant),
        (false, SettingStatus::Error),
    ] {
        let (registry, caps) = backends(tamper);
        let out = plugin
            .run(
                &windows_client(),
                &[setting(id, SettingValue::Integer(0))],
                &caps,
                &RunLimits::default(),
            )
            .unwrap();
        assert_eq!(out.outcomes[0].status, expected, "{out:?}");
        if expected == SettingStatus::Error {
            assert!(
                out.outcomes[0]
                    .message
                    .as_deref()
                    .unwrap()
                    .contains("does not change it"),
                "{out:?}"
            );
        }
        assert!(out.changes.is_empty());
        assert_eq!(registry.snapshot().len(), 0);
    }
}

#[test]
fn the_edr_onboarding_blob_is_never_written_logged_or_echoed() {
    const BLOB: &str = "SECRET-ONBOARDING-BLOB-4f1d";
    let plugin = windows_defender(&permissive_ceiling());
    let settings = [
        setting(
            "device_vendor_msft_windowsadvancedthreatprotection_configurationtype",
            SettingValue::Text("AutoFromConnector".into()),
        ),
        setting(
            "device_vendor_msft_windowsadvancedthreatprotection_onboarding_fromconnector",
            SettingValue::Secret(rampart_policy::Secret::new(BLOB)),
        ),
        setting(
            "device_vendor_msft_windowsadvancedthreatprotection_configuration_samplesharing",
            SettingValue::Integer(1),
        ),
    ];
    // Not onboarded: the two onboarding settings are errors; the blob appears nowhere.
    let (registry, caps) = backends(true);
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            SettingStatus::Error,
            SettingStatus::Error,
            SettingStatus::Unknown
        ]
    );
    let everything = format!("{out:?}{}", registry.export_reg());
    assert!(!everything.contains(BLOB), "the secret leaked");
    assert_eq!(
        registry
            .get_value(
                &RegistryPath::parse(
                    r"HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection"
                )
                .unwrap(),
                "AllowSampleCollection"
            )
            .unwrap(),
        Some(RegValue::Dword(1))
    );
    // Onboarded: compliant, still without a trace of the blob.
    registry
        .set_value(
            &RegistryPath::parse(
                r"HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status",
            )
            .unwrap(),
            "OnboardingState",
            RegValue::Dword(1),
        )
        .unwrap();
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            SettingStatus::Compliant,
            SettingStatus::Compliant,
            SettingStatus::Unknown
        ],
        "{out:?}"
    );
    assert!(!format!("{out:?}{}", registry.export_reg()).contains(BLOB));
}

#[test]
fn server_network_protection_switches_are_server_only_and_required_on_servers() {
    let plugin = windows_defender(&permissive_ceiling());
    let on_server = "device_vendor_msft_defender_configuration_allownetworkprotectiononwinserver";
    let np = format!("{P}enablenetworkprotection");
    // A client: the server switch does not apply.
    let (registry, caps) = backends(true);
    let out = plugin
        .run(
            &windows_client(),
            &[setting(on_server, SettingValue::Integer(1))],
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    assert_eq!(
        out.outcomes[0].status,
        SettingStatus::NotApplicable,
        "{out:?}"
    );
    assert!(registry.snapshot().is_empty());
    // A server with network protection but without the server switch: an error naming it.
    let out = plugin
        .run(
            &windows_server(),
            &[setting(&np, SettingValue::Integer(1))],
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    assert_eq!(out.outcomes[0].status, SettingStatus::Error, "{out:?}");
    assert!(
        out.outcomes[0]
            .message
            .as_deref()
            .unwrap()
            .contains("AllowNetworkProtectionOnWinServer"),
        "{out:?}"
    );
    // Both, in either order: enforced.
    let out = plugin
        .run(
            &windows_server(),
            &[
                setting(&np, SettingValue::Integer(1)),
                setting(on_server, SettingValue::Integer(1)),
            ],
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    assert_eq!(
        out.outcomes.iter().map(|o| o.status).collect::<Vec<_>>(),
        [SettingStatus::Compliant, SettingStatus::Remediated],
        "{out:?}"
    );
}

#[test]
fn a_value_another_authority_overwrote_is_reported_as_drift_and_remediated() {
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    let (registry, caps) = backends(true);
    let device = windows_client();
    let enforcer = Enforcer::new(caps, RunLimits::default()).with_ledger(Ledger::in_memory());
    let policy = policy_of(vec![setting(
        &format!("{P}cloudblocklevel"),
        SettingValue::Integer(4),
    )]);
    let first = enforcer.enforce(&plugins, &device, &policy);
    assert_eq!(first.count(SettingStatus::Remediated), 1);
    assert!(first.drift.is_empty());
    // A Group Policy object (another authority) writes its own value at the same place.
    registry
        .set_value(&key("MpEngine"), "MpCloudBlockLevel", RegValue::Dword(2))
        .unwrap();
    let second = enforcer.enforce(&plugins, &device, &policy);
    assert_eq!(second.drift.len(), 1, "{:?}", second.drift);
    let d = &second.drift[0];
    assert!(d.target.ends_with(r"MpEngine\MpCloudBlockLevel"), "{d:?}");
    assert_eq!(d.expected, "REG_DWORD 4");
    assert_eq!(d.found, "REG_DWORD 2");
    assert_eq!(second.count(SettingStatus::Remediated), 1);
}

// ---------------------------------------------------------------------------------------------
// Every shared Windows export, applied to the example devices.

const WINDOWS_EXPORTS: [&str; 5] = [
    "win-es-antivirus-av-configuration.oib-v3.3.json",
    "win-es-antivirus-security-experience.oib-v3.3.json",
    "win-es-asr-rules-l2.oib-v3.7.json",
    "win-es-edr-configuration.cipp-template.json",
    "win-es-firewall-configuration.oib-v3.1.json",
];

/// Settings of the exports that cannot succeed on any device, and why (the statuses golden
/// files show the messages).
fn expected_failure(id: &str) -> bool {
    // Audit policy, not a registry value: the embedded catalog does not define it.
    id.starts_with("device_vendor_msft_policy_config_audit_objectaccess_")
}

/// Applies every Windows export to `device_file` (under `examples/devices`) on a fresh emulated
/// registry that records Defender for Endpoint onboarding, twice. Returns the registry after
/// the first pass, and both reports.
fn apply_all_exports(
    device_file: &str,
) -> (
    Arc<rampart_backends::registry::EmulatedRegistry>,
    rampart_runtime::DeviceReport,
    rampart_runtime::DeviceReport,
) {
    let device = load_device_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/devices")
            .join(device_file),
    )
    .unwrap();
    let dir = shared_data().join("intune-exports");
    let mut docs: Vec<_> = WINDOWS_EXPORTS
        .iter()
        .map(|f| load_policy_file(&dir.join(f)).unwrap())
        .collect();
    // rampart's own examples of the families the exports do not carry (exclusions, update
    // channels, network inspection, Windows Security, firewall hardening and globals, ...).
    let families = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/policies/windows-every-family");
    let mut examples: Vec<_> = std::fs::read_dir(&families)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    assert!(examples.len() >= 6, "{examples:?}");
    docs.extend(examples.iter().map(|f| load_policy_file(f).unwrap()));
    let resolved = resolve(&docs, &device, &Catalog::embedded());
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    // Windows 11's default: tamper protection on (the Security Experience export asks for it).
    let (registry, caps) = backends(true);
    registry
        .set_value(
            &RegistryPath::parse(
                r"HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status",
            )
            .unwrap(),
            "OnboardingState",
            RegValue::Dword(1),
        )
        .unwrap();
    let enforcer = Enforcer::new(caps, RunLimits::default());
    let first = enforcer.enforce(&plugins, &device, &resolved);
    let after_first = registry.export_reg();
    let second = enforcer.enforce(&plugins, &device, &resolved);
    assert_eq!(registry.export_reg(), after_first, "the second pass wrote");
    (registry, first, second)
}

/// One line per setting: `status  id [#item]  (message)`, grouped by policy.
fn statuses(report: &rampart_runtime::DeviceReport) -> String {
    let mut out = String::new();
    for p in &report.policies {
        out.push_str(&format!("## {} → {:?}\n", p.name, p.status));
        for s in &p.settings {
            let item = s
                .group
                .as_ref()
                .map(|g| format!(" #{}", g.index))
                .unwrap_or_default();
            let message = s
                .message
                .as_deref()
                .map(|m| format!("  ({m})"))
                .unwrap_or_default();
            out.push_str(&format!("{:?}  {}{item}{message}\n", s.status, s.id));
        }
    }
    out
}

#[test]
fn all_windows_exports_on_windows_11_match_the_reviewed_reg_golden_and_rerun_without_writes() {
    let (registry, first, second) = apply_all_exports("windows-11.toml");
    for s in first.policies.iter().flat_map(|p| &p.settings) {
        let ok = matches!(
            s.status,
            SettingStatus::Compliant
                | SettingStatus::Remediated
                | SettingStatus::NotApplicable
                | SettingStatus::Unknown
        );
        assert!(ok || expected_failure(&s.id), "{s:?}");
    }
    // The second pass: everything that succeeded is compliant, and no plugin run changed
    // anything.
    for (a, b) in first
        .policies
        .iter()
        .flat_map(|p| &p.settings)
        .zip(second.policies.iter().flat_map(|p| &p.settings))
    {
        let expected = match a.status {
            SettingStatus::Remediated => SettingStatus::Compliant,
            other => other,
        };
        assert_eq!(b.status, expected, "{b:?}");
        if b.status == SettingStatus::Unknown {
            let message = b.message.as_deref().unwrap_or_default();
            assert!(message.starts_with("already in place; "), "{b:?}");
        }
    }
    assert!(
        second.plugins.iter().all(|p| p.changes.is_empty()),
        "{:?}",
        second.plugins
    );
    assert!(
        first.count(SettingStatus::Remediated) > 40,
        "{}",
        first.count(SettingStatus::Remediated)
    );
    assert_eq!(second.count(SettingStatus::Remediated), 0);

    // The export's first line is the .reg header; the comment goes right after it.
    let export = registry.export_reg();
    let (header, body) = export.split_once('\n').expect("a .reg header line");
    let golden = format!(
        "{header}\n; Every shared Windows endpoint-security export (../shared/data/intune-exports/win-es-*)\n\
         ; and examples/policies/windows-every-family/*.json applied by the windows-defender plugin\n\
         ; to examples/devices/windows-11.toml on an empty emulated registry that holds only Sense's\n\
         ; OnboardingState. Reviewed against plugins/windows-defender/sources.toml; regenerate with\n\
         ; RAMPART_BLESS=1.\n{body}"
    );
    assert_golden("windows/windows-11.reg", &golden);
    assert_golden("windows/windows-11.statuses.txt", &statuses(&first));
}

#[test]
fn all_windows_exports_on_windows_server_show_the_server_statuses() {
    let (_, first, second) = apply_all_exports("windows-server-2022.toml");
    let by_id = |suffix: &str| {
        first
            .policies
            .iter()
            .flat_map(|p| &p.settings)
            .find(|s| s.id.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} missing"))
    };
    // Not supported on Server: withheld before the plugin runs.
    let win32 = by_id("_blockwin32apicallsfromofficemacros");
    assert_eq!(win32.status, SettingStatus::NotApplicable);
    assert!(win32.message.as_deref().unwrap().contains("Windows Server"));
    // Network protection on Server takes effect only with AllowNetworkProtectionOnWinServer,
    // which the AV export does not set and the every-family example does: together, both land
    // (`server_network_protection_switches_are_server_only_and_required_on_servers` covers the
    // error without the switch).
    let np = by_id("_enablenetworkprotection");
    assert_eq!(np.status, SettingStatus::Remediated, "{np:?}");
    let switch = by_id("_allownetworkprotectiononwinserver");
    assert_eq!(switch.status, SettingStatus::Remediated, "{switch:?}");
    assert_eq!(second.count(SettingStatus::Remediated), 0);
    assert_golden(
        "windows/windows-server-2022.statuses.txt",
        &statuses(&first),
    );
}

// ---------------------------------------------------------------------------------------------
// Ownership: values of settings a policy revision drops.

#[test]
fn a_dropped_setting_loses_the_values_rampart_wrote_and_nothing_else() {
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    let (registry, caps) = backends(true);
    let device = windows_client();
    // Before rampart: an unrelated value in a key rampart writes to, and a value that already
    // holds what the policy asks for (so rampart never writes it).
    registry
        .set_value(&key("MpEngine"), "SomethingElse", RegValue::Dword(7))
        .unwrap();
    registry
        .set_value(&key("Spynet"), "SubmitSamplesConsent", RegValue::Dword(1))
        .unwrap();
    let enforcer = Enforcer::new(caps, RunLimits::default()).with_ledger(Ledger::in_memory());
    let paths = |items: &[&str]| {
        setting(
            &format!("{P}excludedpaths"),
            SettingValue::TextList(items.iter().map(|s| (*s).to_owned()).collect()),
        )
    };
    let revision_a = policy_of(vec![
        setting(&format!("{P}cloudblocklevel"), SettingValue::Integer(4)),
        setting(
            &format!("{P}submitsamplesconsent"),
            SettingValue::Integer(1),
        ),
        paths(&[r"C:\Build", r"D:\Cache"]),
        setting(&format!("{P}puaprotection"), SettingValue::Integer(1)),
    ]);
    let a = enforcer.enforce(&plugins, &device, &revision_a);
    assert_eq!(a.count(SettingStatus::Remediated), 3, "{a:#?}");
    assert_eq!(a.count(SettingStatus::Compliant), 1);

    // Revision B drops cloud block level and sample consent and one exclusion.
    let revision_b = policy_of(vec![
        paths(&[r"C:\Build"]),
        setting(&format!("{P}puaprotection"), SettingValue::Integer(1)),
    ]);
    // A what-if of revision B plans the removals and changes nothing.
    let before = registry.export_reg();
    let plan = enforcer.what_if().enforce(&plugins, &device, &revision_b);
    let planned: Vec<String> = plan
        .plugins
        .iter()
        .flat_map(|p| &p.changes)
        .map(ToString::to_string)
        .collect();
    assert_eq!(planned.len(), 2, "{planned:?}");
    assert_eq!(registry.export_reg(), before);

    let b = enforcer.enforce(&plugins, &device, &revision_b);
    assert_eq!(b.count(SettingStatus::Compliant), 2, "{b:#?}");
    let removed: Vec<String> = b
        .plugins
        .iter()
        .flat_map(|p| &p.changes)
        .map(ToString::to_string)
        .collect();
    assert_eq!(removed, planned);
    assert!(
        removed.iter().all(|c| c.ends_with("→ (none)")),
        "{removed:?}"
    );
    // Gone: what rampart wrote for the dropped setting and the dropped item.
    assert_eq!(
        registry
            .get_value(&key("MpEngine"), "MpCloudBlockLevel")
            .unwrap(),
        None
    );
    assert_eq!(
        registry
            .get_value(&key(r"Exclusions\Paths"), r"D:\Cache")
            .unwrap(),
        None
    );
    // Kept: the remaining item and the switch it still needs, the unrelated value, and the
    // value rampart never wrote even though its setting left the policy too.
    assert!(
        registry
            .get_value(&key(r"Exclusions\Paths"), r"C:\Build")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        registry
            .get_value(&key("Exclusions"), "Exclusions_Paths")
            .unwrap(),
        Some(RegValue::Dword(1))
    );
    assert_eq!(
        registry
            .get_value(&key("MpEngine"), "SomethingElse")
            .unwrap(),
        Some(RegValue::Dword(7))
    );
    assert_eq!(
        registry
            .get_value(&key("Spynet"), "SubmitSamplesConsent")
            .unwrap(),
        Some(RegValue::Dword(1))
    );

    // An empty revision removes everything else rampart wrote (the plugin gets no setting at
    // all), but a value someone changed since is left in place and reported.
    registry
        .set_value(&key(""), "PUAProtection", RegValue::Dword(2))
        .unwrap();
    let c = enforcer.enforce(&plugins, &device, &policy_of(vec![]));
    let report = &c.plugins[0];
    assert_eq!(report.settings, 0);
    assert_eq!(report.released.len(), 1, "{report:?}");
    assert!(report.released[0].contains("PUAProtection"), "{report:?}");
    assert_eq!(
        registry.get_value(&key(""), "PUAProtection").unwrap(),
        Some(RegValue::Dword(2))
    );
    assert_eq!(
        registry
            .get_value(&key(r"Exclusions\Paths"), r"C:\Build")
            .unwrap(),
        None
    );
    assert_eq!(
        registry
            .get_value(&key("Exclusions"), "Exclusions_Paths")
            .unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Firewall rules: the example Firewall Rules policy through the whole pipeline.

/// The example Firewall Rules policy (`examples/policies/contoso-firewall-rules.json`), as JSON.
fn contoso_firewall_rules() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/policies/contoso-firewall-rules.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("example policy"))
        .expect("example policy is JSON")
}

fn firewall_policy(doc: &serde_json::Value) -> rampart_policy::graph::PolicyDocument {
    rampart_policy::graph::parse_policy(doc.to_string().as_bytes(), "contoso-firewall-rules.json")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn example_device(file: &str) -> rampart_policy::device::Device {
    load_device_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/devices")
            .join(file),
    )
    .unwrap()
}

/// The rules of the example policy: registry value name and the exact rule string.
const CONTOSO_RULES: [(&str, &str); 3] = [
    (
        "Contoso Agent - HTTPS in",
        r"v2.20|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|Profile=Private|LPort=443|IFType=Lan|App=%ProgramFiles%\Contoso\Agent\agent.exe|Name=Contoso Agent - HTTPS in|Desc=Lets the Contoso agent accept HTTPS connections|",
    ),
    (
        "Block outbound to lab network",
        "v2.20|Action=Block|Active=TRUE|Dir=Out|RA4=10.20.0.0/16|RA4=192.168.50.10-192.168.50.20|Name=Block outbound to lab network|",
    ),
    (
        "Remote Desktop from management subnet",
        "v2.20|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|LPort=3389|RA4=10.0.5.0/24|Svc=TermService|Name=Remote Desktop from management subnet|",
    ),
];

fn firewall_rules_in(
    registry: &rampart_backends::registry::EmulatedRegistry,
) -> Vec<(String, RegValue)> {
    registry
        .list_values(&RegistryPath::parse(FIREWALL_RULES_KEY).unwrap())
        .unwrap()
}

#[test]
fn the_example_firewall_rules_policy_writes_one_rule_string_per_rule() {
    let device = example_device("windows-11.toml");
    let resolved = resolve(
        &[firewall_policy(&contoso_firewall_rules())],
        &device,
        &Catalog::embedded(),
    );
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    let (registry, caps) = backends(true);
    let enforcer = Enforcer::new(caps, RunLimits::default());

    let first = enforcer.enforce(&plugins, &device, &resolved);
    let settings: Vec<_> = first.policies.iter().flat_map(|p| &p.settings).collect();
    assert_eq!(settings.len(), 26, "{settings:#?}");
    // Written, and the firewall is not asked: in place, unconfirmed.
    assert!(
        settings.iter().all(|s| s.status == SettingStatus::Unknown
            && s.message.as_deref() == Some("written; Windows Firewall not queried")),
        "{settings:#?}"
    );
    let mut expected: Vec<(String, RegValue)> = CONTOSO_RULES
        .iter()
        .map(|(name, rule)| ((*name).to_owned(), RegValue::Sz((*rule).to_owned())))
        .collect();
    expected.sort_by_key(|(name, _)| name.to_lowercase());
    let mut written = firewall_rules_in(&registry);
    written.sort_by_key(|(name, _)| name.to_lowercase());
    assert_eq!(written, expected);

    // Again: every setting in place (still unconfirmed), nothing written.
    let before = registry.export_reg();
    let second = enforcer.enforce(&plugins, &device, &resolved);
    assert_eq!(second.count(SettingStatus::Unknown), 26);
    assert!(second.plugins.iter().all(|p| p.changes.is_empty()));
    assert_eq!(registry.export_reg(), before);

    // A domain controller gets no firewall policy at all.
    let dc = example_device("domain-controller.toml");
    let withheld = resolve(
        &[firewall_policy(&contoso_firewall_rules())],
        &dc,
        &Catalog::embedded(),
    );
    assert!(withheld[0].not_applicable.is_some(), "{withheld:#?}");
}

#[test]
fn a_bad_rule_in_the_example_policy_is_an_error_and_the_others_still_land() {
    let mut doc = contoso_firewall_rules();
    // The outbound block rule gets a port, which needs TCP or UDP: it has no protocol.
    let rules = doc["settings"][0]["settingInstance"]["groupSettingCollectionValue"]
        .as_array_mut()
        .unwrap();
    rules[1]["children"].as_array_mut().unwrap().push(serde_json::json!({
        "@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingCollectionInstance",
        "settingDefinitionId": format!("{FIREWALL_RULES}_remoteportranges"),
        "simpleSettingCollectionValue": [
            {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "445"}
        ]
    }));
    let device = example_device("windows-11.toml");
    let resolved = resolve(&[firewall_policy(&doc)], &device, &Catalog::embedded());
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    let (registry, caps) = backends(true);
    let report = Enforcer::new(caps, RunLimits::default()).enforce(&plugins, &device, &resolved);
    for s in report.policies.iter().flat_map(|p| &p.settings) {
        let index = s.group.as_ref().unwrap().index;
        if index == 1 {
            assert_eq!(s.status, SettingStatus::Error, "{s:?}");
            assert_eq!(
                s.message.as_deref(),
                Some(
                    "firewall rule 'Block outbound to lab network': ports are given with no protocol; ports need protocol 6 (TCP) or 17 (UDP)"
                )
            );
        } else {
            assert_eq!(s.status, SettingStatus::Unknown, "{s:?}");
        }
    }
    let names: Vec<String> = firewall_rules_in(&registry)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.iter().any(|n| n == CONTOSO_RULES[1].0));
}

#[test]
fn a_rule_a_later_revision_drops_is_removed_and_foreign_rules_stay() {
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    let (registry, caps) = backends(true);
    let device = example_device("windows-11.toml");
    // A rule some other manager wrote under the same key.
    let rules_key = RegistryPath::parse(FIREWALL_RULES_KEY).unwrap();
    let foreign = RegValue::Sz("v2.26|Action=Allow|Active=TRUE|Dir=In|Name=Theirs|".into());
    registry
        .set_value(&rules_key, "Theirs", foreign.clone())
        .unwrap();
    let enforcer = Enforcer::new(caps, RunLimits::default()).with_ledger(Ledger::in_memory());

    let revision_1 = contoso_firewall_rules();
    let first = enforcer.enforce(
        &plugins,
        &device,
        &resolve(
            &[firewall_policy(&revision_1)],
            &device,
            &Catalog::embedded(),
        ),
    );
    assert_eq!(first.count(SettingStatus::Unknown), 26);
    assert_eq!(firewall_rules_in(&registry).len(), 4);

    // Revision 2 drops the outbound block rule (the rules after it move up a position).
    let mut revision_2 = revision_1.clone();
    revision_2["settings"][0]["settingInstance"]["groupSettingCollectionValue"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    let second = enforcer.enforce(
        &plugins,
        &device,
        &resolve(
            &[firewall_policy(&revision_2)],
            &device,
            &Catalog::embedded(),
        ),
    );
    assert_eq!(second.count(SettingStatus::Unknown), 19, "{second:#?}");
    let removed: Vec<String> = second
        .plugins
        .iter()
        .flat_map(|p| &p.changes)
        .map(ToString::to_string)
        .collect();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(
        removed[0].contains(CONTOSO_RULES[1].0) && removed[0].ends_with("→ (none)"),
        "{removed:?}"
    );
    assert_eq!(
        registry.get_value(&rules_key, CONTOSO_RULES[1].0).unwrap(),
        None
    );
    for (name, rule) in [CONTOSO_RULES[0], CONTOSO_RULES[2]] {
        assert_eq!(
            registry.get_value(&rules_key, name).unwrap(),
            Some(RegValue::Sz(rule.to_owned()))
        );
    }
    assert_eq!(
        registry.get_value(&rules_key, "Theirs").unwrap(),
        Some(foreign)
    );
}

// Intent: what Defender applies after the plugin runs, asked of the simulated Defender, whose
// policy locations come from WindowsDefender.admx and not from the plugin's table. A setting
// written to a key or value name Defender does not read leaves Defender's default in force and
// fails here.

/// (setting id suffix after `device_vendor_msft_`, value, Defender property, what the setting
/// means Defender applies), the meaning taken from the Policy CSP and Defender CSP references.
fn intents() -> Vec<(&'static str, SettingValue, &'static str, PreferenceValue)> {
    use PreferenceValue::{Boolean as B, Integer as I};
    use SettingValue::Integer as N;
    vec![
        (
            "policy_config_defender_allowrealtimemonitoring",
            N(0),
            "DisableRealtimeMonitoring",
            B(true),
        ),
        (
            "policy_config_defender_allowbehaviormonitoring",
            N(0),
            "DisableBehaviorMonitoring",
            B(true),
        ),
        (
            "policy_config_defender_allowioavprotection",
            N(0),
            "DisableIOAVProtection",
            B(true),
        ),
        (
            "policy_config_defender_allowonaccessprotection",
            N(0),
            "DisableOnAccessProtection",
            B(true),
        ),
        (
            "policy_config_defender_allowscriptscanning",
            N(0),
            "DisableScriptScanning",
            B(true),
        ),
        (
            "policy_config_defender_realtimescandirection",
            N(2),
            "RealTimeScanDirection",
            I(2),
        ),
        (
            "defender_configuration_oobeenablertpandsigupdate",
            N(1),
            "OobeEnableRtpAndSigUpdate",
            B(true),
        ),
        (
            "policy_config_defender_allowcloudprotection",
            N(0),
            "MAPSReporting",
            I(0),
        ),
        (
            "policy_config_defender_submitsamplesconsent",
            N(3),
            "SubmitSamplesConsent",
            I(3),
        ),
        (
            "policy_config_defender_cloudblocklevel",
            N(4),
            "CloudBlockLevel",
            I(4),
        ),
        (
            "policy_config_defender_cloudextendedtimeout",
            N(50),
            "CloudExtendedTimeout",
            I(50),
        ),
        (
            "defender_configuration_enablefilehashcomputation",
            N(1),
            "EnableFileHashComputation",
            B(true),
        ),
        (
            "policy_config_defender_puaprotection",
            N(1),
            "PUAProtection",
            I(1),
        ),
        (
            "policy_config_defender_enablenetworkprotection",
            N(1),
            "EnableNetworkProtection",
            I(1),
        ),
        (
            "defender_configuration_allownetworkprotectiondownlevel",
            N(1),
            "AllowNetworkProtectionDownLevel",
            B(true),
        ),
        (
            "defender_configuration_allownetworkprotectiononwinserver",
            N(1),
            "AllowNetworkProtectionOnWinServer",
            B(true),
        ),
        (
            "defender_configuration_allowdatagramprocessingonwinserver",
            N(1),
            "AllowDatagramProcessingOnWinServer",
            B(true),
        ),
        (
            "defender_configuration_disabletlsparsing",
            N(1),
            "DisableTlsParsing",
            B(true),
        ),
        (
            "defender_configuration_disablehttpparsing",
            N(1),
            "DisableHttpParsing",
            B(true),
        ),
        (
            "defender_configuration_disablesshparsing",
            N(1),
            "DisableSshParsing",
            B(true),
        ),
        (
            "defender_configuration_disablednsovertcpparsing",
            N(1),
            "DisableDnsOverTcpParsing",
            B(true),
        ),
        (
            "defender_configuration_enablednssinkhole",
            N(0),
            "EnableDnsSinkhole",
            B(false),
        ),
        (
            "policy_config_defender_allowarchivescanning",
            N(0),
            "DisableArchiveScanning",
            B(true),
        ),
        (
            "policy_config_defender_allowemailscanning",
            N(1),
            "DisableEmailScanning",
            B(false),
        ),
        (
            "policy_config_defender_allowfullscanonmappednetworkdrives",
            N(1),
            "DisableScanningMappedNetworkDrivesForFullScan",
            B(false),
        ),
        (
            "policy_config_defender_allowfullscanremovabledrivescanning",
            N(1),
            "DisableRemovableDriveScanning",
            B(false),
        ),
        (
            "policy_config_defender_allowscanningnetworkfiles",
            N(0),
            "DisableScanningNetworkFiles",
            B(true),
        ),
        (
            "policy_config_defender_avgcpuloadfactor",
            N(30),
            "ScanAvgCPULoadFactor",
            I(30),
        ),
        (
            "policy_config_defender_enablelowcpupriority",
            N(1),
            "EnableLowCpuPriority",
            B(true),
        ),
        (
            "policy_config_defender_checkforsignaturesbeforerunningscan",
            N(1),
            "CheckForSignaturesBeforeRunningScan",
            B(true),
        ),
        // "If you enable this setting, catch-up scans for scheduled full scans will be
        // disabled": 0 keeps catch-up on, against Defender's default of off.
        (
            "policy_config_defender_disablecatchupfullscan",
            N(0),
            "DisableCatchupFullScan",
            B(false),
        ),
        (
            "policy_config_defender_disablecatchupquickscan",
            N(0),
            "DisableCatchupQuickScan",
            B(false),
        ),
        (
            "policy_config_defender_scanparameter",
            N(2),
            "ScanParameters",
            I(2),
        ),
        (
            "policy_config_defender_schedulescanday",
            N(3),
            "ScanScheduleDay",
            I(3),
        ),
        (
            "policy_config_defender_schedulescantime",
            N(600),
            "ScanScheduleTime",
            I(600),
        ),
        (
            "policy_config_defender_schedulequickscantime",
            N(300),
            "ScanScheduleQuickScanTime",
            I(300),
        ),
        (
            "defender_configuration_quickscanincludeexclusions",
            N(1),
            "QuickScanIncludeExclusions",
            I(1),
        ),
        (
            "defender_configuration_randomizescheduletasktimes",
            N(0),
            "RandomizeScheduleTaskTimes",
            B(false),
        ),
        (
            "defender_configuration_schedulerrandomizationtime",
            N(10),
            "SchedulerRandomizationTime",
            I(10),
        ),
        (
            "defender_configuration_daysuntilaggressivecatchupquickscan",
            N(10),
            "DaysUntilAggressiveCatchupQuickScan",
            I(10),
        ),
        (
            "policy_config_defender_daystoretaincleanedmalware",
            N(30),
            "QuarantinePurgeItemsAfterDelay",
            I(30),
        ),
        (
            "policy_config_defender_allowuseruiaccess",
            N(0),
            "UILockdown",
            B(true),
        ),
        (
            "defender_configuration_disablelocaladminmerge",
            N(1),
            "DisableLocalAdminMerge",
            B(true),
        ),
        (
            "defender_configuration_hideexclusionsfromlocaladmins",
            N(1),
            "HideExclusionsFromLocalAdmins",
            B(true),
        ),
        (
            "defender_configuration_hideexclusionsfromlocalusers",
            N(1),
            "HideExclusionsFromLocalUsers",
            B(true),
        ),
        (
            "policy_config_defender_enablecontrolledfolderaccess",
            N(1),
            "EnableControlledFolderAccess",
            I(1),
        ),
        (
            "policy_config_defender_signatureupdateinterval",
            N(4),
            "SignatureUpdateInterval",
            I(4),
        ),
        (
            "policy_config_defender_signatureupdatefallbackorder",
            SettingValue::Text("MMPC|FileShares".into()),
            "SignatureFallbackOrder",
            PreferenceValue::Text("MMPC|FileShares".into()),
        ),
        (
            "defender_configuration_platformupdateschannel",
            N(4),
            "PlatformUpdatesChannel",
            I(4),
        ),
        (
            "defender_configuration_engineupdateschannel",
            N(5),
            "EngineUpdatesChannel",
            I(5),
        ),
        (
            "defender_configuration_securityintelligenceupdateschannel",
            N(4),
            "DefinitionUpdatesChannel",
            I(4),
        ),
        (
            "defender_configuration_meteredconnectionupdates",
            N(1),
            "MeteredConnectionUpdates",
            B(true),
        ),
        (
            "defender_configuration_archivemaxdepth",
            N(4),
            "ArchiveMaxDepth",
            I(4),
        ),
        (
            "defender_configuration_archivemaxsize",
            N(512_000),
            "ArchiveMaxSize",
            I(512_000),
        ),
        (
            "defender_configuration_behavioralnetworkblocks_remoteencryptionprotection_remoteencryptionprotectionconfiguredstate",
            N(2),
            "RemoteEncryptionProtectionConfiguredState",
            I(2),
        ),
    ]
}

/// The registry, a simulated Defender without tamper protection, and capabilities over both.
fn consumer_backends() -> (
    Arc<rampart_backends::registry::EmulatedRegistry>,
    Arc<SimulatedDefender>,
    rampart_runtime::Capabilities,
) {
    let registry = Arc::new(rampart_backends::registry::EmulatedRegistry::new());
    let defender = Arc::new(SimulatedDefender::new(registry.clone()).with_tamper_protection(false));
    let caps = rampart_runtime::Capabilities::none()
        .with_registry(registry.clone())
        .with_defender(defender.clone());
    (registry, defender, caps)
}

#[test]
fn defender_applies_what_each_setting_means() {
    let intents = intents();
    let settings: Vec<ResolvedSetting> = intents
        .iter()
        .map(|(suffix, value, ..)| setting(&format!("device_vendor_msft_{suffix}"), value.clone()))
        .collect();
    let plugin = windows_defender(&permissive_ceiling());
    let (_registry, defender, caps) = consumer_backends();
    // Before: every property is at a value other than the intent, or the test proves nothing.
    for (suffix, _, property, meant) in &intents {
        let before = defender.policy_in_force(property).unwrap();
        assert_ne!(
            before.as_ref(),
            Some(meant),
            "{suffix}: {property} is the intent by default"
        );
    }
    let out = plugin
        .run(&windows_server(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let mut wrong = Vec::new();
    for ((suffix, _, property, meant), outcome) in intents.iter().zip(&out.outcomes) {
        let in_force = defender.policy_in_force(property).unwrap();
        if in_force.as_ref() != Some(meant) {
            let (key, value, source) = SimulatedDefender::policy_location(property).unwrap();
            wrong.push(format!(
                "{suffix}: Defender applies {property} = {in_force:?}, the setting means {meant:?}; Defender reads {key}\\{value} ({source}); the plugin said {:?}: {:?}",
                outcome.status, outcome.message
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_update_channel_back_to_not_configured_removes_the_value() {
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, defender, caps) = consumer_backends();
    let channel = |value| {
        vec![setting(
            "device_vendor_msft_defender_configuration_platformupdateschannel",
            SettingValue::Integer(value),
        )]
    };
    let out = plugin
        .run(&windows_client(), &channel(2), &caps, &RunLimits::default())
        .unwrap();
    assert_eq!(out.outcomes[0].status, SettingStatus::Remediated, "{out:?}");
    assert_eq!(
        registry.get_value(&key(""), "PlatformRing").unwrap(),
        Some(RegValue::Dword(2))
    );
    let out = plugin
        .run(&windows_client(), &channel(0), &caps, &RunLimits::default())
        .unwrap();
    assert_eq!(out.outcomes[0].status, SettingStatus::Remediated, "{out:?}");
    assert_eq!(registry.get_value(&key(""), "PlatformRing").unwrap(), None);
    assert_eq!(
        defender.policy_in_force("PlatformUpdatesChannel").unwrap(),
        Some(PreferenceValue::Integer(0))
    );
    // Not configured and absent: nothing to do.
    let out = plugin
        .run(&windows_client(), &channel(0), &caps, &RunLimits::default())
        .unwrap();
    assert_eq!(out.outcomes[0].status, SettingStatus::Compliant, "{out:?}");
    assert!(out.changes.is_empty());
}
