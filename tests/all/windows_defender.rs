//! The first-party Windows Defender plugin, run in the sandbox against the emulated registry and
//! the simulated Defender.

use rampart_backends::registry::{RegValue, RegistryBackend, RegistryPath};
use rampart_policy::settings::{GroupPosition, ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::{GrantPolicy, Grants, RunLimits};
use rampart_tests::{
    backends, permissive_ceiling, setting, windows_client, windows_defender, windows_server,
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
