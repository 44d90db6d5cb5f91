//! The Windows template settings enforced from their Group Policy definitions: the antivirus
//! template's archive limits and remote encryption protection (WindowsDefender.admx), and the
//! Windows Security experience template (the Policy CSP reference's "Group policy mapping" and
//! WindowsDefenderSecurityCenter.admx). Each lands at exactly its Group Policy location with
//! its type and value, a bad value is an `error` that writes nothing, and remote encryption
//! protection is confirmed through the simulated Defender.

use std::sync::Arc;

use rampart_backends::defender::{PreferenceValue, SimulatedDefender};
use rampart_backends::registry::{EmulatedRegistry, RegValue, RegistryPath, value_name_eq};
use rampart_policy::catalog::Catalog;
use rampart_policy::device::load_device_file;
use rampart_policy::graph::parse_policy;
use rampart_policy::resolve::resolve;
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::{Capabilities, Enforcer, Plugin, PluginSet, RunLimits, SettingOutcome};
use rampart_tests::{permissive_ceiling, setting, windows_client, windows_defender};
use serde_json::{Value, json};

const WD: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender";
const WSC: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender Security Center";
const DC: &str = "device_vendor_msft_defender_configuration_";
const SC: &str = "device_vendor_msft_policy_config_windowsdefendersecuritycenter_";
const REP_STATE: &str =
    "behavioralnetworkblocks_remoteencryptionprotection_remoteencryptionprotectionconfiguredstate";
/// ADMX `Remediation_BNB_REP_RemoteEncryptionProtection_ConfiguredState`: key and value name.
const REP_KEY: &str = r"Remediation\Behavioral Network Blocks\Remote Encryption Protection";
const REP_VALUE: &str = "RemoteEncryptionProtectionConfiguredState";

/// One setting and where its Group Policy definition stores it.
struct Landing {
    /// Setting id suffix after [`DC`] or [`SC`].
    id: String,
    value: SettingValue,
    /// Policy root, key under it (empty: the root), value name.
    root: &'static str,
    key: &'static str,
    name: &'static str,
    written: RegValue,
}

fn antivirus(suffix: &str, value: i64, key: &'static str, name: &'static str) -> Landing {
    Landing {
        id: format!("{DC}{suffix}"),
        value: SettingValue::Integer(value),
        root: WD,
        key,
        name,
        written: RegValue::Dword(u32::try_from(value).unwrap()),
    }
}

fn security_center(suffix: &str, key: &'static str, name: &'static str) -> Landing {
    Landing {
        id: format!("{SC}{suffix}"),
        value: SettingValue::Integer(1),
        root: WSC,
        key,
        name,
        written: RegValue::Dword(1),
    }
}

fn contact(suffix: &str, name: &'static str, text: &str) -> Landing {
    Landing {
        id: format!("{SC}{suffix}"),
        value: SettingValue::Text(text.to_owned()),
        root: WSC,
        key: "Enterprise Customization",
        name,
        written: RegValue::Sz(text.to_owned()),
    }
}

/// Every new setting with a value other than its default, and its location: WindowsDefender.admx
/// policies `Scan_ArchiveMaxDepth`, `Scan_ArchiveMaxSize` (decimal elements, 0–4294967295) and
/// `Remediation_BNB_REP_RemoteEncryptionProtection_ConfiguredState` (enum 0/1/2/4); the GP
/// policies of the Windows Security settings as the Policy CSP reference maps them, value names
/// as WindowsDefenderSecurityCenter.admx spells them (`enabledValue` decimal 1; the contact
/// details are text elements, REG_SZ).
fn landings() -> Vec<Landing> {
    vec![
        antivirus("archivemaxdepth", 6, "Scan", "ArchiveMaxDepth"),
        antivirus("archivemaxsize", 4_294_967_295, "Scan", "ArchiveMaxSize"),
        antivirus(REP_STATE, 2, REP_KEY, REP_VALUE),
        security_center(
            "disableaccountprotectionui",
            "Account protection",
            "UILockdown",
        ),
        security_center(
            "disableappbrowserui",
            "App and Browser protection",
            "UILockdown",
        ),
        security_center("disabledevicesecurityui", "Device security", "UILockdown"),
        security_center(
            "disablecleartpmbutton",
            "Device security",
            "DisableClearTpmButton",
        ),
        security_center(
            "disabletpmfirmwareupdatewarning",
            "Device security",
            "DisableTpmFirmwareUpdateWarning",
        ),
        security_center(
            "disablehealthui",
            "Device performance and health",
            "UILockdown",
        ),
        security_center(
            "disablenetworkui",
            "Firewall and network protection",
            "UILockdown",
        ),
        security_center(
            "disablevirusui",
            "Virus and threat protection",
            "UILockdown",
        ),
        security_center(
            "hideransomwaredatarecovery",
            "Virus and threat protection",
            "HideRansomwareRecovery",
        ),
        security_center(
            "enablecustomizedtoasts",
            "Enterprise Customization",
            "EnableForToasts",
        ),
        security_center(
            "enableinappcustomization",
            "Enterprise Customization",
            "EnableInApp",
        ),
        contact("companyname", "CompanyName", "Contoso IT Security"),
        contact("email", "Email", "security@contoso.example"),
        contact("phone", "Phone", "+1 555 0100"),
        contact("url", "Url", "https://help.contoso.example/security"),
    ]
}

fn path(root: &str, key: &str) -> RegistryPath {
    let full = if key.is_empty() {
        root.to_owned()
    } else {
        format!(r"{root}\{key}")
    };
    RegistryPath::parse(&full).unwrap()
}

/// The registry, a simulated Defender over it (tamper protection on, as on a Windows 11 client)
/// and capabilities over both.
fn backends() -> (Arc<EmulatedRegistry>, Arc<SimulatedDefender>, Capabilities) {
    let registry = Arc::new(EmulatedRegistry::new());
    let defender = Arc::new(SimulatedDefender::new(registry.clone()).with_tamper_protection(true));
    let caps = Capabilities::none()
        .with_registry(registry.clone())
        .with_defender(defender.clone());
    (registry, defender, caps)
}

/// Every value in the registry: (key, value name, value).
fn values(registry: &EmulatedRegistry) -> Vec<(RegistryPath, String, RegValue)> {
    registry
        .snapshot()
        .into_iter()
        .flat_map(|key| {
            let path = key.path;
            key.values
                .into_iter()
                .map(move |(name, value)| (path.clone(), name, value))
        })
        .collect()
}

/// The registry holds exactly `expected`, nothing else.
fn assert_holds_exactly(registry: &EmulatedRegistry, expected: &[(RegistryPath, &str, RegValue)]) {
    let written = values(registry);
    for (key, name, value) in expected {
        let found = written
            .iter()
            .find(|(k, n, _)| k == key && value_name_eq(n, name));
        assert_eq!(
            found.map(|(_, _, v)| v),
            Some(value),
            "{key}\\{name}: written {written:#?}"
        );
    }
    assert_eq!(written.len(), expected.len(), "extra values: {written:#?}");
}

fn run(plugin: &Plugin, caps: &Capabilities, settings: &[ResolvedSetting]) -> Vec<SettingOutcome> {
    plugin
        .run(&windows_client(), settings, caps, &RunLimits::default())
        .unwrap()
        .outcomes
}

#[test]
fn each_setting_lands_at_exactly_its_group_policy_location_with_its_type() {
    let landings = landings();
    let settings: Vec<ResolvedSetting> = landings
        .iter()
        .map(|l| setting(&l.id, l.value.clone()))
        .collect();
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, _, caps) = backends();
    let outcomes = run(&plugin, &caps, &settings);
    for (landing, outcome) in landings.iter().zip(&outcomes) {
        assert_eq!(outcome.id, landing.id);
        // Remote encryption is confirmed by Defender; every other row is in place where its
        // consumer reads it, unconfirmed, saying which consumer was not asked.
        if landing.id.ends_with("configuredstate") {
            assert_eq!(outcome.status, SettingStatus::Remediated, "{outcome:?}");
        } else {
            assert_eq!(outcome.status, SettingStatus::Unknown, "{outcome:?}");
            let why = if landing.id.contains("windowsdefendersecuritycenter") {
                "written; Windows Security not queried"
            } else {
                "written; Defender does not report this value"
            };
            assert_eq!(outcome.message.as_deref(), Some(why), "{outcome:?}");
        }
    }
    let expected: Vec<(RegistryPath, &str, RegValue)> = landings
        .iter()
        .map(|l| (path(l.root, l.key), l.name, l.written.clone()))
        .collect();
    assert_holds_exactly(&registry, &expected);

    // The same settings again write nothing.
    let before = registry.export_reg();
    let again = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert!(
        again
            .outcomes
            .iter()
            .all(|o| o.status != SettingStatus::Error),
        "{again:?}"
    );
    assert_eq!(registry.export_reg(), before);
}

#[test]
fn remote_encryption_protection_is_confirmed_by_defender() {
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, defender, caps) = backends();
    let id = format!("{DC}{REP_STATE}");
    assert_eq!(
        defender.policy_in_force(REP_VALUE).unwrap(),
        Some(PreferenceValue::Integer(0)),
        "not configured by default"
    );
    // Block, audit, off, and back to not configured: each written, then confirmed by what
    // Defender reports (the plugin reads `RemoteEncryptionProtectionConfiguredState` back).
    for state in [1, 2, 4, 0] {
        let outcomes = run(
            &plugin,
            &caps,
            &[setting(&id, SettingValue::Integer(state))],
        );
        assert_eq!(
            outcomes[0].status,
            SettingStatus::Remediated,
            "{outcomes:?}"
        );
        assert_eq!(
            defender.policy_in_force(REP_VALUE).unwrap(),
            Some(PreferenceValue::Integer(state))
        );
        assert_holds_exactly(
            &registry,
            &[(
                path(WD, REP_KEY),
                REP_VALUE,
                RegValue::Dword(u32::try_from(state).unwrap()),
            )],
        );
        // Once in place: compliant, confirmed again.
        let outcomes = run(
            &plugin,
            &caps,
            &[setting(&id, SettingValue::Integer(state))],
        );
        assert_eq!(outcomes[0].status, SettingStatus::Compliant, "{outcomes:?}");
    }
}

#[test]
fn a_bad_value_is_an_error_and_writes_nothing() {
    let bad = [
        (format!("{DC}archivemaxdepth"), SettingValue::Integer(-1)),
        (
            format!("{DC}archivemaxsize"),
            SettingValue::Integer(4_294_967_296),
        ),
        (
            format!("{DC}archivemaxdepth"),
            SettingValue::Text("6".into()),
        ),
        (format!("{DC}{REP_STATE}"), SettingValue::Integer(-2)),
        (
            format!("{DC}{REP_STATE}"),
            SettingValue::Text("block".into()),
        ),
        (
            format!("{SC}disablevirusui"),
            SettingValue::Text("1".into()),
        ),
        (
            format!("{SC}enableinappcustomization"),
            SettingValue::Boolean(true),
        ),
        (format!("{SC}companyname"), SettingValue::Integer(5)),
        (
            format!("{SC}url"),
            SettingValue::TextList(vec!["https://help.contoso.example".into()]),
        ),
    ];
    let settings: Vec<ResolvedSetting> = bad.iter().map(|(id, v)| setting(id, v.clone())).collect();
    let (registry, _, caps) = backends();
    let plugin = windows_defender(&permissive_ceiling());
    for outcome in run(&plugin, &caps, &settings) {
        assert_eq!(outcome.status, SettingStatus::Error, "{outcome:?}");
        assert!(outcome.message.is_some(), "{outcome:?}");
    }
    assert_holds_exactly(&registry, &[]);
}

#[test]
fn contact_text_with_a_control_character_or_over_long_is_an_error_and_writes_nothing() {
    // The contact details are ADMX text elements: one line of at most 1023 characters (the
    // ADMX default `maxLength`). A control character would end or break the REG_SZ.
    let settings = [
        setting(
            &format!("{SC}companyname"),
            SettingValue::Text("Contoso\nIT".into()),
        ),
        setting(
            &format!("{SC}email"),
            SettingValue::Text("security@contoso.example\u{7}".into()),
        ),
        setting(
            &format!("{SC}phone"),
            SettingValue::Text("+1 555\t0100".into()),
        ),
        setting(&format!("{SC}url"), SettingValue::Text("x".repeat(1024))),
    ];
    let (registry, _, caps) = backends();
    let plugin = windows_defender(&permissive_ceiling());
    for outcome in run(&plugin, &caps, &settings) {
        assert_eq!(outcome.status, SettingStatus::Error, "{outcome:?}");
    }
    assert_holds_exactly(&registry, &[]);
    // At the limit, and with characters outside ASCII, the text is written as given.
    let longest = "é".repeat(1023);
    let outcomes = run(
        &plugin,
        &caps,
        &[setting(
            &format!("{SC}companyname"),
            SettingValue::Text(longest.clone()),
        )],
    );
    assert_ne!(outcomes[0].status, SettingStatus::Error, "{outcomes:?}");
    assert_holds_exactly(
        &registry,
        &[(
            path(WSC, "Enterprise Customization"),
            "CompanyName",
            RegValue::Sz(longest),
        )],
    );
}

// ---------------------------------------------------------------------------------------------
// Through the whole pipeline: template-based Graph policies, the embedded catalog, the plugin's
// manifest claims and the plugin.

fn choice(id: &str, option: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.deviceManagementConfigurationSetting",
        "settingInstance": {
            "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
            "settingDefinitionId": id,
            "choiceSettingValue": {
                "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingValue",
                "value": format!("{id}_{option}"),
                "children": []
            }
        }
    })
}

fn simple(id: &str, value: Value) -> Value {
    let kind = if value.is_string() {
        "#microsoft.graph.deviceManagementConfigurationStringSettingValue"
    } else {
        "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue"
    };
    json!({
        "@odata.type": "#microsoft.graph.deviceManagementConfigurationSetting",
        "settingInstance": {
            "@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
            "settingDefinitionId": id,
            "simpleSettingValue": { "@odata.type": kind, "value": value }
        }
    })
}

/// A template-based endpoint-security policy as Graph returns it.
fn policy(id: &str, template: &str, family: &str, settings: Vec<Value>) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.deviceManagementConfigurationPolicy",
        "id": id,
        "name": format!("rampart test - {family}"),
        "platforms": "windows10",
        "technologies": "mdm,microsoftSense",
        "settingCount": settings.len(),
        "templateReference": {
            "templateId": template,
            "templateFamily": family,
        },
        "settings": settings,
        "assignments": []
    })
}

/// Every new setting as an administrator sets it in its template, resolved against the
/// embedded catalog and enforced on the example Windows 11 device.
fn enforce_through_pipeline(
    policies: &[Value],
) -> (
    Arc<EmulatedRegistry>,
    Vec<rampart_runtime::report::SettingReport>,
) {
    let device = load_device_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/devices/windows-11.toml"),
    )
    .unwrap();
    let docs: Vec<_> = policies
        .iter()
        .map(|p| parse_policy(p.to_string().as_bytes(), "test policy").unwrap())
        .collect();
    let resolved = resolve(&docs, &device, &Catalog::embedded());
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    let (registry, _, caps) = backends();
    let report = Enforcer::new(caps, RunLimits::default()).enforce(&plugins, &device, &resolved);
    let settings = report
        .policies
        .into_iter()
        .flat_map(|p| p.settings)
        .collect();
    (registry, settings)
}

#[test]
fn template_policies_reach_every_location_through_the_pipeline() {
    let antivirus = policy(
        "a1",
        "804339ad-1553-4478-a742-138fb5807418_1",
        "endpointSecurityAntivirus",
        vec![
            simple(&format!("{DC}archivemaxdepth"), json!(6)),
            simple(&format!("{DC}archivemaxsize"), json!(4_294_967_295_u32)),
            choice(&format!("{DC}{REP_STATE}"), "2"),
        ],
    );
    let landings = landings();
    let experience = policy(
        "e1",
        "d948ff9b-99cb-4ee0-8012-1fbc09685377_1",
        "endpointSecurityAntivirus",
        landings
            .iter()
            .filter(|l| l.id.starts_with(SC))
            .map(|l| match &l.value {
                SettingValue::Text(text) => simple(&l.id, json!(text)),
                _ => choice(&l.id, "1"),
            })
            .collect(),
    );
    let (registry, settings) = enforce_through_pipeline(&[antivirus, experience]);
    assert_eq!(settings.len(), landings.len(), "{settings:#?}");
    for s in &settings {
        assert_ne!(s.status, SettingStatus::Error, "{s:?}");
    }
    let expected: Vec<(RegistryPath, &str, RegValue)> = landings
        .iter()
        .map(|l| (path(l.root, l.key), l.name, l.written.clone()))
        .collect();
    assert_holds_exactly(&registry, &expected);
}

#[test]
fn the_catalog_refuses_an_unknown_state_and_an_over_long_company_name() {
    // Remote encryption protection has no state 3 (ADMX enum 0, 1, 2, 4), and the contact
    // details are at most 1023 characters: the host withholds both, and nothing is written.
    let antivirus = policy(
        "a2",
        "804339ad-1553-4478-a742-138fb5807418_1",
        "endpointSecurityAntivirus",
        vec![choice(&format!("{DC}{REP_STATE}"), "3")],
    );
    let experience = policy(
        "e2",
        "d948ff9b-99cb-4ee0-8012-1fbc09685377_1",
        "endpointSecurityAntivirus",
        vec![simple(&format!("{SC}companyname"), json!("x".repeat(1024)))],
    );
    let (registry, settings) = enforce_through_pipeline(&[antivirus, experience]);
    assert_eq!(settings.len(), 2, "{settings:#?}");
    for s in &settings {
        assert_eq!(s.status, SettingStatus::Error, "{s:?}");
    }
    assert_holds_exactly(&registry, &[]);
}
