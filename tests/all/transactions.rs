//! Transactions: journaled changes, rollback of failed runs, crash recovery, what-if plans and
//! drift detection.

use std::sync::Arc;

use rampart_backends::registry::{RegValue, RegistryBackend, RegistryPath};
use rampart_policy::device::Device;
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::drift::Ledger;
use rampart_runtime::{Atomicity, Change, Enforcer, Journal, PluginSet, RunLimits};
use rampart_test_artifacts::{CAPS_REGISTRY_PROBE, TXN_WRITE_THEN_TRAP};
use rampart_tests::{backends, load_program, policy_of as policy, setting, windows_client};

fn key(s: &str) -> RegistryPath {
    RegistryPath::parse(s).unwrap()
}

fn plugins(path: &str) -> PluginSet {
    let mut set = PluginSet::new();
    set.insert(Arc::new(load_program(path).unwrap()));
    set
}

/// A registry with content the failing run will change and delete.
fn seeded() -> (
    Arc<rampart_backends::registry::EmulatedRegistry>,
    rampart_runtime::Capabilities,
) {
    let (registry, caps) = backends(false);
    registry
        .set_value(
            &key(r"HKLM\SOFTWARE\Policies\Rampart Test\A"),
            "Written",
            RegValue::Dword(77),
        )
        .unwrap();
    registry
        .set_value(
            &key(r"HKLM\SOFTWARE\Policies\Rampart Test\Doomed"),
            "Keep",
            RegValue::Sz("me".into()),
        )
        .unwrap();
    registry
        .set_value(
            &key(r"HKLM\SOFTWARE\Policies\Rampart Test\Doomed\Child"),
            "Bin",
            RegValue::Binary(vec![0, 1, 2, 255]),
        )
        .unwrap();
    registry
        .set_value(
            &key(r"HKLM\SOFTWARE\Policies\Rampart Test\Doomed\Child"),
            "Multi",
            RegValue::MultiSz(vec!["a".into(), "b".into()]),
        )
        .unwrap();
    (registry, caps)
}

fn write_settings(trap: bool) -> Vec<ResolvedSetting> {
    let mut s = vec![
        setting(
            "test_1",
            SettingValue::Text(r"HKLM\SOFTWARE\Policies\Rampart Test\A".into()),
        ),
        setting(
            "test_2",
            SettingValue::Text(r"HKLM\SOFTWARE\Policies\Rampart Test\New\Deep".into()),
        ),
    ];
    if trap {
        s.push(setting("test_3", SettingValue::Text("trap".into())));
    }
    s
}

#[test]
fn a_run_that_traps_after_writing_is_rolled_back_byte_identical() {
    let (registry, caps) = seeded();
    let before = registry.export_reg();
    let journal_dir = tempfile::tempdir().unwrap();
    let enforcer = Enforcer::new(caps, RunLimits::default())
        .with_journal(Journal::durable(journal_dir.path()).unwrap());
    let report = enforcer.enforce(
        &plugins(TXN_WRITE_THEN_TRAP),
        &windows_client(),
        &policy(write_settings(true)),
    );

    assert_eq!(
        registry.export_reg(),
        before,
        "the registry is byte-identical to before the run"
    );
    let run = &report.plugins[0];
    let rolled = run.rolled_back.as_ref().expect("the run was rolled back");
    assert!(rolled.failures.is_empty(), "{:?}", rolled.failures);
    // Value changes, the created key and the deleted subtree were all journaled.
    assert!(rolled.changes.iter().any(
        |c| matches!(c, Change::RegistryKeyCreated { key } if key.ends_with(r"Rampart Test\New"))
    ));
    assert!(
        rolled
            .changes
            .iter()
            .any(|c| matches!(c, Change::RegistryKeyDeleted { subtree, .. } if subtree.len() == 2))
    );
    for s in &report.policies[0].settings {
        assert_eq!(s.status, SettingStatus::Error);
        assert!(
            s.message.as_deref().unwrap().contains("rolled back"),
            "{s:?}"
        );
    }
    assert!(
        std::fs::read_dir(journal_dir.path())
            .unwrap()
            .next()
            .is_none(),
        "no journal left behind"
    );
}

#[test]
fn a_successful_run_commits_and_lists_its_changes() {
    let (registry, caps) = seeded();
    let enforcer = Enforcer::new(caps, RunLimits::default());
    let report = enforcer.enforce(
        &plugins(TXN_WRITE_THEN_TRAP),
        &windows_client(),
        &policy(write_settings(false)),
    );
    assert!(report.plugins[0].rolled_back.is_none());
    assert_eq!(
        registry
            .get_value(&key(r"HKLM\SOFTWARE\Policies\Rampart Test\A"), "Written")
            .unwrap(),
        Some(RegValue::Dword(0))
    );
    let first = &report.plugins[0].changes[0];
    assert_eq!(
        first.to_string(),
        r"registry HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Rampart Test\A\Written: REG_DWORD 77 → REG_DWORD 0"
    );
}

#[test]
fn all_or_nothing_rolls_back_a_run_with_a_failed_setting() {
    let settings = vec![
        setting(
            "test_ok",
            SettingValue::Text(r"HKLM\SOFTWARE\Policies\Rampart Test".into()),
        ),
        setting(
            "test_denied",
            SettingValue::Text(r"HKLM\SOFTWARE\Elsewhere".into()),
        ),
    ];
    for (atomicity, expect_probe) in [
        (Atomicity::OnRunFailure, true),
        (Atomicity::AllOrNothing, false),
    ] {
        let (registry, caps) = backends(false);
        let report = Enforcer::new(caps, RunLimits::default())
            .with_atomicity(atomicity)
            .enforce(
                &plugins(CAPS_REGISTRY_PROBE),
                &windows_client(),
                &policy(settings.clone()),
            );
        let probe = registry
            .get_value(&key(r"HKLM\SOFTWARE\Policies\Rampart Test"), "Probe")
            .unwrap();
        assert_eq!(probe.is_some(), expect_probe, "{atomicity:?}");
        let ok = &report.policies[0].settings[0];
        if expect_probe {
            assert_eq!(ok.status, SettingStatus::Remediated);
        } else {
            assert_eq!(ok.status, SettingStatus::Error);
            assert!(
                ok.message.as_deref().unwrap().contains("all-or-nothing"),
                "{ok:?}"
            );
        }
    }
}

#[test]
fn what_if_plans_the_same_changes_and_changes_nothing() {
    let (registry, caps) = seeded();
    let before = registry.export_reg();
    let enforcer = Enforcer::new(caps, RunLimits::default());
    let plan = enforcer.what_if().enforce(
        &plugins(TXN_WRITE_THEN_TRAP),
        &windows_client(),
        &policy(write_settings(false)),
    );
    assert!(plan.what_if);
    assert_eq!(registry.export_reg(), before, "a plan changes nothing");
    let statuses: Vec<_> = plan.policies[0].settings.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [SettingStatus::Remediated, SettingStatus::Remediated]
    );
    // The real run makes exactly the planned changes.
    let real = enforcer.enforce(
        &plugins(TXN_WRITE_THEN_TRAP),
        &windows_client(),
        &policy(write_settings(false)),
    );
    assert_eq!(plan.plugins[0].changes, real.plugins[0].changes);
    assert_ne!(registry.export_reg(), before);
}

#[test]
fn an_unfinished_run_found_at_start_is_rolled_back() {
    // A run journaled its changes and made them, then the process died before committing: the
    // journal file is all that is left. Build that state with a plain journal file.
    let (registry, caps) = seeded();
    let before = registry.export_reg();
    let dir = tempfile::tempdir().unwrap();
    let changes = [
        Change::RegistryValue {
            key: r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Rampart Test\A".into(),
            name: "Written".into(),
            before: Some(rampart_runtime::journal::JournalValue::RegDword(77)),
            after: Some(rampart_runtime::journal::JournalValue::RegDword(1)),
        },
        Change::RegistryKeyCreated {
            key: r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Rampart Test\Fresh".into(),
        },
    ];
    registry
        .set_value(
            &key(r"HKLM\SOFTWARE\Policies\Rampart Test\A"),
            "Written",
            RegValue::Dword(1),
        )
        .unwrap();
    registry
        .set_value(
            &key(r"HKLM\SOFTWARE\Policies\Rampart Test\Fresh\X"),
            "v",
            RegValue::Dword(1),
        )
        .unwrap();
    let mut text = String::from("{\"plugin\":\"p\",\"digest\":\"d\"}\n");
    for c in &changes {
        text.push_str(&serde_json::to_string(c).unwrap());
        text.push('\n');
    }
    // A torn last record (the crash hit mid-write): its change was never made.
    text.push_str("{\"change\":\"registryValue\",\"key\":\"HKEY_LOC");
    std::fs::write(dir.path().join("run-1.jsonl"), text).unwrap();

    let journal = Journal::durable(dir.path()).unwrap();
    assert_eq!(journal.pending().len(), 1);
    let recovered = journal.recover(&caps, None).unwrap();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert!(
        recovered[0].contains("rolled back 2 change(s)"),
        "{recovered:?}"
    );
    assert_eq!(registry.export_reg(), before);
    assert!(journal.pending().is_empty());
}

#[test]
fn drift_is_detected_reported_and_remediated() {
    let (registry, caps) = backends(false);
    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger_file = ledger_dir.path().join("owned.json");
    let settings = vec![setting(
        "test_ok",
        SettingValue::Text(r"HKLM\SOFTWARE\Policies\Rampart Test".into()),
    )];
    let plugins = plugins(CAPS_REGISTRY_PROBE);
    let device: Device = windows_client();
    let enforcer = || {
        Enforcer::new(caps.clone(), RunLimits::default())
            .with_ledger(Ledger::open(&ledger_file).unwrap())
    };
    let first = enforcer().enforce(&plugins, &device, &policy(settings.clone()));
    assert!(first.drift.is_empty());
    assert!(first.policies[0].settings[0].verified_at.is_some());

    // Something else changes the value rampart set.
    registry
        .set_value(
            &key(r"HKLM\SOFTWARE\Policies\Rampart Test"),
            "Probe",
            RegValue::Dword(9),
        )
        .unwrap();
    let second = enforcer().enforce(&plugins, &device, &policy(settings.clone()));
    assert_eq!(second.drift.len(), 1, "{:?}", second.drift);
    let d = &second.drift[0];
    assert!(d.target.ends_with(r"Rampart Test\Probe"), "{d:?}");
    assert_eq!(
        (d.expected.as_str(), d.found.as_str()),
        ("REG_DWORD 1", "REG_DWORD 9")
    );
    assert_eq!(d.plugin, "caps-registry-probe");
    assert_eq!(
        second.policies[0].settings[0].status,
        SettingStatus::Remediated
    );

    // Fixed: no drift on the next pass.
    let third = enforcer().enforce(&plugins, &device, &policy(settings));
    assert!(third.drift.is_empty(), "{:?}", third.drift);
}

/// Backends over a `.reg` file written behind, as `rampart apply` uses them, seeded like
/// [`seeded`] and saved.
fn written_behind(
    dir: &std::path::Path,
) -> (
    Arc<rampart_backends::registry::EmulatedRegistry>,
    rampart_runtime::Capabilities,
) {
    let (seed, _) = seeded();
    let file = dir.join("registry.reg");
    std::fs::write(&file, seed.export_reg()).unwrap();
    let registry = Arc::new(rampart_backends::registry::EmulatedRegistry::open(&file).unwrap());
    let durable: Arc<dyn RegistryBackend> = Arc::new(
        rampart_backends::registry::DurableRegistry::write_behind(registry.clone()),
    );
    let defender = Arc::new(rampart_backends::defender::SimulatedDefender::new(
        durable.clone(),
    ));
    let caps = rampart_runtime::Capabilities::none()
        .with_registry(durable)
        .with_defender(defender);
    assert!(caps.defers_durability());
    (registry, caps)
}

#[test]
fn a_write_behind_registry_reaches_its_file_when_the_run_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (_, caps) = written_behind(dir.path());
    let enforcer = Enforcer::new(caps, RunLimits::default())
        .with_journal(Journal::durable(&dir.path().join("journal")).unwrap());
    let report = enforcer.enforce(
        &plugins(TXN_WRITE_THEN_TRAP),
        &windows_client(),
        &policy(write_settings(false)),
    );
    assert!(report.plugins[0].error.is_none(), "{:?}", report.plugins[0]);
    assert!(!report.plugins[0].changes.is_empty());
    // A fresh reader of the file sees the run's writes: they were flushed at commit.
    let on_disk =
        rampart_backends::registry::EmulatedRegistry::open(&dir.path().join("registry.reg"))
            .unwrap();
    assert_eq!(
        on_disk
            .get_value(&key(r"HKLM\SOFTWARE\Policies\Rampart Test\A"), "Written")
            .unwrap(),
        Some(RegValue::Dword(0))
    );
    assert!(
        std::fs::read_dir(dir.path().join("journal"))
            .unwrap()
            .next()
            .is_none(),
        "the committed run's journal is gone"
    );
}

#[test]
fn a_run_whose_changes_cannot_be_made_durable_fails_and_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let registry_dir = dir.path().join("registry");
    std::fs::create_dir(&registry_dir).unwrap();
    let (registry, caps) = written_behind(&registry_dir);
    let before = registry.export_reg();
    // The registry file's directory disappears: its atomic rewrite cannot happen.
    std::fs::remove_dir_all(&registry_dir).unwrap();
    let journal_dir = dir.path().join("journal");
    let enforcer = Enforcer::new(caps, RunLimits::default())
        .with_journal(Journal::durable(&journal_dir).unwrap());
    let report = enforcer.enforce(
        &plugins(TXN_WRITE_THEN_TRAP),
        &windows_client(),
        &policy(write_settings(false)),
    );

    let run = &report.plugins[0];
    let error = run.error.as_deref().expect("the run failed");
    assert!(error.contains("could not be made durable"), "{error}");
    for s in &report.policies[0].settings {
        assert_eq!(s.status, SettingStatus::Error, "{s:?}");
    }
    assert_eq!(
        registry.export_reg(),
        before,
        "the run was undone in memory"
    );
    let rolled = run.rolled_back.as_ref().expect("rolled back");
    assert!(!rolled.changes.is_empty());
    assert!(rolled.failures.is_empty(), "{:?}", rolled.failures);
    // Nothing of the run reached the disk, so nothing is left to undo at the next start.
    assert_eq!(std::fs::read_dir(&journal_dir).unwrap().count(), 0);
}

#[test]
fn all_or_nothing_undoes_unconfirmed_writes_and_says_so() {
    // A firewall value (written, the firewall not queried: `unknown`) and a setting that
    // fails: the rollback undoes the firewall write, so the setting cannot say "written".
    let settings = vec![
        setting(
            "vendor_msft_firewall_mdmstore_publicprofile_shielded",
            SettingValue::Text("true".into()),
        ),
        setting(
            "device_vendor_msft_policy_config_defender_allowrealtimemonitoring",
            SettingValue::Integer(7),
        ),
    ];
    let mut set = PluginSet::new();
    set.insert(Arc::new(rampart_tests::windows_defender(
        &rampart_tests::permissive_ceiling(),
    )));
    let (registry, caps) = backends(false);
    let report = Enforcer::new(caps, RunLimits::default())
        .with_atomicity(Atomicity::AllOrNothing)
        .enforce(&set, &windows_client(), &policy(settings));
    let firewall = &report.policies[0].settings[0];
    assert_eq!(firewall.status, SettingStatus::Error, "{firewall:?}");
    assert!(
        firewall
            .message
            .as_deref()
            .unwrap()
            .contains("all-or-nothing"),
        "{firewall:?}"
    );
    assert_eq!(firewall.code, None);
    assert_eq!(
        registry
            .get_value(
                &key(r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\Mdm\PublicProfile"),
                "DoNotAllowExceptions"
            )
            .unwrap(),
        None
    );
    assert_eq!(report.summary.unknown, 0);
}

#[test]
fn an_agent_built_with_a_state_directory_recovers_holds_the_lock_and_reports_once() {
    use rampart_runtime::{Agent, AgentError};

    // A crash left a run behind: its change was made and journaled, never committed.
    let (registry, caps) = seeded();
    let before = registry.export_reg();
    let state = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state.path().join("journal")).unwrap();
    let change = Change::RegistryValue {
        key: r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Rampart Test\A".into(),
        name: "Written".into(),
        before: Some(rampart_runtime::journal::JournalValue::RegDword(77)),
        after: Some(rampart_runtime::journal::JournalValue::RegDword(1)),
    };
    registry
        .set_value(
            &key(r"HKLM\SOFTWARE\Policies\Rampart Test\A"),
            "Written",
            RegValue::Dword(1),
        )
        .unwrap();
    std::fs::write(
        state.path().join("journal").join("run-1.jsonl"),
        format!(
            "{{\"plugin\":\"p\",\"digest\":\"d\"}}\n{}\n",
            serde_json::to_string(&change).unwrap()
        ),
    )
    .unwrap();

    let agent = Agent::builder(caps.clone())
        .plugins(plugins(CAPS_REGISTRY_PROBE))
        .state_dir(state.path(), "the first agent")
        .build()
        .unwrap();
    let recovered = agent.recovered();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert!(
        recovered[0].contains("rolled back 1 change"),
        "{recovered:?}"
    );
    assert_eq!(
        registry.export_reg(),
        before,
        "the crashed run is undone at build"
    );

    // One writer per state directory: a second agent is refused while the first lives.
    let err = Agent::builder(caps.clone())
        .state_dir(state.path(), "the second agent")
        .build()
        .unwrap_err();
    assert!(matches!(err, AgentError::Lock(_)), "{err}");
    assert!(err.to_string().contains("the first agent"), "{err}");

    // The first pass reports the recovery, the next one does not; the pass is audited and the
    // ledger saved in the state directory.
    let first = agent.enforce(&windows_client(), &[]);
    assert_eq!(first.recovered, recovered);
    assert!(agent.enforce(&windows_client(), &[]).recovered.is_empty());
    assert!(state.path().join("owned.json").is_file());
    assert!(
        std::fs::read_dir(state.path().join("audit"))
            .unwrap()
            .next()
            .is_some(),
        "the audit trail records the passes"
    );

    // A plan-only agent over the same directory takes no lock and writes nothing.
    let planner = Agent::builder(caps)
        .plan_against(state.path())
        .build()
        .unwrap();
    let plan = planner.enforce(&windows_client(), &[]);
    assert!(plan.what_if);
    drop(agent);
    let holder = rampart_runtime::lock::StateLock::holder(state.path()).unwrap();
    assert_eq!(holder.command, "the first agent");
}

/// A management service in memory: the bodies it delivers, fetched asynchronously.
struct Service {
    bodies: Vec<rampart_runtime::PolicyBody>,
}

impl rampart_runtime::AsyncPolicySource for Service {
    type Error = std::io::Error;

    fn fetch(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Vec<rampart_runtime::PolicyBody>, Self::Error>> + Send
    {
        let bodies = self.bodies.clone();
        async move {
            tokio::task::yield_now().await;
            Ok(bodies)
        }
    }
}

#[test]
fn an_agent_awaits_passes_from_an_async_source_and_names_the_bodies_it_could_not_read() {
    use rampart_runtime::{Agent, EmbedError, GrantPolicy, ceiling};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (registry, caps) = rampart_tests::backends(false);
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(rampart_tests::windows_defender(
        &GrantPolicy::Ceiling(ceiling::recommended()),
    )));
    let plugins = Arc::new(plugins);
    let state = tempfile::tempdir().unwrap();
    let agent = Arc::new(
        Agent::builder(caps)
            .state_dir(state.path(), "async test")
            .build()
            .unwrap(),
    );
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/contoso-defender-antivirus.json"
    );
    let mut service = Service {
        bodies: vec![
            ("service://antivirus".into(), std::fs::read(policy).unwrap()),
            ("service://torn".into(), b"{\"id\": \"cut short".to_vec()),
        ],
    };

    // A time limit that cannot be met gives the report up, not the pass: it finishes in the
    // background and the next pass waits for it.
    let timed_out = runtime.block_on(agent.enforce_from(
        plugins.clone(),
        windows_client(),
        &mut service,
        Some(std::time::Duration::ZERO),
    ));
    assert!(
        matches!(timed_out, Err(EmbedError::TimedOut(_))),
        "{timed_out:?}"
    );

    let report = runtime
        .block_on(agent.enforce_from(plugins.clone(), windows_client(), &mut service, None))
        .unwrap();
    assert_eq!(report.input_errors.len(), 1, "{:?}", report.input_errors);
    assert!(
        report.input_errors[0].contains("service://torn"),
        "{:?}",
        report.input_errors
    );
    assert!(report.summary.compliant > 0, "{:?}", report.summary);
    assert_eq!(report.summary.error, 0, "{:?}", report.summary);
    // Whichever of the two passes ran first enforced the policy; the other found it in place.
    // A third pass finds every setting compliant: nothing was left half-made.
    assert!(!registry.export_reg().is_empty());
    let third = runtime
        .block_on(agent.enforce_from(plugins, windows_client(), &mut service, None))
        .unwrap();
    assert_eq!(third.summary.remediated, 0, "{:?}", third.summary);
    assert_eq!(
        third.summary.compliant,
        report.summary.compliant + report.summary.remediated
    );
}
