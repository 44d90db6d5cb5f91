//! The vendor's agent end to end: its own backends and async policy source, a state
//! directory, passes awaited from tokio, plugin versions published from bytes.

use std::sync::atomic::Ordering;

use rampart_backends::registry::{RegValue, RegistryBackend as _, RegistryPath};
use rampart_example_embedding::{
    BUILT_IN, POLICY_KEY, ServicePolicies, VendorAgent, VendorError, signed_release,
    windows_defender_plugin,
};
use rampart_policy::device::Device;
use rampart_policy::status::SettingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_passes_remediate_then_find_everything_compliant() {
    let state = tempfile::tempdir().unwrap();
    let agent = VendorAgent::start(state.path()).expect("agent starts");
    let device = Device::example_windows_client();
    let mut source = ServicePolicies::example();

    let first = agent.pass(&device, &mut source).await.unwrap();
    assert!(first.count(SettingStatus::Remediated) > 0, "{first:#?}");
    assert_eq!(first.count(SettingStatus::Error), 0, "{first:#?}");
    let rtm = RegistryPath::parse(&format!(r"{POLICY_KEY}\Real-Time Protection")).unwrap();
    assert_eq!(
        agent
            .registry
            .get_value(&rtm, "DisableRealtimeMonitoring")
            .unwrap(),
        Some(RegValue::Dword(0))
    );
    assert!(
        agent.defender.reads.load(Ordering::Relaxed) > 0,
        "the plugin verified through this agent's own Defender backend"
    );
    assert!(agent.registry.writes.load(Ordering::Relaxed) > 0);
    assert!(
        agent.registry.flushes.load(Ordering::Relaxed) > 0,
        "the wrapper forwards flush, so the runtime makes the written-behind changes durable"
    );

    let second = agent.pass(&device, &mut source).await.unwrap();
    assert_eq!(second.count(SettingStatus::Remediated), 0, "{second:#?}");
    assert_eq!(second.count(SettingStatus::Error), 0, "{second:#?}");
    assert!(second.count(SettingStatus::Compliant) > 0);

    // The state directory holds what the runtime wired: journal, audit trail, ledger, lock.
    for entry in ["journal", "audit", "owned.json", "lock"] {
        assert!(state.path().join(entry).exists(), "{entry}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_swaps_in_from_bytes_and_a_torn_one_is_rejected() {
    let state = tempfile::tempdir().unwrap();
    let agent = VendorAgent::start(state.path()).expect("agent starts");
    let device = Device::example_windows_client();
    let mut source = ServicePolicies::example();
    let bytes = windows_defender_plugin().unwrap();
    let before = agent.plugins.live().status().active[0].digest.clone();

    let swapped = agent.publish(BUILT_IN, &signed_release(bytes).unwrap());
    assert_eq!(swapped.loaded, ["windows-defender@0.4.0"], "{swapped:?}");
    let after = agent.plugins.live().status().active[0].digest.clone();
    assert_ne!(before, after, "the new download serves");

    let torn = agent.publish(BUILT_IN, &bytes[..bytes.len() / 2]);
    assert_eq!(torn.rejected, [BUILT_IN]);
    let status = agent.plugins.live().status();
    assert_eq!(
        status.active[0].digest, after,
        "the last good version keeps serving"
    );
    assert_eq!(
        status.rejected[0].kept.as_deref(),
        Some("windows-defender@0.4.0")
    );

    let report = agent.pass(&device, &mut source).await.unwrap();
    assert_eq!(report.count(SettingStatus::Error), 0, "{report:#?}");
    assert_eq!(report.plugins[0].digest, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_service_body_is_named_and_the_rest_is_enforced() {
    let state = tempfile::tempdir().unwrap();
    let agent = VendorAgent::start(state.path()).expect("agent starts");
    let mut source = ServicePolicies::new(vec![("service://bad".into(), b"{".to_vec())]);
    let report = agent
        .pass(&Device::example_windows_client(), &mut source)
        .await
        .unwrap();
    assert_eq!(report.input_errors.len(), 1, "{:?}", report.input_errors);
    assert!(report.input_errors[0].contains("service://bad"));
    let key = RegistryPath::parse(POLICY_KEY).unwrap();
    assert_eq!(agent.registry.list_values(&key).ok(), None);
}

#[test]
fn a_second_agent_on_the_same_state_directory_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let _first = VendorAgent::start(state.path()).expect("agent starts");
    let err = VendorAgent::start(state.path()).unwrap_err();
    assert!(
        matches!(err, VendorError::Runtime(rampart_runtime::Error::Agent(_))),
        "{err}"
    );
    assert!(err.to_string().contains("vendor agent"), "{err}");
}
