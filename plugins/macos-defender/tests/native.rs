//! The macOS plugin's logic, run natively against the runtime's file roots (a temporary
//! directory standing in for `/Library/Managed Preferences`) and grant checks.

// The native host exists only off wasm; `cargo clippy --target wasm32-wasip2 --all-targets`
// still compiles this file.
#![cfg(not(target_arch = "wasm32"))]

use rampart_plugin_macos_defender::MacosDefender;
use rampart_plugin_macos_defender::mapping::{MANAGED_FILE, ROOT};
use rampart_sdk::native::{
    Access, FileGrant, Grants, NativeHost, file_roots, setting, test_device,
};
use rampart_sdk::{Platform, Setting, SettingStatus, SettingValue};

const RTP: &str = "com.apple.managedclient.preferences_enablerealtimeprotection";
const PASSIVE: &str = "com.apple.managedclient.preferences_passivemode";

fn text(v: &str) -> SettingValue {
    SettingValue::Text(v.into())
}

fn settings() -> Vec<Setting> {
    vec![setting(RTP, text("true")), setting(PASSIVE, text("false"))]
}

fn host(dir: &tempfile::TempDir) -> NativeHost {
    NativeHost::for_plugin::<MacosDefender>()
        .expect("the embedded manifest is valid")
        .with_files(file_roots([(ROOT, dir.path())]).unwrap())
}

fn antivirus_engine(dir: &tempfile::TempDir) -> plist::Dictionary {
    let value = plist::Value::from_file(dir.path().join(MANAGED_FILE)).expect("a readable plist");
    value
        .as_dictionary()
        .and_then(|d| d.get("antivirusEngine"))
        .and_then(plist::Value::as_dictionary)
        .cloned()
        .expect("an antivirusEngine dictionary")
}

#[test]
fn first_run_writes_the_plist_and_the_second_is_compliant() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let device = test_device(Platform::Macos);

    let first = host.run::<MacosDefender>(&device, &settings());
    assert_eq!(first.protocol_errors, Vec::<String>::new());
    assert!(first.unclaimed.is_empty());
    assert_eq!(first.status(RTP), Some(SettingStatus::Remediated));
    assert_eq!(first.status(PASSIVE), Some(SettingStatus::Remediated));
    let engine = antivirus_engine(&dir);
    assert_eq!(
        engine.get("enableRealTimeProtection"),
        Some(&plist::Value::Boolean(true))
    );
    assert_eq!(
        engine.get("passiveMode"),
        Some(&plist::Value::Boolean(false))
    );

    let second = host.apply::<MacosDefender>(&device, &settings());
    assert!(
        second.iter().all(|r| r.status == SettingStatus::Compliant),
        "{second:?}"
    );
}

#[test]
fn a_withdrawn_setting_is_removed_from_the_plist() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let device = test_device(Platform::Macos);
    host.apply::<MacosDefender>(&device, &settings());
    // The plugin owns the file: the key of a setting no longer in policy goes away, so the
    // file changes and the remaining setting reports that this run wrote it.
    let results = host.apply::<MacosDefender>(&device, &[setting(RTP, text("true"))]);
    assert_eq!(results.len(), 1);
    assert_ne!(results[0].status, SettingStatus::Error, "{results:?}");
    let engine = antivirus_engine(&dir);
    assert!(engine.get("passiveMode").is_none(), "{engine:?}");
    assert_eq!(
        engine.get("enableRealTimeProtection"),
        Some(&plist::Value::Boolean(true))
    );
}

#[test]
fn a_read_only_grant_cannot_write_the_plist() {
    let dir = tempfile::tempdir().unwrap();
    let ceiling = Grants {
        files: vec![FileGrant {
            root: ROOT.into(),
            access: Access::Read,
        }],
        ..Grants::none()
    };
    let host = host(&dir).with_ceiling(&ceiling);
    assert_eq!(host.grants().file_access(ROOT), Some(Access::Read));
    let results = host.apply::<MacosDefender>(&test_device(Platform::Macos), &settings());
    for r in &results {
        assert_eq!(r.status, SettingStatus::Error, "{r:?}");
        let message = r.message.as_deref().unwrap_or_default();
        assert!(message.contains("read-only grant"), "{message}");
    }
    assert!(!dir.path().join(MANAGED_FILE).exists());
}
