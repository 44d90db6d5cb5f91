//! One test per guest program in `tests/programs/examples`, named after it. A program without a
//! test here fails to compile (`foreach_program!` below).

use rampart_backends::registry::{RegValue, RegistryBackend, RegistryPath};
use rampart_policy::settings::SettingValue;
use rampart_policy::status::SettingStatus;
use rampart_runtime::{Capabilities, LoadFailure, RunError, RunLimits};
use rampart_test_artifacts::*;
use rampart_tests::{backends, load_program, setting, windows_client};

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports, reason = "the import is the compile-time check")]
        use self::$name as _;
    };
}
// The `hostile_*` programs are tested in hostile.rs.
#[allow(
    unused_imports,
    reason = "only the one-test-per-program check uses them"
)]
use crate::hostile::*;
rampart_test_artifacts::foreach_program!(assert_test_exists);

fn two_settings() -> Vec<rampart_policy::settings::ResolvedSetting> {
    vec![
        setting("test_a", SettingValue::Integer(1)),
        setting("test_b", SettingValue::Integer(2)),
    ]
}

/// After any failure the same plugin version must serve the next run: the failed store is
/// dropped and nothing of it is reused.
fn assert_serves_next_run(plugin: &rampart_runtime::Plugin, limits: &RunLimits) {
    let probe = load_program(CAPS_REGISTRY_PROBE).unwrap();
    let (_, caps) = backends(false);
    let ok = probe
        .run(
            &windows_client(),
            &[setting(
                "test_ok",
                SettingValue::Text(r"HKLM\SOFTWARE\Policies\Rampart Test".into()),
            )],
            &caps,
            limits,
        )
        .expect("a healthy plugin runs after a failed one");
    assert_eq!(ok.outcomes[0].status, SettingStatus::Remediated);
    // And the failing plugin itself can be run again (and fails the same typed way).
    assert!(
        plugin
            .run(
                &windows_client(),
                &two_settings(),
                &Capabilities::none(),
                limits
            )
            .is_err()
    );
}

#[test]
fn limits_spin() {
    let plugin = load_program(LIMITS_SPIN).unwrap();
    let limits = RunLimits {
        deadline: std::time::Duration::from_millis(200),
        ..RunLimits::default()
    };
    let err = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &limits,
        )
        .unwrap_err();
    assert!(
        matches!(err, RunError::Timeout { ref plugin, deadline } if plugin == "limits-spin" && deadline == limits.deadline),
        "{err:?}"
    );
    assert_serves_next_run(&plugin, &limits);
}

#[test]
fn limits_memory_bomb() {
    let plugin = load_program(LIMITS_MEMORY_BOMB).unwrap();
    let limits = RunLimits {
        memory: 16 << 20,
        ..RunLimits::default()
    };
    let err = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &limits,
        )
        .unwrap_err();
    assert_eq!(
        err,
        RunError::MemoryLimit {
            plugin: "limits-memory-bomb".into(),
            limit: 16 << 20
        }
    );
    assert_serves_next_run(&plugin, &limits);
}

#[test]
fn limits_call_flood() {
    let plugin = load_program(LIMITS_CALL_FLOOD).unwrap();
    let limits = RunLimits {
        max_host_calls: 5_000,
        ..RunLimits::default()
    };
    let err = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &limits,
        )
        .unwrap_err();
    assert_eq!(
        err,
        RunError::HostCallLimit {
            plugin: "limits-call-flood".into(),
            limit: 5_000
        }
    );
    assert_serves_next_run(&plugin, &limits);
}

#[test]
fn limits_deep_recursion() {
    let plugin = load_program(LIMITS_DEEP_RECURSION).unwrap();
    let limits = RunLimits::default();
    let err = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &limits,
        )
        .unwrap_err();
    assert_eq!(
        err,
        RunError::StackOverflow {
            plugin: "limits-deep-recursion".into()
        }
    );
    assert_serves_next_run(&plugin, &limits);
}

#[test]
fn trap_panic() {
    let plugin = load_program(TRAP_PANIC).unwrap();
    let limits = RunLimits::default();
    let err = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &limits,
        )
        .unwrap_err();
    match &err {
        RunError::Trap { plugin, message } => {
            assert_eq!(plugin, "trap-panic");
            assert!(
                message.contains("deliberate panic from trap_panic"),
                "{message}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_serves_next_run(&plugin, &limits);
}

#[test]
fn caps_registry_probe() {
    let plugin = load_program(CAPS_REGISTRY_PROBE).unwrap();
    let (registry, caps) = backends(false);
    // Seed one value outside the grant to prove it is not touched.
    let outside = RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Rampart Escape").unwrap();
    registry
        .set_value(&outside, "Probe", RegValue::Dword(7))
        .unwrap();
    let before = registry.export_reg();

    let probes: &[(&str, Option<&str>)] = &[
        // (key, expected error fragment; None = allowed)
        (r"HKLM\SOFTWARE\Policies\Rampart Test", None),
        (
            r"hkey_local_machine\software\POLICIES\rampart test\Sub\Deeper",
            None,
        ),
        (
            r"HKLM\SOFTWARE\Policies\Rampart Escape",
            Some("access denied"),
        ),
        (
            r"HKLM\SOFTWARE\Policies\Rampart TestX",
            Some("access denied"),
        ),
        (
            r"HKLM\SOFTWARE\Policies\Rampart Test\..\Rampart Escape",
            Some("invalid argument"),
        ),
        (
            r"HKLM\SOFTWARE\Policies\Rampart Test\.\X",
            Some("invalid argument"),
        ),
        (
            r"HKLM\SOFTWARE\Policies\Rampart Test\\X",
            Some("invalid argument"),
        ),
        (
            r"HKLM\SOFTWARE\Policies\Rampart Test ",
            Some("invalid argument"),
        ),
        (
            r"HKLM\SOFTWARE\Policies\Rampart Test.",
            Some("invalid argument"),
        ),
        (
            "HKLM\\SOFTWARE\\Policies\\Rampart Test\u{0}\\X",
            Some("invalid argument"),
        ),
        (
            r"\\?\HKLM\SOFTWARE\Policies\Rampart Test",
            Some("invalid argument"),
        ),
        (
            r"HKLM/SOFTWARE/Policies/Rampart Test",
            Some("invalid argument"),
        ),
        (
            r"HKCU\SOFTWARE\Policies\Rampart Test",
            Some("access denied"),
        ),
        (
            r"HKLM\SOFTWARE\Policies\Rampart ReadOnly\X",
            Some("read-only grant"),
        ),
    ];
    let settings: Vec<_> = probes
        .iter()
        .enumerate()
        .map(|(i, (key, _))| setting(&format!("test_{i}"), SettingValue::Text((*key).into())))
        .collect();
    // The second run finds every key parsed by the first (the plugin's runs share parsed keys):
    // the verdicts must not change.
    for run in 1..=2 {
        let out = plugin
            .run(&windows_client(), &settings, &caps, &RunLimits::default())
            .unwrap();
        for ((key, expected), outcome) in probes.iter().zip(&out.outcomes) {
            match expected {
                None => assert_eq!(
                    outcome.status,
                    SettingStatus::Remediated,
                    "run {run}, {key}: {outcome:?}"
                ),
                Some(fragment) => {
                    assert_eq!(outcome.status, SettingStatus::Error, "run {run}, {key}");
                    let message = outcome.message.as_deref().unwrap_or_default();
                    assert!(message.contains(fragment), "run {run}, {key}: {message}");
                }
            }
        }
    }
    // Only the two allowed writes happened; everything else is byte-identical.
    let granted = RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Rampart Test").unwrap();
    assert_eq!(
        registry.get_value(&granted, "probe").unwrap(),
        Some(RegValue::Dword(1))
    );
    registry.delete_key(&granted).unwrap();
    assert_eq!(registry.export_reg(), before);
}

#[test]
fn caps_forbidden_socket() {
    let err = load_program(CAPS_FORBIDDEN_SOCKET).unwrap_err();
    match &err.reason {
        LoadFailure::ForbiddenImport { import, .. } => {
            assert!(import.starts_with("wasi:sockets/"), "{import}")
        }
        other => panic!("expected a forbidden import, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("imports 'wasi:sockets/"), "{message}");
    assert!(message.contains("not allowed"), "{message}");
}

#[test]
fn caps_forbidden_filesystem() {
    let err = load_program(CAPS_FORBIDDEN_FILESYSTEM).unwrap_err();
    match &err.reason {
        LoadFailure::ForbiddenImport { import, .. } => {
            assert!(import.starts_with("wasi:filesystem/"), "{import}")
        }
        other => panic!("expected a forbidden import, got {other:?}"),
    }
}

#[test]
fn results_misbehave() {
    let plugin = load_program(RESULTS_MISBEHAVE).unwrap();
    let settings = vec![
        setting("test_first", SettingValue::Integer(1)),
        setting("test_middle", SettingValue::Integer(2)),
        setting("test_last", SettingValue::Integer(3)),
    ];
    let out = plugin
        .run(
            &windows_client(),
            &settings,
            &Capabilities::none(),
            &RunLimits::default(),
        )
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    // The first answer counts, the duplicate is ignored, the missing one becomes an error.
    assert_eq!(
        statuses,
        [
            SettingStatus::Compliant,
            SettingStatus::Compliant,
            SettingStatus::Error
        ]
    );
    assert!(
        out.outcomes[2]
            .message
            .as_deref()
            .unwrap()
            .contains("no result")
    );
    assert_eq!(out.protocol_errors.len(), 2, "{:?}", out.protocol_errors);
    assert!(out.protocol_errors.iter().any(|p| p.contains("duplicate")));
    assert!(
        out.protocol_errors
            .iter()
            .any(|p| p.contains("not given: 'test_not_given'"))
    );
}

#[test]
fn caps_over_privileged() {
    use rampart_runtime::{GrantPolicy, Grants, Plugin};
    let wasm = std::fs::read(CAPS_OVER_PRIVILEGED).unwrap();
    let engine = rampart_tests::engine();
    // Narrowing policy: loads, with nothing granted, and its write is denied at run time.
    let narrowed = Plugin::load(
        &engine,
        "greedy",
        &wasm,
        &GrantPolicy::Ceiling(Grants::none()),
    )
    .unwrap();
    assert!(narrowed.grants().is_empty());
    let (registry, caps) = backends(false);
    let out = narrowed
        .run(
            &windows_client(),
            &[setting("test_x", SettingValue::Integer(1))],
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    assert!(
        out.outcomes[0]
            .message
            .as_deref()
            .unwrap()
            .contains("access denied")
    );
    assert_eq!(
        registry.export_reg(),
        rampart_backends::registry::EmulatedRegistry::new().export_reg()
    );
    // Strict policy: refused at load, naming what it asked for.
    let err = Plugin::load(
        &engine,
        "greedy",
        &wasm,
        &GrantPolicy::Strict(Grants::none()),
    )
    .unwrap_err();
    match &err.reason {
        LoadFailure::OverPrivileged { excess } => {
            assert_eq!(
                excess,
                &["registry HKEY_LOCAL_MACHINE (read-write)".to_string()]
            );
        }
        other => panic!("expected over-privileged, got {other:?}"),
    }
}

fn swap_version(path: &str) -> (String, Option<String>) {
    let plugin = load_program(path).unwrap();
    let out = plugin
        .run(
            &windows_client(),
            &[setting("test_x", SettingValue::Integer(1))],
            &Capabilities::none(),
            &RunLimits::default(),
        )
        .unwrap();
    (
        plugin.version().to_string(),
        out.outcomes[0].message.clone(),
    )
}

#[test]
fn swap_v1() {
    assert_eq!(swap_version(SWAP_V1), ("1.0.0".into(), Some("v1".into())));
}

#[test]
fn swap_v2() {
    assert_eq!(swap_version(SWAP_V2), ("2.0.0".into(), Some("v2".into())));
}

#[test]
fn txn_write_then_trap() {
    // Exercised in depth by the transactions suite; here: it loads, and a run without the
    // `trap` setting writes what it says.
    let plugin = load_program(TXN_WRITE_THEN_TRAP).unwrap();
    let (registry, caps) = backends(false);
    let out = plugin
        .run(
            &windows_client(),
            &[setting(
                "test_a",
                SettingValue::Text(r"HKLM\SOFTWARE\Policies\Rampart Test".into()),
            )],
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    assert_eq!(out.outcomes[0].status, SettingStatus::Remediated);
    let k = RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Rampart Test").unwrap();
    assert_eq!(
        registry.get_value(&k, "Written").unwrap(),
        Some(RegValue::Dword(0))
    );
    // The key did not exist (nor did SOFTWARE): creating it is a change of its own.
    assert_eq!(out.changes.len(), 3, "{:?}", out.changes);
    assert_eq!(
        out.changes[0].to_string(),
        r"registry key HKEY_LOCAL_MACHINE\SOFTWARE: created"
    );
}

#[test]
fn txn_slow_writer() {
    // Used by the agent's kill -9 test; here: it writes its 60 values and claims AV settings.
    let plugin = load_program(TXN_SLOW_WRITER).unwrap();
    assert!(
        plugin
            .manifest()
            .claims("device_vendor_msft_policy_config_defender_puaprotection")
    );
    let (registry, caps) = backends(false);
    let out = plugin
        .run(
            &windows_client(),
            &[setting(
                "device_vendor_msft_policy_config_defender_puaprotection",
                SettingValue::Integer(1),
            )],
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    assert_eq!(out.outcomes[0].status, SettingStatus::Compliant);
    let k =
        RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\RampartKillTest")
            .unwrap();
    assert_eq!(registry.list_values(&k).unwrap().len(), 60);
}

#[test]
fn plugin_log_records_reach_the_run_report() {
    let mut plugins = rampart_runtime::PluginSet::new();
    plugins.insert(std::sync::Arc::new(load_program(LIMITS_LOG_FLOOD).unwrap()));
    let limits = RunLimits {
        max_log_bytes: 64 << 10,
        ..RunLimits::default()
    };
    let report = rampart_runtime::Enforcer::new(Capabilities::none(), limits).enforce(
        &plugins,
        &windows_client(),
        &rampart_tests::policy_of(two_settings()),
    );
    let run = &report.plugins[0];
    // What the run kept, as the run itself counts it (see `limits_log_flood`).
    assert_eq!(run.logs.len(), 15);
    assert_eq!(run.logs_dropped, 500 - 15);
    assert!(run.logs.iter().all(|l| l.level == "info"
        || l.level == "warn"
        || l.level == "debug"
        || l.level == "error"
        || l.level == "trace"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["plugins"][0]["logs"].as_array().map(Vec::len),
        Some(15)
    );
}

#[test]
fn limits_log_flood() {
    let plugin = load_program(LIMITS_LOG_FLOOD).unwrap();
    let limits = RunLimits {
        max_log_bytes: 64 << 10,
        ..RunLimits::default()
    };
    let out = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &limits,
        )
        .expect("a log flood is dropped, not fatal");
    let kept: usize = out.logs.iter().map(|(_, m)| m.len()).sum();
    assert!(kept <= 64 << 10, "kept {kept} bytes");
    // Each 64 KiB message is cut to 4 KiB (plus the ellipsis): 15 fit in 64 KiB.
    assert_eq!(out.logs.len(), 15);
    assert_eq!(out.logs_dropped, 500 - 15);
    assert!(
        out.outcomes
            .iter()
            .all(|o| o.status == SettingStatus::Compliant)
    );
    // Logging on long after the budget is spent (more records dropped than the run may keep)
    // is a flood: the run ends with a typed error.
    let flood = RunLimits {
        max_log_bytes: 64 << 10,
        max_log_records: 100,
        ..RunLimits::default()
    };
    let err = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &flood,
        )
        .expect_err("a run that keeps flooding the log fails");
    assert!(
        matches!(err, RunError::LogFlood { dropped: 101, .. }),
        "{err:?}"
    );
    // The default bound holds too, and the host serves the next run.
    let out = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &RunLimits::default(),
        )
        .unwrap();
    let kept: usize = out.logs.iter().map(|(_, m)| m.len()).sum();
    assert!(
        kept <= rampart_runtime::limits::DEFAULT_MAX_LOG_BYTES,
        "{kept}"
    );
    assert!(out.logs_dropped > 0);
}

#[test]
fn limits_huge_value() {
    let plugin = load_program(LIMITS_HUGE_VALUE).unwrap();
    let (registry, caps) = backends(false);
    let before = registry.export_reg();
    let limits = RunLimits {
        max_value_bytes: 1 << 20,
        ..RunLimits::default()
    };
    let settings: Vec<_> = ["test_sz", "test_multi", "test_binary", "test_small"]
        .iter()
        .map(|id| setting(id, SettingValue::Integer(0)))
        .collect();
    let out = plugin
        .run(&windows_client(), &settings, &caps, &limits)
        .expect("oversized values are refused per call, not fatal");
    for (o, what) in out.outcomes.iter().zip(["registry value"; 3]) {
        assert_eq!(o.status, SettingStatus::Error, "{o:?}");
        let m = o.message.as_deref().unwrap_or_default();
        assert!(
            m.contains(what) && m.contains("more than the 1048576 allowed"),
            "{m}"
        );
    }
    assert_eq!(out.outcomes[3].status, SettingStatus::Remediated);
    // Only the small value reached the registry.
    let key = RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Rampart Huge").unwrap();
    let values = registry.list_values(&key).unwrap();
    assert_eq!(values.len(), 1, "{values:?}");
    assert_eq!(values[0], ("Small".to_string(), RegValue::Dword(1)));
    assert_ne!(registry.export_reg(), before);
    // The host serves the next run the same way.
    let again = plugin
        .run(&windows_client(), &settings, &caps, &limits)
        .unwrap();
    assert_eq!(again.outcomes, out.outcomes);
}

#[test]
fn limits_huge_results() {
    let plugin = load_program(LIMITS_HUGE_RESULTS).unwrap();
    let limits = RunLimits::default();
    let err = plugin
        .run(
            &windows_client(),
            &two_settings(),
            &Capabilities::none(),
            &limits,
        )
        .unwrap_err();
    assert_eq!(
        err,
        RunError::TooManyResults {
            plugin: "limits-huge-results".into(),
            results: 200_002,
            limit: 2 * 2 + rampart_runtime::limits::MAX_EXTRA_RESULTS,
        }
    );
    assert_serves_next_run(&plugin, &limits);
}
