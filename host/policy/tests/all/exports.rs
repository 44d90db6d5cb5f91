//! The real Intune exports: every one parses, and the Windows ones flatten to the values the
//! policies hold.

use std::collections::{BTreeMap, BTreeSet};

use rampart_policy::catalog::{Catalog, OptionValue};
use rampart_policy::graph::{SettingInstance, SimpleValue, load_policy_file};
use rampart_policy::settings::{ProblemKind, ResolvedSetting, SettingValue, flatten};

use crate::support::{all_exports, export_path, load_export, read_csv, shared_data};

const AV: &str = "win-es-antivirus-av-configuration.oib-v3.3.json";
const ASR: &str = "win-es-asr-rules-l2.oib-v3.7.json";
const EDR: &str = "win-es-edr-configuration.cipp-template.json";
const MACOS: &str = "macos-sc-defender-antivirus-configuration.oib-v1.0.json";
const ASR_GROUP: &str = "device_vendor_msft_policy_config_defender_attacksurfacereductionrules";

#[test]
fn every_export_parses() {
    let files = all_exports();
    assert!(
        files.len() >= 6,
        "expected at least 6 exports, found {files:?}"
    );
    for path in files {
        let doc = load_policy_file(&path).unwrap_or_else(|error| panic!("{error}"));
        assert!(
            !doc.settings.is_empty(),
            "{} has no settings",
            path.display()
        );
        assert!(!doc.name.is_empty(), "{} has no name", path.display());
        assert_eq!(doc.origin, path.display().to_string());
    }
}

#[test]
fn the_macos_export_with_a_byte_order_mark_parses() {
    let bytes = std::fs::read(export_path(MACOS)).expect("readable");
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "the fixture should start with a BOM"
    );
    let doc = load_export(MACOS);
    assert_eq!(doc.platforms, "macOS");
    assert_eq!(doc.technologies, ["mdm", "appleRemoteManagement"]);
}

#[test]
fn the_cipp_edr_export_is_unwrapped() {
    let doc = load_export(EDR);
    // CIPP drops the policy id; the wrapper's GUID stands in.
    assert_eq!(doc.id, "1d39b8a8-1ecf-4dc0-8efc-1a13ae964889");
    assert_eq!(doc.name, "[Baseline] EDR Configuration");
    assert_eq!(doc.platforms, "windows10");
    let template = doc.template.as_ref().expect("template reference");
    assert_eq!(
        template.template_id,
        "0385b795-0f2f-44ac-8602-9f65bf6adede_1"
    );
    assert_eq!(
        template.template_family.as_deref(),
        Some("endpointSecurityEndpointDetectionAndResponse")
    );
}

#[test]
fn the_edr_onboarding_secret_never_appears_in_debug_output() {
    let doc = load_export(EDR);
    let secret = doc
        .settings
        .iter()
        .flat_map(|instance| match instance {
            SettingInstance::Choice { children, .. } => children.iter().collect(),
            other => vec![other],
        })
        .find_map(|instance| match instance {
            SettingInstance::Simple {
                value: SimpleValue::Secret(secret),
                ..
            } => Some(secret.expose().to_owned()),
            _ => None,
        })
        .expect("the EDR export holds a secret onboarding value");
    assert!(!secret.is_empty());

    let debug = format!("{doc:?}");
    assert!(
        !debug.contains(&secret),
        "the secret leaked into Debug of the document"
    );
    assert!(debug.contains("<redacted>"));

    let flattened = flatten(&doc, &Catalog::embedded());
    let onboarding = flattened
        .iter()
        .flatten()
        .find(|setting| {
            setting.id
                == "device_vendor_msft_windowsadvancedthreatprotection_onboarding_fromconnector"
        })
        .expect("the onboarding setting resolves");
    match &onboarding.value {
        SettingValue::Secret(value) => assert_eq!(value.expose(), secret),
        other => panic!("onboarding resolved to a non-secret value {other:?}"),
    }
    assert!(
        !format!("{flattened:?}").contains(&secret),
        "the secret leaked after flattening"
    );
}

/// Flattens an export with the embedded catalog; every setting must resolve.
fn resolved(name: &str) -> Vec<ResolvedSetting> {
    let doc = load_export(name);
    flatten(&doc, &Catalog::embedded())
        .into_iter()
        .map(|result| result.unwrap_or_else(|problem| panic!("{name}: {problem}")))
        .collect()
}

#[test]
fn the_windows_av_export_flattens_to_its_known_values() {
    let settings = resolved(AV);
    // 27 top-level settings; the ThreatSeverityDefaultAction group yields its 4 children instead
    // of a setting of its own.
    assert_eq!(settings.len(), 30);
    let by_id: BTreeMap<&str, &SettingValue> = settings
        .iter()
        .filter(|setting| setting.group.is_none())
        .map(|setting| (setting.id.as_str(), &setting.value))
        .collect();
    let defender = |suffix: &str| format!("device_vendor_msft_policy_config_defender_{suffix}");
    let expected = [
        (
            defender("allowrealtimemonitoring"),
            SettingValue::Integer(1),
        ),
        (
            defender("allowbehaviormonitoring"),
            SettingValue::Integer(1),
        ),
        (defender("allowioavprotection"), SettingValue::Integer(1)),
        (defender("allowscriptscanning"), SettingValue::Integer(1)),
        (defender("allowcloudprotection"), SettingValue::Integer(1)),
        (defender("submitsamplesconsent"), SettingValue::Integer(1)),
        (defender("cloudblocklevel"), SettingValue::Integer(2)),
        (defender("cloudextendedtimeout"), SettingValue::Integer(50)),
        (defender("puaprotection"), SettingValue::Integer(1)),
        (
            defender("enablenetworkprotection"),
            SettingValue::Integer(1),
        ),
        (defender("realtimescandirection"), SettingValue::Integer(0)),
        (defender("disablecatchupfullscan"), SettingValue::Integer(0)),
        (defender("avgcpuloadfactor"), SettingValue::Integer(50)),
        (
            defender("schedulequickscantime"),
            SettingValue::Integer(660),
        ),
        (
            defender("signatureupdateinterval"),
            SettingValue::Integer(1),
        ),
        (
            "device_vendor_msft_defender_configuration_disablelocaladminmerge".to_owned(),
            SettingValue::Integer(1),
        ),
    ];
    for (id, value) in &expected {
        assert_eq!(by_id.get(id.as_str()), Some(&value), "{id}");
    }
    let realtime = settings
        .iter()
        .find(|setting| setting.id == defender("allowrealtimemonitoring"))
        .expect("present");
    assert_eq!(
        realtime.csp_uri.as_deref(),
        Some("./Device/Vendor/MSFT/Policy/Config/Defender/AllowRealtimeMonitoring")
    );

    // The threat-severity actions are "<level>=<action>" strings in group item 0.
    let severity: BTreeMap<&str, (&SettingValue, u32)> = settings
        .iter()
        .filter_map(|setting| {
            let group = setting.group.as_ref()?;
            assert_eq!(group.definition_id, defender("threatseveritydefaultaction"));
            let level = setting.id.rsplit('_').next()?;
            Some((level, (&setting.value, group.index)))
        })
        .collect();
    let text = |s: &str| SettingValue::Text(s.to_owned());
    assert_eq!(
        severity.get("lowseveritythreats"),
        Some(&(&text("1=10"), 0))
    );
    assert_eq!(
        severity.get("moderateseveritythreats"),
        Some(&(&text("2=3"), 0))
    );
    assert_eq!(
        severity.get("highseveritythreats"),
        Some(&(&text("4=3"), 0))
    );
    assert_eq!(severity.get("severethreats"), Some(&(&text("5=3"), 0)));
}

#[test]
fn the_asr_export_flattens_to_its_rules_with_guid_action_values() {
    let doc = load_export(ASR);
    let results = flatten(&doc, &Catalog::embedded());
    let rules: Vec<&ResolvedSetting> = results
        .iter()
        .flatten()
        .filter(|setting| {
            setting
                .group
                .as_ref()
                .is_some_and(|g| g.definition_id == ASR_GROUP)
        })
        .collect();
    // The catalog defines 19 rules; this L2 baseline configures 18 of them: it leaves out
    // "Block Webshell creation for Servers", a server-only rule.
    assert_eq!(rules.len(), 18);
    assert!(
        !rules
            .iter()
            .any(|rule| rule.id.ends_with("_blockwebshellcreationforservers"))
    );

    // Each value must be the CSP string the shared ASR table gives for the chosen action.
    let table = read_csv(&shared_data().join("asr-rules.csv"));
    let chosen: BTreeMap<String, String> = doc
        .settings
        .iter()
        .flat_map(|instance| match instance {
            SettingInstance::GroupCollection { items, .. } => items.iter().flatten().collect(),
            _ => Vec::new(),
        })
        .filter_map(|instance| match instance {
            SettingInstance::Choice {
                definition_id,
                value,
                ..
            } => Some((definition_id.clone(), value.clone())),
            _ => None,
        })
        .collect();
    for rule in &rules {
        let SettingValue::Text(value) = &rule.value else {
            panic!("{} resolved to {:?}, not text", rule.id, rule.value);
        };
        let (guid, action) = value.split_once('=').expect("GUID=action");
        assert_eq!(guid.len(), 36, "{value}");
        assert!(["0", "1", "2", "6"].contains(&action), "{value}");
        assert_eq!(rule.group.as_ref().map(|g| g.index), Some(0));

        let row = table
            .iter()
            .find(|row| row["settings_catalog_id"] == rule.id)
            .unwrap_or_else(|| panic!("{} is not in asr-rules.csv", rule.id));
        assert!(row["guid"].eq_ignore_ascii_case(guid), "{}", rule.id);
        let item = &chosen[&rule.id];
        let action_name = ["off", "block", "audit", "warn"]
            .into_iter()
            .find(|name| row[&format!("sc_option_{name}")] == *item)
            .unwrap_or_else(|| panic!("{item} is not an option in asr-rules.csv"));
        assert_eq!(
            value,
            &row[&format!("csp_value_{action_name}")],
            "{}",
            rule.id
        );
    }

    let obfuscated = rules
        .iter()
        .find(|rule| {
            rule.id
                .ends_with("_blockexecutionofpotentiallyobfuscatedscripts")
        })
        .expect("present");
    assert_eq!(
        obfuscated.value,
        SettingValue::Text("5BEB7EFE-FD9A-4556-801D-275E5FFC04CC=6".into())
    );
}

/// Definition ids used by the Windows exports that neither the shared seed catalog nor the
/// embedded catalog defines (the embedded catalog adds the others the exports use, from
/// Microsoft's documentation and exported policies): the two audit-policy settings of the
/// firewall profile, which no registry plugin writes, and the EDR setting security settings
/// management does not support.
const UNKNOWN_TO_THE_SEED: [&str; 3] = [
    "device_vendor_msft_policy_config_audit_objectaccess_auditfilteringplatformconnection",
    "device_vendor_msft_policy_config_audit_objectaccess_auditfilteringplatformpacketdrop",
    "device_vendor_msft_windowsadvancedthreatprotection_configuration_telemetryreportingfrequency",
];

#[test]
fn windows_exports_resolve_except_definitions_the_seed_lacks() {
    let seed = Catalog::load_graph_definitions_file(
        &shared_data().join("settings-catalog-definitions-windows-defender.json"),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let catalog = Catalog::embedded();
    let mut unknown = BTreeSet::new();
    let windows_exports = all_exports().into_iter().filter(|path| {
        path.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("win-es-"))
    });
    for path in windows_exports {
        let doc = load_policy_file(&path).unwrap_or_else(|error| panic!("{error}"));
        for result in flatten(&doc, &catalog) {
            let Err(problem) = result else { continue };
            assert_eq!(
                problem.kind,
                ProblemKind::UnknownDefinition,
                "{}: {problem}",
                path.display()
            );
            assert!(
                seed.get(&problem.id).is_none(),
                "{}: '{}' is in the shared seed but not in the embedded catalog",
                path.display(),
                problem.id
            );
            unknown.insert(problem.id);
        }
    }
    assert_eq!(unknown, UNKNOWN_TO_THE_SEED.map(str::to_owned).into());
}

#[test]
fn firewall_booleans_resolve_to_the_strings_the_csp_takes() {
    let settings = resolved_known("win-es-firewall-configuration.oib-v3.1.json");
    let enable = settings
        .iter()
        .find(|s| s.id == "vendor_msft_firewall_mdmstore_domainprofile_enablefirewall")
        .expect("present");
    assert_eq!(enable.value, SettingValue::Text("true".into()));
    let inbound = settings
        .iter()
        .find(|s| s.id == "vendor_msft_firewall_mdmstore_domainprofile_defaultinboundaction")
        .expect("present");
    assert_eq!(inbound.value, SettingValue::Integer(1));
    // Sanity: the catalog's value for that option really is the integer, not a parsed suffix.
    let definition = Catalog::embedded();
    let definition = definition
        .get("vendor_msft_firewall_mdmstore_domainprofile_defaultinboundaction")
        .expect("present");
    assert_eq!(
        definition
            .options
            .get("vendor_msft_firewall_mdmstore_domainprofile_defaultinboundaction_1"),
        Some(&OptionValue::Integer(1))
    );
}

/// Flattens an export and keeps the settings that resolved.
fn resolved_known(name: &str) -> Vec<ResolvedSetting> {
    flatten(&load_export(name), &Catalog::embedded())
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn a_policy_with_every_asr_rule_flattens_to_19_guid_action_values() {
    // Built from the shared ASR table: one group item holding all 19 rules, each in audit mode.
    let table = read_csv(&shared_data().join("asr-rules.csv"));
    assert_eq!(table.len(), 19);
    let children: Vec<serde_json::Value> = table
        .iter()
        .map(|row| {
            serde_json::json!({
                "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
                "settingDefinitionId": row["settings_catalog_id"],
                "choiceSettingValue": { "value": row["sc_option_audit"], "children": [] }
            })
        })
        .collect();
    let policy = serde_json::json!({
        "name": "all ASR rules", "platforms": "windows10", "technologies": "mdm,microsoftSense",
        "settings": [{ "id": "0", "settingInstance": {
            "@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
            "settingDefinitionId": ASR_GROUP,
            "groupSettingCollectionValue": [{ "children": children }]
        }}]
    });
    let doc = rampart_policy::graph::parse_policy(policy.to_string().as_bytes(), "all-asr.json")
        .unwrap_or_else(|error| panic!("{error}"));
    let values: Vec<String> = flatten(&doc, &Catalog::embedded())
        .into_iter()
        .map(|result| match result {
            Ok(ResolvedSetting {
                value: SettingValue::Text(text),
                ..
            }) => text,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: Vec<String> = table
        .iter()
        .map(|row| row["csp_value_audit"].clone())
        .collect();
    assert_eq!(values, expected);
}
