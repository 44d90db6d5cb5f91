//! The resolve stage on hand-built policies and the real exports: targeting, applicability,
//! merge (AV exclusions, ASR rules, Linux/macOS exclusion items, firewall rules, and the merge
//! rules a catalog declares for made-up settings) and conflict.

use std::collections::{BTreeMap, HashMap};

use rampart_policy::catalog::{Catalog, Definition, DefinitionKind, OptionValue};
use rampart_policy::device::{Device, Platform};
use rampart_policy::graph::{PolicyDocument, parse_policy};
use rampart_policy::resolve::{Disposition, Entry, ResolvedPolicy, resolve};
use rampart_policy::settings::{GroupPosition, ResolvedSetting, SettingValue};
use rampart_policy::status::{PolicyStatus, SettingStatus};
use serde_json::{Value, json};

use crate::support::{all_exports, example_device, example_devices, load_export};

const AV: &str = "804339ad-1553-4478-a742-138fb5807418_1";
const EXCLUSIONS: &str = "45fea5e9-280d-4da1-9792-fb5736da0ca9_1";
const ASR: &str = "e8c053d6-9f95-42b1-a7f1-ebfd71c67a4b_1";
const LINUX_AV: &str = "4cfd164c-5e8a-4ea9-b15d-9aa71e4ffff4_1";
const LINUX_GLOBAL_EXCLUSIONS: &str = "dfa57610-d11d-4bf8-89d6-1f5cb1679506_1";
const LINUX_AV_EXCLUSIONS: &str = "linux_mdatp_managed_antivirusengine_exclusions";
const LINUX_GLOBAL: &str = "linux_mdatp_managed_exclusionsettings_exclusions";
const DEFENDER: &str = "device_vendor_msft_policy_config_defender_";
const ASR_GROUP: &str = "device_vendor_msft_policy_config_defender_attacksurfacereductionrules";

const CHOICE: &str = "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance";
const SIMPLE: &str = "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance";
const COLLECTION: &str =
    "#microsoft.graph.deviceManagementConfigurationSimpleSettingCollectionInstance";
const GROUPS: &str = "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance";
const STRING: &str = "#microsoft.graph.deviceManagementConfigurationStringSettingValue";

fn choice(id: &str, option: &str) -> Value {
    json!({"@odata.type": CHOICE, "settingDefinitionId": id,
           "choiceSettingValue": {"value": format!("{id}_{option}"), "children": []}})
}

fn defender(suffix: &str, option: &str) -> Value {
    choice(&format!("{DEFENDER}{suffix}"), option)
}

fn text(id: &str, value: &str) -> Value {
    json!({"@odata.type": SIMPLE, "settingDefinitionId": id,
           "simpleSettingValue": {"@odata.type": STRING, "value": value}})
}

fn list(suffix: &str, values: &[&str]) -> Value {
    let values: Vec<Value> = values
        .iter()
        .map(|v| json!({"@odata.type": STRING, "value": v}))
        .collect();
    json!({"@odata.type": COLLECTION, "settingDefinitionId": format!("{DEFENDER}{suffix}"),
           "simpleSettingCollectionValue": values})
}

fn group(id: &str, items: Vec<Vec<Value>>) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .map(|children| json!({"children": children}))
        .collect();
    json!({"@odata.type": GROUPS, "settingDefinitionId": id, "groupSettingCollectionValue": items})
}

fn asr(rules: &[(&str, &str)]) -> Value {
    let children = rules
        .iter()
        .map(|(rule, action)| choice(&format!("{ASR_GROUP}_{rule}"), action))
        .collect();
    group(ASR_GROUP, vec![children])
}

fn doc(name: &str, platforms: &str, template: &str, settings: Vec<Value>) -> Value {
    let settings: Vec<Value> = settings
        .into_iter()
        .enumerate()
        .map(|(i, instance)| json!({"id": i.to_string(), "settingInstance": instance}))
        .collect();
    json!({"id": name, "name": name, "platforms": platforms, "technologies": "mdm,microsoftSense",
           "templateReference": {"templateId": template}, "settings": settings})
}

fn windows(name: &str, template: &str, settings: Vec<Value>) -> Value {
    doc(name, "windows10", template, settings)
}

fn parse(value: &Value) -> PolicyDocument {
    let name = value["name"].as_str().unwrap_or("policy");
    parse_policy(value.to_string().as_bytes(), name).unwrap_or_else(|error| panic!("{error}"))
}

fn resolve_all(policies: &[Value], device: &Device, catalog: &Catalog) -> Vec<ResolvedPolicy> {
    let docs: Vec<PolicyDocument> = policies.iter().map(parse).collect();
    let resolved = resolve(&docs, device, catalog);
    assert_one_setting_per_enforced_key(&resolved);
    resolved
}

fn client() -> Device {
    example_device("windows-11.toml")
}

/// The enforce stage runs each (id, group) once: every entry enforcing it must carry the same
/// setting. (An entry's own id may differ from its setting's only when two definitions name one
/// ASR rule, see `asr_rule_guids_are_compared_ignoring_case`.)
pub(crate) fn assert_one_setting_per_enforced_key(policies: &[ResolvedPolicy]) {
    let mut seen: HashMap<(String, Option<GroupPosition>), &ResolvedSetting> = HashMap::new();
    for policy in policies {
        for entry in &policy.entries {
            if let Disposition::Enforce(setting) = &entry.disposition {
                let key = (setting.id.clone(), setting.group.clone());
                if let Some(first) = seen.insert(key, setting) {
                    assert_eq!(
                        first, setting,
                        "two different settings for one enforced key"
                    );
                }
            }
        }
    }
}

fn entry<'p>(policy: &'p ResolvedPolicy, id: &str) -> &'p Entry {
    policy
        .entries
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("{id} missing from {}", policy.name))
}

fn enforced<'p>(policy: &'p ResolvedPolicy, id: &str) -> &'p ResolvedSetting {
    match &entry(policy, id).disposition {
        Disposition::Enforce(setting) => setting,
        other => panic!("{id} in {} is {other:?}", policy.name),
    }
}

fn withheld(policy: &ResolvedPolicy, id: &str) -> (SettingStatus, String) {
    match &entry(policy, id).disposition {
        Disposition::Withheld { status, message } => (*status, message.clone()),
        other => panic!("{id} in {} is {other:?}", policy.name),
    }
}

#[test]
fn av_exclusions_are_a_union_across_antivirus_and_exclusions_policies() {
    let av = windows(
        "AV",
        AV,
        vec![
            list("excludedpaths", &["C:\\Temp", "D:\\Data", "c:\\TEMP"]),
            list("excludedextensions", &[".log"]),
        ],
    );
    let exclusions = windows(
        "Exclusions",
        EXCLUSIONS,
        vec![
            list("excludedpaths", &["d:\\data", "E:\\Logs"]),
            list("excludedprocesses", &["sqlservr.exe"]),
        ],
    );
    let resolved = resolve_all(&[av, exclusions], &client(), &Catalog::embedded());
    let paths = format!("{DEFENDER}excludedpaths");
    let expected = SettingValue::TextList(vec![
        "C:\\Temp".into(),
        "D:\\Data".into(),
        "E:\\Logs".into(),
    ]);
    assert_eq!(enforced(&resolved[0], &paths).value, expected);
    assert_eq!(
        enforced(&resolved[0], &paths),
        enforced(&resolved[1], &paths),
        "both policies carry the identical merged setting"
    );
    assert_eq!(
        enforced(&resolved[0], &format!("{DEFENDER}excludedextensions")).value,
        SettingValue::TextList(vec![".log".into()])
    );
    assert_eq!(
        enforced(&resolved[1], &format!("{DEFENDER}excludedprocesses")).value,
        SettingValue::TextList(vec!["sqlservr.exe".into()])
    );
}

#[test]
fn different_values_conflict_in_both_policies_and_equal_values_merge() {
    let one = windows(
        "AV one",
        AV,
        vec![
            defender("cloudblocklevel", "2"),
            defender("allowrealtimemonitoring", "1"),
        ],
    );
    let two = windows(
        "AV two",
        AV,
        vec![
            defender("cloudblocklevel", "4"),
            defender("allowrealtimemonitoring", "1"),
        ],
    );
    let resolved = resolve_all(&[one, two], &client(), &Catalog::embedded());
    let level = format!("{DEFENDER}cloudblocklevel");
    assert_eq!(
        withheld(&resolved[0], &level),
        (
            SettingStatus::Conflict,
            "conflicts with policy 'AV two' (this policy sets 2, 'AV two' sets 4); not applied"
                .into()
        )
    );
    assert_eq!(
        withheld(&resolved[1], &level),
        (
            SettingStatus::Conflict,
            "conflicts with policy 'AV one' (this policy sets 4, 'AV one' sets 2); not applied"
                .into()
        )
    );
    let realtime = format!("{DEFENDER}allowrealtimemonitoring");
    assert_eq!(
        enforced(&resolved[0], &realtime).value,
        SettingValue::Integer(1)
    );
    assert_eq!(
        enforced(&resolved[0], &realtime),
        enforced(&resolved[1], &realtime)
    );
    assert_eq!(
        resolved[0].status([SettingStatus::Conflict, SettingStatus::Compliant]),
        PolicyStatus::Conflict
    );
}

#[test]
fn a_three_way_conflict_names_every_other_policy() {
    let policies: Vec<Value> = [("A", "2"), ("B", "2"), ("C", "4")]
        .iter()
        .map(|(name, level)| windows(name, AV, vec![defender("cloudblocklevel", level)]))
        .collect();
    let resolved = resolve_all(&policies, &client(), &Catalog::embedded());
    let level = format!("{DEFENDER}cloudblocklevel");
    let messages: Vec<String> = resolved.iter().map(|p| withheld(p, &level).1).collect();
    assert_eq!(
        messages,
        [
            "conflicts with policies 'B', 'C' (this policy sets 2, 'B' sets 2, 'C' sets 4); not applied",
            "conflicts with policies 'A', 'C' (this policy sets 2, 'A' sets 2, 'C' sets 4); not applied",
            "conflicts with policies 'A', 'B' (this policy sets 4, 'A' sets 2, 'B' sets 2); not applied",
        ]
    );
}

#[test]
fn asr_rules_merge_per_rule_and_only_different_actions_conflict() {
    let one = windows(
        "ASR one",
        ASR,
        vec![asr(&[
            ("blockexecutionofpotentiallyobfuscatedscripts", "audit"),
            ("blockadobereaderfromcreatingchildprocesses", "block"),
        ])],
    );
    let two = windows(
        "ASR two",
        ASR,
        vec![asr(&[
            ("blockadobereaderfromcreatingchildprocesses", "block"),
            ("blockexecutionofpotentiallyobfuscatedscripts", "block"),
            ("useadvancedprotectionagainstransomware", "warn"),
        ])],
    );
    let resolved = resolve_all(&[one, two], &client(), &Catalog::embedded());
    let obfuscated = format!("{ASR_GROUP}_blockexecutionofpotentiallyobfuscatedscripts");
    assert_eq!(
        withheld(&resolved[0], &obfuscated),
        (
            SettingStatus::Conflict,
            "conflicts with policy 'ASR two' (this policy sets audit, 'ASR two' sets block); not applied"
                .into()
        )
    );
    assert_eq!(
        withheld(&resolved[1], &obfuscated).1,
        "conflicts with policy 'ASR one' (this policy sets block, 'ASR one' sets audit); not applied"
    );
    let adobe = format!("{ASR_GROUP}_blockadobereaderfromcreatingchildprocesses");
    assert_eq!(
        enforced(&resolved[0], &adobe).value,
        SettingValue::Text("7674ba52-37eb-4a4f-a9a1-f0f9a1619a2c=1".into())
    );
    assert_eq!(
        enforced(&resolved[0], &adobe),
        enforced(&resolved[1], &adobe)
    );
    let ransomware = format!("{ASR_GROUP}_useadvancedprotectionagainstransomware");
    assert_eq!(
        enforced(&resolved[1], &ransomware).value,
        SettingValue::Text("c1db55ab-c21a-4637-bb3f-a12568109d35=6".into())
    );
}

#[test]
fn asr_rule_guids_are_compared_ignoring_case() {
    // A second definition for the obfuscated-scripts rule whose option values spell the GUID in
    // lower case (Microsoft's definitions are inconsistent about GUID case).
    let mut catalog = Catalog::embedded();
    let standard = format!("{ASR_GROUP}_blockexecutionofpotentiallyobfuscatedscripts");
    let variant = format!("{standard}_v2");
    let mut definition: Definition = catalog.get(&standard).expect("present").clone();
    definition.id = variant.clone();
    definition.options = [("block", "1"), ("audit", "2")]
        .into_iter()
        .map(|(name, code)| {
            (
                format!("{variant}_{name}"),
                OptionValue::Text(format!("5beb7efe-fd9a-4556-801d-275e5ffc04cc={code}")),
            )
        })
        .collect();
    catalog.insert(definition);

    let upper = windows(
        "upper",
        ASR,
        vec![asr(&[(
            "blockexecutionofpotentiallyobfuscatedscripts",
            "block",
        )])],
    );
    let lower_same = windows(
        "lower",
        ASR,
        vec![asr(&[(
            "blockexecutionofpotentiallyobfuscatedscripts_v2",
            "block",
        )])],
    );
    let resolved = resolve_all(&[upper.clone(), lower_same], &client(), &catalog);
    let merged = enforced(&resolved[0], &standard);
    assert_eq!(
        merged.value,
        SettingValue::Text("5BEB7EFE-FD9A-4556-801D-275E5FFC04CC=1".into())
    );
    assert_eq!(
        enforced(&resolved[1], &variant),
        merged,
        "one rule, one enforced setting, whatever the GUID case"
    );

    let lower_other = windows(
        "lower",
        ASR,
        vec![asr(&[(
            "blockexecutionofpotentiallyobfuscatedscripts_v2",
            "audit",
        )])],
    );
    let resolved = resolve_all(&[upper, lower_other], &client(), &catalog);
    assert_eq!(
        withheld(&resolved[1], &variant).1,
        "conflicts with policy 'upper' (this policy sets audit, 'upper' sets block); not applied"
    );
}

#[test]
fn unassigned_and_inapplicable_policies_neither_merge_nor_conflict() {
    let mut device = client();
    device.groups = vec!["11111111-1111-4111-8111-111111111111".into()];
    let assigned = windows(
        "assigned",
        AV,
        vec![
            defender("cloudblocklevel", "2"),
            list("excludedpaths", &["C:\\A"]),
        ],
    );
    let mut excluded = windows(
        "excluded",
        AV,
        vec![
            defender("cloudblocklevel", "4"),
            list("excludedpaths", &["C:\\B"]),
        ],
    );
    excluded["assignments"] = json!([
        {"target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}},
        {"target": {"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget",
                    "groupId": "11111111-1111-4111-8111-111111111111"}}
    ]);
    let mut mac = doc(
        "mac",
        "macOS",
        "2d345ec2-c817-49e5-9156-3ed416dc972a_1",
        vec![],
    );
    mac["settings"] = json!([{"id": "0", "settingInstance": defender("cloudblocklevel", "6")}]);
    let resolved = resolve_all(&[assigned, excluded, mac], &device, &Catalog::embedded());

    assert_eq!(
        enforced(&resolved[0], &format!("{DEFENDER}cloudblocklevel")).value,
        SettingValue::Integer(2)
    );
    assert_eq!(
        enforced(&resolved[0], &format!("{DEFENDER}excludedpaths")).value,
        SettingValue::TextList(vec!["C:\\A".into()])
    );

    let reason =
        "not assigned: the device is in excluded group '11111111-1111-4111-8111-111111111111'";
    assert_eq!(resolved[1].not_assigned.as_deref(), Some(reason));
    assert_eq!(resolved[1].not_applicable, None);
    assert_eq!(resolved[1].reason(), Some(reason));
    assert_eq!(resolved[1].entries.len(), 2);
    for entry in &resolved[1].entries {
        assert_eq!(
            entry.disposition,
            Disposition::Withheld {
                status: SettingStatus::NotAssigned,
                message: reason.into()
            }
        );
    }
    assert_eq!(resolved[1].status([]), PolicyStatus::NotAssigned);
    assert_eq!(
        resolved[1].status([SettingStatus::NotAssigned; 2]),
        PolicyStatus::NotAssigned
    );

    assert_eq!(
        resolved[2].not_applicable.as_deref(),
        Some(
            "policy platform 'macOS' does not match the device platform 'windows10' (windows-client)"
        )
    );
    assert_eq!(
        withheld(&resolved[2], &format!("{DEFENDER}cloudblocklevel")).0,
        SettingStatus::NotApplicable
    );
    assert_eq!(resolved[2].status([]), PolicyStatus::NotApplicable);
}

#[test]
fn a_group_assignment_reaches_members_only() {
    let mut policy = windows("grouped", AV, vec![defender("cloudblocklevel", "2")]);
    policy["assignments"] = json!([{"target": {
        "@odata.type": "#microsoft.graph.groupAssignmentTarget",
        "groupId": "B1C7E0F2-5A3D-4E8B-9F60-1D2C3B4A5E6F",
        "deviceAndAppManagementAssignmentFilterId": "00000000-0000-0000-0000-00000000f117",
        "deviceAndAppManagementAssignmentFilterType": "exclude"
    }}]);
    // windows-11.toml is in that group (in lower case); the filter is ignored.
    let member = resolve_all(
        std::slice::from_ref(&policy),
        &client(),
        &Catalog::embedded(),
    );
    assert_eq!(member[0].not_assigned, None);
    let server = example_device("windows-server-2022.toml");
    let other = resolve_all(&[policy], &server, &Catalog::embedded());
    assert_eq!(
        other[0].not_assigned.as_deref(),
        Some(
            "not assigned: the policy targets group 'B1C7E0F2-5A3D-4E8B-9F60-1D2C3B4A5E6F' and the device is in none of them"
        )
    );
    assert_eq!(
        withheld(&other[0], &format!("{DEFENDER}cloudblocklevel")).0,
        SettingStatus::NotAssigned
    );
}

#[test]
fn unsupported_settings_are_not_applicable_while_the_rest_applies() {
    let policy = windows(
        "AV",
        AV,
        vec![
            defender("allowintrusionpreventionsystem", "1"),
            defender("allowrealtimemonitoring", "1"),
        ],
    );
    let resolved = resolve_all(&[policy], &client(), &Catalog::embedded());
    assert_eq!(resolved[0].not_applicable, None);
    assert_eq!(
        withheld(
            &resolved[0],
            &format!("{DEFENDER}allowintrusionpreventionsystem")
        ),
        (
            SettingStatus::NotApplicable,
            "AllowIntrusionPreventionSystem is not supported by security settings management"
                .into()
        )
    );
    enforced(&resolved[0], &format!("{DEFENDER}allowrealtimemonitoring"));
    assert_eq!(
        resolved[0].status([SettingStatus::NotApplicable, SettingStatus::Remediated]),
        PolicyStatus::Succeeded
    );
}

#[test]
fn the_edr_export_withholds_only_telemetry_frequency() {
    let doc = load_export("win-es-edr-configuration.cipp-template.json");
    let resolved = resolve(&[doc], &client(), &Catalog::embedded());
    let policy = &resolved[0];
    assert_eq!(policy.reason(), None);
    assert_eq!(
        withheld(policy, "device_vendor_msft_windowsadvancedthreatprotection_configuration_telemetryreportingfrequency"),
        (
            SettingStatus::NotApplicable,
            "expedite telemetry reporting frequency is not supported by security settings management".into()
        )
    );
    let onboarding = enforced(
        policy,
        "device_vendor_msft_windowsadvancedthreatprotection_onboarding_fromconnector",
    );
    assert!(matches!(onboarding.value, SettingValue::Secret(_)));
    assert!(!format!("{resolved:?}").contains(match &onboarding.value {
        SettingValue::Secret(secret) => secret.expose(),
        _ => unreachable!("checked above"),
    }));
    enforced(
        policy,
        "device_vendor_msft_windowsadvancedthreatprotection_configuration_samplesharing",
    );
}

#[test]
fn the_firewall_export_skips_domain_controllers_and_withholds_local_policy_merge() {
    let doc = load_export("win-es-firewall-configuration.oib-v3.1.json");
    let dc = resolve(
        std::slice::from_ref(&doc),
        &example_device("domain-controller.toml"),
        &Catalog::embedded(),
    );
    assert_eq!(
        dc[0].not_applicable.as_deref(),
        Some("the 'Windows Firewall' profile does not apply to domain controllers")
    );
    assert!(dc[0].entries.iter().all(|e| matches!(
        e.disposition,
        Disposition::Withheld {
            status: SettingStatus::NotApplicable,
            ..
        }
    )));

    let server = resolve(
        &[doc],
        &example_device("windows-server-2022.toml"),
        &Catalog::embedded(),
    );
    assert_eq!(server[0].reason(), None);
    assert_eq!(
        withheld(
            &server[0],
            "vendor_msft_firewall_mdmstore_publicprofile_allowlocalpolicymerge"
        ),
        (
            SettingStatus::NotApplicable,
            "AllowLocalPolicyMerge is not supported by security settings management".into()
        )
    );
    assert_eq!(
        enforced(
            &server[0],
            "vendor_msft_firewall_mdmstore_domainprofile_enablefirewall"
        )
        .value,
        SettingValue::Text("true".into())
    );
}

#[test]
fn the_asr_export_withholds_the_office_macro_rule_on_servers_only() {
    let doc = load_export("win-es-asr-rules-l2.oib-v3.7.json");
    let win32 = format!("{ASR_GROUP}_blockwin32apicallsfromofficemacros");
    let client_result = resolve(std::slice::from_ref(&doc), &client(), &Catalog::embedded());
    assert_eq!(
        enforced(&client_result[0], &win32).value,
        SettingValue::Text("92E97FA1-2EDF-4476-BDD6-9DD0B4DDDC7B=1".into())
    );
    let server = resolve(
        &[doc],
        &example_device("windows-server-2022.toml"),
        &Catalog::embedded(),
    );
    assert_eq!(
        withheld(&server[0], &win32),
        (
            SettingStatus::NotApplicable,
            "ASR rule 92e97fa1-2edf-4476-bdd6-9dd0b4dddc7b (Block Win32 API calls from Office macros) is not supported on Windows Server".into()
        )
    );
}

/// A small Linux catalog for the antivirus and global exclusions groups (the embedded Linux
/// catalog is filled separately; these tests must not depend on its contents).
fn linux_catalog() -> Catalog {
    let definition = |id: String, kind, options: BTreeMap<String, OptionValue>| Definition {
        id,
        kind,
        csp_uri: None,
        technologies: vec!["microsoftSense".into()],
        options,
        range: None,
        max_length: None,
        secret: false,
    };
    let mut catalog = Catalog::new();
    let groups = [
        (
            LINUX_AV_EXCLUSIONS,
            [("0", "excludedPath"), ("1", "excludedFileExtension")],
            ["path", "extension"],
        ),
        (
            LINUX_GLOBAL,
            [("0", "excludedPath"), ("1", "excludedFileName")],
            ["path", "name"],
        ),
    ];
    for (prefix, types, fields) in groups {
        catalog.insert(definition(
            prefix.into(),
            DefinitionKind::GroupCollection,
            BTreeMap::new(),
        ));
        let types = types
            .into_iter()
            .map(|(suffix, value)| {
                (
                    format!("{prefix}_item_$type_{suffix}"),
                    OptionValue::Text(value.into()),
                )
            })
            .collect();
        catalog.insert(definition(
            format!("{prefix}_item_$type"),
            DefinitionKind::Choice,
            types,
        ));
        for field in fields {
            catalog.insert(definition(
                format!("{prefix}_item_{field}"),
                DefinitionKind::Simple,
                BTreeMap::new(),
            ));
        }
    }
    catalog
}

/// One item of the Linux exclusions group `prefix`: its `$type` option and the one field it
/// carries.
fn linux_item(prefix: &str, kind: &str, field: &str, value: &str) -> Vec<Value> {
    let mut kind_choice = choice(&format!("{prefix}_item_$type"), kind);
    kind_choice["choiceSettingValue"]["children"] =
        json!([text(&format!("{prefix}_item_{field}"), value)]);
    vec![kind_choice]
}

/// The merged item index and the value of `field` in item `item` of `group` in policy `p`'s
/// document.
fn placed(
    resolved: &[ResolvedPolicy],
    group: &str,
    field: &str,
    p: usize,
    item: u32,
) -> (Option<u32>, SettingValue) {
    let id = format!("{group}_item_{field}");
    let entry = resolved[p]
        .entries
        .iter()
        .find(|e| {
            e.id == id
                && e.group
                    .as_ref()
                    .is_some_and(|g| g.definition_id == group && g.index == item)
        })
        .unwrap_or_else(|| panic!("policy {p} item {item} has no {field}"));
    match &entry.disposition {
        Disposition::Enforce(setting) => (
            setting.group.as_ref().map(|g| g.index),
            setting.value.clone(),
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn linux_exclusion_items_are_a_union_across_policies() {
    let group_id = LINUX_AV_EXCLUSIONS;
    let one = doc(
        "linux one",
        "linux",
        LINUX_AV,
        vec![group(
            group_id,
            vec![
                linux_item(group_id, "0", "path", "/opt/app"),
                linux_item(group_id, "1", "extension", ".log"),
            ],
        )],
    );
    let two = doc(
        "linux two",
        "linux",
        LINUX_AV,
        vec![group(
            group_id,
            vec![
                linux_item(group_id, "0", "path", "/opt/app"),
                linux_item(group_id, "0", "path", "/opt/App"),
            ],
        )],
    );
    let mut device = example_device("ubuntu.toml");
    assert_eq!(device.platform, Platform::Linux);
    device.groups.clear();
    let resolved = resolve_all(&[one, two], &device, &linux_catalog());

    // (policy, document item) → (merged item, value)
    let placed = |p: usize, item: u32| placed(&resolved, group_id, "path", p, item);
    let value = |text: &str| SettingValue::Text(text.into());
    assert_eq!(placed(0, 0), (Some(0), value("/opt/app")));
    assert_eq!(
        placed(1, 0),
        (Some(0), value("/opt/app")),
        "the same item merges"
    );
    // Linux paths are case-sensitive: /opt/App is another exclusion, after the .log item.
    assert_eq!(placed(1, 1), (Some(2), value("/opt/App")));
    let extension = resolved[0]
        .entries
        .iter()
        .find(|e| e.id.ends_with("_item_extension"))
        .expect("extension entry");
    match &extension.disposition {
        Disposition::Enforce(setting) => {
            assert_eq!(setting.group.as_ref().map(|g| g.index), Some(1));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        resolved
            .iter()
            .flat_map(|p| &p.entries)
            .all(|e| matches!(e.disposition, Disposition::Enforce(_))),
        "no exclusion conflicts"
    );
}

/// Global exclusions (the Linux "Global Exclusions (AV+EDR)" profile) merge as the antivirus
/// exclusions do, within their own group: an antivirus exclusion of the same path is another
/// item of another group.
#[test]
fn linux_global_exclusion_items_are_a_union_across_policies() {
    let one = doc(
        "global one",
        "linux",
        LINUX_GLOBAL_EXCLUSIONS,
        vec![group(
            LINUX_GLOBAL,
            vec![
                linux_item(LINUX_GLOBAL, "0", "path", "/opt/app"),
                linux_item(LINUX_GLOBAL, "1", "name", "/usr/bin/agent"),
            ],
        )],
    );
    let two = doc(
        "global two",
        "linux",
        LINUX_GLOBAL_EXCLUSIONS,
        vec![group(
            LINUX_GLOBAL,
            vec![
                linux_item(LINUX_GLOBAL, "0", "path", "/opt/app"),
                linux_item(LINUX_GLOBAL, "0", "path", "/opt/App"),
            ],
        )],
    );
    let antivirus = doc(
        "antivirus",
        "linux",
        LINUX_AV,
        vec![group(
            LINUX_AV_EXCLUSIONS,
            vec![linux_item(LINUX_AV_EXCLUSIONS, "0", "path", "/opt/app")],
        )],
    );
    let mut device = example_device("ubuntu.toml");
    assert_eq!(device.platform, Platform::Linux);
    device.groups.clear();
    let resolved = resolve_all(&[one, two, antivirus], &device, &linux_catalog());
    for policy in &resolved {
        assert_eq!(policy.not_applicable, None, "{}", policy.name);
    }

    let value = |text: &str| SettingValue::Text(text.into());
    let global = |p: usize, field: &str, item: u32| placed(&resolved, LINUX_GLOBAL, field, p, item);
    assert_eq!(global(0, "path", 0), (Some(0), value("/opt/app")));
    assert_eq!(global(0, "name", 1), (Some(1), value("/usr/bin/agent")));
    assert_eq!(
        global(1, "path", 0),
        (Some(0), value("/opt/app")),
        "the same item merges"
    );
    // Linux paths are case-sensitive: /opt/App is another exclusion, after the process.
    assert_eq!(global(1, "path", 1), (Some(2), value("/opt/App")));
    // The antivirus exclusion of the same path is the first item of its own group.
    assert_eq!(
        placed(&resolved, LINUX_AV_EXCLUSIONS, "path", 2, 0),
        (Some(0), value("/opt/app"))
    );
    assert!(
        resolved
            .iter()
            .flat_map(|p| &p.entries)
            .all(|e| matches!(e.disposition, Disposition::Enforce(_))),
        "no exclusion conflicts"
    );
}

#[test]
fn all_exports_together_keep_one_setting_per_enforced_key_on_every_example_device() {
    let docs: Vec<PolicyDocument> = all_exports()
        .iter()
        .map(|path| {
            rampart_policy::graph::load_policy_file(path).unwrap_or_else(|error| panic!("{error}"))
        })
        .collect();
    // Twice: every setting then meets an equal copy of itself, which must merge, not conflict.
    let twice: Vec<PolicyDocument> = docs.iter().chain(&docs).cloned().collect();
    for (name, device) in example_devices() {
        let resolved = resolve(&twice, &device, &Catalog::embedded());
        assert_eq!(resolved.len(), twice.len());
        assert_one_setting_per_enforced_key(&resolved);
        let alone = resolve(&docs, &device, &Catalog::embedded());
        for (pair, single) in resolved.iter().zip(alone.iter().chain(&alone)) {
            assert_eq!(pair.entries, single.entries, "{name}: {}", pair.name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Windows Firewall rules: additive by rule name.

const FIREWALL_RULES: &str = "19c8aa67-f286-4861-9aa0-f23541d31680_1";
const RULES: &str = "vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}";
const INTEGER: &str = "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue";
const CHOICES: &str =
    "#microsoft.graph.deviceManagementConfigurationChoiceSettingCollectionInstance";

fn rule_field(field: &str) -> String {
    format!("{RULES}_{field}")
}

/// One firewall rule item: name, direction option, TCP, the local ports, all profiles.
fn rule(name: &str, direction: &str, ports: &[&str]) -> Vec<Value> {
    let ports: Vec<Value> = ports
        .iter()
        .map(|p| json!({"@odata.type": STRING, "value": p}))
        .collect();
    vec![
        text(&rule_field("name"), name),
        choice(&rule_field("direction"), direction),
        choice(&rule_field("action_type"), "1"),
        choice(&rule_field("enabled"), "1"),
        json!({"@odata.type": SIMPLE, "settingDefinitionId": rule_field("protocol"),
               "simpleSettingValue": {"@odata.type": INTEGER, "value": 6}}),
        json!({"@odata.type": COLLECTION, "settingDefinitionId": rule_field("localportranges"),
               "simpleSettingCollectionValue": ports}),
        json!({"@odata.type": CHOICES, "settingDefinitionId": rule_field("profiles"),
               "choiceSettingCollectionValue": [
                   {"value": rule_field("profiles_2147483647"), "children": []}]}),
    ]
}

fn rules_policy(name: &str, rules: Vec<Vec<Value>>) -> Value {
    windows(name, FIREWALL_RULES, vec![group(RULES, rules)])
}

/// The entries of one rule item of a policy (by its position in the document).
fn rule_entries(policy: &ResolvedPolicy, index: u32) -> Vec<&Entry> {
    let entries: Vec<&Entry> = policy
        .entries
        .iter()
        .filter(|e| e.group.as_ref().is_some_and(|g| g.index == index))
        .collect();
    assert!(
        !entries.is_empty(),
        "{} has no rule item {index}",
        policy.name
    );
    entries
}

/// The merged rule position every setting of a rule item is enforced at.
fn enforced_rule(policy: &ResolvedPolicy, index: u32) -> u32 {
    let positions: Vec<u32> = rule_entries(policy, index)
        .iter()
        .map(|e| match &e.disposition {
            Disposition::Enforce(setting) => {
                let group = setting.group.as_ref().expect("a rule setting has a group");
                assert_eq!(group.definition_id, RULES);
                group.index
            }
            other => panic!("{} in {} is {other:?}", e.id, policy.name),
        })
        .collect();
    assert!(
        positions.iter().all(|p| *p == positions[0]),
        "{positions:?}"
    );
    positions[0]
}

/// The one (status, message) every setting of a rule item is withheld with.
fn withheld_rule(policy: &ResolvedPolicy, index: u32) -> (SettingStatus, String) {
    let all: Vec<(SettingStatus, String)> = rule_entries(policy, index)
        .iter()
        .map(|e| match &e.disposition {
            Disposition::Withheld { status, message } => (*status, message.clone()),
            other => panic!("{} in {} is {other:?}", e.id, policy.name),
        })
        .collect();
    assert!(all.iter().all(|w| *w == all[0]), "{all:?}");
    all[0].clone()
}

#[test]
fn firewall_rules_of_two_policies_add_up() {
    let one = rules_policy("Rules one", vec![rule("Web in", "in", &["443"])]);
    let two = rules_policy(
        "Rules two",
        vec![
            rule("Admin in", "in", &["22"]),
            rule("Mail out", "out", &["25"]),
        ],
    );
    let resolved = resolve_all(&[one, two], &client(), &Catalog::embedded());
    // Three rules, each at its own position of the merged list, every setting enforced.
    assert_eq!(enforced_rule(&resolved[0], 0), 0);
    assert_eq!(enforced_rule(&resolved[1], 0), 1);
    assert_eq!(enforced_rule(&resolved[1], 1), 2);
    assert_eq!(
        enforced(&resolved[1], &rule_field("direction")).value,
        SettingValue::Text("IN".into())
    );
    assert_eq!(
        enforced(&resolved[0], &rule_field("profiles")).value,
        SettingValue::IntegerList(vec![2_147_483_647])
    );
    // Each entry still reports its place in its own document.
    let last = rule_entries(&resolved[1], 1);
    assert!(last.iter().all(|e| e.group.as_ref().unwrap().index == 1));
}

#[test]
fn the_same_firewall_rule_in_two_policies_is_enforced_once() {
    let one = rules_policy(
        "Rules one",
        vec![
            rule("Admin in", "in", &["22"]),
            rule("Web in", "in", &["443"]),
        ],
    );
    let two = rules_policy("Rules two", vec![rule("Web in", "in", &["443"])]);
    let resolved = resolve_all(&[one, two], &client(), &Catalog::embedded());
    assert_eq!(enforced_rule(&resolved[0], 0), 0);
    assert_eq!(enforced_rule(&resolved[0], 1), 1);
    assert_eq!(enforced_rule(&resolved[1], 0), 1);
    let name = rule_field("name");
    let webs: Vec<&ResolvedSetting> = [&resolved[0], &resolved[1]]
        .iter()
        .flat_map(|p| &p.entries)
        .filter_map(|e| match &e.disposition {
            Disposition::Enforce(s)
                if s.id == name && s.value == SettingValue::Text("Web in".into()) =>
            {
                Some(s)
            }
            _ => None,
        })
        .collect();
    assert_eq!(webs.len(), 2);
    assert_eq!(webs[0], webs[1]);
}

#[test]
fn a_firewall_rule_name_with_different_settings_conflicts_in_both_policies_alone() {
    let one = rules_policy(
        "Rules one",
        vec![
            rule("Web in", "in", &["443"]),
            rule("Admin in", "in", &["22"]),
        ],
    );
    // The same name in another letter case is the same registry value: the same rule.
    let two = rules_policy("Rules two", vec![rule("WEB IN", "in", &["8443"])]);
    let resolved = resolve_all(&[one, two], &client(), &Catalog::embedded());
    assert_eq!(
        withheld_rule(&resolved[0], 0),
        (
            SettingStatus::Conflict,
            "firewall rule 'Web in' conflicts with policy 'Rules two': same rule name, different settings (localportranges, name); not applied"
                .into()
        )
    );
    assert_eq!(
        withheld_rule(&resolved[1], 0).1,
        "firewall rule 'WEB IN' conflicts with policy 'Rules one': same rule name, different settings (localportranges, name); not applied"
    );
    // The other rule still applies, at the first position of the merged list.
    assert_eq!(enforced_rule(&resolved[0], 1), 0);
    assert_eq!(
        resolved[0].status([SettingStatus::Conflict, SettingStatus::Remediated]),
        PolicyStatus::Conflict
    );
}

#[test]
fn a_firewall_rule_twice_in_one_policy_with_different_settings_conflicts() {
    let one = rules_policy(
        "Rules one",
        vec![
            rule("Web in", "in", &["443"]),
            rule("Web in", "out", &["443"]),
        ],
    );
    let resolved = resolve_all(&[one], &client(), &Catalog::embedded());
    for index in [0, 1] {
        assert_eq!(
            withheld_rule(&resolved[0], index),
            (
                SettingStatus::Conflict,
                "firewall rule 'Web in' is defined more than once in this policy, with different settings (direction); not applied"
                    .into()
            )
        );
    }
}

#[test]
fn a_firewall_rule_with_a_withheld_setting_is_withheld_whole() {
    let mut broken = rule("Web in", "sideways", &["443"]);
    broken.push(text(&rule_field("description"), "HTTPS"));
    let one = rules_policy("Rules one", vec![broken, rule("Admin in", "in", &["22"])]);
    let resolved = resolve_all(&[one], &client(), &Catalog::embedded());
    let entries = rule_entries(&resolved[0], 0);
    for e in &entries {
        let Disposition::Withheld { status, message } = &e.disposition else {
            panic!("{e:?}");
        };
        assert_eq!(*status, SettingStatus::Error, "{e:?}");
        if e.id == rule_field("direction") {
            assert!(message.contains("is not an option"), "{message}");
        } else {
            assert!(
                message.starts_with(
                    "not applied: this firewall rule's setting 'direction' was withheld ("
                ),
                "{message}"
            );
        }
    }
    // The other rule is whole and applies.
    assert_eq!(enforced_rule(&resolved[0], 1), 0);
}

/// A made-up agent's settings, declared with merge rules in the catalog alone: nothing in the
/// resolve stage knows these ids.
const CONTOSO_CATALOG: &str = r#"
    [[block]]
    id-prefix = "contoso_agent_"
    technologies = "mdm,microsoftSense"
    settings = [
      { id = "allowedhosts", kind = "text-list", merge = "union" },
      { id = "blockedhosts", kind = "text-list" },
      { id = "shares", kind = "group-collection", merge = "items-ignore-case" },
      { id = "shares_item_path", kind = "text" },
      { id = "routes", kind = "group-collection", merge = "keyed-ignore-case", merge-key = "host", merge-label = "proxy route" },
      { id = "routes_host", kind = "text" },
      { id = "routes_port", kind = "integer", range = [1, 65535] },
    ]
"#;

fn contoso_catalog() -> Catalog {
    Catalog::from_compact_toml(CONTOSO_CATALOG, "contoso.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn contoso_list(field: &str, values: &[&str]) -> Value {
    let values: Vec<Value> = values
        .iter()
        .map(|v| json!({"@odata.type": STRING, "value": v}))
        .collect();
    json!({"@odata.type": COLLECTION, "settingDefinitionId": format!("contoso_agent_{field}"),
           "simpleSettingCollectionValue": values})
}

fn contoso_route(host: &str, port: i64) -> Vec<Value> {
    vec![
        text("contoso_agent_routes_host", host),
        json!({"@odata.type": SIMPLE, "settingDefinitionId": "contoso_agent_routes_port",
               "simpleSettingValue": {
                   "@odata.type": "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue",
                   "value": port}}),
    ]
}

/// The enforced merged group position of the first entry `id` in group item `item` of a policy.
fn merged_index(policy: &ResolvedPolicy, id: &str, item: u32) -> Option<u32> {
    let entry = policy
        .entries
        .iter()
        .find(|e| e.id == id && e.group.as_ref().map(|g| g.index) == Some(item))
        .unwrap_or_else(|| panic!("no {id} in item {item}"));
    match &entry.disposition {
        Disposition::Enforce(setting) => setting.group.as_ref().map(|g| g.index),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_merge_rule_declared_in_the_catalog_merges_a_new_setting() {
    let shares = "contoso_agent_shares";
    let path = "contoso_agent_shares_item_path";
    let one = windows(
        "one",
        AV,
        vec![
            contoso_list("allowedhosts", &["a.contoso.com", "B.contoso.com"]),
            contoso_list("blockedhosts", &["x.example"]),
            group(
                shares,
                vec![vec![text(path, "/srv/a")], vec![text(path, "/srv/b")]],
            ),
        ],
    );
    let two = windows(
        "two",
        AV,
        vec![
            contoso_list(
                "allowedhosts",
                &["b.contoso.com", "a.contoso.com", "c.contoso.com"],
            ),
            contoso_list("blockedhosts", &["y.example"]),
            group(
                shares,
                vec![vec![text(path, "/SRV/B")], vec![text(path, "/srv/c")]],
            ),
        ],
    );
    let resolved = resolve_all(&[one, two], &client(), &contoso_catalog());

    // `union`: every entry once, compared exactly, in first-seen order.
    let hosts = SettingValue::TextList(
        [
            "a.contoso.com",
            "B.contoso.com",
            "b.contoso.com",
            "c.contoso.com",
        ]
        .map(String::from)
        .to_vec(),
    );
    for policy in &resolved {
        assert_eq!(enforced(policy, "contoso_agent_allowedhosts").value, hosts);
    }
    // No merge rule: different values conflict.
    assert_eq!(
        withheld(&resolved[0], "contoso_agent_blockedhosts"),
        (
            SettingStatus::Conflict,
            r#"conflicts with policy 'two' (this policy sets ["x.example"], 'two' sets ["y.example"]); not applied"#.into()
        )
    );
    // `items-ignore-case`: /SRV/B is /srv/b, so three items in all.
    assert_eq!(merged_index(&resolved[0], path, 0), Some(0));
    assert_eq!(merged_index(&resolved[0], path, 1), Some(1));
    assert_eq!(merged_index(&resolved[1], path, 0), Some(1));
    assert_eq!(merged_index(&resolved[1], path, 1), Some(2));
}

#[test]
fn a_keyed_merge_declared_in_the_catalog_names_its_items_in_messages() {
    let routes = "contoso_agent_routes";
    let one = windows(
        "one",
        AV,
        vec![group(
            routes,
            vec![
                contoso_route("proxy.contoso.com", 8080),
                contoso_route("other.contoso.com", 1),
                contoso_route("bad.contoso.com", 70_000),
            ],
        )],
    );
    let two = windows(
        "two",
        AV,
        vec![group(
            routes,
            vec![
                contoso_route("other.contoso.com", 1),
                contoso_route("proxy.contoso.com", 3128),
            ],
        )],
    );
    let resolved = resolve_all(&[one, two], &client(), &contoso_catalog());
    let host = "contoso_agent_routes_host";

    // The same route in both policies is one item; the proxy route conflicts, alone.
    assert_eq!(merged_index(&resolved[0], host, 1), Some(0));
    assert_eq!(merged_index(&resolved[1], host, 0), Some(0));
    let message = |policy: &ResolvedPolicy, item: u32| {
        let entries: Vec<&Entry> = policy
            .entries
            .iter()
            .filter(|e| e.group.as_ref().map(|g| g.index) == Some(item))
            .collect();
        assert_eq!(entries.len(), 2);
        match &entries[0].disposition {
            Disposition::Withheld { status, message } => (*status, message.clone()),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        message(&resolved[0], 0),
        (
            SettingStatus::Conflict,
            "proxy route 'proxy.contoso.com' conflicts with policy 'two': same route host, different settings (port); not applied".into()
        )
    );
    assert_eq!(
        message(&resolved[1], 1).1,
        "proxy route 'proxy.contoso.com' conflicts with policy 'one': same route host, different settings (port); not applied"
    );
    // A route with a withheld setting is withheld whole.
    let (status, text) = message(&resolved[0], 2);
    assert_eq!(status, SettingStatus::Error);
    assert!(
        text.starts_with("not applied: this proxy route's setting 'port' was withheld (")
            && text.ends_with("), and a route is applied whole or not at all"),
        "{text}"
    );
}
