//! The Windows plugin's logic, run natively against the runtime's emulated registry and
//! simulated Defender (which reads policy from that registry), with the runtime's grant checks.

// The native host exists only off wasm; `cargo clippy --target wasm32-wasip2 --all-targets`
// still compiles this file.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use rampart_plugin_windows_defender::WindowsDefender;
use rampart_sdk::native::backends::defender::SimulatedDefender;
use rampart_sdk::native::backends::registry::RegistryBackend as _;
use rampart_sdk::native::backends::registry::{EmulatedRegistry, RegValue, RegistryPath};
use rampart_sdk::native::{NativeHost, setting, test_device};
use rampart_sdk::{Platform, SettingStatus, SettingValue};

const ALLOW_RTM: &str = "device_vendor_msft_policy_config_defender_allowrealtimemonitoring";
const RTP_KEY: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection";

fn host(registry: &Arc<EmulatedRegistry>) -> NativeHost {
    let defender = Arc::new(SimulatedDefender::new(registry.clone()));
    NativeHost::for_plugin::<WindowsDefender>()
        .expect("the embedded manifest is valid")
        .with_registry(registry.clone())
        .with_defender(defender)
}

fn disable_rtm(registry: &EmulatedRegistry) -> Option<RegValue> {
    registry
        .get_value(
            &RegistryPath::parse(RTP_KEY).unwrap(),
            "DisableRealtimeMonitoring",
        )
        .unwrap()
}

#[test]
fn allowing_real_time_monitoring_writes_the_policy_value_once() {
    let registry = Arc::new(EmulatedRegistry::new());
    let host = host(&registry);
    let device = test_device(Platform::WindowsClient);
    let settings = [setting(ALLOW_RTM, SettingValue::Integer(1))];

    let first = host.run::<WindowsDefender>(&device, &settings);
    assert_eq!(first.protocol_errors, Vec::<String>::new());
    assert!(first.unclaimed.is_empty());
    assert_eq!(first.status(ALLOW_RTM), Some(SettingStatus::Remediated));
    // The CSP's Allow (1) is the Group Policy value Disable... = 0.
    assert_eq!(disable_rtm(&registry), Some(RegValue::Dword(0)));

    let second = host.apply::<WindowsDefender>(&device, &settings);
    assert_eq!(second[0].status, SettingStatus::Compliant, "{second:?}");
}

#[test]
fn a_contrary_policy_value_is_remediated() {
    let registry = Arc::new(EmulatedRegistry::new());
    registry
        .set_value(
            &RegistryPath::parse(RTP_KEY).unwrap(),
            "DisableRealtimeMonitoring",
            RegValue::Dword(1),
        )
        .unwrap();
    let results = host(&registry).apply::<WindowsDefender>(
        &test_device(Platform::WindowsClient),
        &[setting(ALLOW_RTM, SettingValue::Integer(1))],
    );
    assert_eq!(results[0].status, SettingStatus::Remediated, "{results:?}");
    assert_eq!(disable_rtm(&registry), Some(RegValue::Dword(0)));
}

#[test]
fn a_value_of_the_wrong_kind_is_an_error_and_changes_nothing() {
    let registry = Arc::new(EmulatedRegistry::new());
    let results = host(&registry).apply::<WindowsDefender>(
        &test_device(Platform::WindowsClient),
        &[setting(ALLOW_RTM, SettingValue::Text("yes".into()))],
    );
    assert_eq!(results[0].status, SettingStatus::Error, "{results:?}");
    assert_eq!(disable_rtm(&registry), None);
}
