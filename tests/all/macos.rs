//! The first-party macOS Defender plugin, run in the sandbox against a real directory served as
//! the `library-preferences` file root (where it writes security settings management's
//! `com.microsoft.mdeattach.plist`), and the real OpenIntuneBaseline macOS export (an
//! MDM-channel policy) through the whole pipeline.

use std::sync::Arc;

use rampart_policy::applicability;
use rampart_policy::catalog::Catalog;
use rampart_policy::graph::load_policy_file;
use rampart_policy::resolve::resolve;
use rampart_policy::settings::{GroupPosition, ResolvedSetting, SettingValue, flatten};
use rampart_policy::status::{PolicyStatus, SettingStatus};
use rampart_runtime::report::DeviceReport;
use rampart_runtime::{
    Capabilities, Enforcer, PluginSet, RunLimits, RunOutput, SettingOutcome, UNCONFIRMED,
};
use rampart_tests::{
    RootedDir, assert_golden, files_ceiling, macos_defender, macos_device, setting, shared_data,
};

const P: &str = "com.apple.managedclient.preferences_";
const ROOT: &str = "library-preferences";
const FILE: &str = "com.microsoft.mdeattach.plist";
const EXPORT: &str = "macos-sc-defender-antivirus-configuration.oib-v1.0.json";

fn text(s: &str) -> SettingValue {
    SettingValue::Text(s.into())
}

fn item(group: &str, index: u32, field: &str, value: SettingValue) -> ResolvedSetting {
    ResolvedSetting {
        id: format!("{P}{field}"),
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

fn run(dir: &RootedDir, settings: &[ResolvedSetting]) -> RunOutput {
    let caps = Capabilities::none().with_files(dir.file_roots(ROOT));
    macos_defender(&files_ceiling(&[ROOT]))
        .run(
            &macos_device(&["mdm"]),
            settings,
            &caps,
            &RunLimits::default(),
        )
        .expect("the run completes")
}

/// Why every value the plugin writes stays unconfirmed: it does not ask Defender.
const NOT_QUERIED: &str =
    "Defender not queried (the plugin does not read wdavdaemon's effective values)";

/// Asserts that `o` is in the plist but unconfirmed: `unknown`, with the code that marks it and
/// "written; …" (this run wrote it) or "already in place; …".
fn assert_unconfirmed(o: &SettingOutcome, changed: bool) {
    let done = if changed {
        "written"
    } else {
        "already in place"
    };
    assert_eq!(
        (o.status, o.code, o.message.clone()),
        (
            SettingStatus::Unknown,
            Some(UNCONFIRMED),
            Some(format!("{done}; {NOT_QUERIED}"))
        ),
        "{o:?}"
    );
}

fn written(dir: &RootedDir) -> Vec<u8> {
    std::fs::read(dir.root().join(FILE)).expect("the plist was written")
}

/// The written plist, parsed by the `plist` crate: proof that it is a valid property list.
fn parsed(dir: &RootedDir) -> plist::Dictionary {
    plist::Value::from_reader_xml(std::io::Cursor::new(written(dir)))
        .expect("a valid XML plist")
        .into_dictionary()
        .expect("a dictionary at the top")
}

fn export_report(dir: &RootedDir, channels: &[&str]) -> DeviceReport {
    let doc = load_policy_file(&shared_data().join("intune-exports").join(EXPORT))
        .expect("the real export parses");
    let device = macos_device(channels);
    let resolved = resolve(&[doc], &device, &Catalog::embedded());
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(macos_defender(&files_ceiling(&[ROOT]))));
    let caps = Capabilities::none().with_files(dir.file_roots(ROOT));
    Enforcer::new(caps, RunLimits::default()).enforce(&plugins, &device, &resolved)
}

#[test]
fn every_setting_of_the_real_macos_export_resolves_through_the_catalog() {
    let doc = load_policy_file(&shared_data().join("intune-exports").join(EXPORT)).unwrap();
    let flattened = flatten(&doc, &Catalog::embedded());
    // 19 top-level settings, two of them groups (2 threat type items of 2 children, 1 tamper
    // protection exclusion of 3 children): 17 + 4 + 3 resolved settings.
    assert_eq!(flattened.len(), 24);
    for outcome in &flattened {
        assert!(outcome.is_ok(), "{outcome:?}");
    }
}

#[test]
fn the_mdm_channel_export_is_not_applicable_to_a_device_managed_only_by_defender() {
    let dir = RootedDir::new();
    let report = export_report(&dir, &["microsoftSense"]);
    let policy = &report.policies[0];
    assert_eq!(policy.status, PolicyStatus::NotApplicable);
    assert_eq!(
        policy.message.as_deref(),
        Some(
            "technologies 'mdm,appleRemoteManagement' include none of the device's channels 'microsoftSense'"
        )
    );
    assert!(
        policy
            .settings
            .iter()
            .all(|s| s.status == SettingStatus::NotApplicable)
    );
    assert_eq!(dir.root_listing(), Vec::<String>::new(), "nothing written");
}

/// The real export's settings as the catalog resolves them.
fn export_settings() -> Vec<ResolvedSetting> {
    let doc = load_policy_file(&shared_data().join("intune-exports").join(EXPORT)).unwrap();
    flatten(&doc, &Catalog::embedded())
        .into_iter()
        .map(|outcome| outcome.expect("every setting resolves"))
        .collect()
}

#[test]
fn the_real_export_becomes_the_mdeattach_plist_and_a_rerun_finds_it_in_place() {
    let dir = RootedDir::new();
    let before = dir.outside_snapshot();
    let settings = export_settings();
    let out = run(&dir, &settings);
    assert_eq!(out.outcomes.len(), settings.len());
    for o in &out.outcomes {
        assert_unconfirmed(o, true);
    }
    let bytes = written(&dir);
    assert_golden(
        "macos/com.microsoft.mdeattach.plist",
        std::str::from_utf8(&bytes).expect("UTF-8"),
    );
    assert_eq!(dir.outside_snapshot(), before);
    assert_eq!(dir.root_listing(), [FILE], "no temporary files remain");

    let wdav = parsed(&dir);
    let section = |name: &str| {
        wdav.get(name)
            .and_then(plist::Value::as_dictionary)
            .unwrap_or_else(|| panic!("no {name} dictionary"))
    };
    let string = |section_name: &str, key: &str| {
        section(section_name)
            .get(key)
            .and_then(plist::Value::as_string)
            .map(str::to_owned)
    };
    // Values as OpenIntuneBaseline's own documentation shows them for this policy.
    for (section_name, key, value) in [
        ("antivirusEngine", "enforcementLevel", "real_time"),
        ("antivirusEngine", "exclusionsMergePolicy", "admin_only"),
        (
            "antivirusEngine",
            "threatTypeSettingsMergePolicy",
            "admin_only",
        ),
        ("cloudService", "cloudBlockLevel", "normal"),
        ("cloudService", "diagnosticLevel", "optional"),
        ("tamperProtection", "enforcementLevel", "block"),
        ("networkProtection", "enforcementLevel", "block"),
        ("userInterface", "consumerExperience", "disabled"),
        ("features", "systemExtensions", "enabled"),
    ] {
        assert_eq!(
            string(section_name, key).as_deref(),
            Some(value),
            "{section_name}.{key}"
        );
    }
    for (section_name, key, value) in [
        ("antivirusEngine", "scanArchives", true),
        ("antivirusEngine", "scanAfterDefinitionUpdate", true),
        ("cloudService", "enabled", true),
        ("cloudService", "automaticSampleSubmission", true),
        ("cloudService", "automaticDefinitionUpdateEnabled", true),
        ("edr", "earlyPreview", false),
        ("userInterface", "hideStatusMenuIcon", false),
    ] {
        assert_eq!(
            section(section_name)
                .get(key)
                .and_then(plist::Value::as_boolean),
            Some(value),
            "{section_name}.{key}"
        );
    }
    let threats = section("antivirusEngine")["threatTypeSettings"]
        .as_array()
        .expect("threat type settings");
    assert_eq!(threats.len(), 2);
    let exclusion = section("tamperProtection")["exclusions"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(plist::Value::as_dictionary)
        .expect("one tamper protection exclusion");
    assert_eq!(exclusion["teamId"].as_string(), Some("UBF8T346G9"));
    assert_eq!(exclusion["signingId"].as_string(), Some("IntuneMdmDaemon"));

    // The same policy again: already in place, and the file is not rewritten.
    let again = run(&dir, &settings);
    for o in &again.outcomes {
        assert_unconfirmed(o, false);
    }
    assert_eq!(written(&dir), bytes);
}

#[test]
fn a_device_that_accepts_mdm_passes_the_channel_check_for_the_export() {
    let doc = load_policy_file(&shared_data().join("intune-exports").join(EXPORT)).unwrap();
    for channels in [
        &["mdm"][..],
        &["microsoftSense", "mdm"],
        &["appleRemoteManagement"],
    ] {
        if let Err(reason) = applicability::check(&doc, &macos_device(channels)) {
            assert!(
                !reason.reason.contains("channels"),
                "{channels:?}: the channel check failed: {reason}"
            );
        }
    }
    let refused = applicability::check(&doc, &macos_device(&["microsoftSense"])).unwrap_err();
    assert!(refused.reason.contains("channels"), "{refused}");
}

/// End to end: the MDM-channel export applies on a device whose channels include `mdm`.
/// Security settings management's template rules do not bind a policy that arrives through the
/// MDM channel.
#[test]
fn the_mdm_channel_export_applies_end_to_end_when_the_device_accepts_mdm() {
    let dir = RootedDir::new();
    let report = export_report(&dir, &["mdm"]);
    let policy = &report.policies[0];
    // In the plist, but Defender is not asked: every setting `unknown`, the policy pending.
    assert_eq!(policy.status, PolicyStatus::Pending, "{policy:#?}");
    assert_eq!(policy.settings.len(), 24);
    let written = format!("written; {NOT_QUERIED}");
    for s in &policy.settings {
        assert_eq!(s.status, SettingStatus::Unknown, "{s:?}");
        assert_eq!(s.message.as_deref(), Some(written.as_str()), "{s:?}");
        assert_eq!(s.plugin.as_deref(), Some("macos-defender"));
    }
    assert!(dir.root().join(FILE).is_file());
}

#[test]
fn groups_integers_as_strings_and_markup_in_text_round_trip() {
    let dir = RootedDir::new();
    let settings = vec![
        item(
            "exclusions",
            0,
            "exclusions_item_$type",
            text("excludedPath"),
        ),
        item(
            "exclusions",
            0,
            "exclusions_item_path",
            text("/Users/<me>/R&D \"lab\""),
        ),
        item("exclusions", 0, "exclusions_item_isdirectory", text("true")),
        item(
            "exclusions",
            1,
            "exclusions_item_$type",
            text("excludedFileExtension"),
        ),
        item("exclusions", 1, "exclusions_item_extension", text("pdf")),
        key("scanresultsretentiondays", SettingValue::Integer(30)),
        key("maximumondemandscanthreads", SettingValue::Integer(4)),
        item(
            "exclusions_tamperprotection",
            0,
            "exclusions_item_path_tamperprotection",
            text("/bin/zsh"),
        ),
        item(
            "exclusions_tamperprotection",
            0,
            "exclusions_item_args_tamperprotection",
            SettingValue::TextList(vec!["/usr/local/bin/test.sh".into()]),
        ),
    ];
    let out = run(&dir, &settings);
    for o in &out.outcomes {
        assert_unconfirmed(o, true);
    }
    let raw = String::from_utf8(written(&dir)).unwrap();
    assert!(
        raw.contains("<string>/Users/&lt;me&gt;/R&amp;D &quot;lab&quot;</string>"),
        "{raw}"
    );
    let wdav = parsed(&dir);
    let av = wdav["antivirusEngine"].as_dictionary().unwrap();
    // Documented as String on macOS, unlike Linux.
    assert_eq!(av["scanResultsRetentionDays"].as_string(), Some("30"));
    assert_eq!(
        av["maximumOnDemandScanThreads"].as_signed_integer(),
        Some(4)
    );
    let first = av["exclusions"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(first["path"].as_string(), Some("/Users/<me>/R&D \"lab\""));
    assert_eq!(first["isDirectory"].as_boolean(), Some(true));
    let tamper = wdav["tamperProtection"].as_dictionary().unwrap()["exclusions"]
        .as_array()
        .unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(
        tamper["args"].as_array().unwrap()[0].as_string(),
        Some("/usr/local/bin/test.sh")
    );
}

#[test]
fn text_a_plist_cannot_hold_and_incomplete_items_are_errors() {
    let dir = RootedDir::new();
    let settings = vec![
        key("enabled", text("true")),
        item(
            "exclusions",
            0,
            "exclusions_item_$type",
            text("excludedFileName"),
        ),
        item(
            "exclusions",
            0,
            "exclusions_item_name",
            text("bad\u{1}name"),
        ),
        item(
            "exclusions_tamperprotection",
            0,
            "exclusions_item_args_tamperprotection",
            SettingValue::TextList(vec!["--x".into()]),
        ),
        key("enforcementlevel_antivirusengine", SettingValue::Integer(2)),
    ];
    let out = run(&dir, &settings);
    let message = |i: usize| out.outcomes[i].message.clone().unwrap_or_default();
    assert_unconfirmed(&out.outcomes[0], true);
    for (i, needle) in [
        (1, "control characters a property list cannot hold"),
        (2, "control characters a property list cannot hold"),
        (3, "needs a path, teamId or signingId"),
        (4, "expected text, got integer"),
    ] {
        assert_eq!(out.outcomes[i].status, SettingStatus::Error, "{i}");
        assert!(message(i).contains(needle), "{i}: {}", message(i));
    }
    let wdav = parsed(&dir);
    assert_eq!(wdav.keys().collect::<Vec<_>>(), ["cloudService"]);
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_root_is_a_capability_error_and_nothing_outside_changes() {
    let dir = RootedDir::new();
    std::os::unix::fs::symlink("../outside/secret.txt", dir.root().join(FILE)).unwrap();
    let before = dir.outside_snapshot();
    let out = run(&dir, &[key("enabled", text("true"))]);
    let o = &out.outcomes[0];
    assert_eq!(o.status, SettingStatus::Error);
    let m = o.message.as_deref().unwrap();
    assert!(
        m.starts_with("reading com.microsoft.mdeattach.plist: access denied:")
            && m.contains("leads outside the root"),
        "{m}"
    );
    assert_eq!(dir.outside_snapshot(), before);
}

#[test]
fn update_interval_proxy_device_tags_and_group_ids_land_in_the_plist() {
    let dir = RootedDir::new();
    let settings = vec![
        key("definitionupdatesinterval", SettingValue::Integer(28800)),
        key("proxy", text("http://proxy.contoso.com:3128")),
        item("tags", 0, "tags_item_key", text("GROUP")),
        item("tags", 0, "tags_item_value", text("Finance-Macs")),
        key("groupids", text("Finance-Macs-Group")),
        // A bad value: definitionUpdateDue is 1 through 30.
        key("definitionupdatedue", SettingValue::Integer(31)),
    ];
    let out = run(&dir, &settings);
    for o in &out.outcomes[..5] {
        assert_unconfirmed(o, true);
    }
    assert_eq!(out.outcomes[5].status, SettingStatus::Error);
    let wdav = parsed(&dir);
    let cloud = wdav["cloudService"].as_dictionary().unwrap();
    assert_eq!(
        cloud["definitionUpdatesInterval"].as_signed_integer(),
        Some(28800)
    );
    assert_eq!(
        cloud["proxy"].as_string(),
        Some("http://proxy.contoso.com:3128")
    );
    assert!(cloud.get("definitionUpdateDue").is_none());
    let edr = wdav["edr"].as_dictionary().unwrap();
    assert_eq!(edr["groupIds"].as_string(), Some("Finance-Macs-Group"));
    let tag = edr["tags"].as_array().unwrap()[0].as_dictionary().unwrap();
    assert_eq!(tag["key"].as_string(), Some("GROUP"));
    assert_eq!(tag["value"].as_string(), Some("Finance-Macs"));

    let bad = run(
        &dir,
        &[
            key("definitionupdatesinterval", SettingValue::Integer(30)),
            key("proxy", text("socks5://proxy:1080")),
            key("groupids", text("Finance-Macs-Group")),
        ],
    );
    let message = |i: usize| bad.outcomes[i].message.clone().unwrap_or_default();
    assert_eq!(bad.outcomes[0].status, SettingStatus::Error);
    assert!(
        message(0).contains("30 is outside 60..=86400"),
        "{}",
        message(0)
    );
    assert_eq!(bad.outcomes[1].status, SettingStatus::Error);
    assert!(
        message(1).starts_with(
            "cloudService.proxy: 'socks5://proxy:1080' is not an http:// or https:// URL"
        ),
        "{}",
        message(1)
    );
    assert_unconfirmed(&bad.outcomes[2], false);
}
