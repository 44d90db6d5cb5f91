//! The macOS plugin's logic, run natively against the runtime's file roots (a temporary
//! directory standing in for `/Library/Preferences`, where the plugin writes
//! `com.microsoft.mdeattach.plist`) and grant checks.

// The native host exists only off wasm; `cargo clippy --target wasm32-wasip2 --all-targets`
// still compiles this file.
#![cfg(not(target_arch = "wasm32"))]

use rampart_plugin_macos_defender::mapping::{MANAGED_FILE, ROOT};
use rampart_plugin_macos_defender::{MacosDefender, NOT_QUERIED};
use rampart_sdk::native::{
    Access, FileGrant, Grants, NativeHost, file_roots, group_setting, setting, test_device,
};
use rampart_sdk::{Platform, Setting, SettingResult, SettingStatus, SettingValue};

const RTP: &str = "com.apple.managedclient.preferences_enablerealtimeprotection";
const PASSIVE: &str = "com.apple.managedclient.preferences_passivemode";
const P: &str = "com.apple.managedclient.preferences_";

fn text(v: &str) -> SettingValue {
    SettingValue::Text(v.into())
}

fn settings() -> Vec<Setting> {
    vec![setting(RTP, text("true")), setting(PASSIVE, text("false"))]
}

/// A value that landed in the plist: `remediated` when this run wrote it, `compliant` when the
/// file held it, and unconfirmed either way (the plugin does not ask Defender).
fn assert_landed(r: &SettingResult, changed: bool) {
    let (status, done) = if changed {
        (SettingStatus::Remediated, "written")
    } else {
        (SettingStatus::Compliant, "already in place")
    };
    assert_eq!(r.status, status, "{r:?}");
    assert!(r.is_unconfirmed(), "{r:?}");
    assert_eq!(
        r.message.as_deref(),
        Some(format!("{done}; {NOT_QUERIED}").as_str()),
        "{r:?}"
    );
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
fn first_run_writes_the_plist_and_the_second_finds_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let device = test_device(Platform::Macos);

    let first = host.run::<MacosDefender>(&device, &settings());
    assert_eq!(first.protocol_errors, Vec::<String>::new());
    assert!(first.unclaimed.is_empty());
    assert_eq!(first.results.len(), 2);
    for r in &first.results {
        assert_landed(r, true);
    }
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
    for r in &second {
        assert_landed(r, false);
    }
}

#[test]
fn a_withdrawn_setting_is_removed_from_the_plist() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let device = test_device(Platform::Macos);
    host.apply::<MacosDefender>(&device, &settings());
    // The plugin owns the file: the key of a setting no longer in policy goes away, so the
    // file changes, while the remaining setting's value was already in place.
    let results = host.apply::<MacosDefender>(&device, &[setting(RTP, text("true"))]);
    assert_eq!(results.len(), 1);
    assert_landed(&results[0], false);
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

#[test]
fn the_file_is_security_settings_managements() {
    assert_eq!(MANAGED_FILE, "com.microsoft.mdeattach.plist");
    assert_eq!(ROOT, "library-preferences");
}

fn id(suffix: &str) -> String {
    format!("{P}{suffix}")
}

/// A field of item `index` of the EDR device tags group.
fn tag(field: &str, index: u32, value: SettingValue) -> Setting {
    group_setting(
        &id(&format!("tags_item_{field}")),
        value,
        &id("tags"),
        index,
    )
}

#[test]
fn update_interval_proxy_tags_and_group_ids_land_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let device = test_device(Platform::Macos);
    let settings = [
        setting(
            &id("definitionupdatesinterval"),
            SettingValue::Integer(3600),
        ),
        setting(&id("proxy"), text("https://proxy.contoso.com:8443")),
        tag("key", 0, text("GROUP")),
        tag("value", 0, text("Finance <Macs>")),
        setting(&id("groupids"), text("Finance-Macs")),
    ];
    let run = host.run::<MacosDefender>(&device, &settings);
    assert_eq!(run.protocol_errors, Vec::<String>::new());
    assert!(run.unclaimed.is_empty(), "{:?}", run.unclaimed);
    for r in &run.results {
        assert_landed(r, true);
    }
    let written = std::fs::read_to_string(dir.path().join(MANAGED_FILE)).unwrap();
    assert_eq!(
        written,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>cloudService</key>
	<dict>
		<key>definitionUpdatesInterval</key>
		<integer>3600</integer>
		<key>proxy</key>
		<string>https://proxy.contoso.com:8443</string>
	</dict>
	<key>edr</key>
	<dict>
		<key>groupIds</key>
		<string>Finance-Macs</string>
		<key>tags</key>
		<array>
			<dict>
				<key>key</key>
				<string>GROUP</string>
				<key>value</key>
				<string>Finance &lt;Macs&gt;</string>
			</dict>
		</array>
	</dict>
</dict>
</plist>
"#
    );
    let second = host.apply::<MacosDefender>(&device, &settings);
    for r in &second {
        assert_landed(r, false);
    }
}

#[test]
fn bad_values_of_the_new_settings_are_errors_and_stay_out_of_the_plist() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        setting(&id("definitionupdatesinterval"), SettingValue::Integer(59)),
        setting(&id("proxy"), text("proxy.contoso.com:8080")),
        setting(&id("groupids"), text("")),
        // Only GROUP is a tag key.
        tag("key", 0, text("OWNER")),
        tag("value", 0, text("x")),
        // Two items for one key: neither applies.
        tag("key", 1, text("GROUP")),
        tag("value", 1, text("a")),
        tag("key", 2, text("GROUP")),
        tag("value", 2, text("b")),
        // A value without its key.
        tag("value", 3, text("c")),
        // A key of the wrong kind.
        tag("key", 4, SettingValue::Integer(0)),
        setting(RTP, text("true")),
    ];
    let run = host(&dir).run::<MacosDefender>(&test_device(Platform::Macos), &settings);
    assert_eq!(run.protocol_errors, Vec::<String>::new());
    let message = |i: usize| run.results[i].message.clone().unwrap_or_default();
    for i in 0..11 {
        assert_eq!(
            run.results[i].status,
            SettingStatus::Error,
            "{i}: {:?}",
            run.results[i]
        );
    }
    assert_landed(&run.results[11], true);
    assert!(
        message(0).contains("cloudService.definitionUpdatesInterval: 59 is outside 60..=86400"),
        "{}",
        message(0)
    );
    assert!(
        message(1).starts_with(
            "cloudService.proxy: 'proxy.contoso.com:8080' is not an http:// or https:// URL"
        ),
        "{}",
        message(1)
    );
    assert!(
        message(2).contains("edr.groupIds: the value is empty"),
        "{}",
        message(2)
    );
    assert!(
        message(3).contains("key: 'OWNER' is not one of GROUP"),
        "{}",
        message(3)
    );
    assert!(
        message(5).contains("'GROUP' is set by items 1, 2 of this group; none of them is applied"),
        "{}",
        message(5)
    );
    assert!(message(9).contains("needs 'key'"), "{}", message(9));
    assert!(
        message(10).contains("key: expected text, got integer"),
        "{}",
        message(10)
    );
    let value = plist::Value::from_file(dir.path().join(MANAGED_FILE)).expect("a readable plist");
    let dict = value.as_dictionary().expect("a dictionary");
    assert!(dict.get("cloudService").is_none(), "{dict:?}");
    assert!(dict.get("edr").is_none(), "{dict:?}");
}
