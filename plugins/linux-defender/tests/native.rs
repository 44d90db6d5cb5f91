//! The Linux plugin's logic, run natively against the runtime's file roots (a temporary
//! directory standing in for `/etc/opt/microsoft/mdatp/managed`, where the plugin writes
//! `mdeattach_managed.json`) and grant checks.

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
use rampart_sdk::native::{
    Access, FileGrant, Grants, NativeHost, file_roots, group_setting, setting, test_device,
};
use rampart_sdk::{Platform, Setting, SettingResult, SettingStatus, SettingValue};

const RTP: &str = "linux_mdatp_managed_antivirusengine_enablerealtimeprotection";
const ARCHIVES: &str = "linux_mdatp_managed_antivirusengine_scanarchives";
const PROXY: &str = "linux_mdatp_managed_cloudservice_proxy";
const GROUP_IDS: &str = "linux_mdatp_managed_edr_groupids";
const GLOBAL: &str = "linux_mdatp_managed_exclusionsettings_exclusions";
const MODULE_LOAD: &str = "linux_mdatp_managed_features_moduleload";

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

/// A value that landed but that Defender did not confirm: `remediated` when this run wrote it,
/// `compliant` when the file held it, with the code that marks it unconfirmed and the message
/// "written; `why`" or "already in place; `why`".
fn assert_unconfirmed(r: &SettingResult, changed: bool, why: &str) {
    let (status, done) = if changed {
        (SettingStatus::Remediated, "written")
    } else {
        (SettingStatus::Compliant, "already in place")
    };
    assert_eq!(r.status, status, "{r:?}");
    assert!(r.is_unconfirmed(), "{r:?}");
    let message = r.message.as_deref().unwrap_or_default();
    assert!(message.starts_with(&format!("{done}; {why}")), "{r:?}");
}

/// The reason of a key `mdatp health` has no field for.
const NOT_REPORTED: &str = "Defender does not report this key";
/// The reason when the host has no Defender backend at all.
const NO_DEFENDER: &str = "Defender not queried: unavailable: Microsoft Defender is not available";

fn host(dir: &tempfile::TempDir) -> NativeHost {
    NativeHost::for_plugin::<LinuxDefender>()
        .expect("the embedded manifest is valid")
        .with_files(file_roots([(ROOT, dir.path())]).unwrap())
}

fn managed_json(dir: &tempfile::TempDir) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.path().join(MANAGED_FILE)).unwrap()).unwrap()
}

#[test]
fn first_run_writes_the_file_and_the_second_finds_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let device = test_device(Platform::Linux);

    let first = host.run::<LinuxDefender>(&device, &settings());
    assert_eq!(first.protocol_errors, Vec::<String>::new());
    assert!(first.unclaimed.is_empty());
    // No Defender backend: both values are in place, neither is confirmed. Real-time
    // protection is a value Defender would report; scanArchives is not.
    assert_unconfirmed(&first.results[0], true, NO_DEFENDER);
    assert_unconfirmed(&first.results[1], true, NOT_REPORTED);

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
    assert_unconfirmed(&second[0], false, NO_DEFENDER);
    assert_unconfirmed(&second[1], false, NOT_REPORTED);
}

#[test]
fn defender_reporting_the_value_confirms_it() {
    let dir = tempfile::tempdir().unwrap();
    let mdatp = FakeMdatp::reporting(
        "antivirusEngine_enableRealTimeProtection",
        PreferenceValue::Boolean(true),
    );
    let host = host(&dir).with_defender(mdatp);
    let device = test_device(Platform::Linux);
    let results = host.apply::<LinuxDefender>(&device, &[setting(RTP, text("true"))]);
    assert_eq!(results[0].status, SettingStatus::Remediated);
    assert!(!results[0].is_unconfirmed(), "{results:?}");
    assert_eq!(results[0].message, None);
    let again = host.apply::<LinuxDefender>(&device, &[setting(RTP, text("true"))]);
    assert_eq!(again[0].status, SettingStatus::Compliant);
    assert!(!again[0].is_unconfirmed(), "{again:?}");
}

#[test]
fn a_key_defender_does_not_report_stays_unconfirmed_even_with_defender_reachable() {
    let dir = tempfile::tempdir().unwrap();
    // Defender answers, but reports neither scanArchives (no health field) nor, in this
    // version, edr_groupIds.
    let mdatp = FakeMdatp::reporting(
        "antivirusEngine_enableRealTimeProtection",
        PreferenceValue::Boolean(true),
    );
    let host = host(&dir).with_defender(mdatp);
    let device = test_device(Platform::Linux);
    let settings = [
        setting(RTP, text("true")),
        setting(ARCHIVES, text("true")),
        setting(GROUP_IDS, text("Finance-Servers")),
    ];
    let first = host.apply::<LinuxDefender>(&device, &settings);
    assert_eq!(
        (first[0].status, first[0].is_unconfirmed()),
        (SettingStatus::Remediated, false),
        "{first:?}"
    );
    assert_unconfirmed(&first[1], true, NOT_REPORTED);
    assert_unconfirmed(&first[2], true, "this mdatp does not report edr_groupIds");
    let second = host.apply::<LinuxDefender>(&device, &settings);
    assert_eq!(
        (second[0].status, second[0].is_unconfirmed()),
        (SettingStatus::Compliant, false),
        "{second:?}"
    );
    assert_unconfirmed(&second[1], false, NOT_REPORTED);
    assert_unconfirmed(&second[2], false, "this mdatp does not report edr_groupIds");
}

#[test]
fn without_the_defender_grant_values_are_in_place_but_unconfirmed() {
    let dir = tempfile::tempdir().unwrap();
    let mdatp = FakeMdatp::reporting(
        "antivirusEngine_enableRealTimeProtection",
        PreferenceValue::Boolean(true),
    );
    // The operator allows the file root only: Defender cannot be read.
    let ceiling = Grants {
        files: vec![FileGrant {
            root: ROOT.into(),
            access: Access::ReadWrite,
        }],
        ..Grants::none()
    };
    let host = host(&dir).with_defender(mdatp).with_ceiling(&ceiling);
    let results = host.apply::<LinuxDefender>(&test_device(Platform::Linux), &settings());
    assert_unconfirmed(
        &results[0],
        true,
        "Defender not queried (no grant to read its status)",
    );
    assert_unconfirmed(&results[1], true, NOT_REPORTED);
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
    // Just written: Defender applies the file asynchronously, so this is not yet an error,
    // but not confirmed either.
    assert_unconfirmed(
        &host.apply::<LinuxDefender>(&device, &settings)[0],
        true,
        "Defender still reports antivirusEngine_enableRealTimeProtection = false (it applies the file asynchronously",
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
    assert_unconfirmed(&results[1], true, NOT_REPORTED);
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

#[test]
fn the_file_is_security_settings_managements() {
    assert_eq!(MANAGED_FILE, "mdeattach_managed.json");
    assert_eq!(ROOT, "mdatp-managed");
}

/// A field of item `index` of the global exclusions group.
fn global(field: &str, index: u32, value: SettingValue) -> Setting {
    group_setting(&format!("{GLOBAL}_item_{field}"), value, GLOBAL, index)
}

#[test]
fn global_exclusions_proxy_and_group_ids_land_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(&dir);
    let device = test_device(Platform::Linux);
    let settings = [
        global("$type", 0, text("excludedPath")),
        global("path", 0, text("/opt/backup")),
        global("isdirectory", 0, text("true")),
        global("$type", 1, text("excludedPath")),
        global("path", 1, text("/var/log/app.log")),
        global("$type", 2, text("excludedFileName")),
        global("name", 2, text("/usr/bin/backup-agent")),
        setting(PROXY, text("http://proxy.contoso.com:8080/")),
        setting(GROUP_IDS, text("Finance-Servers")),
    ];
    let run = host.run::<LinuxDefender>(&device, &settings);
    assert_eq!(run.protocol_errors, Vec::<String>::new());
    assert!(run.unclaimed.is_empty(), "{:?}", run.unclaimed);
    // Global exclusions and the proxy have no health field; group ids would be asked of
    // Defender, which this host does not have.
    for r in &run.results[..8] {
        assert_unconfirmed(r, true, NOT_REPORTED);
    }
    assert_unconfirmed(&run.results[8], true, NO_DEFENDER);
    // The documented layout: every global exclusion carries the `global` scope, a path its
    // `isDirectory` (false unless set).
    assert_eq!(
        managed_json(&dir),
        serde_json::json!({
            "cloudService": { "proxy": "http://proxy.contoso.com:8080/" },
            "edr": { "groupIds": "Finance-Servers" },
            "exclusionSettings": {
                "exclusions": [
                    {
                        "$type": "excludedPath",
                        "isDirectory": true,
                        "path": "/opt/backup",
                        "scopes": ["global"]
                    },
                    {
                        "$type": "excludedPath",
                        "isDirectory": false,
                        "path": "/var/log/app.log",
                        "scopes": ["global"]
                    },
                    {
                        "$type": "excludedFileName",
                        "name": "/usr/bin/backup-agent",
                        "scopes": ["global"]
                    }
                ]
            }
        })
    );
    let second = host.apply::<LinuxDefender>(&device, &settings);
    for r in &second[..8] {
        assert_unconfirmed(r, false, NOT_REPORTED);
    }
    assert_unconfirmed(&second[8], false, NO_DEFENDER);
}

#[test]
fn a_global_exclusion_defender_would_refuse_is_an_error_for_its_whole_item() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        // Wildcards are not supported for global exclusions.
        global("$type", 0, text("excludedPath")),
        global("path", 0, text("/var/*/tmp")),
        // A process needs its full path.
        global("$type", 1, text("excludedFileName")),
        global("name", 1, text("cat")),
        // A file extension cannot be a global exclusion.
        global("$type", 2, text("excludedFileExtension")),
        // A path item without its path.
        global("$type", 3, text("excludedPath")),
        // A relative path.
        global("$type", 4, text("excludedPath")),
        global("path", 4, text("var/log")),
        // The one good item.
        global("$type", 5, text("excludedPath")),
        global("path", 5, text("/srv/data")),
    ];
    let run = host(&dir).run::<LinuxDefender>(&test_device(Platform::Linux), &settings);
    assert_eq!(run.protocol_errors, Vec::<String>::new());
    let message = |i: usize| run.results[i].message.clone().unwrap_or_default();
    for i in 0..8 {
        assert_eq!(
            run.results[i].status,
            SettingStatus::Error,
            "{i}: {:?}",
            run.results[i]
        );
    }
    assert!(
        message(0).starts_with("global exclusion item 0: '/var/*/tmp' has a wildcard"),
        "{}",
        message(0)
    );
    assert_eq!(
        message(0),
        message(1),
        "the whole item fails with one message"
    );
    assert!(
        message(2).starts_with("global exclusion item 1: 'cat' is not a process's full path"),
        "{}",
        message(2)
    );
    assert!(
        message(4).contains(
            "$type: 'excludedFileExtension' is not one of excludedPath, excludedFileName"
        ),
        "{}",
        message(4)
    );
    assert!(message(5).contains("needs 'path'"), "{}", message(5));
    assert!(
        message(6).contains("'var/log' is not a full path"),
        "{}",
        message(6)
    );
    assert_unconfirmed(&run.results[8], true, NOT_REPORTED);
    assert_unconfirmed(&run.results[9], true, NOT_REPORTED);
    assert_eq!(
        managed_json(&dir),
        serde_json::json!({
            "exclusionSettings": {
                "exclusions": [{
                    "$type": "excludedPath",
                    "isDirectory": false,
                    "path": "/srv/data",
                    "scopes": ["global"]
                }]
            }
        })
    );
}

#[test]
fn a_proxy_that_is_not_an_http_url_is_an_error_and_stays_out_of_the_file() {
    let device = test_device(Platform::Linux);
    for (bad, why) in [
        (
            "proxy.contoso.com:8080",
            "is not an http:// or https:// URL",
        ),
        (
            "ftp://proxy.contoso.com/",
            "is not an http:// or https:// URL",
        ),
        ("http://", "has no valid proxy host"),
        ("http://:8080/", "has no valid proxy host"),
        ("http://proxy.contoso.com:80a80/", "has no valid port"),
        ("http://proxy.contoso.com:99999", "has no valid port"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let results = host(&dir).apply::<LinuxDefender>(
            &device,
            &[setting(PROXY, text(bad)), setting(ARCHIVES, text("true"))],
        );
        assert_eq!(results[0].status, SettingStatus::Error, "{bad}");
        let message = results[0].message.as_deref().unwrap_or_default();
        assert!(
            message.starts_with(&format!("cloudService.proxy: '{bad}' {why}")),
            "{bad}: {message}"
        );
        assert_unconfirmed(&results[1], true, NOT_REPORTED);
        assert!(managed_json(&dir).get("cloudService").is_none(), "{bad}");
    }
    for good in [
        "https://proxy.contoso.com",
        "http://10.0.0.1:3128",
        "http://user:secret@proxy:8080/",
        "http://[fd00::1]:8080/",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let results = host(&dir).apply::<LinuxDefender>(&device, &[setting(PROXY, text(good))]);
        assert_unconfirmed(&results[0], true, NOT_REPORTED);
        assert_eq!(
            managed_json(&dir)["cloudService"]["proxy"],
            serde_json::json!(good)
        );
    }
}

#[test]
fn values_of_the_wrong_kind_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        setting(PROXY, SettingValue::Integer(8080)),
        setting(GROUP_IDS, text("")),
        setting(RTP, SettingValue::TextList(vec!["true".into()])),
        global("path", 0, SettingValue::Integer(1)),
        global("$type", 0, text("excludedPath")),
        setting(MODULE_LOAD, SettingValue::Integer(1)),
        setting(ARCHIVES, text("true")),
    ];
    let run = host(&dir).run::<LinuxDefender>(&test_device(Platform::Linux), &settings);
    assert_eq!(run.protocol_errors, Vec::<String>::new());
    let statuses: Vec<SettingStatus> = run.results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            SettingStatus::Error,
            SettingStatus::Error,
            SettingStatus::Error,
            SettingStatus::Error,
            SettingStatus::Error,
            SettingStatus::NotApplicable,
            SettingStatus::Remediated,
        ],
        "{:?}",
        run.results
    );
    assert_unconfirmed(&run.results[6], true, NOT_REPORTED);
    let message = |i: usize| run.results[i].message.clone().unwrap_or_default();
    assert!(
        message(0).contains("cloudService.proxy: expected text, got integer"),
        "{}",
        message(0)
    );
    assert!(
        message(1).contains("edr.groupIds: the value is empty"),
        "{}",
        message(1)
    );
    assert!(
        message(2).contains("expected 'true' or 'false' text, got text list"),
        "{}",
        message(2)
    );
    assert!(
        message(3).contains("path: expected text, got integer"),
        "{}",
        message(3)
    );
}

#[test]
fn features_are_not_applicable_with_the_documented_reason_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        setting(MODULE_LOAD, text("enabled")),
        setting(
            "linux_mdatp_managed_features_supplementarysensorconfigurations_enablefilepermissionevents",
            text("disabled"),
        ),
    ];
    let run = host(&dir).run::<LinuxDefender>(&test_device(Platform::Linux), &settings);
    assert_eq!(run.protocol_errors, Vec::<String>::new());
    assert!(run.unclaimed.is_empty());
    for r in &run.results {
        assert_eq!(r.status, SettingStatus::NotApplicable, "{r:?}");
        let message = r.message.as_deref().unwrap_or_default();
        assert!(
            message.contains("is not delivered by security settings management"),
            "{message}"
        );
        assert!(
            message.contains("Microsoft Defender portal value 'Not available'"),
            "{message}"
        );
    }
    assert!(
        run.results[0]
            .message
            .as_deref()
            .unwrap()
            .starts_with("features.moduleLoad ")
    );
    assert!(
        run.results[1]
            .message
            .as_deref()
            .unwrap()
            .starts_with("features.supplementarySensorConfigurations.enableFilePermissionEvents ")
    );
    // Nothing enforceable: the file is not created.
    assert!(!dir.path().join(MANAGED_FILE).exists());
}

#[test]
fn group_ids_are_verified_through_defender() {
    let dir = tempfile::tempdir().unwrap();
    let mdatp = FakeMdatp::reporting("edr_groupIds", PreferenceValue::Text("Other".into()));
    let host = host(&dir).with_defender(mdatp);
    let device = test_device(Platform::Linux);
    let settings = [setting(GROUP_IDS, text("Finance-Servers"))];
    let first = host.apply::<LinuxDefender>(&device, &settings);
    assert_unconfirmed(
        &first[0],
        true,
        "Defender still reports edr_groupIds = 'Other'",
    );
    let second = host.apply::<LinuxDefender>(&device, &settings);
    assert_eq!(second[0].status, SettingStatus::Error, "{second:?}");
}
