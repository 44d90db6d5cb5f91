//! The embedding example end to end: its own backend and policy source, awaited from tokio.

use std::sync::atomic::Ordering;

use rampart_backends::registry::{RegValue, RegistryBackend as _, RegistryPath};
use rampart_example_embedding::{Agent, POLICY_KEY, ServicePolicies};
use rampart_policy::device::Device;
use rampart_policy::status::SettingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_passes_remediate_then_find_everything_compliant() {
    let agent = Agent::new().expect("agent starts");
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

    let second = agent.pass(&device, &mut source).await.unwrap();
    assert_eq!(second.count(SettingStatus::Remediated), 0, "{second:#?}");
    assert_eq!(second.count(SettingStatus::Error), 0, "{second:#?}");
    assert!(second.count(SettingStatus::Compliant) > 0);
}

#[test]
fn a_malformed_service_body_is_a_typed_error_and_nothing_is_enforced() {
    let agent = Agent::new().expect("agent starts");
    let mut source = ServicePolicies::new(vec![("service://bad".into(), b"{".to_vec())]);
    let err = agent
        .runtime
        .enforce_from(&Device::example_windows_client(), &mut source)
        .unwrap_err();
    assert!(err.to_string().starts_with("policy source: "), "{err}");
    let key = RegistryPath::parse(POLICY_KEY).unwrap();
    assert_eq!(agent.registry.list_values(&key).ok(), None);
}
