//! The `rampart` command line: the embedded main job, JSON output, and bad input.

use std::path::Path;

use assert_cmd::Command;

mod support;

fn rampart() -> Command {
    let mut cmd = Command::cargo_bin("rampart").expect("binary built");
    cmd.env_remove("RAMPART_LOG");
    cmd
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A bad-input failure: exit code 2, one line on stderr naming `file`, and no state written.
fn assert_bad_input(out: &std::process::Output, file: &Path, state: &Path) {
    let stderr = stderr_of(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.starts_with("rampart: "), "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "must name {}: {stderr}",
        file.display()
    );
    assert!(!state.exists(), "nothing may be written on bad input");
}

#[test]
fn apply_with_no_arguments_runs_the_embedded_default_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let first = rampart()
        .args(["apply", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    let table = String::from_utf8(first.stdout).unwrap();
    assert!(
        table.contains("Contoso - Defender Antivirus baseline  [Succeeded]"),
        "{table}"
    );
    assert!(
        table.contains("defender/allowrealtimemonitoring"),
        "{table}"
    );
    assert!(
        table.contains("Summary: 16 settings: 15 remediated, 1 notApplicable"),
        "{table}"
    );
    // The Exchange-server-only ASR rule does not apply to a workstation.
    assert!(
        table.contains("asr/blockwebshellcreationforservers")
            && table.contains("applies only to Windows Server"),
        "{table}"
    );
    assert!(state.join("registry.reg").is_file());
    assert!(state.join("last-report.json").is_file());

    let second = rampart()
        .args(["apply", "--json", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    let policies = report["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2);
    for policy in policies {
        assert!(policy["id"].is_string() && policy["name"].is_string());
        assert_eq!(policy["status"], "succeeded");
        for setting in policy["settings"].as_array().unwrap() {
            let expected = if setting["id"]
                .as_str()
                .unwrap()
                .ends_with("blockwebshellcreationforservers")
            {
                "notApplicable"
            } else {
                "compliant"
            };
            assert_eq!(setting["status"], expected, "{setting}");
            assert!(
                setting["id"]
                    .as_str()
                    .unwrap()
                    .starts_with("device_vendor_msft_")
            );
        }
    }
}

#[test]
fn registry_export_shows_what_apply_wrote_and_import_seeds_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Seed a value that contradicts the example policy: apply must remediate it.
    let seed = dir.path().join("seed.reg");
    std::fs::write(
        &seed,
        "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\MpEngine]\r\n\"MpCloudBlockLevel\"=dword:00000000\r\n",
    )
    .unwrap();
    let import = rampart()
        .args(["registry", "import"])
        .arg(&seed)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(import.status.code(), Some(0), "{}", stderr_of(&import));

    let apply = rampart()
        .args(["apply", "--json", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&apply.stdout).unwrap();
    let cloud = report["policies"][0]["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "device_vendor_msft_policy_config_defender_cloudblocklevel")
        .unwrap()
        .clone();
    assert_eq!(cloud["status"], "remediated");

    let export = rampart()
        .args(["registry", "export", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let text = String::from_utf8(export.stdout).unwrap();
    assert!(
        text.starts_with("Windows Registry Editor Version 5.00"),
        "{text}"
    );
    assert!(
        text.contains("\"MpCloudBlockLevel\"=dword:00000002"),
        "{text}"
    );
    assert!(
        text.contains("\"DisableRealtimeMonitoring\"=dword:00000000"),
        "{text}"
    );
}

#[test]
fn a_malformed_policy_is_a_one_line_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, "{ \"name\": \"x\", \"settings\": [ }").unwrap();
    let out = rampart()
        .args(["apply", "--policies"])
        .arg(&bad)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_bad_input(&out, &bad, &state);

    let missing_value = dir.path().join("missing-value.json");
    std::fs::write(
        &missing_value,
        r##"{"id":"1","name":"p","platforms":"windows10","technologies":"microsoftSense","settings":[{"id":"0","settingInstance":{"@odata.type":"#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance","settingDefinitionId":"x","choiceSettingValue":{"children":[]}}}]}"##,
    )
    .unwrap();
    let out = rampart()
        .args(["apply", "--policies"])
        .arg(&missing_value)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_bad_input(&out, &missing_value, &state);
    assert!(
        stderr_of(&out).contains("settings[0].settingInstance"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_malformed_device_file_is_a_one_line_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let bad = dir.path().join("device.toml");
    std::fs::write(
        &bad,
        "id = \"x\"\nname = \"y\"\nplatform = \"windows-phone\"\nos-version = \"1\"\n",
    )
    .unwrap();
    let out = rampart()
        .args(["apply", "--device"])
        .arg(&bad)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_bad_input(&out, &bad, &state);
}

#[test]
fn a_malformed_plugin_file_is_a_one_line_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let bad = plugins.join("broken.wasm");
    std::fs::write(&bad, b"\0asm\x0d\x00\x01\x00 truncated").unwrap();
    let out = rampart()
        .args(["apply", "--plugins"])
        .arg(&plugins)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_bad_input(&out, &bad, &state);
}

#[test]
fn a_directory_plugin_signed_for_its_name_overrides_the_embedded_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let plugins = dir.path().join("plugins");
    let trust = support::deploy_signed(
        rampart_plugin_artifacts::get("windows-defender").unwrap(),
        &plugins,
        "windows-defender.wasm",
        "windows-defender",
    );
    let out = rampart()
        .args(["apply", "--json", "-v", "--plugins"])
        .arg(&plugins)
        .arg("--trust")
        .arg(&trust)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("directory plugin overrides the embedded one"),
        "{}",
        stderr_of(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plugins"].as_array().unwrap().len(), 1);
}

#[test]
fn the_example_firewall_rules_land_under_the_built_in_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/policies/contoso-firewall-rules.json");
    let apply = rampart()
        .args(["apply", "--policies"])
        .arg(&policy)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&apply.stdout)
    );
    let export = rampart()
        .args(["registry", "export", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let text = String::from_utf8(export.stdout).unwrap();
    assert!(
        text.contains("[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\Mdm\\FirewallRules]"),
        "{text}"
    );
    assert!(
        text.contains("\"Block outbound to lab network\"=\"v2.20|Action=Block|Active=TRUE|Dir=Out|RA4=10.20.0.0/16|RA4=192.168.50.10-192.168.50.20|Name=Block outbound to lab network|\""),
        "{text}"
    );
}

#[test]
fn the_shared_windows_exports_are_denied_nothing_under_the_built_in_ceiling() {
    // Plugin tests run under a permissive ceiling; this is the agent's own. Every key the
    // windows-defender plugin writes for the shared exports (Defender, Windows Security, EDR,
    // firewall profiles) must be inside it.
    let dir = tempfile::tempdir().unwrap();
    let mut policies: Vec<std::path::PathBuf> = std::fs::read_dir(shared_exports())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("win-es-"))
        })
        .collect();
    policies.sort();
    assert!(policies.len() >= 5, "{policies:?}");
    let out = rampart()
        .args(["apply", "--json", "--keep-going", "--policies"])
        .args(&policies)
        .arg("--state")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr_of(&out)));
    let mut settings = 0;
    for policy in report["policies"].as_array().unwrap() {
        for setting in policy["settings"].as_array().unwrap() {
            settings += 1;
            let message = setting["message"].as_str().unwrap_or_default();
            assert!(!message.contains("denied"), "{}: {message}", setting["id"]);
        }
    }
    assert!(settings > 80, "{settings} settings reported");
    let remediated = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["settings"].as_array().unwrap())
        .filter(|s| s["status"] == "remediated" || s["status"] == "unknown")
        .count();
    // Remediated, or written where no consumer can be asked (`unknown`, "written; …").
    assert!(remediated > 60, "{remediated} written");
}

#[test]
fn settings_that_end_in_error_give_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let policy = dir.path().join("weaken.json");
    std::fs::write(
        &policy,
        r##"{"id":"w","name":"Turn off real-time protection","platforms":"windows10","technologies":"mdm,microsoftSense",
            "templateReference":{"templateId":"804339ad-1553-4478-a742-138fb5807418_1"},
            "settings":[{"id":"0","settingInstance":{"@odata.type":"#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
            "settingDefinitionId":"device_vendor_msft_policy_config_defender_allowrealtimemonitoring",
            "choiceSettingValue":{"value":"device_vendor_msft_policy_config_defender_allowrealtimemonitoring_0","children":[]}}}]}"##,
    )
    .unwrap();
    let out = rampart()
        .args(["apply", "--policies"])
        .arg(&policy)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("tamper protection"), "{table}");

    // With tamper protection off the same policy takes effect.
    let out = rampart()
        .args(["apply", "--tamper-protection", "off", "--policies"])
        .arg(&policy)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn what_if_prints_a_plan_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // On a fresh machine nothing is created.
    let out = rampart()
        .args(["apply", "--what-if", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("What-if plan"), "{text}");
    assert!(
        text.contains(r"Real-Time Protection\DisableRealtimeMonitoring: (none) → REG_DWORD 0"),
        "{text}"
    );
    assert!(!state.exists());

    // On an existing state the registry and the report stay byte-identical.
    rampart()
        .args(["apply", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let seed = dir.path().join("drift.reg");
    std::fs::write(
        &seed,
        "Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows Defender]\n\"PUAProtection\"=dword:00000000\n",
    )
    .unwrap();
    rampart()
        .args(["registry", "import"])
        .arg(&seed)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let registry_before = std::fs::read(state.join("registry.reg")).unwrap();
    let report_before = std::fs::read(state.join("last-report.json")).unwrap();
    let out = rampart()
        .args(["apply", "--what-if", "--json", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["whatIf"], true);
    let changes = plan["plugins"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["name"], "PUAProtection");
    assert_eq!(
        std::fs::read(state.join("registry.reg")).unwrap(),
        registry_before
    );
    assert_eq!(
        std::fs::read(state.join("last-report.json")).unwrap(),
        report_before
    );
}

fn shared_exports() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/intune-exports");
    assert!(
        dir.is_dir(),
        "the shared data directory {} is missing",
        dir.display()
    );
    dir
}

#[test]
fn policy_show_explains_values_and_routing_without_enforcing() {
    let file = shared_exports().join("win-es-asr-rules-l2.oib-v3.7.json");
    let out = rampart()
        .args(["policy", "show"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_blockallofficeapplicationsfromcreatingchildprocesses [item 0] = \"D4F940AB-401B-4EFC-AADC-AD5F3C50688A=1\"  → windows-defender"
        ),
        "{text}"
    );
}

#[test]
fn policy_check_resolves_for_a_device_and_reports_partial_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        shared_exports().join("win-es-antivirus-av-configuration.oib-v3.3.json"),
        dir.path().join("av.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.json"), "{").unwrap();
    let device = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/devices/windows-server-2022.toml");
    let out = rampart()
        .args(["policy", "check"])
        .arg(dir.path())
        .arg("--device")
        .arg(&device)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "partial: one document is unreadable"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Unreadable: policy '") && text.contains("broken.json"),
        "{text}"
    );
    assert!(
        text.contains("device_vendor_msft_policy_config_defender_allowrealtimemonitoring = 1  → windows-defender"),
        "{text}"
    );
    // Every antivirus setting of the export has a plugin on Windows Server.
    assert!(!text.contains("no plugin enforces it"), "{text}");
}

/// Control characters in a report's plugin-supplied texts (a carriage return and an erase-line
/// that would redraw an error as "compliant", an OSC hyperlink, hidden text) are printed as
/// escapes by `status`, never raw.
#[test]
fn status_escapes_control_characters_in_plugin_texts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = rampart()
        .args(["apply", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let path = state.join("last-report.json");
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let hostile =
        "failed\r\u{1b}[2Kcompliant \u{1b}]8;;https://x.invalid\u{7}link\u{1b}[8m hidden\u{9b}";
    report["policies"][0]["settings"][0]["message"] = hostile.into();
    report["plugins"][0]["error"] = hostile.into();
    report["plugins"][0]["protocolErrors"] = serde_json::json!([hostile]);
    std::fs::write(&path, serde_json::to_string(&report).unwrap()).unwrap();
    let out = rampart()
        .args(["status", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.chars().any(|c| c.is_control() && c != '\n'),
        "{stdout:?}"
    );
    assert_eq!(
        stdout.matches(r"failed\r\u{1b}[2Kcompliant").count(),
        3,
        "{stdout}"
    );
}

/// A policy exported by Windows PowerShell 5.1 (`ConvertTo-Json > file.json`: UTF-16LE with a
/// byte order mark) enforces exactly like its UTF-8 original; a file that is not a policy is a
/// one-line error saying what it looks like.
#[test]
fn a_utf16_powershell_export_enforces_like_utf8_and_non_policies_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/policies/contoso-defender-antivirus.json");
    let text = std::fs::read_to_string(&original).unwrap();
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let exported = dir.path().join("exported.json");
    std::fs::write(&exported, utf16).unwrap();
    let statuses = |policy: &std::path::Path, state: &str| {
        let out = rampart()
            .args(["apply", "--json", "--policies"])
            .arg(policy)
            .arg("--state")
            .arg(dir.path().join(state))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["policies"][0]["settings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s["id"], s["status"]))
            .collect::<Vec<_>>()
    };
    let from_utf8 = statuses(&original, "a");
    assert!(!from_utf8.is_empty());
    assert_eq!(statuses(&exported, "b"), from_utf8);

    let managed = dir.path().join("mdatp_managed.json");
    std::fs::write(
        &managed,
        r#"{"antivirusEngine":{"enforcementLevel":"real_time"}}"#,
    )
    .unwrap();
    let out = rampart()
        .args(["apply", "--policies"])
        .arg(&managed)
        .arg("--state")
        .arg(dir.path().join("c"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("this looks like Defender for Endpoint's managed configuration"),
        "{stderr}"
    );
}

/// A directory holding one Graph list response with two policies enforces both, exactly as the
/// two files side by side do; one page of a longer list is enforced too, with a warning naming
/// the file.
#[test]
fn a_graph_list_of_two_policies_in_a_directory_enforces_both() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let names = ["contoso-defender-antivirus.json", "contoso-asr-rules.json"];
    let separate = dir.path().join("separate");
    std::fs::create_dir(&separate).unwrap();
    let mut policies = Vec::new();
    for name in names {
        std::fs::copy(examples.join(name), separate.join(name)).unwrap();
        let text = std::fs::read_to_string(examples.join(name)).unwrap();
        policies.push(serde_json::from_str::<serde_json::Value>(&text).unwrap());
    }
    let list = |extra: serde_json::Value| {
        let mut page = serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#deviceManagement/configurationPolicies(settings())",
            "value": policies,
        });
        page.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        page
    };
    let listed = dir.path().join("listed");
    std::fs::create_dir(&listed).unwrap();
    std::fs::write(
        listed.join("all.json"),
        list(serde_json::json!({})).to_string(),
    )
    .unwrap();

    let apply = |policies: &Path, state: &str| {
        let out = rampart()
            .args(["apply", "--json", "--policies"])
            .arg(policies)
            .arg("--state")
            .arg(dir.path().join(state))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out, report)
    };
    // Each policy's name and its settings' ids and statuses, by name.
    let summary = |report: &serde_json::Value| {
        let mut policies: Vec<(String, Vec<String>)> = report["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let settings = p["settings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| format!("{} {}", s["id"], s["status"]))
                    .collect();
                (p["name"].as_str().unwrap().to_owned(), settings)
            })
            .collect();
        policies.sort();
        policies
    };
    let (_, one_by_one) = apply(&separate, "a");
    let (_, from_list) = apply(&listed, "b");
    assert_eq!(summary(&from_list).len(), 2, "{from_list}");
    assert_eq!(summary(&from_list), summary(&one_by_one));
    for (name, settings) in summary(&from_list) {
        assert!(
            settings.iter().any(|s| s.ends_with("\"remediated\"")),
            "{name} is enforced: {settings:?}"
        );
        assert!(
            !settings
                .iter()
                .any(|s| s.contains("error") || s.contains("conflict")),
            "{name}: {settings:?}"
        );
    }
    let mut origins: Vec<&str> = from_list["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["origin"].as_str().unwrap())
        .collect();
    origins.sort_unstable();
    let file = listed.join("all.json").display().to_string();
    assert_eq!(
        origins,
        [format!("{file}#value[0]"), format!("{file}#value[1]")]
    );
    assert_eq!(
        std::fs::read(dir.path().join("a/registry.reg")).unwrap(),
        std::fs::read(dir.path().join("b/registry.reg")).unwrap(),
        "the same values, from one file or two"
    );

    // A page of a longer list: enforced, and the missing pages are a warning.
    std::fs::write(
        listed.join("all.json"),
        list(serde_json::json!({"@odata.nextLink": "https://graph.microsoft.com/beta/deviceManagement/configurationPolicies?$skiptoken=x"}))
            .to_string(),
    )
    .unwrap();
    let (out, paged) = apply(&listed, "c");
    assert_eq!(summary(&paged), summary(&one_by_one));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&format!(
            "policy '{file}': one page of a Graph list (2 policies)"
        )),
        "{stderr}"
    );
}

/// `policy show` and `policy check` of a file holding several policies show every one of them,
/// each named by its place in the file; an element that is not a policy fails the file in one
/// line naming that element.
#[test]
fn policy_show_and_check_cover_every_policy_of_a_list_file() {
    let dir = tempfile::tempdir().unwrap();
    let exports = [
        "win-es-antivirus-av-configuration.oib-v3.3.json",
        "win-es-asr-rules-l2.oib-v3.7.json",
    ];
    let mut policies: Vec<serde_json::Value> = exports
        .iter()
        .map(|name| {
            serde_json::from_slice(&std::fs::read(shared_exports().join(name)).unwrap()).unwrap()
        })
        .collect();
    let file = dir.path().join("backup.json");
    std::fs::write(
        &file,
        serde_json::Value::Array(policies.clone()).to_string(),
    )
    .unwrap();
    let shown = rampart()
        .args(["policy", "show"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(shown.status.code(), Some(0), "{}", stderr_of(&shown));
    let text = String::from_utf8(shown.stdout).unwrap();
    let path = file.display();
    assert!(text.contains("a JSON array (2 policies)"), "{text}");
    assert!(text.contains(&format!("({path}#[0])")), "{text}");
    assert!(text.contains(&format!("({path}#[1])")), "{text}");
    assert!(
        text.contains("device_vendor_msft_policy_config_defender_allowrealtimemonitoring = 1  → windows-defender"),
        "{text}"
    );
    assert!(
        text.contains("device_vendor_msft_policy_config_defender_attacksurfacereductionrules_blockallofficeapplicationsfromcreatingchildprocesses [item 0]"),
        "{text}"
    );

    let checked = rampart()
        .args(["policy", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(checked.status.code(), Some(0), "{}", stderr_of(&checked));
    let text = String::from_utf8(checked.stdout).unwrap();
    assert_eq!(text.matches(&format!("({path}#[")).count(), 2, "{text}");

    policies.push(serde_json::json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "x"}));
    std::fs::write(&file, serde_json::Value::Array(policies).to_string()).unwrap();
    let out = rampart()
        .args(["policy", "show"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = stderr_of(&out);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("policy '{path}#[2]': not an Intune")),
        "{stderr}"
    );
}
