//! Real Intune exports (`../shared/data/intune-exports`) through parse → resolve → enforce.

use rampart_policy::catalog::Catalog;
use rampart_policy::graph::load_policy_file;
use rampart_policy::resolve::resolve;
use rampart_policy::status::{PolicyStatus, SettingStatus};
use rampart_runtime::{Enforcer, PluginSet, RunLimits};
use rampart_tests::{backends, permissive_ceiling, shared_data, windows_client, windows_defender};

#[test]
fn the_real_av_and_asr_exports_enforce_and_a_foreign_platform_policy_does_not_apply() {
    let dir = shared_data().join("intune-exports");
    let docs = vec![
        load_policy_file(&dir.join("win-es-antivirus-av-configuration.oib-v3.3.json")).unwrap(),
        load_policy_file(&dir.join("win-es-asr-rules-l2.oib-v3.7.json")).unwrap(),
        load_policy_file(&dir.join("macos-sc-defender-antivirus-configuration.oib-v1.0.json"))
            .unwrap(),
    ];
    let device = windows_client();
    let resolved = resolve(&docs, &device, &Catalog::embedded());
    let mut plugins = PluginSet::new();
    plugins.insert(std::sync::Arc::new(windows_defender(&permissive_ceiling())));
    let (_, caps) = backends(true);
    let report = Enforcer::new(caps, RunLimits::default()).enforce(&plugins, &device, &resolved);

    let av = &report.policies[0];
    let by_id = |id: &str| {
        av.settings
            .iter()
            .find(|s| s.id == format!("device_vendor_msft_policy_config_defender_{id}"))
            .unwrap_or_else(|| panic!("{id} missing from the report"))
    };
    // Settings the plugin enforces come back enforced ...
    for id in [
        "allowrealtimemonitoring",
        "allowbehaviormonitoring",
        "cloudblocklevel",
        "puaprotection",
    ] {
        assert_eq!(
            by_id(id).status,
            SettingStatus::Remediated,
            "{id}: {:?}",
            by_id(id)
        );
        assert_eq!(by_id(id).plugin.as_deref(), Some("windows-defender"));
    }
    // Every setting of the AV export is claimed and lands: confirmed by Defender, or (local
    // admin merge, on-access protection: values Defender does not report) in place, unknown.
    assert!(
        av.settings
            .iter()
            .all(|s| s.status == SettingStatus::Remediated
                || (s.status == SettingStatus::Unknown
                    && s.message.as_deref()
                        == Some("written; Defender does not report this value"))),
        "{av:#?}"
    );
    assert_eq!(
        av.settings
            .iter()
            .filter(|s| s.status == SettingStatus::Unknown)
            .count(),
        2
    );
    assert_eq!(av.status, PolicyStatus::Pending);
    // The report's summary counts every setting once, the unconfirmed apart.
    let total: usize = report.policies.iter().map(|p| p.settings.len()).sum();
    assert_eq!(report.summary.total() as usize, total);
    for status in [
        SettingStatus::Unknown,
        SettingStatus::Remediated,
        SettingStatus::NotApplicable,
    ] {
        assert_eq!(report.summary.count(status) as usize, report.count(status));
    }
    assert_eq!(report.summary.unknown, 2);

    // The ASR export's 18 rules and controlled folder access all land.
    let asr = &report.policies[1];
    let rules: Vec<_> = asr
        .settings
        .iter()
        .filter(|s| !s.id.ends_with("_perruleexclusions"))
        .collect();
    assert!(rules.len() >= 18, "{}", rules.len());
    let remediated = rules
        .iter()
        .filter(|s| s.status == SettingStatus::Remediated)
        .count();
    assert_eq!(remediated, 19, "{rules:#?}");

    // The macOS (MDM-channel) policy does not apply to a Windows device.
    let mac = &report.policies[2];
    assert_eq!(mac.status, PolicyStatus::NotApplicable);
    assert!(mac.message.is_some());
    assert!(
        mac.settings
            .iter()
            .all(|s| s.status == SettingStatus::NotApplicable)
    );
}
