//! rampart's benchmark suite: what a plugin run costs, against native code and against one
//! process per setting, end to end, and for a simulated fleet. One command runs it all and
//! prints a summary with the ratios measured side by side in the same run:
//!
//! ```text
//! cargo bench -p rampart-tests --bench suite
//! ```
//!
//! `cargo bench -p rampart-tests --bench suite -- --test` (or `cargo test --benches`) runs every
//! benchmark once, as a check that they work; it measures nothing.
//!
//! The host is measured as the agent ships: built with the `bench` profile (fat LTO, one codegen
//! unit, the settings of the `dist` profile) and allocating through the agent's allocator
//! (`rampart-alloc`).
//!
//! What each group measures is documented on its function; `BENCHMARKS.md` has the results.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rampart_backends::defender::SimulatedDefender;
use rampart_backends::registry::{
    DurableRegistry, EmulatedRegistry, RegValue, RegistryBackend, RegistryPath,
};
use rampart_policy::catalog::Catalog;
use rampart_policy::device::Device;
use rampart_policy::graph::{PolicyDocument, parse_policy};
use rampart_policy::resolve::{Disposition, resolve};
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::audit::AuditLog;
use rampart_runtime::drift::Ledger;
use rampart_runtime::{
    Capabilities, Change, Enforcer, Journal, Plugin, PluginSet, Route, RunLimits,
};
use rampart_tests::{
    backends, engine, load_program, permissive_ceiling, setting, shared_data, windows_client,
    windows_defender,
};

#[path = "support/journaled.rs"]
mod journaled;

use journaled::JournaledRegistry;
use rampart_plugin_windows_defender::WindowsDefender;
use rampart_sdk::native::NativeHost;

/// The agent's global allocator (`host/agent/src/main.rs`), so the runs measured here allocate
/// as they do in the agent.
#[global_allocator]
static ALLOCATOR: rampart_alloc::Allocator = rampart_alloc::Allocator;

/// Settings of the per-apply benchmark, and how many of them are rewritten before each apply.
const PER_APPLY_SETTINGS: usize = 30;
const PER_APPLY_WRITES: usize = 10;
/// Registry reads of the host-call benchmark guest in its long run.
const HOST_CALL_READS: i64 = 1000;
/// Simulated devices per fleet iteration, and the threads they are spread over.
const FLEET_DEVICES: usize = 256;
const FLEET_THREADS: usize = 2;

/// The per-sample times (ns per iteration) of every benchmark, kept to print the summary: each
/// criterion sample calls the routine once with its iteration count.
static SAMPLES: Mutex<BTreeMap<&'static str, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn record(name: &'static str, iters: u64, total: Duration) -> Duration {
    let per_iter = total.as_nanos() as f64 / iters.max(1) as f64;
    SAMPLES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name)
        .or_default()
        .push(per_iter);
    total
}

/// Median ns per iteration over the last `n` samples of `name` (the measured ones; earlier
/// calls are criterion's warm-up).
fn p50(name: &str, n: usize) -> Option<f64> {
    let samples = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    let all = samples.get(name)?;
    let mut last: Vec<f64> = all[all.len().saturating_sub(n)..].to_vec();
    last.sort_by(f64::total_cmp);
    last.get(last.len() / 2).copied()
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// The shared Windows Intune exports (`win-es-*.json`), as file name and bytes.
fn windows_exports() -> Vec<(String, Vec<u8>)> {
    let dir = shared_data().join("intune-exports");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("list the exports")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("win-es-") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no win-es-*.json in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read export"))
        })
        .collect()
}

fn parse_all(exports: &[(String, Vec<u8>)]) -> Vec<PolicyDocument> {
    exports
        .iter()
        .map(|(name, bytes)| parse_policy(bytes, name).expect("export parses"))
        .collect()
}

/// Every setting to enforce on the device, once each, in first-seen order.
fn enforced_settings(docs: &[PolicyDocument], device: &Device) -> Vec<ResolvedSetting> {
    let mut seen = std::collections::HashSet::new();
    resolve(docs, device, &Catalog::embedded())
        .into_iter()
        .flat_map(|p| p.entries)
        .filter_map(|e| match e.disposition {
            Disposition::Enforce(s) => Some(s),
            Disposition::Withheld { .. } => None,
        })
        .filter(|s| seen.insert((s.id.clone(), s.group.clone())))
        .collect()
}

/// A 30-setting Windows policy of settings the windows-defender plugin enforces: those of the
/// shared exports it reports compliant or remediated (its scalar Defender settings and the ASR
/// rules), then, if that is fewer than 30, the ASR rules the exports leave out.
fn thirty_settings(plugin: &Plugin) -> Vec<ResolvedSetting> {
    let asr = "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_";
    let mut candidates = enforced_settings(&parse_all(&windows_exports()), &windows_client());
    for (rule, guid) in [
        (
            "blockwebshellcreationforservers",
            "a8f5898e-1dc8-49a9-9878-85004b8a61e6",
        ),
        (
            "blockwin32apicallsfromofficemacros",
            "92e97fa1-2edf-4476-bdd6-9dd0b4dddc7b",
        ),
    ] {
        let id = format!("{asr}{rule}");
        if !candidates.iter().any(|s| s.id == id) {
            candidates.push(setting(&id, SettingValue::Text(format!("{guid}=1"))));
        }
    }
    let (_, caps) = backends(false);
    let out = plugin
        .run(&windows_client(), &candidates, &caps, &RunLimits::default())
        .expect("probe run");
    let supported: Vec<ResolvedSetting> = candidates
        .into_iter()
        .zip(&out.outcomes)
        .filter(|(_, o)| {
            matches!(
                o.status,
                SettingStatus::Compliant | SettingStatus::Remediated
            )
        })
        .map(|(s, _)| s)
        .take(PER_APPLY_SETTINGS)
        .collect();
    eprintln!(
        "per-apply policy: {} settings the windows-defender plugin enforces",
        supported.len()
    );
    supported
}

/// Registry values the first apply wrote, as (key, name): deleting some before each apply makes
/// that apply write them again.
fn written_values(changes: &[Change]) -> Vec<(RegistryPath, String)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::RegistryValue { key, name, .. } => Some((
                RegistryPath::parse(key).expect("canonical key"),
                name.clone(),
            )),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Per apply

/// One plugin run as the agent makes it: a fresh store, instantiation from the pre-linked
/// plugin (pooling allocator), `apply` of 30 settings of which 10 are rewritten (the 10 values
/// are deleted before each apply, outside the timing), checking of the results, drop. Beside
/// it: the same logic compiled natively against the same backends; the run with no settings
/// (store + instantiate + an empty apply: an upper bound of instantiation); and the host-call
/// round trip, from a guest doing 0 and 1000 registry reads.
fn per_apply(c: &mut Criterion) {
    let plugin = windows_defender(&permissive_ceiling());
    let device = windows_client();
    let limits = RunLimits::default();
    let settings = thirty_settings(&plugin);
    let (registry, caps) = backends(false);
    let first = plugin
        .run(&device, &settings, &caps, &limits)
        .expect("first run");
    let rewrite: Vec<(RegistryPath, String)> = written_values(&first.changes)
        .into_iter()
        .take(PER_APPLY_WRITES)
        .collect();
    let reset = || {
        for (key, name) in &rewrite {
            registry.delete_value(key, name).expect("delete");
        }
    };
    reset();
    let probe = plugin
        .run(&device, &settings, &caps, &limits)
        .expect("probe");
    let remediated = probe
        .outcomes
        .iter()
        .filter(|o| o.status == SettingStatus::Remediated)
        .count();
    eprintln!(
        "per-apply run: {} settings, {} host calls, {} registry writes, {remediated} remediated",
        settings.len(),
        probe.host_calls,
        probe.changes.len()
    );
    *HOST_CALLS_PER_APPLY.lock().unwrap() = probe.host_calls;

    let mut group = c.benchmark_group("per_apply");
    group
        .sample_size(PER_APPLY_SAMPLES)
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("wasm/store+instantiate+apply", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                reset();
                let t = Instant::now();
                let out = plugin
                    .run(&device, black_box(&settings), &caps, &limits)
                    .expect("run");
                total += t.elapsed();
                black_box(out);
            }
            record("per_apply/wasm", iters, total)
        })
    });
    // The same plugin compiled natively, called in-process through `rampart_sdk::native`
    // (grant checks and call budget included, no sandbox), on the same backends. Converting
    // the device and settings to the plugin's types is timed, as `Plugin::run` times its own.
    let native = NativeHost::for_plugin::<WindowsDefender>()
        .expect("the plugin's manifest")
        .with_capabilities(caps.clone());
    reset();
    let native_probe = native.run::<WindowsDefender>(&(&device).into(), &sdk_settings(&settings));
    assert_eq!(
        native_probe
            .results
            .iter()
            .filter(|r| r.status == rampart_sdk::SettingStatus::Remediated)
            .count(),
        remediated,
        "the native run must do the same work"
    );
    group.bench_function("native/apply", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                reset();
                let t = Instant::now();
                let native_device = rampart_sdk::Device::from(&device);
                let out = native
                    .run::<WindowsDefender>(&native_device, &sdk_settings(black_box(&settings)));
                total += t.elapsed();
                black_box(out);
            }
            record("per_apply/native", iters, total)
        })
    });
    group.bench_function("wasm/store+instantiate+empty-apply", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(plugin.run(&device, &[], &caps, &limits).expect("run"));
            }
            record("per_apply/instantiate", iters, t.elapsed())
        })
    });

    let reads = load_program(rampart_test_artifacts::BENCH_REGISTRY_READS).expect("bench guest");
    let bench_key = RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Rampart Bench").unwrap();
    registry
        .set_value(&bench_key, "Value", RegValue::Dword(1))
        .unwrap();
    for (name, n) in [
        ("host_call/0-reads", 0),
        ("host_call/1000-reads", HOST_CALL_READS),
    ] {
        let settings = vec![setting("bench_reads", SettingValue::Integer(n))];
        let out = reads.run(&device, &settings, &caps, &limits).expect("run");
        assert_eq!(out.host_calls as i64, n, "one host call per read");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(reads.run(&device, &settings, &caps, &limits).expect("run"));
                }
                record(name, iters, t.elapsed())
            })
        });
    }
    group.finish();
}

const PER_APPLY_SAMPLES: usize = 40;
static HOST_CALLS_PER_APPLY: Mutex<u32> = Mutex::new(0);

// ---------------------------------------------------------------------------------------------
// End to end

/// What `rampart apply` does after start-up, three ways: parse the shared Windows exports,
/// resolve them for the device, enforce every setting, with every change durable in the
/// registry's `.reg` file before the pass ends and a report written atomically.
///
/// - `rampart`: the runtime's `Enforcer` with the windows-defender plugin, the registry written
///   behind (its file rewritten once per run that changed it), a durable journal (a file per run
///   that changes something, synced with its directory once, before the registry is flushed)
///   and the drift ledger — the agent's own `Job::pass`.
/// - `native`: the same pass with the plugin compiled natively and called in-process through
///   `rampart_sdk::native`, with the same registry, the same journal discipline
///   (`support/journaled.rs`) and ledger.
/// - `dsc-model`: parse and resolve in-process, then one process per setting routed to the
///   plugin (`rampart-bench-dsc-resource`, the plugin compiled natively), fed JSON on stdin, which
///   opens the registry file, enforces its one setting and writes the file back if it changed;
///   no journal, no ledger.
///
/// Each runs on a `compliant` device (the state a previous pass left: the agent's steady state,
/// nothing written but the report, ledger and registry file) and on a `fresh` device (empty
/// state: every supported setting is written).
fn end_to_end(c: &mut Criterion) {
    let exports = windows_exports();
    let device = windows_client();
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));

    // Every model must leave the same registry behind.
    let reference = {
        let dir = tempfile::tempdir().unwrap();
        rampart_pass(dir.path(), &exports, &device, &plugins);
        std::fs::read_to_string(dir.path().join("registry.reg")).unwrap()
    };
    for (name, pass) in [("native", native_pass as PassFn), ("dsc-model", dsc_pass)] {
        let dir = tempfile::tempdir().unwrap();
        pass(dir.path(), &exports, &device, &plugins);
        let got = std::fs::read_to_string(dir.path().join("registry.reg")).unwrap();
        assert_eq!(got, reference, "the {name} pass left another registry");
    }

    let mut group = c.benchmark_group("end_to_end");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (model, pass) in [
        ("rampart", rampart_pass as PassFn),
        ("rampart+audit", rampart_audited_pass),
        ("rampart-bare", rampart_bare_pass),
        ("native", native_pass),
        ("dsc-model", dsc_pass),
    ] {
        for state in ["compliant", "fresh"] {
            let name: &'static str = Box::leak(format!("e2e/{state}/{model}").into_boxed_str());
            group.bench_function(format!("{state}/{model}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let steady = tempfile::tempdir().unwrap();
                    if state == "compliant" {
                        pass(steady.path(), &exports, &device, &plugins);
                    }
                    for _ in 0..iters {
                        let fresh = tempfile::tempdir().unwrap();
                        let dir = if state == "compliant" {
                            steady.path()
                        } else {
                            fresh.path()
                        };
                        let t = Instant::now();
                        pass(dir, &exports, &device, &plugins);
                        total += t.elapsed();
                    }
                    record(name, iters, total)
                })
            });
        }
    }
    // The agent's steady state as `rampart run` keeps it: the state opened once, then passes.
    for keeping in [Keeping::Everything, Keeping::JournalOnly] {
        let model = match keeping {
            Keeping::Everything => "daemon+audit",
            _ => "daemon-bare",
        };
        let name: &'static str = Box::leak(format!("e2e/compliant/{model}").into_boxed_str());
        group.bench_function(format!("compliant/{model}"), |b| {
            b.iter_custom(|iters| {
                let state = tempfile::tempdir().unwrap();
                rampart_pass_with(state.path(), &exports, &device, &plugins, keeping);
                let daemon = Daemon::open(state.path(), keeping);
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    daemon.pass(&exports, &device, &plugins);
                    total += t.elapsed();
                }
                record(name, iters, total)
            })
        });
    }
    group.finish();
}

/// The state of a long-running agent, opened once: its passes pay only for what each pass does.
struct Daemon {
    _lock: Option<rampart_runtime::StateLock>,
    emulated: Arc<EmulatedRegistry>,
    enforcer: Enforcer,
    state: PathBuf,
}

impl Daemon {
    fn open(state: &Path, keeping: Keeping) -> Daemon {
        let lock = (keeping == Keeping::Everything)
            .then(|| rampart_runtime::StateLock::acquire(state, "bench").unwrap());
        let emulated = Arc::new(EmulatedRegistry::open(&state.join("registry.reg")).unwrap());
        let caps = windows_caps(Arc::new(DurableRegistry::write_behind(emulated.clone())));
        let mut journal = Journal::durable(&state.join("journal")).unwrap();
        if keeping == Keeping::Everything {
            journal = journal.with_audit(AuditLog::open(&state.join("audit")).unwrap());
        }
        let mut enforcer = Enforcer::new(caps, RunLimits::default()).with_journal(journal);
        if keeping != Keeping::JournalOnly {
            enforcer = enforcer.with_ledger(Ledger::open(&state.join("owned.json")).unwrap());
        }
        enforcer.recover().unwrap();
        Daemon {
            _lock: lock,
            emulated,
            enforcer,
            state: state.to_path_buf(),
        }
    }

    /// One pass as `Job::pass` makes it: the policies read again, resolved, enforced, the
    /// registry and the report persisted.
    fn pass(&self, exports: &[(String, Vec<u8>)], device: &Device, plugins: &PluginSet) -> usize {
        let docs = parse_all(exports);
        let resolved = resolve(&docs, device, &Catalog::embedded());
        let report = self.enforcer.enforce(plugins, device, &resolved);
        self.emulated.save().unwrap();
        let json = serde_json::to_string_pretty(&report).unwrap();
        write_atomic(&self.state.join("last-report.json"), json.as_bytes());
        report.policies.iter().map(|p| p.settings.len()).sum()
    }
}

type PassFn = fn(&Path, &[(String, Vec<u8>)], &Device, &PluginSet) -> usize;

/// What the state costs a compliant pass, piece by piece, on the state a compliant pass of the
/// shared exports left behind: the lock, opening the audit trail (tail checked against the
/// head), the pass's own record, opening the ledger, drift detection, and the footprint's
/// fingerprint (which decides whether a plugin needs the extra run that finds dropped values).
fn state_pieces(c: &mut Criterion) {
    let exports = windows_exports();
    let device = windows_client();
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    let state = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        rampart_audited_pass(state.path(), &exports, &device, &plugins);
    }
    let caps = windows_caps(Arc::new(
        EmulatedRegistry::open(&state.path().join("registry.reg")).unwrap(),
    ));
    let settings = routed(&exports, &device, &plugins);
    let plugin = plugins.get("windows-defender").unwrap().clone();
    let mut group = c.benchmark_group("state");
    // (Each piece's time is criterion's own estimate; see `end_to_end` for the whole pass.)
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    group.bench_function("lock", |b| {
        b.iter(|| rampart_runtime::StateLock::acquire(state.path(), "bench").unwrap())
    });
    group.bench_function("audit-open", |b| {
        b.iter(|| AuditLog::open(&state.path().join("audit")).unwrap())
    });
    let log = AuditLog::open(&state.path().join("audit")).unwrap();
    group.bench_function("audit-pass-record", |b| {
        b.iter(|| {
            let mut r = serde_json::Map::new();
            r.insert("kind".into(), "pass".into());
            r.insert("settings".into(), 30.into());
            log.append(vec![r], false).unwrap()
        })
    });
    group.bench_function("ledger-open", |b| {
        b.iter(|| Ledger::open(&state.path().join("owned.json")).unwrap())
    });
    let ledger = Ledger::open(&state.path().join("owned.json")).unwrap();
    group.bench_function("ledger-detect", |b| {
        b.iter(|| ledger.detect(&caps, "2026-01-01T00:00:00Z"))
    });
    group.bench_function("footprint-fingerprint", |b| {
        b.iter(|| {
            rampart_runtime::drift::Footprint::fingerprint(
                plugin.digest(),
                &(&device, plugin.grants()),
                &settings,
            )
        })
    });
    group.finish();
}

/// Writes `bytes` to `path` atomically, as the agent writes its report (rename, no fsync: the
/// report is rewritten by every pass).
fn write_atomic(path: &Path, bytes: &[u8]) {
    let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap()).unwrap();
    tmp.write_all(bytes).unwrap();
    tmp.persist(path).unwrap();
}

fn windows_caps(registry: Arc<dyn RegistryBackend>) -> Capabilities {
    Capabilities::none()
        .with_registry(registry.clone())
        .with_defender(Arc::new(SimulatedDefender::new(registry)))
}

/// `Job::open` + `Job::pass` of the agent for a Windows device, except for the audit trail
/// (the native pass has none either; [`rampart_audited_pass`] adds it). Returns the settings
/// reported.
fn rampart_pass(
    state: &Path,
    exports: &[(String, Vec<u8>)],
    device: &Device,
    plugins: &PluginSet,
) -> usize {
    rampart_pass_with(state, exports, device, plugins, Keeping::Ledger)
}

/// `Job::open` + `Job::pass` as the agent makes them: the state directory's lock, the audit
/// trail (checked at open; the runs' records committed with them, one small record per pass)
/// and the ownership ledger.
fn rampart_audited_pass(
    state: &Path,
    exports: &[(String, Vec<u8>)],
    device: &Device,
    plugins: &PluginSet,
) -> usize {
    rampart_pass_with(state, exports, device, plugins, Keeping::Everything)
}

/// The same pass with neither the audit trail nor the ledger (nor the lock): the journal only.
fn rampart_bare_pass(
    state: &Path,
    exports: &[(String, Vec<u8>)],
    device: &Device,
    plugins: &PluginSet,
) -> usize {
    rampart_pass_with(state, exports, device, plugins, Keeping::JournalOnly)
}

/// What a pass keeps besides the registry and its journal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keeping {
    JournalOnly,
    Ledger,
    Everything,
}

fn rampart_pass_with(
    state: &Path,
    exports: &[(String, Vec<u8>)],
    device: &Device,
    plugins: &PluginSet,
    keeping: Keeping,
) -> usize {
    Daemon::open(state, keeping).pass(exports, device, plugins)
}

/// The settings of the resolved exports routed to the windows-defender plugin.
fn routed(
    exports: &[(String, Vec<u8>)],
    device: &Device,
    plugins: &PluginSet,
) -> Vec<ResolvedSetting> {
    enforced_settings(&parse_all(exports), device)
        .into_iter()
        .filter(|s| matches!(plugins.route(device.platform, &s.id), Route::Plugin(_)))
        .collect()
}

fn sdk_settings(settings: &[ResolvedSetting]) -> Vec<rampart_sdk::Setting> {
    settings.iter().map(Into::into).collect()
}

fn outcome_report(outcomes: &[(String, &'static str, Option<String>)]) -> Vec<u8> {
    let settings: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|(id, status, message)| {
            serde_json::json!({ "id": id, "status": status, "message": message })
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({ "settings": settings })).unwrap()
}

/// The same pass with the plugin compiled natively and run in-process (`rampart_sdk::native`).
fn native_pass(
    state: &Path,
    exports: &[(String, Vec<u8>)],
    device: &Device,
    plugins: &PluginSet,
) -> usize {
    let emulated = Arc::new(EmulatedRegistry::open(&state.join("registry.reg")).unwrap());
    let durable: Arc<dyn RegistryBackend> =
        Arc::new(DurableRegistry::write_behind(emulated.clone()));
    let mut ledger = Ledger::open(&state.join("owned.json")).unwrap();
    let now = "2026-01-01T00:00:00Z";
    black_box(ledger.detect(&windows_caps(durable.clone()), now));
    let settings = routed(exports, device, plugins);
    let journaled = Arc::new(JournaledRegistry::start(durable, &state.join("journal")).unwrap());
    let host = NativeHost::for_plugin::<WindowsDefender>()
        .unwrap()
        .with_capabilities(windows_caps(journaled.clone()));
    let run = host.run::<WindowsDefender>(&device.into(), &sdk_settings(&settings));
    let changes = journaled.commit();
    ledger.record("windows-defender", &changes, now);
    ledger.save().unwrap();
    emulated.save().unwrap();
    let rows: Vec<_> = run
        .results
        .into_iter()
        .map(|r| {
            let status = match r.status {
                rampart_sdk::SettingStatus::Compliant => "compliant",
                rampart_sdk::SettingStatus::Remediated => "remediated",
                _ => "error",
            };
            (r.id, status, r.message)
        })
        .collect();
    write_atomic(&state.join("last-report.json"), &outcome_report(&rows));
    rows.len()
}

fn value_json(v: &SettingValue) -> serde_json::Value {
    match v {
        SettingValue::Integer(i) => serde_json::json!({ "integer": i }),
        SettingValue::Boolean(b) => serde_json::json!({ "boolean": b }),
        SettingValue::Text(t) => serde_json::json!({ "text": t }),
        SettingValue::TextList(l) => serde_json::json!({ "textList": l }),
        SettingValue::IntegerList(l) => serde_json::json!({ "integerList": l }),
        SettingValue::Secret(s) => serde_json::json!({ "text": s.expose() }),
    }
}

/// The DSC v3 model: one process per setting.
fn dsc_pass(
    state: &Path,
    exports: &[(String, Vec<u8>)],
    device: &Device,
    plugins: &PluginSet,
) -> usize {
    let registry_file = state.join("registry.reg");
    let mut rows = Vec::new();
    for s in routed(exports, device, plugins) {
        let input = serde_json::json!({
            "registry": registry_file.display().to_string(),
            "setting": { "id": s.id, "value": value_json(&s.value) },
        });
        let mut child =
            std::process::Command::new(env!("CARGO_BIN_EXE_rampart-bench-dsc-resource"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("start the DSC-model resource");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "resource failed for {}", s.id);
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let status = match answer["status"].as_str() {
            Some("compliant") => "compliant",
            Some("remediated") => "remediated",
            _ => "error",
        };
        rows.push((s.id, status, answer["message"].as_str().map(str::to_string)));
    }
    if !registry_file.exists() {
        // Nothing was written (no setting changed anything): the file still exists afterwards
        // in the other models, so write the empty registry too.
        EmulatedRegistry::open(&registry_file)
            .unwrap()
            .save()
            .unwrap();
    }
    write_atomic(&state.join("last-report.json"), &outcome_report(&rows));
    rows.len()
}

// ---------------------------------------------------------------------------------------------
// Fleet

/// Many simulated devices in one process on two threads: each device has its own identity and
/// its own in-memory emulated registry and simulated Defender, starts empty and gets one apply
/// of the 30-setting policy (every setting written). Throughput is device-applies per second;
/// memory is the pooling allocator's resident bytes per warm memory slot (what one concurrent
/// run keeps touched) and the process's peak RSS.
fn fleet(c: &mut Criterion) {
    let plugin = windows_defender(&permissive_ceiling());
    let settings = thirty_settings(&plugin);
    let limits = RunLimits::default();
    let mut group = c.benchmark_group("fleet");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(FLEET_DEVICES as u64));
    group.bench_function(
        format!("{FLEET_DEVICES}-devices-{FLEET_THREADS}-threads"),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for round in 0..iters {
                    let t = Instant::now();
                    std::thread::scope(|scope| {
                        for thread in 0..FLEET_THREADS {
                            let (plugin, settings, limits) = (&plugin, &settings, &limits);
                            scope.spawn(move || {
                                for n in (thread..FLEET_DEVICES).step_by(FLEET_THREADS) {
                                    let device = Device {
                                        id: format!("00000000-0000-4000-8000-{round:04x}{n:08x}"),
                                        name: format!("SIM-{round}-{n}"),
                                        ..windows_client()
                                    };
                                    let (_, caps) = backends(false);
                                    let out = plugin.run(&device, settings, &caps, limits).unwrap();
                                    assert!(
                                        out.outcomes
                                            .iter()
                                            .all(|o| o.status == SettingStatus::Remediated)
                                    );
                                }
                            });
                        }
                    });
                    total += t.elapsed();
                }
                // One "iteration" is the whole batch: record per device.
                record("fleet/device", iters * FLEET_DEVICES as u64, total)
            })
        },
    );
    group.finish();
}

/// Concurrent runs held open at once to measure memory per run.
const MEMORY_RUNS: usize = 16;

/// Memory per concurrent run: `MEMORY_RUNS` runs of the host-call guest (each reading the
/// registry long enough to stay alive) are started together; the growth of the process's RSS
/// while all of them are in flight, divided by their number, is what one concurrent run costs
/// (its linear memory, instance, store and host state, and its thread's stack: an upper bound).
fn memory_per_run() -> Option<f64> {
    if !std::env::args().any(|a| a == "--bench") {
        return None;
    }
    let reads = load_program(rampart_test_artifacts::BENCH_REGISTRY_READS).expect("bench guest");
    let (registry, caps) = backends(false);
    let key = RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Rampart Bench").unwrap();
    registry
        .set_value(&key, "Value", RegValue::Dword(1))
        .unwrap();
    let device = windows_client();
    // Long enough to overlap on two cores under load: a raised call budget and deadline.
    let limits = RunLimits {
        max_host_calls: 1_000_000,
        deadline: Duration::from_secs(60),
        ..RunLimits::default()
    };
    let long = vec![setting("bench_reads", SettingValue::Integer(200_000))];
    // Warm the pool's slots and the allocator's arenas first.
    let short = vec![setting("bench_reads", SettingValue::Integer(1))];
    std::thread::scope(|scope| {
        for _ in 0..MEMORY_RUNS {
            scope.spawn(|| reads.run(&device, &short, &caps, &limits).unwrap());
        }
    });
    let before = rss_kib().0;
    let started = std::sync::Barrier::new(MEMORY_RUNS + 1);
    let during = std::thread::scope(|scope| {
        for _ in 0..MEMORY_RUNS {
            scope.spawn(|| {
                started.wait();
                reads.run(&device, &long, &caps, &limits).unwrap()
            });
        }
        started.wait();
        std::thread::sleep(Duration::from_millis(150));
        let live = engine().pool_metrics().map(|m| m.component_instances());
        (rss_kib().0, live)
    });
    eprintln!(
        "memory: RSS {before} KiB before, {} KiB with {MEMORY_RUNS} runs in flight ({:?} instances live)",
        during.0, during.1
    );
    Some(during.0.saturating_sub(before) as f64 / MEMORY_RUNS as f64)
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---------------------------------------------------------------------------------------------
// Summary

fn summary() {
    let us = |ns: f64| format!("{:.2} µs", ns / 1e3);
    let ms = |ns: f64| format!("{:.2} ms", ns / 1e6);
    let get = |name: &str, n: usize| p50(name, n);
    println!();
    println!("== rampart benchmark summary: p50 of criterion's samples, measured in this run ==");
    match (
        get("per_apply/wasm", PER_APPLY_SAMPLES),
        get("per_apply/native", PER_APPLY_SAMPLES),
    ) {
        (Some(w), Some(n)) => println!(
            "per apply, {PER_APPLY_SETTINGS} settings ({} host calls, {PER_APPLY_WRITES} writes): wasm {} | native {} | wasm/native {:.1}×",
            HOST_CALLS_PER_APPLY.lock().unwrap(),
            us(w),
            us(n),
            w / n
        ),
        _ => println!("per apply: not measured"),
    }
    if let Some(i) = get("per_apply/instantiate", PER_APPLY_SAMPLES) {
        println!("store + instantiate + empty apply: {}", us(i));
    }
    if let (Some(long), Some(short)) = (
        get("host_call/1000-reads", PER_APPLY_SAMPLES),
        get("host_call/0-reads", PER_APPLY_SAMPLES),
    ) {
        println!(
            "host call round trip (registry read): {}",
            us((long - short) / HOST_CALL_READS as f64)
        );
    }
    for state in ["compliant", "fresh"] {
        let g = |m: &str| get(&format!("e2e/{state}/{m}"), 10);
        if let (Some(r), Some(n), Some(d)) = (g("rampart"), g("native"), g("dsc-model")) {
            println!(
                "end to end, {state} device: rampart {} | native {} | dsc-model {} | rampart/native {:.2}× | dsc-model/rampart {:.1}×",
                ms(r),
                ms(n),
                ms(d),
                r / n,
                d / r
            );
        }
        if let (Some(a), Some(d)) = (g("rampart+audit"), g("dsc-model")) {
            println!(
                "end to end, {state} device, with the audit trail as `rampart apply` keeps it: rampart {} | dsc-model/rampart {:.1}×",
                ms(a),
                d / a
            );
        }
        if let (Some(a), Some(r), Some(b)) = (g("rampart+audit"), g("rampart"), g("rampart-bare")) {
            println!(
                "end to end, {state} device, what the state costs (`rampart apply`, opened per pass): lock + audit + ledger {} | ledger only {} | neither {} | everything/neither {:.2}×",
                ms(a),
                ms(r),
                ms(b),
                a / b
            );
        }
        if let (Some(a), Some(b)) = (g("daemon+audit"), g("daemon-bare")) {
            println!(
                "end to end, {state} device, what the state costs (`rampart run`, opened once): lock + audit + ledger {} | neither {} | everything/neither {:.2}×",
                ms(a),
                ms(b),
                a / b
            );
        }
    }
    if let Some(per_device) = get("fleet/device", 10) {
        println!(
            "fleet: {:.0} device-applies/s on {FLEET_THREADS} threads",
            1e9 / per_device
        );
    }
    if let Some(kib) = memory_per_run() {
        println!(
            "memory per concurrent run: {kib:.0} KiB ({MEMORY_RUNS} runs in flight, RSS growth / runs)"
        );
    }
    let (rss, hwm) = rss_kib();
    println!(
        "process: RSS {:.1} MiB, peak RSS (VmHWM) {:.1} MiB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "cpus: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

fn main() {
    // The allocator as the agent sets it up, before anything allocates much.
    rampart_alloc::tune();
    let mut c = Criterion::default().configure_from_args();
    per_apply(&mut c);
    end_to_end(&mut c);
    state_pieces(&mut c);
    fleet(&mut c);
    c.final_summary();
    // `cargo test --benches` and `-- --test` run each benchmark once: nothing to summarise.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
