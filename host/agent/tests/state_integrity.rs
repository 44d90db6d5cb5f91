//! What the command line does with unreadable input, a second owner and a stopped agent: only a
//! readable input withdraws anything, one process owns a state directory, and every bad input
//! is a one-line error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RAMPART: &str = env!("CARGO_BIN_EXE_rampart");

fn rampart(args: &[&str]) -> Output {
    Command::new(RAMPART)
        .args(args)
        .env_remove("RAMPART_LOG")
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A copy of the example policies in a directory of its own.
fn policy_dir(root: &Path) -> PathBuf {
    let dir = root.join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// A state directory where the example policies (in a directory of their own) are enforced.
fn enforced() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let policies = policy_dir(dir.path());
    let state = dir.path().join("state");
    let out = rampart(&["apply", "--state", s(&state), "--policies", s(&policies)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (dir, policies, state)
}

/// How many changes the plugin runs of a `--json` report made (or planned).
fn change_count(report: &serde_json::Value) -> usize {
    report["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["changes"].as_array().map_or(0, Vec::len))
        .sum()
}

fn asr_file(policies: &Path) -> PathBuf {
    policies.join("contoso-asr-rules.json")
}

/// Values in the emulated registry under the ASR rules key.
fn asr_values(state: &Path) -> usize {
    let text = std::fs::read_to_string(state.join("registry.reg")).unwrap();
    let mut in_asr = false;
    let mut n = 0;
    for line in text.lines() {
        if line.starts_with('[') {
            in_asr = line.contains(r"ASR\Rules]");
        } else if in_asr && line.starts_with('"') {
            n += 1;
        }
    }
    n
}

fn truncate_in_place(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(file, &bytes[..bytes.len() / 2]).unwrap();
}

/// A `rampart run` that is killed when the test ends, however it ends.
struct Agent(std::process::Child);

impl Agent {
    fn start(args: &[&str]) -> Agent {
        Agent(
            Command::new(RAMPART)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    /// SIGTERM, and wait for it to exit.
    fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.pid()])
            .status()
            .unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn a_torn_policy_keeps_its_last_good_version_enforced() {
    let (_dir, policies, state) = enforced();
    let before = asr_values(&state);
    assert!(before >= 5, "the ASR rules are enforced: {before}");

    truncate_in_place(&asr_file(&policies));
    // Without --keep-going: refused, one line, nothing changed.
    let out = rampart(&["apply", "--state", s(&state), "--policies", s(&policies)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--keep-going"), "{}", stderr(&out));
    assert_eq!(asr_values(&state), before);

    // With it: the other documents are enforced, the torn one from its last good version.
    let out = rampart(&[
        "apply",
        "--json",
        "--keep-going",
        "--state",
        s(&state),
        "--policies",
        s(&policies),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(asr_values(&state), before, "no ASR rule withdrawn");
    let report = json(&out);
    let stale = &report["staleInputs"][0];
    assert!(
        stale["path"]
            .as_str()
            .unwrap()
            .ends_with("contoso-asr-rules.json"),
        "{report}"
    );
    assert!(
        stale["since"].is_string() && stale["reason"].is_string(),
        "{report}"
    );
    assert_eq!(change_count(&report), 0, "{report}");

    // Removing the file from the (readable) directory withdraws the policy.
    std::fs::remove_file(asr_file(&policies)).unwrap();
    let out = rampart(&["apply", "--state", s(&state), "--policies", s(&policies)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(asr_values(&state), 0, "withdrawn by a readable input");
}

/// The example policies as one Graph list response, `all.json`, alone in a directory.
fn list_dir(root: &Path, names: &[&str]) -> PathBuf {
    let dir = root.join("listed");
    std::fs::create_dir_all(&dir).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let policies: Vec<serde_json::Value> = names
        .iter()
        .map(|name| serde_json::from_slice(&std::fs::read(examples.join(name)).unwrap()).unwrap())
        .collect();
    let list = serde_json::json!({"@odata.context": "https://graph.microsoft.com/beta/$metadata#deviceManagement/configurationPolicies(settings())", "value": policies});
    std::fs::write(
        dir.join("all.json"),
        serde_json::to_string_pretty(&list).unwrap(),
    )
    .unwrap();
    dir
}

const AV: &str = "contoso-defender-antivirus.json";
const ASR: &str = "contoso-asr-rules.json";

#[test]
fn a_torn_list_file_keeps_both_of_its_policies_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let policies = list_dir(dir.path(), &[AV, ASR]);
    let state = dir.path().join("state");
    let out = rampart(&["apply", "--state", s(&state), "--policies", s(&policies)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(asr_values(&state) >= 5, "the ASR rules are enforced");
    let registry = std::fs::read(state.join("registry.reg")).unwrap();

    let file = policies.join("all.json");
    truncate_in_place(&file);
    let out = rampart(&[
        "apply",
        "--json",
        "--keep-going",
        "--state",
        s(&state),
        "--policies",
        s(&policies),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(change_count(&report), 0, "nothing withdrawn: {report}");
    assert_eq!(
        std::fs::read(state.join("registry.reg")).unwrap(),
        registry,
        "both policies stay enforced"
    );
    let names: Vec<&str> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "both documents from the last good file: {report}"
    );
    let stale = report["staleInputs"].as_array().unwrap();
    assert_eq!(stale.len(), 1, "one stale input, the file: {report}");
    assert_eq!(stale[0]["path"], file.display().to_string());

    // Repaired without the ASR policy: a readable file withdraws the policy taken out of it.
    let policies = list_dir(dir.path(), &[AV]);
    let out = rampart(&["apply", "--state", s(&state), "--policies", s(&policies)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(asr_values(&state), 0, "withdrawn by a readable input");
}

#[test]
fn an_empty_policy_set_is_refused_unless_allowed() {
    let (dir, _policies, state) = enforced();
    let registry = std::fs::read(state.join("registry.reg")).unwrap();

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = rampart(&["apply", "--state", s(&state), "--policies", s(&empty)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-empty"), "{}", stderr(&out));
    assert_eq!(std::fs::read(state.join("registry.reg")).unwrap(), registry);

    // Only unreadable documents, never read before: just as empty.
    std::fs::write(empty.join("torn.json"), "{\"name\":").unwrap();
    let fresh = dir.path().join("fresh");
    let out = rampart(&[
        "apply",
        "--keep-going",
        "--state",
        s(&fresh),
        "--policies",
        s(&empty),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!fresh.exists(), "nothing written on bad input");
    std::fs::remove_file(empty.join("torn.json")).unwrap();

    let out = rampart(&[
        "apply",
        "--allow-empty",
        "--state",
        s(&state),
        "--policies",
        s(&empty),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(asr_values(&state), 0, "explicitly emptied");
}

#[test]
fn what_if_plans_exactly_the_changes_the_real_apply_makes_removals_included() {
    let (_dir, policies, state) = enforced();
    std::fs::remove_file(asr_file(&policies)).unwrap();
    let registry = std::fs::read(state.join("registry.reg")).unwrap();

    let changes = |out: &Output| -> Vec<String> {
        let mut all: Vec<String> = json(out)["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["changes"].as_array().cloned().unwrap_or_default())
            .map(|c| c.to_string())
            .collect();
        all.sort();
        all
    };
    let args = ["--json", "--state", s(&state), "--policies", s(&policies)];
    let plan = rampart(&[&["apply", "--what-if"][..], &args[..]].concat());
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert_eq!(
        std::fs::read(state.join("registry.reg")).unwrap(),
        registry,
        "a plan changes nothing"
    );
    let planned = changes(&plan);
    assert!(
        planned.len() > 5,
        "the ASR values' removal is planned: {planned:?}"
    );
    let real = rampart(&[&["apply"][..], &args[..]].concat());
    assert_eq!(real.status.code(), Some(0), "{}", stderr(&real));
    assert_eq!(planned, changes(&real), "plan = changes");
}

#[test]
fn bad_options_and_missing_state_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    for interval in ["0s", "1ms", "999ms"] {
        let out = rampart(&[
            "run",
            "--interval",
            interval,
            "--state",
            s(&dir.path().join("s")),
        ]);
        assert_eq!(out.status.code(), Some(2), "{interval}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("minimum interval"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!dir.path().join("s").exists());
    let missing = dir.path().join("nonexistent");
    let out = rampart(&["registry", "export", "--state", s(&missing)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn one_owner_per_state_directory_and_sync_gives_up_on_a_stopped_agent() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let agent = Agent::start(&["run", "--interval", "1h", "--state", s(&state)]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.join("last-report.json").exists() {
        assert!(Instant::now() < deadline, "the agent never finished a pass");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second writer of any kind fails at once, naming the holder.
    let reg = dir.path().join("seed.reg");
    std::fs::write(&reg, "Windows Registry Editor Version 5.00\n").unwrap();
    for args in [
        vec!["apply", "--state", s(&state)],
        vec!["run", "--state", s(&state)],
        vec!["registry", "import", s(&reg), "--state", s(&state)],
    ] {
        let out = rampart(&args);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("pid {}", agent.pid())) && err.contains("`rampart run`"),
            "{err}"
        );
    }
    // The owner still answers.
    let out = rampart(&["sync", "--json", "--state", s(&state)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Stopped, it cannot answer: sync gives up after its timeout.
    let pid = agent.pid();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let started = Instant::now();
    let out = rampart(&["sync", "--timeout", "1s", "--state", s(&state)]);
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not answer within 1s"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    agent.stop();
    // Released with the process: the next owner gets it.
    let out = rampart(&["apply", "--state", s(&state)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn a_policy_torn_under_a_running_agent_withdraws_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let policies = policy_dir(dir.path());
    let state = dir.path().join("state");
    let agent = Agent::start(&[
        "run",
        "--interval",
        "1h",
        "--state",
        s(&state),
        "--policies",
        s(&policies),
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.join("last-report.json").exists() {
        assert!(Instant::now() < deadline, "the agent never finished a pass");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = asr_values(&state);
    assert!(before >= 5);
    // Written in place, not renamed: the watcher sees a half-written file.
    truncate_in_place(&asr_file(&policies));
    std::thread::sleep(Duration::from_millis(500));
    let out = rampart(&["sync", "--json", "--state", s(&state)]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(asr_values(&state), before, "no ASR rule withdrawn");
    let status = rampart(&["status", "--json", "--state", s(&state)]);
    let report = json(&status);
    assert!(
        report["staleInputs"][0]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("contoso-asr-rules.json")),
        "{report}"
    );
    agent.stop();
}

#[test]
fn a_refused_input_leaves_no_compiled_plugin_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // The first apply on a new state compiles without a cache; the second fills it.
    for _ in 0..2 {
        let out = rampart(&["apply", "--state", s(&state)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let entries = |state: &Path| -> usize {
        std::fs::read_dir(state.join("aot-cache"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "cwasm")
            })
            .count()
    };
    assert!(entries(&state) > 0);
    for entry in std::fs::read_dir(state.join("aot-cache")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "cwasm") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("garbage.wasm"), vec![0x5a; 4096]).unwrap();
    let out = rampart(&["apply", "--state", s(&state), "--plugins", s(&plugins)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(entries(&state), 0, "nothing compiled was written");
}
