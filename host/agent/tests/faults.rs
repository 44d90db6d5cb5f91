//! The fault suite: the agent killed, out of disk space, racing a second writer, or fed torn and
//! corrupted state, and what the next start makes of it.
//!
//! Every trial starts from a state directory where two of the three example policies are
//! enforced and asks for a pass that swaps one of them for the third (so the pass removes the
//! values of a dropped policy, sets new ones, journals, commits and takes ownership). The fault
//! hits that pass. Then a plain `rampart apply` of the
//! same inputs (the *heal*) must end with:
//!
//! - the registry exactly as a pass without the fault leaves it: no enforced value lost, none
//!   orphaned;
//! - the ledger owning exactly the values a pass without the fault leaves owned (so ledger =
//!   registry), and no journal left;
//! - `rampart audit verify` passing;
//! - a further pass changing nothing.
//!
//! Faults are injected with `strace -e inject`: a SIGKILL, or `ENOSPC` (a full disk), at the
//! N-th call of each file-writing system call. By default a sample of the points is run; with
//! `RAMPART_FAULTS=full` every point is (`RAMPART_FAULTS=full cargo test -p rampart --test
//! faults -- --nocapture` prints the trial counts). Without `strace` the suite is skipped with a
//! message, and fails under `CI=true`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RAMPART: &str = env!("CARGO_BIN_EXE_rampart");

/// The system calls through which a pass changes files.
const WRITING_SYSCALLS: &[&str] = &[
    "write",
    "fsync",
    "fdatasync",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "ftruncate",
];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

fn full() -> bool {
    std::env::var("RAMPART_FAULTS").is_ok_and(|v| v == "full")
}

fn have_strace() -> bool {
    let ok = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "strace is required for the fault suite under CI=true"
        );
        eprintln!("skipped: strace is not installed (apt-get install strace)");
    }
    ok
}

/// The two policy sets: the enforced one (without the firewall policy), and the target of the
/// pass the fault hits (without the ASR rules).
struct Inputs {
    all: PathBuf,
    fewer: PathBuf,
    _dir: tempfile::TempDir,
}

fn inputs() -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("start");
    let fewer = dir.path().join("target");
    std::fs::create_dir_all(&all).unwrap();
    std::fs::create_dir_all(&fewer).unwrap();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue; // the every-family examples: not part of this workload
        }
        let name = path.file_name().unwrap().to_owned();
        if !name.to_string_lossy().contains("firewall") {
            std::fs::copy(&path, all.join(&name)).unwrap();
        }
        if !name.to_string_lossy().contains("asr") {
            std::fs::copy(&path, fewer.join(&name)).unwrap();
        }
    }
    Inputs {
        all,
        fewer,
        _dir: dir,
    }
}

fn apply_args(state: &Path, policies: &Path) -> Vec<String> {
    vec![
        "apply".into(),
        "--json".into(),
        "--state".into(),
        state.display().to_string(),
        "--policies".into(),
        policies.display().to_string(),
    ]
}

fn rampart(args: &[String]) -> Output {
    Command::new(RAMPART).args(args).output().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// What a state directory holds that must match after a heal: the registry, and the ledger's
/// owned values without their timestamps.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    registry: String,
    owned: BTreeMap<String, serde_json::Value>,
}

fn outcome(state: &Path) -> Outcome {
    let registry = std::fs::read_to_string(state.join("registry.reg")).unwrap_or_default();
    let ledger: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("owned.json")).unwrap()).unwrap();
    let owned = ledger["owned"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["value"].clone()))
        .collect();
    Outcome { registry, owned }
}

/// A state directory with the starting policies enforced, and the outcome a pass to the
/// target set leaves on it when nothing goes wrong.
struct Baseline {
    start: tempfile::TempDir,
    expected: Outcome,
    inputs: Inputs,
}

fn baseline() -> Baseline {
    let inputs = inputs();
    let start = tempfile::tempdir().unwrap();
    let out = rampart(&apply_args(start.path(), &inputs.all));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(start.path(), scratch.path());
    let out = rampart(&apply_args(scratch.path(), &inputs.fewer));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let expected = outcome(scratch.path());
    assert_ne!(
        expected.registry,
        std::fs::read_to_string(start.path().join("registry.reg")).unwrap(),
        "the pass under test changes the registry"
    );
    Baseline {
        start,
        expected,
        inputs,
    }
}

impl Baseline {
    /// A fresh copy of the starting state.
    fn trial_state(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(self.start.path(), dir.path());
        dir
    }

    /// Heals `state` with a plain pass and checks every invariant; `what` names the trial.
    fn heal_and_check(&self, state: &Path, what: &str) {
        let out = rampart(&apply_args(state, &self.inputs.fewer));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: the heal pass failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let journal = state.join("journal");
        let left = std::fs::read_dir(&journal).map_or(0, |d| d.count());
        assert_eq!(left, 0, "{what}: a journal is left");
        let found = outcome(state);
        if found != self.expected {
            let missing: Vec<&String> = self
                .expected
                .owned
                .keys()
                .filter(|k| found.owned.get(*k) != self.expected.owned.get(*k))
                .collect();
            let extra: Vec<&String> = found
                .owned
                .keys()
                .filter(|k| !self.expected.owned.contains_key(*k))
                .collect();
            panic!(
                "{what}: differs from a pass without the fault: registry {}; ledger lacks or differs on {missing:?}; ledger owns more: {extra:?}",
                if found.registry == self.expected.registry {
                    "same"
                } else {
                    "DIFFERENT"
                }
            );
        }
        let verify = rampart(&[
            "audit".into(),
            "verify".into(),
            "--state".into(),
            state.display().to_string(),
        ]);
        assert_eq!(
            verify.status.code(),
            Some(0),
            "{what}: audit verify: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        let again = rampart(&apply_args(state, &self.inputs.fewer));
        let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
        let changes: usize = report["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["changes"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            changes, 0,
            "{what}: the pass after the heal changed something"
        );
    }
}

/// How many times the faulted pass calls each writing system call.
fn syscall_counts(base: &Baseline) -> BTreeMap<String, usize> {
    let state = base.trial_state();
    let summary = state.path().join("..").join(format!(
        "strace-count-{}",
        state.path().file_name().unwrap().to_string_lossy()
    ));
    let mut args = vec![
        "-f".to_string(),
        "-qq".into(),
        "-c".into(),
        "-o".into(),
        summary.display().to_string(),
        "-e".into(),
        format!("trace={}", WRITING_SYSCALLS.join(",")),
        RAMPART.into(),
    ];
    args.extend(apply_args(state.path(), &base.inputs.fewer));
    let out = Command::new("strace").args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = std::fs::read_to_string(&summary).unwrap();
    let _ = std::fs::remove_file(&summary);
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors], syscall
        if let (Some(name), Some(calls)) = (fields.last(), fields.get(3))
            && WRITING_SYSCALLS.contains(name)
            && let Ok(calls) = calls.parse::<usize>()
        {
            counts.insert((*name).to_string(), calls);
        }
    }
    assert!(counts.get("fsync").is_some_and(|&n| n > 0), "{text}");
    counts
}

/// The points of a fault: every call in the full suite, else the first, last and a few between.
fn points(calls: usize) -> Vec<usize> {
    if full() || calls <= 4 {
        return (1..=calls).collect();
    }
    let mut p: Vec<usize> = [1, calls / 3, calls / 2, 2 * calls / 3, calls]
        .into_iter()
        .filter(|&n| n >= 1)
        .collect();
    p.dedup();
    p
}

/// Runs the faulted pass with `strace -e inject=SYSCALL:FAULT:when=N` at every point; returns
/// the trials run and how many of them the fault actually stopped or failed.
fn inject_everywhere(fault: &str) -> (usize, usize) {
    let base = baseline();
    let counts = syscall_counts(&base);
    eprintln!("{fault}: the faulted pass makes these writing system calls: {counts:?}");
    let (mut trials, mut hit) = (0, 0);
    for (syscall, &calls) in &counts {
        for n in points(calls) {
            let state = base.trial_state();
            let mut args = vec![
                "-f".to_string(),
                "-qq".into(),
                "-o".into(),
                "/dev/null".into(),
                "-e".into(),
                format!("trace={syscall}"),
                "-e".into(),
                format!("inject={syscall}:{fault}:when={n}"),
                RAMPART.into(),
            ];
            args.extend(apply_args(state.path(), &base.inputs.fewer));
            let out = Command::new("strace").args(&args).output().unwrap();
            if out.status.code() != Some(0) {
                hit += 1;
            }
            let what = format!("{fault} at {syscall} #{n}");
            base.heal_and_check(state.path(), &what);
            trials += 1;
        }
    }
    (trials, hit)
}

#[test]
fn a_kill_at_any_writing_system_call_loses_and_orphans_nothing() {
    if !have_strace() {
        return;
    }
    let (trials, hit) = inject_everywhere("signal=KILL");
    eprintln!("kill -9: {trials} trials, {hit} interrupted the pass; all healed");
    assert!(
        hit > 0,
        "no trial was interrupted: the injection did not work"
    );
}

#[test]
fn a_full_disk_at_any_writing_system_call_loses_and_orphans_nothing() {
    if !have_strace() {
        return;
    }
    let (trials, hit) = inject_everywhere("error=ENOSPC");
    eprintln!("ENOSPC: {trials} trials, {hit} made the pass fail; all healed");
    assert!(hit > 0, "no trial failed: the injection did not work");
}

#[test]
fn a_kill_at_a_random_moment_loses_and_orphans_nothing() {
    let base = baseline();
    let trials = if full() { 60 } else { 12 };
    let started = std::time::Instant::now();
    let probe = base.trial_state();
    rampart(&apply_args(probe.path(), &base.inputs.fewer));
    let span = started.elapsed().as_micros().max(1000) as u64;
    let mut killed = 0;
    for i in 0..trials {
        let state = base.trial_state();
        let mut child = Command::new(RAMPART)
            .args(apply_args(state.path(), &base.inputs.fewer))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread over the pass: trial i waits i/trials of its duration.
        std::thread::sleep(std::time::Duration::from_micros(span * i / trials));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        base.heal_and_check(state.path(), &format!("kill after {}µs", span * i / trials));
    }
    eprintln!("random kill: {trials} trials, {killed} killed mid-pass; all healed");
}

#[test]
fn two_writers_at_once_never_interleave() {
    let base = baseline();
    let trials = if full() { 20 } else { 6 };
    let mut busy = 0;
    for _ in 0..trials {
        let state = base.trial_state();
        let spawn = || {
            Command::new(RAMPART)
                .args(apply_args(state.path(), &base.inputs.fewer))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            match out.status.code() {
                Some(0) => {}
                Some(5) => {
                    busy += 1;
                    let err = String::from_utf8_lossy(&out.stderr);
                    assert!(err.contains("is in use by pid"), "{err}");
                }
                other => panic!("unexpected exit {other:?}: {out:?}"),
            }
        }
        base.heal_and_check(state.path(), "two writers");
    }
    eprintln!("two writers: {trials} trials, {busy} second writers refused at once");
}

#[test]
fn corrupted_state_files_are_repaired_or_refused_loudly() {
    let base = baseline();
    type Damage = fn(&Path);
    let healable: &[(&str, Damage)] = &[
        ("audit trail torn mid-record", |s| {
            let p = s.join("audit/audit.jsonl");
            let len = std::fs::metadata(&p).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            f.set_len(len - 40).unwrap();
        }),
        ("audit trail with a garbage tail", |s| {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(s.join("audit/audit.jsonl"))
                .unwrap();
            f.write_all(&[0u8; 300]).unwrap();
        }),
        ("unsynced journal with garbage", |s| {
            std::fs::create_dir_all(s.join("journal")).unwrap();
            std::fs::write(s.join("journal/run-0-0-0.jsonl"), b"\0\0garbage").unwrap();
        }),
        ("last-good index garbage", |s| {
            std::fs::create_dir_all(s.join("last-good")).unwrap();
            std::fs::write(s.join("last-good/index.json"), b"{").unwrap();
        }),
        ("compiled plugin cache entries flipped", |s| {
            for entry in std::fs::read_dir(s.join("aot-cache")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|x| x == "cwasm") {
                    let mut bytes = std::fs::read(&path).unwrap();
                    let mid = bytes.len() / 2;
                    for b in &mut bytes[mid..mid + 64] {
                        *b ^= 0xff;
                    }
                    std::fs::write(&path, bytes).unwrap();
                }
            }
        }),
    ];
    for (what, damage) in healable {
        let state = base.trial_state();
        damage(state.path());
        base.heal_and_check(state.path(), what);
    }

    // Tampering is recorded as evidence, never erased by the next pass.
    for (what, damage) in [
        (
            "audit trail emptied",
            (|s: &Path| {
                std::fs::write(s.join("audit/audit.jsonl"), b"").unwrap();
            }) as Damage,
        ),
        ("audit trail deleted", |s| {
            std::fs::remove_file(s.join("audit/audit.jsonl")).unwrap();
        }),
        ("audit trail cut by whole records", |s| {
            let p = s.join("audit/audit.jsonl");
            let text = std::fs::read_to_string(&p).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            std::fs::write(&p, lines[..lines.len() / 2].join("\n") + "\n").unwrap();
        }),
    ] {
        let state = base.trial_state();
        damage(state.path());
        let out = rampart(&apply_args(state.path(), &base.inputs.fewer));
        assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
        assert_eq!(outcome(state.path()), base.expected, "{what}");
        for _ in 0..2 {
            let verify = rampart(&[
                "audit".into(),
                "verify".into(),
                "--state".into(),
                state.path().display().to_string(),
            ]);
            let text = String::from_utf8_lossy(&verify.stdout).into_owned()
                + &String::from_utf8_lossy(&verify.stderr);
            assert_eq!(verify.status.code(), Some(1), "{what}: {text}");
            assert!(text.contains("tamper"), "{what}: {text}");
            // Another pass does not erase it.
            rampart(&apply_args(state.path(), &base.inputs.fewer));
        }
    }

    // A corrupt ledger: refused loudly, nothing changed.
    for damage in [
        b"{\"owned\": {".as_slice(),
        b"".as_slice(),
        b"[1,2,3]".as_slice(),
    ] {
        let state = base.trial_state();
        std::fs::write(state.path().join("owned.json"), damage).unwrap();
        let registry = std::fs::read(state.path().join("registry.reg")).unwrap();
        let out = rampart(&apply_args(state.path(), &base.inputs.fewer));
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("owned.json") && err.contains("refuses"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(state.path().join("registry.reg")).unwrap(),
            registry
        );
    }

    // A corrupt registry file: refused as bad input, nothing changed.
    let state = base.trial_state();
    std::fs::write(state.path().join("registry.reg"), b"not a registry").unwrap();
    let out = rampart(&apply_args(state.path(), &base.inputs.fewer));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
