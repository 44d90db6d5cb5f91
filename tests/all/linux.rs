//! The first-party Linux Defender plugin, run in the sandbox against a real directory served as
//! the `mdatp-managed` file root (where it writes security settings management's
//! `mdeattach_managed.json`), with and without a stand-in for `mdatp`.

use std::sync::Arc;

use rampart_backends::defender::MdatpDefender;
use rampart_backends::files::{FileAccess, FileRoots};
use rampart_policy::catalog::Catalog;
use rampart_policy::graph::parse_policy;
use rampart_policy::resolve::resolve;
use rampart_policy::settings::{GroupPosition, ResolvedSetting, SettingValue, flatten};
use rampart_policy::status::{PolicyStatus, SettingStatus};
use rampart_runtime::{Capabilities, Enforcer, GrantPolicy, Grants, PluginSet, RunLimits};
use rampart_runtime::{RunOutput, SettingOutcome, UNCONFIRMED};
use rampart_tests::{
    RootedDir, assert_golden, files_ceiling, linux_defender, linux_device, setting, shared_data,
};
use serde_json::{Value, json};

const P: &str = "linux_mdatp_managed_";
const ROOT: &str = "mdatp-managed";
const FILE: &str = "mdeattach_managed.json";

fn text(s: &str) -> SettingValue {
    SettingValue::Text(s.into())
}

fn list(items: &[&str]) -> SettingValue {
    SettingValue::TextList(items.iter().map(|s| (*s).to_owned()).collect())
}

/// A child setting of item `index` of the group `group` (both without the id prefix).
fn item(group: &str, index: u32, field: &str, value: SettingValue) -> ResolvedSetting {
    ResolvedSetting {
        id: format!("{P}{group}_item_{field}"),
        value,
        group: Some(GroupPosition {
            definition_id: format!("{P}{group}"),
            index,
        }),
        csp_uri: None,
    }
}

fn key(id: &str, value: SettingValue) -> ResolvedSetting {
    setting(&format!("{P}{id}"), value)
}

/// Every current (not deprecated) Linux setting the plugin maps, as the catalog resolves them.
fn full_policy() -> Vec<ResolvedSetting> {
    let ex = "antivirusengine_exclusions";
    let tt = "antivirusengine_threattypesettings";
    let ge = "exclusionsettings_exclusions";
    vec![
        key("antivirusengine_enforcementlevel", text("real_time")),
        key("antivirusengine_behaviormonitoring", text("enabled")),
        key("antivirusengine_scanafterdefinitionupdate", text("true")),
        key("antivirusengine_scanarchives", text("true")),
        key(
            "antivirusengine_maximumondemandscanthreads",
            SettingValue::Integer(2),
        ),
        key("antivirusengine_exclusionsmergepolicy", text("admin_only")),
        item(ex, 0, "$type", text("excludedPath")),
        item(ex, 0, "path", text("/var/lib/postgresql")),
        item(ex, 0, "isdirectory", text("true")),
        item(ex, 1, "$type", text("excludedFileExtension")),
        item(ex, 1, "extension", text(".vmdk")),
        item(ex, 2, "$type", text("excludedFileName")),
        item(ex, 2, "name", text("backup-agent")),
        item(ex, 3, "$type", text("excludedPath")),
        item(ex, 3, "path", text("/var/log/app.log")),
        key(
            "antivirusengine_allowedthreats",
            list(&["EICAR-Test-File (not a virus)"]),
        ),
        key(
            "antivirusengine_disallowedthreatactions",
            list(&["allow", "restore"]),
        ),
        key("antivirusengine_nonexecmountpolicy", text("mute")),
        key("antivirusengine_unmonitoredfilesystems", list(&["nfs"])),
        key("antivirusengine_enablefilehashcomputation", text("false")),
        item(tt, 0, "key", text("potentially_unwanted_application")),
        item(tt, 0, "value", text("block")),
        item(tt, 1, "key", text("archive_bomb")),
        item(tt, 1, "value", text("audit")),
        key(
            "antivirusengine_threattypesettingsmergepolicy",
            text("merge"),
        ),
        key(
            "antivirusengine_scanresultsretentiondays",
            SettingValue::Integer(90),
        ),
        key(
            "antivirusengine_scanhistorymaximumitems",
            SettingValue::Integer(10000),
        ),
        key("cloudservice_enabled", text("true")),
        key("cloudservice_diagnosticlevel", text("required")),
        key(
            "cloudservice_automaticsamplesubmissionconsent",
            text("safe"),
        ),
        key(
            "cloudservice_automaticdefinitionupdateenabled",
            text("true"),
        ),
        key("cloudservice_cloudblocklevel", text("high")),
        key("cloudservice_proxy", text("http://proxy.contoso.com:8080/")),
        key("networkprotection_enforcementlevel", text("audit")),
        item("edr_tags", 0, "key", text("GROUP")),
        item("edr_tags", 0, "value", text("Finance-Servers")),
        key("edr_groupids", text("Finance-Servers-Group")),
        item(ge, 0, "$type", text("excludedPath")),
        item(ge, 0, "path", text("/opt/backup")),
        item(ge, 0, "isdirectory", text("true")),
        item(ge, 1, "$type", text("excludedPath")),
        item(ge, 1, "path", text("/var/log/backup.log")),
        item(ge, 2, "$type", text("excludedFileName")),
        item(ge, 2, "name", text("/usr/bin/backup-agent")),
    ]
}

/// The settings whose effective value `mdatp health` reports (the rest of the file only
/// Defender's own behaviour shows).
const REPORTED: [&str; 12] = [
    "antivirusengine_enforcementlevel",
    "antivirusengine_enablerealtimeprotection",
    "antivirusengine_passivemode",
    "antivirusengine_behaviormonitoring",
    "cloudservice_enabled",
    "cloudservice_diagnosticlevel",
    "cloudservice_automaticsamplesubmissionconsent",
    "cloudservice_automaticdefinitionupdateenabled",
    "networkprotection_enforcementlevel",
    "edr_tags_item_key",
    "edr_tags_item_value",
    "edr_groupids",
];

/// The reason of a value `mdatp health` has no field for.
const NOT_REPORTED: &str = "Defender does not report this key";
/// The reason when the host has no Defender backend.
const NO_DEFENDER: &str = "Defender not queried: unavailable: Microsoft Defender is not available";

fn reported(o: &SettingOutcome) -> bool {
    REPORTED.iter().any(|id| o.id == format!("{P}{id}"))
}

/// Asserts that `o` landed in the file but was not confirmed by Defender: `unknown`, with the
/// code that marks it unconfirmed and "written; `why`" (this run wrote it) or "already in place;
/// `why`".
fn assert_unconfirmed(o: &SettingOutcome, changed: bool, why: &str) {
    let done = if changed {
        "written"
    } else {
        "already in place"
    };
    assert_eq!(
        (o.status, o.code),
        (SettingStatus::Unknown, Some(UNCONFIRMED)),
        "{o:?}"
    );
    let message = o.message.as_deref().unwrap_or_default();
    assert!(message.starts_with(&format!("{done}; {why}")), "{o:?}");
}

/// Asserts every outcome of a run without Defender: in the file, unconfirmed, with the reason
/// that fits the setting; `changed` says which this run wrote.
fn assert_all_unconfirmed(out: &RunOutput, changed: impl Fn(&SettingOutcome) -> bool) {
    for o in &out.outcomes {
        let why = if reported(o) {
            NO_DEFENDER
        } else {
            NOT_REPORTED
        };
        assert_unconfirmed(o, changed(o), why);
    }
}

fn run(
    roots: Arc<FileRoots>,
    defender: Option<MdatpDefender>,
    settings: &[ResolvedSetting],
) -> RunOutput {
    let mut caps = Capabilities::none().with_files(roots);
    if let Some(d) = defender {
        caps = caps.with_defender(Arc::new(d));
    }
    linux_defender(&files_ceiling(&[ROOT]))
        .run(&linux_device(), settings, &caps, &RunLimits::default())
        .expect("the run completes")
}

fn written(dir: &RootedDir) -> String {
    std::fs::read_to_string(dir.root().join(FILE)).expect("mdeattach_managed.json was written")
}

fn statuses(out: &RunOutput) -> Vec<SettingStatus> {
    out.outcomes.iter().map(|o| o.status).collect()
}

fn outcome<'a>(out: &'a RunOutput, id: &str) -> &'a SettingOutcome {
    out.outcomes
        .iter()
        .find(|o| o.id == format!("{P}{id}"))
        .unwrap_or_else(|| panic!("no outcome for {id}"))
}

#[test]
fn the_settings_become_mdeattach_managed_json_exactly_and_a_rerun_finds_them_in_place() {
    let dir = RootedDir::new();
    let before = dir.outside_snapshot();
    let settings = full_policy();
    let first = run(dir.file_roots(ROOT), None, &settings);
    // No Defender backend: every value is in the file, none is confirmed, and each says why.
    assert_eq!(first.outcomes.len(), settings.len());
    assert_all_unconfirmed(&first, |_| true);
    assert_golden("linux/mdeattach_managed.json", &written(&dir));
    assert_eq!(dir.root_listing(), [FILE], "no temporary files remain");
    assert_eq!(dir.outside_snapshot(), before, "nothing outside the root");

    let bytes = written(&dir);
    let second = run(dir.file_roots(ROOT), None, &settings);
    assert_all_unconfirmed(&second, |_| false);
    assert_eq!(
        written(&dir),
        bytes,
        "an unchanged policy does not rewrite the file"
    );

    // A changed value is written; the others are already in place.
    let mut changed = settings.clone();
    let level = changed
        .iter_mut()
        .find(|s| s.id.ends_with("cloudservice_cloudblocklevel"))
        .unwrap();
    level.value = text("zero_tolerance");
    let third = run(dir.file_roots(ROOT), None, &changed);
    assert_all_unconfirmed(&third, |o| o.id.ends_with("cloudblocklevel"));
    let doc: Value = serde_json::from_str(&written(&dir)).unwrap();
    assert_eq!(doc["cloudService"]["cloudBlockLevel"], "zero_tolerance");
}

/// The JSON type name used to compare shapes.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn read_json(path: &std::path::Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_written_file_has_the_shape_of_the_real_samples_and_the_compiled_schema() {
    let dir = RootedDir::new();
    run(dir.file_roots(ROOT), None, &full_policy());
    let produced: Value = serde_json::from_str(&written(&dir)).expect("the file is JSON");
    let linux = shared_data().join("linux");

    // 1. Every key of the real managed files (written by other tools as `mdatp_managed.json`,
    //    whose layout `mdeattach_managed.json` shares) is produced with the same JSON type, and
    //    array items have the same key sets per `$type` / shape.
    let not_produced: [&str; 0] = [];
    for sample in [
        "mdatp_managed.evalian-it.json",
        "mdatp_managed.thiagofborn.json",
    ] {
        let real = read_json(&linux.join(sample));
        for (section, keys) in real.as_object().expect("sample is an object") {
            for (k, real_value) in keys.as_object().expect("section is an object") {
                let path = format!("{section}.{k}");
                if not_produced.contains(&path.as_str()) {
                    continue;
                }
                let ours = &produced[section][k];
                assert_eq!(kind(ours), kind(real_value), "{sample}: {path}");
                let (Some(real_items), Some(our_items)) = (real_value.as_array(), ours.as_array())
                else {
                    continue;
                };
                for real_item in real_items.iter().filter_map(Value::as_object) {
                    let real_keys: Vec<&String> = real_item.keys().collect();
                    let same_type = our_items.iter().filter_map(Value::as_object).find(|o| {
                        o.get("$type") == real_item.get("$type")
                            && o.keys().collect::<Vec<_>>() == real_keys
                    });
                    assert!(
                        same_type.is_some(),
                        "{sample}: no produced {path} item with keys {real_keys:?}"
                    );
                }
            }
        }
    }

    // 2. Every produced key is in the compiled schema, with its type and allowed values.
    let schema = read_json(&linux.join("mdatp_managed.schema-compiled.json"));
    let sections = schema["sections"].as_object().expect("schema sections");
    for (section, keys) in produced.as_object().expect("object") {
        let schema_section = sections
            .get(section)
            .unwrap_or_else(|| panic!("section {section} is not in the schema"));
        for (k, v) in keys.as_object().expect("section object") {
            let entry = &schema_section[k];
            let ty = entry["type"]
                .as_str()
                .unwrap_or_else(|| panic!("{section}.{k} is not in the schema"));
            let expected = match ty {
                "bool" => "bool",
                "string" => "string",
                t if t.starts_with("int") => "number",
                t if t.starts_with("array") => "array",
                t => panic!("unhandled schema type {t}"),
            };
            assert_eq!(kind(v), expected, "{section}.{k}");
            match (&entry["allowed"], v) {
                (Value::Array(allowed), Value::String(s)) => {
                    assert!(allowed.contains(&json!(s)), "{section}.{k} = {s}");
                }
                (Value::Array(allowed), Value::Array(items)) => {
                    for i in items {
                        assert!(allowed.contains(i), "{section}.{k} item {i}");
                    }
                }
                (Value::String(range), Value::Number(n)) => {
                    let (lo, hi) = range.split_once('-').expect("range");
                    let n = n.as_i64().unwrap();
                    assert!(
                        (lo.parse::<i64>().unwrap()..=hi.parse::<i64>().unwrap()).contains(&n),
                        "{section}.{k} = {n} outside {range}"
                    );
                }
                _ => {}
            }
        }
    }
    // The item objects follow the documented layouts.
    for t in produced["antivirusEngine"]["threatTypeSettings"]
        .as_array()
        .unwrap()
    {
        assert_eq!(
            t.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["key", "value"]
        );
    }
    assert_eq!(
        produced["edr"]["tags"],
        json!([{"key": "GROUP", "value": "Finance-Servers"}])
    );
    // Global exclusions carry the `global` scope, and a path its isDirectory.
    assert_eq!(
        produced["exclusionSettings"]["exclusions"],
        json!([
            {"$type": "excludedPath", "isDirectory": true, "path": "/opt/backup", "scopes": ["global"]},
            {"$type": "excludedPath", "isDirectory": false, "path": "/var/log/backup.log", "scopes": ["global"]},
            {"$type": "excludedFileName", "name": "/usr/bin/backup-agent", "scopes": ["global"]}
        ])
    );
    // An excludedPath item without isDirectory gets Microsoft's default written out.
    assert!(
        produced["antivirusEngine"]["exclusions"]
            .as_array()
            .unwrap()
            .contains(
                &json!({"$type": "excludedPath", "isDirectory": false, "path": "/var/log/app.log"})
            )
    );
}

#[test]
fn deprecated_keys_are_written_when_a_policy_still_sets_them() {
    let dir = RootedDir::new();
    let out = run(
        dir.file_roots(ROOT),
        None,
        &[
            key("antivirusengine_enablerealtimeprotection", text("true")),
            key("antivirusengine_passivemode", text("false")),
        ],
    );
    assert_all_unconfirmed(&out, |_| true);
    let doc: Value = serde_json::from_str(&written(&dir)).unwrap();
    assert_eq!(
        doc,
        json!({"antivirusEngine": {"enableRealTimeProtection": true, "passiveMode": false}})
    );
}

#[test]
fn bad_settings_are_errors_alone_and_keep_out_of_the_file() {
    let dir = RootedDir::new();
    let ex = "antivirusengine_exclusions";
    let tt = "antivirusengine_threattypesettings";
    let settings = vec![
        key("antivirusengine_scanarchives", text("true")),
        key(
            "antivirusengine_maximumondemandscanthreads",
            SettingValue::Integer(65),
        ),
        key("cloudservice_enabled", SettingValue::Integer(1)),
        key("antivirusengine_enforcementlevel", text("sometimes")),
        key(
            "antivirusengine_disallowedthreatactions",
            list(&["allow", "delete"]),
        ),
        // An excludedPath without a path, and an extension on an excludedPath.
        item(ex, 0, "$type", text("excludedPath")),
        item(ex, 1, "$type", text("excludedPath")),
        item(ex, 1, "path", text("/srv")),
        item(ex, 1, "extension", text(".iso")),
        item(ex, 2, "$type", text("excludedFileName")),
        item(ex, 2, "name", text("rsync")),
        // The same threat type twice: neither applies.
        item(tt, 0, "key", text("archive_bomb")),
        item(tt, 0, "value", text("off")),
        item(tt, 1, "key", text("archive_bomb")),
        item(tt, 1, "value", text("block")),
        // A group child without its group, and a setting no mapping knows.
        key("antivirusengine_exclusions_item_path", text("/tmp")),
        setting("linux_mdatp_managed_features_moduleload", text("enabled")),
        // A proxy that is no URL, a global exclusion with a wildcard and one by process name.
        key("cloudservice_proxy", text("proxy:8080")),
        item(
            "exclusionsettings_exclusions",
            0,
            "$type",
            text("excludedPath"),
        ),
        item(
            "exclusionsettings_exclusions",
            0,
            "path",
            text("/home/*/cache"),
        ),
        item(
            "exclusionsettings_exclusions",
            1,
            "$type",
            text("excludedFileName"),
        ),
        item("exclusionsettings_exclusions", 1, "name", text("rsync")),
        setting("linux_mdatp_no_such_setting", text("1")),
    ];
    let out = run(dir.file_roots(ROOT), None, &settings);
    let by_index = |i: usize| &out.outcomes[i];
    let expect_error = |i: usize, needle: &str| {
        let o = by_index(i);
        assert_eq!(o.status, SettingStatus::Error, "{o:?}");
        let m = o.message.as_deref().unwrap();
        assert!(m.contains(needle), "{i}: {m}");
    };
    assert_unconfirmed(by_index(0), true, NOT_REPORTED);
    expect_error(1, "65 is outside 1..=64");
    expect_error(2, "expected 'true' or 'false' text, got integer");
    expect_error(3, "'sometimes' is not one of real_time, on_demand, passive");
    expect_error(4, "'delete' is not one of allow, restore");
    expect_error(
        5,
        "exclusion item 0: an excludedPath exclusion needs 'path'",
    );
    for i in 6..=8 {
        expect_error(
            i,
            "exclusion item 1: 'extension' does not apply to an excludedPath exclusion",
        );
    }
    assert_unconfirmed(by_index(9), true, NOT_REPORTED);
    assert_unconfirmed(by_index(10), true, NOT_REPORTED);
    for i in 11..=14 {
        expect_error(i, "'archive_bomb' is set by items 0, 1 of this group");
    }
    expect_error(15, "must come from an item of the group");
    let moduleload = by_index(16);
    assert_eq!(
        moduleload.status,
        SettingStatus::NotApplicable,
        "{moduleload:?}"
    );
    assert_eq!(
        moduleload.message.as_deref(),
        Some(
            "features.moduleLoad is not delivered by security settings management: Microsoft lists it with the Microsoft Defender portal value 'Not available' (linux-preferences.md, \"Configure advanced optional features\")"
        )
    );
    expect_error(
        17,
        "cloudService.proxy: 'proxy:8080' is not an http:// or https:// URL",
    );
    for i in 18..=19 {
        expect_error(
            i,
            "global exclusion item 0: '/home/*/cache' has a wildcard, which a global exclusion cannot have",
        );
    }
    for i in 20..=21 {
        expect_error(
            i,
            "global exclusion item 1: 'rsync' is not a process's full path without wildcards",
        );
    }
    expect_error(22, "no mapping for 'linux_mdatp_no_such_setting'");
    let doc: Value = serde_json::from_str(&written(&dir)).unwrap();
    assert_eq!(
        doc,
        json!({"antivirusEngine": {
            "scanArchives": true,
            "exclusions": [{"$type": "excludedFileName", "name": "rsync"}]
        }})
    );
}

#[test]
fn when_nothing_is_enforceable_the_existing_file_is_left_alone() {
    let dir = RootedDir::new();
    std::fs::write(
        dir.root().join(FILE),
        b"{\"cloudService\":{\"enabled\":true}}\n",
    )
    .unwrap();
    let out = run(
        dir.file_roots(ROOT),
        None,
        &[
            key("cloudservice_enabled", text("maybe")),
            // An item that cannot be written counts as nothing to write either.
            item(
                "antivirusengine_exclusions",
                0,
                "$type",
                text("excludedPath"),
            ),
        ],
    );
    assert_eq!(statuses(&out), [SettingStatus::Error; 2]);
    assert!(
        out.outcomes[1]
            .message
            .as_deref()
            .unwrap()
            .contains("needs 'path'")
    );
    assert_eq!(written(&dir), "{\"cloudService\":{\"enabled\":true}}\n");
}

/// A real `mdatp health` answer, edited to what Defender reports once the policy below took
/// effect — except for two values, one managed from elsewhere and one not applied at all.
fn health_after_policy() -> String {
    let path = shared_data().join("linux/mdatp-health.linux-101.23062.0010.glpi-agent.json");
    let mut health = read_json(&path);
    let mut set = |field: &str, value: Value, managed: bool| {
        health[field] = json!({"displayValue": true, "isManaged": managed, "value": value});
    };
    set("passiveModeEnabled", json!(false), true);
    set("realTimeProtectionEnabled", json!(true), true);
    set("behaviorMonitoring", json!("enabled"), true);
    set("cloudEnabled", json!(true), true);
    set("networkProtectionEnforcementLevel", json!("block"), true);
    set("edrGroupIds", json!("Finance-Servers-Group"), true);
    set(
        "edrDeviceTags",
        json!([{"key": "GROUP", "value": "Finance-Servers"}]),
        true,
    );
    // Managed, but not to the policy's value: another managed source wins.
    set("cloudAutomaticSampleSubmissionConsent", json!("none"), true);
    // Not managed and not the policy's value: Defender has not applied the file.
    set("automaticDefinitionUpdateEnabled", json!(false), false);
    health.to_string()
}

fn verified_policy() -> Vec<ResolvedSetting> {
    vec![
        key("antivirusengine_enforcementlevel", text("real_time")),
        key("antivirusengine_behaviormonitoring", text("enabled")),
        key("cloudservice_enabled", text("true")),
        key("networkprotection_enforcementlevel", text("block")),
        item("edr_tags", 0, "key", text("GROUP")),
        item("edr_tags", 0, "value", text("Finance-Servers")),
        key("edr_groupids", text("Finance-Servers-Group")),
        key(
            "cloudservice_automaticsamplesubmissionconsent",
            text("safe"),
        ),
        key(
            "cloudservice_automaticdefinitionupdateenabled",
            text("true"),
        ),
        // Not reported by mdatp health: verified by reading the file back.
        key("antivirusengine_scanarchives", text("true")),
    ]
}

#[cfg(unix)]
#[test]
fn mdatp_health_verifies_what_took_effect() {
    let dir = RootedDir::new();
    let double = rampart_tests::mdatp_test_double(&dir.scratch(), &health_after_policy());
    let defender = || MdatpDefender::with_command(&double);
    let settings = verified_policy();

    // First run: the file is written. Values Defender already reports are confirmed, so
    // remediated; the two it does not yet show stay unconfirmed (Defender applies the file
    // asynchronously), and so does a key Defender does not report at all.
    let first = run(dir.file_roots(ROOT), Some(defender()), &settings);
    for o in &first.outcomes[..7] {
        assert_eq!(
            (o.status, o.code, o.message.as_deref()),
            (SettingStatus::Remediated, None, None),
            "{o:?}"
        );
    }
    assert_unconfirmed(
        outcome(&first, "cloudservice_automaticsamplesubmissionconsent"),
        true,
        "Defender still reports cloudService_automaticSampleSubmissionConsent = 'none' (it applies the file asynchronously; the next run verifies it)",
    );
    assert_unconfirmed(
        outcome(&first, "cloudservice_automaticdefinitionupdateenabled"),
        true,
        "Defender still reports cloudService_automaticDefinitionUpdateEnabled = false",
    );
    assert_unconfirmed(
        outcome(&first, "antivirusengine_scanarchives"),
        true,
        NOT_REPORTED,
    );
    let unconfirmed = first
        .outcomes
        .iter()
        .filter(|o| o.code == Some(UNCONFIRMED));
    assert_eq!(unconfirmed.count(), 3);

    // Second run: the file already holds the policy. A mismatch now is an error that names
    // its likely cause, managed or not.
    let second = run(dir.file_roots(ROOT), Some(defender()), &settings);
    for o in &second.outcomes[..7] {
        assert_eq!(
            (o.status, o.code, o.message.as_deref()),
            (SettingStatus::Compliant, None, None),
            "{o:?}"
        );
    }
    let consent = outcome(&second, "cloudservice_automaticsamplesubmissionconsent");
    assert_eq!(consent.status, SettingStatus::Error);
    assert!(
        consent
            .message
            .as_deref()
            .unwrap()
            .contains("cloudService_automaticSampleSubmissionConsent = 'none' from a managed source, but mdeattach_managed.json sets 'safe': another managed configuration takes precedence"),
        "{consent:?}"
    );
    let updates = outcome(&second, "cloudservice_automaticdefinitionupdateenabled");
    assert_eq!(updates.status, SettingStatus::Error);
    assert!(
        updates
            .message
            .as_deref()
            .unwrap()
            .contains("does not mark it managed: Defender has not applied the file"),
        "{updates:?}"
    );
    assert_unconfirmed(
        outcome(&second, "antivirusengine_scanarchives"),
        false,
        NOT_REPORTED,
    );
}

#[test]
fn without_mdatp_the_file_is_written_and_every_value_says_why_it_is_unconfirmed() {
    let dir = RootedDir::new();
    let missing = MdatpDefender::with_command(dir.scratch().join("no-such-mdatp"));
    let out = run(dir.file_roots(ROOT), Some(missing), &verified_policy());
    for o in &out.outcomes {
        let why = if reported(o) {
            "Defender not queried: unavailable: Defender for Endpoint is not installed"
        } else {
            NOT_REPORTED
        };
        assert_unconfirmed(o, true, why);
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_root_is_a_capability_error_and_nothing_outside_changes() {
    let dir = RootedDir::new();
    std::os::unix::fs::symlink("../outside/secret.txt", dir.root().join(FILE)).unwrap();
    let before = dir.outside_snapshot();
    let out = run(dir.file_roots(ROOT), None, &full_policy());
    for o in &out.outcomes {
        assert_eq!(o.status, SettingStatus::Error, "{o:?}");
        let m = o.message.as_deref().unwrap();
        assert!(
            m.starts_with("reading mdeattach_managed.json: access denied:")
                && m.contains("leads outside the root"),
            "{m}"
        );
    }
    assert_eq!(dir.outside_snapshot(), before);
    assert!(
        std::fs::symlink_metadata(dir.root().join(FILE))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link itself is untouched"
    );
}

#[test]
fn an_over_size_write_is_refused_whole() {
    let dir = RootedDir::new();
    let before = dir.outside_snapshot();
    let out = run(dir.file_roots_limited(ROOT, 256), None, &full_policy());
    for o in &out.outcomes {
        assert_eq!(o.status, SettingStatus::Error, "{o:?}");
        let m = o.message.as_deref().unwrap();
        assert!(
            m.starts_with("writing mdeattach_managed.json: invalid argument:")
                && m.contains("over the 256-byte limit"),
            "{m}"
        );
    }
    assert_eq!(dir.root_listing(), Vec::<String>::new(), "nothing partial");
    assert_eq!(dir.outside_snapshot(), before);
}

#[test]
fn without_a_grant_or_with_a_read_only_root_nothing_is_written() {
    let dir = RootedDir::new();
    let caps = Capabilities::none().with_files(dir.file_roots(ROOT));
    let denied = linux_defender(&GrantPolicy::Ceiling(Grants::none()));
    assert!(denied.grants().is_empty());
    let out = denied
        .run(
            &linux_device(),
            &full_policy(),
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    for o in &out.outcomes {
        assert!(
            o.message
                .as_deref()
                .unwrap()
                .contains("access denied: file root 'mdatp-managed'"),
            "{o:?}"
        );
    }

    let mut read_only = FileRoots::new();
    read_only
        .open_ambient(ROOT, &dir.root(), FileAccess::Read)
        .unwrap();
    let out = run(Arc::new(read_only), None, &full_policy());
    for o in &out.outcomes {
        assert_eq!(o.status, SettingStatus::Error);
        assert!(
            o.message.as_deref().unwrap().contains("is read-only"),
            "{o:?}"
        );
    }
    assert_eq!(dir.root_listing(), Vec::<String>::new());
}

/// A Linux antivirus policy as Graph returns it (written for rampart: no real Linux export is
/// in the shared data), with two exclusions and a threat type setting.
const LINUX_AV_POLICY: &str = r##"{
  "id": "a3f0c1d2-0000-4000-8000-0000000011a1",
  "name": "Linux - Defender Antivirus",
  "platforms": "linux",
  "technologies": "microsoftSense",
  "templateReference": {"templateId": "4cfd164c-5e8a-4ea9-b15d-9aa71e4ffff4_1", "templateFamily": "endpointSecurityAntivirus"},
  "settings": [
    {"id": "0", "settingInstance": {
      "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
      "settingDefinitionId": "linux_mdatp_managed_antivirusengine_enforcementlevel",
      "choiceSettingValue": {"value": "linux_mdatp_managed_antivirusengine_enforcementlevel_0", "children": []}}},
    {"id": "1", "settingInstance": {
      "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
      "settingDefinitionId": "linux_mdatp_managed_cloudservice_enabled",
      "choiceSettingValue": {"value": "linux_mdatp_managed_cloudservice_enabled_true", "children": []}}},
    {"id": "2", "settingInstance": {
      "@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
      "settingDefinitionId": "linux_mdatp_managed_antivirusengine_maximumondemandscanthreads",
      "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue", "value": 4}}},
    {"id": "3", "settingInstance": {
      "@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingCollectionInstance",
      "settingDefinitionId": "linux_mdatp_managed_antivirusengine_disallowedthreatactions",
      "simpleSettingCollectionValue": [
        {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "allow"},
        {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "restore"}]}},
    {"id": "4", "settingInstance": {
      "@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
      "settingDefinitionId": "linux_mdatp_managed_antivirusengine_exclusions",
      "groupSettingCollectionValue": [
        {"children": [{
          "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
          "settingDefinitionId": "linux_mdatp_managed_antivirusengine_exclusions_item_$type",
          "choiceSettingValue": {"value": "linux_mdatp_managed_antivirusengine_exclusions_item_$type_0", "children": [
            {"@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
             "settingDefinitionId": "linux_mdatp_managed_antivirusengine_exclusions_item_path",
             "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "/opt/backup"}},
            {"@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
             "settingDefinitionId": "linux_mdatp_managed_antivirusengine_exclusions_item_isdirectory",
             "choiceSettingValue": {"value": "linux_mdatp_managed_antivirusengine_exclusions_item_isdirectory_true", "children": []}}]}}]},
        {"children": [{
          "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
          "settingDefinitionId": "linux_mdatp_managed_antivirusengine_exclusions_item_$type",
          "choiceSettingValue": {"value": "linux_mdatp_managed_antivirusengine_exclusions_item_$type_1", "children": [
            {"@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
             "settingDefinitionId": "linux_mdatp_managed_antivirusengine_exclusions_item_extension",
             "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": ".bak"}}]}}]}]}},
    {"id": "5", "settingInstance": {
      "@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
      "settingDefinitionId": "linux_mdatp_managed_antivirusengine_threattypesettings",
      "groupSettingCollectionValue": [
        {"children": [
          {"@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
           "settingDefinitionId": "linux_mdatp_managed_antivirusengine_threattypesettings_item_key",
           "choiceSettingValue": {"value": "linux_mdatp_managed_antivirusengine_threattypesettings_item_key_0", "children": []}},
          {"@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
           "settingDefinitionId": "linux_mdatp_managed_antivirusengine_threattypesettings_item_value",
           "choiceSettingValue": {"value": "linux_mdatp_managed_antivirusengine_threattypesettings_item_value_1", "children": []}}]}]}}
  ]
}"##;

#[test]
fn a_linux_policy_resolves_through_the_catalog_and_lands_in_the_file() {
    let dir = RootedDir::new();
    let doc = parse_policy(LINUX_AV_POLICY.as_bytes(), "linux-av.json").expect("valid policy");
    let device = linux_device();
    let resolved = resolve(&[doc], &device, &Catalog::embedded());
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(linux_defender(&files_ceiling(&[ROOT]))));
    let caps = Capabilities::none().with_files(dir.file_roots(ROOT));
    let report = Enforcer::new(caps, RunLimits::default()).enforce(&plugins, &device, &resolved);
    let policy = &report.policies[0];
    // No Defender to confirm the values: every setting is in the file and `unknown`, so the
    // policy is pending rather than succeeded.
    assert_eq!(policy.status, PolicyStatus::Pending, "{policy:#?}");
    assert_eq!(policy.settings.len(), 11, "{policy:#?}");
    for s in &policy.settings {
        assert_eq!(s.status, SettingStatus::Unknown, "{s:?}");
        assert_eq!(s.plugin.as_deref(), Some("linux-defender"));
        let message = s.message.as_deref().unwrap_or_default();
        assert!(message.starts_with("written; "), "{s:?}");
    }
    let written: Value = serde_json::from_str(&written(&dir)).unwrap();
    assert_eq!(
        written,
        json!({"antivirusEngine": {
            "enforcementLevel": "real_time",
            "maximumOnDemandScanThreads": 4,
            "disallowedThreatActions": ["allow", "restore"],
            "exclusions": [
                {"$type": "excludedPath", "isDirectory": true, "path": "/opt/backup"},
                {"$type": "excludedFileExtension", "extension": ".bak"}
            ],
            "threatTypeSettings": [{"key": "potentially_unwanted_application", "value": "block"}]
        },
        "cloudService": {"enabled": true}})
    );
}

/// A policy of the "Microsoft Defender Global Exclusions (AV+EDR)" template as Graph returns it
/// (written for rampart; ids and option itemIds as Microsoft365DSC's
/// `MSFT_IntuneDefenderGlobalExclusionsPolicyLinux` shows them): a directory and a process.
const LINUX_GLOBAL_EXCLUSIONS_POLICY: &str = r##"{
  "id": "a3f0c1d2-0000-4000-8000-0000000011a2",
  "name": "Linux - Global exclusions",
  "platforms": "linux",
  "technologies": "microsoftSense",
  "templateReference": {"templateId": "dfa57610-d11d-4bf8-89d6-1f5cb1679506_1", "templateFamily": "endpointSecurityAntivirus"},
  "settings": [
    {"id": "0", "settingInstance": {
      "@odata.type": "#microsoft.graph.deviceManagementConfigurationGroupSettingCollectionInstance",
      "settingDefinitionId": "linux_mdatp_managed_exclusionsettings_exclusions",
      "groupSettingCollectionValue": [
        {"children": [{
          "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
          "settingDefinitionId": "linux_mdatp_managed_exclusionsettings_exclusions_item_$type",
          "choiceSettingValue": {"value": "linux_mdatp_managed_exclusionsettings_exclusions_item_$type_0", "children": [
            {"@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
             "settingDefinitionId": "linux_mdatp_managed_exclusionsettings_exclusions_item_path",
             "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "/srv/db"}},
            {"@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
             "settingDefinitionId": "linux_mdatp_managed_exclusionsettings_exclusions_item_isdirectory",
             "choiceSettingValue": {"value": "linux_mdatp_managed_exclusionsettings_exclusions_item_isdirectory_true", "children": []}}]}}]},
        {"children": [{
          "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
          "settingDefinitionId": "linux_mdatp_managed_exclusionsettings_exclusions_item_$type",
          "choiceSettingValue": {"value": "linux_mdatp_managed_exclusionsettings_exclusions_item_$type_1", "children": [
            {"@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
             "settingDefinitionId": "linux_mdatp_managed_exclusionsettings_exclusions_item_name",
             "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "/usr/sbin/mysqld"}}]}}]}]}}
  ]
}"##;

#[test]
fn a_global_exclusions_policy_resolves_through_the_catalog_and_lands_with_its_scope() {
    let dir = RootedDir::new();
    let doc = parse_policy(LINUX_GLOBAL_EXCLUSIONS_POLICY.as_bytes(), "global.json")
        .expect("valid policy");
    let settings: Vec<ResolvedSetting> = flatten(&doc, &Catalog::embedded())
        .into_iter()
        .map(|outcome| outcome.expect("every setting resolves"))
        .collect();
    assert_eq!(settings.len(), 5, "{settings:#?}");
    let out = run(dir.file_roots(ROOT), None, &settings);
    assert_eq!(out.outcomes.len(), 5, "{out:#?}");
    assert_all_unconfirmed(&out, |_| true);
    let written: Value = serde_json::from_str(&written(&dir)).unwrap();
    assert_eq!(
        written,
        json!({"exclusionSettings": {"exclusions": [
            {"$type": "excludedPath", "isDirectory": true, "path": "/srv/db", "scopes": ["global"]},
            {"$type": "excludedFileName", "name": "/usr/sbin/mysqld", "scopes": ["global"]}
        ]}})
    );
}

/// The global exclusions policy above and a second one that repeats its directory and adds a
/// process, both through resolve and enforce: the template applies to a Linux device, identical
/// items from the two policies become one, and every item lands with its scope.
#[test]
fn global_exclusions_policies_apply_merge_and_reach_the_plugin() {
    let dir = RootedDir::new();
    let first = parse_policy(LINUX_GLOBAL_EXCLUSIONS_POLICY.as_bytes(), "global-1.json")
        .expect("valid policy");
    let mut second: Value = serde_json::from_str(LINUX_GLOBAL_EXCLUSIONS_POLICY).unwrap();
    second["id"] = json!("a3f0c1d2-0000-4000-8000-0000000011a3");
    second["name"] = json!("Linux - Global exclusions (backup)");
    second["settings"][0]["settingInstance"]["groupSettingCollectionValue"][1]["children"][0]["choiceSettingValue"]
        ["children"][0]["simpleSettingValue"]["value"] = json!("/opt/backup/agent");
    let second = parse_policy(second.to_string().as_bytes(), "global-2.json").expect("valid");
    let device = linux_device();
    let resolved = resolve(&[first, second], &device, &Catalog::embedded());
    for policy in &resolved {
        assert_eq!(policy.not_applicable, None, "{policy:#?}");
    }
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(linux_defender(&files_ceiling(&[ROOT]))));
    let caps = Capabilities::none().with_files(dir.file_roots(ROOT));
    let report = Enforcer::new(caps, RunLimits::default()).enforce(&plugins, &device, &resolved);
    assert_eq!(report.policies.len(), 2);
    for policy in &report.policies {
        // In the file, but Defender does not report exclusions: pending, never succeeded.
        assert_eq!(policy.status, PolicyStatus::Pending, "{policy:#?}");
        assert_eq!(policy.settings.len(), 5, "{policy:#?}");
        for s in &policy.settings {
            assert_eq!(s.status, SettingStatus::Unknown, "{s:?}");
            assert_eq!(s.plugin.as_deref(), Some("linux-defender"));
            assert_eq!(
                s.message.as_deref(),
                Some("written; Defender does not report this key"),
                "{s:?}"
            );
        }
    }
    let written: Value = serde_json::from_str(&written(&dir)).unwrap();
    assert_eq!(
        written,
        json!({"exclusionSettings": {"exclusions": [
            {"$type": "excludedPath", "isDirectory": true, "path": "/srv/db", "scopes": ["global"]},
            {"$type": "excludedFileName", "name": "/usr/sbin/mysqld", "scopes": ["global"]},
            {"$type": "excludedFileName", "name": "/opt/backup/agent", "scopes": ["global"]}
        ]}})
    );
}

/// What an earlier plugin version left: a file the ledger says `linux-defender` wrote.
fn ledger_owning(dir: &RootedDir, name: &str, bytes: &[u8]) -> rampart_runtime::drift::Ledger {
    std::fs::write(dir.root().join(name), bytes).unwrap();
    let mut ledger = rampart_runtime::drift::Ledger::in_memory();
    ledger.record(
        "linux-defender",
        &[rampart_runtime::Change::File {
            root: ROOT.into(),
            path: name.into(),
            before: None,
            after_size: Some(bytes.len() as u64),
            after_text: None,
        }],
        "2026-01-01T00:00:00Z",
    );
    ledger.refresh_files(&Capabilities::none().with_files(dir.file_roots(ROOT)));
    ledger
}

#[test]
fn a_file_an_earlier_version_wrote_is_removed_when_the_plugin_writes_elsewhere() {
    // Version 0.1 of the plugin wrote mdatp_managed.json; this version writes
    // mdeattach_managed.json. The old file still holds what rampart wrote: removed, journaled,
    // and listed in the run's changes, while the file this version writes stays.
    let old = br#"{"cloudService":{"enabled":true}}"#;
    for (something_else_changed_it, removed) in [(false, true), (true, false)] {
        let dir = RootedDir::new();
        let ledger = ledger_owning(&dir, "mdatp_managed.json", old);
        if something_else_changed_it {
            std::fs::write(dir.root().join("mdatp_managed.json"), b"{}").unwrap();
        }
        let mut plugins = PluginSet::new();
        plugins.insert(Arc::new(linux_defender(&files_ceiling(&[ROOT]))));
        let caps = Capabilities::none().with_files(dir.file_roots(ROOT));
        let enforcer = Enforcer::new(caps, RunLimits::default()).with_ledger(ledger);
        let policy = rampart_tests::policy_of(vec![key("cloudservice_enabled", text("true"))]);
        let report = enforcer.enforce(&plugins, &linux_device(), &policy);
        assert!(dir.root().join(FILE).exists(), "{report:#?}");
        assert_eq!(
            dir.root().join("mdatp_managed.json").exists(),
            !removed,
            "{report:#?}"
        );
        let changes: Vec<String> = report.plugins[0]
            .changes
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            changes.iter().any(|c| c.contains("mdatp_managed.json")),
            removed,
            "{changes:?}"
        );
        if something_else_changed_it {
            let released = &report.plugins[0].released;
            assert!(
                released.iter().any(|r| r.contains("mdatp_managed.json")
                    && r.contains("no longer what rampart wrote")),
                "{released:?}"
            );
        }
        // The file this version writes is still needed: a second pass removes nothing.
        let again = enforcer.enforce(&plugins, &linux_device(), &policy);
        assert!(dir.root().join(FILE).exists());
        assert!(
            again.plugins[0].changes.is_empty(),
            "{:?}",
            again.plugins[0].changes
        );
    }
}
