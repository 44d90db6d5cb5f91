//! The Linux plugin's logic, run natively against the runtime's file roots (a temporary
//! directory standing in for `/etc/opt/microsoft/mdatp/managed`) and grant checks.

// The native host exists only off wasm; `cargo clippy --target wasm32-wasip2 --all-targets`
// still compiles this file.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rampart_plugin_linux_defender::LinuxDefender;
use rampart_plugin_linux_defender::mapping::{MANAGED_FILE, ROOT};
use rampart_sdk::native::backends::defender::{
    AsrAction, ComputerStatus, DefenderBackend, DefenderError, ExclusionKind, PreferenceValue,
};
use rampart_sdk::native::{Grants, NativeHost, file_roots, setting, test_device};
use rampart_sdk::{Platform, Setting, SettingStatus, SettingValue};

const RTP: &str = "linux_mdatp_managed_antivirusengine_enablerealtimeprotection";
const ARCHIVES: &str = "linux_mdatp_managed_antivirusengine_scanarchives";

fn text(v: &str) -> SettingValue {
    SettingValue::Text(v.into())
}

fn settings() -> Vec<Setting> {
    vec![setting(RTP, text("true")), setting(ARCHIVES, text("false"))]
}

/// What `mdatp health` would report, as a Defender backend the test controls.
#[derive(Debug, Default)]
struct FakeMdatp {
    preferences: Mutex<HashMap<String, PreferenceValue>>,
}

impl FakeMdatp {
    fn reporting(name: &str, value: PreferenceValue) -> Arc<FakeMdatp> {
        let fake = FakeMdatp::default();
        fake.preferences
            .lock()
            .unwrap()
            .insert(name.to_ascii_lowercase(), value);
        Arc::new(fake)
    }
}

impl DefenderBackend for FakeMdatp {
    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, DefenderError> {
        Ok(self
            .preferences
            .lock()
            .unwrap()
            .get(&name.to_ascii_lowercase())
            .cloned())
    }
    fn set_preference(&self, _: &str, _: PreferenceValue) -> Result<(), DefenderError> {
        Err(DefenderError::Unavailable("read-only".into()))
    }
    fn list_exclusions(&self, _: ExclusionKind) -> Result<Vec<String>, DefenderError> {
        Ok(Vec::new())
    }
    fn add_exclusion(&self, _: ExclusionKind, _: &str) -> Result<(), DefenderError> {
        Err(DefenderError::Unavailable("read-only".into()))
    }
    fn remove_exclusion(&self, _: ExclusionKind, _: &str) -> Result<bool, DefenderError> {
        Err(DefenderError::Unavailable("read-only".into()))
    }
    fn get_asr_rule(&self, _: &str) -> Result<Option<AsrAction>, DefenderError> {
        Ok(None)
    }
    fn set_asr_rule(&self, _: &str, _: AsrAction) -> Result<(), DefenderError> {
        Err(DefenderError::Unavailable("read-only".into()))
    }
    fn computer_status(&self) -> Result<ComputerStatus, DefenderError> {
        Ok(ComputerStatus {
            tamper_protected: false,
            real_time_protection_enabled: true,
            running_mode: "Normal".into(),
            product_version: "101.24082.0004".into(),
        })
    }
}

fn host(dir: &tempfile::TempDir) -> NativeHost {
    NativeHost::for_plugin::<LinuxDefender>()
        .expect("the embedded manifest is valid")
        .with_files(file_roots([(ROOT, dir.path())]).unwrap())
}

fn managed_json(dir: &tempfile::TempDir) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.path().join(MANAGED_FILE)).unwrap()).unwrap()
}

#[test]
fn first_run_writes_the_file_and_the_second_is_compliant() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let device = test_device(Platform::Linux);

    let first = host.run::<LinuxDefender>(&device, &settings());
    assert_eq!(first.protocol_errors, Vec::<String>::new());
    assert!(first.unclaimed.is_empty());
    assert_eq!(first.status(RTP), Some(SettingStatus::Remediated));
    assert_eq!(first.status(ARCHIVES), Some(SettingStatus::Remediated));
    // No Defender backend: the read-back stands and the result says Defender was not asked.
    let message = first.results[0].message.as_deref().unwrap_or_default();
    assert!(message.contains("could not ask Defender"), "{message}");

    let json = managed_json(&dir);
    assert_eq!(
        json["antivirusEngine"]["enableRealTimeProtection"],
        serde_json::json!(true)
    );
    assert_eq!(
        json["antivirusEngine"]["scanArchives"],
        serde_json::json!(false)
    );

    let second = host.apply::<LinuxDefender>(&device, &settings());
    assert!(
        second.iter().all(|r| r.status == SettingStatus::Compliant),
        "{second:?}"
    );
}

#[test]
fn defender_reporting_the_value_confirms_it() {
    let dir = tempfile::tempdir().unwrap();
    let mdatp = FakeMdatp::reporting(
        "antivirusEngine_enableRealTimeProtection",
        PreferenceValue::Boolean(true),
    );
    let host = host(&dir).with_defender(mdatp);
    let results =
        host.apply::<LinuxDefender>(&test_device(Platform::Linux), &[setting(RTP, text("true"))]);
    assert_eq!(results[0].status, SettingStatus::Remediated);
    assert_eq!(results[0].message, None);
}

#[test]
fn a_value_defender_keeps_contradicting_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mdatp = FakeMdatp::reporting(
        "antivirusEngine_enableRealTimeProtection",
        PreferenceValue::Boolean(false),
    );
    let host = host(&dir).with_defender(mdatp);
    let device = test_device(Platform::Linux);
    let settings = [setting(RTP, text("true"))];
    // Just written: Defender applies the file asynchronously, so this is not yet an error.
    assert_eq!(
        host.apply::<LinuxDefender>(&device, &settings)[0].status,
        SettingStatus::Remediated
    );
    // Unchanged file, Defender still disagrees: an error naming the cause.
    let second = host.apply::<LinuxDefender>(&device, &settings);
    assert_eq!(second[0].status, SettingStatus::Error);
    let message = second[0].message.as_deref().unwrap_or_default();
    assert!(message.contains("has not applied the file"), "{message}");
}

#[test]
fn an_invalid_value_is_an_error_and_stays_out_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let results = host(&dir).apply::<LinuxDefender>(
        &test_device(Platform::Linux),
        &[setting(RTP, text("maybe")), setting(ARCHIVES, text("true"))],
    );
    assert_eq!(results[0].status, SettingStatus::Error, "{results:?}");
    assert_eq!(results[1].status, SettingStatus::Remediated, "{results:?}");
    let json = managed_json(&dir);
    assert!(
        json["antivirusEngine"]
            .get("enableRealTimeProtection")
            .is_none()
    );
}

#[test]
fn without_the_file_grant_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    // The operator allowed nothing: the runtime's intersection leaves the plugin no grant.
    let host = host(&dir).with_ceiling(&Grants::none());
    assert!(host.grants().is_empty());
    let results = host.apply::<LinuxDefender>(&test_device(Platform::Linux), &settings());
    for r in &results {
        assert_eq!(r.status, SettingStatus::Error, "{r:?}");
        let message = r.message.as_deref().unwrap_or_default();
        assert!(message.contains("access denied"), "{message}");
    }
    assert!(!dir.path().join(MANAGED_FILE).exists());
}
