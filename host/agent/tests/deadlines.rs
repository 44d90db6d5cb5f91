//! `rampart run` with a plugin that waits in WASI calls far past its deadline (`hostile_sleep`,
//! deployed as the signed override of `linux-defender`): its run still ends at the deadline and
//! is rolled back, `rampart sync` gets an answer, and `SIGTERM` stops the agent within its
//! documented bound, interrupting the run in flight.

#![cfg(unix)]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

/// How long the agent may take to stop after `SIGTERM` (its `SHUTDOWN_GRACE`). Plugin runs on a
/// Linux device have a 15 s deadline, so an agent that waited for the run would miss it.
const STOP_BOUND: Duration = Duration::from_secs(10);

/// One setting of the Linux Defender plugin, so that the device's pass runs it.
const LINUX_POLICY: &str = r##"{
  "id": "a3f0c1d2-0000-4000-8000-00000000d1e0",
  "name": "Linux - cloud protection",
  "platforms": "linux",
  "technologies": "microsoftSense",
  "templateReference": {"templateId": "4cfd164c-5e8a-4ea9-b15d-9aa71e4ffff4_1", "templateFamily": "endpointSecurityAntivirus"},
  "settings": [
    {"id": "0", "settingInstance": {
      "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
      "settingDefinitionId": "linux_mdatp_managed_cloudservice_enabled",
      "choiceSettingValue": {"value": "linux_mdatp_managed_cloudservice_enabled_true", "children": []}}}
  ]
}"##;

fn rampart() -> Command {
    let mut cmd = Command::new(cargo_bin("rampart"));
    cmd.env_remove("RAMPART_LOG");
    cmd
}

fn wait_for(what: &str, stderr: &Path, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; agent stderr:\n{}",
            std::fs::read_to_string(stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The `error` of the `linux-defender` run in a report.
fn run_error(report: &serde_json::Value) -> String {
    report["plugins"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["name"] == "linux-defender"))
        .and_then(|r| r["error"].as_str())
        .unwrap_or_else(|| panic!("no failed linux-defender run in {report}"))
        .to_string()
}

/// The agent, killed if the test ends before it stopped.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_plugin_sleeping_in_wasi_calls_neither_hangs_the_agent_nor_survives_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("linux.json"), LINUX_POLICY).unwrap();
    // Signed by a key trusted for `linux-defender`: the agent admits it in place of the
    // first-party plugin.
    let wasm = std::fs::read(rampart_test_artifacts::HOSTILE_SLEEP).unwrap();
    let trust = support::deploy_signed(
        &wasm,
        &state.join("plugins"),
        "linux-defender.wasm",
        "linux-defender",
    );
    let device = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/devices/ubuntu.toml");
    let stderr = dir.path().join("agent.stderr");
    let agent = rampart()
        .args(["run", "--interval", "1h", "--device"])
        .arg(&device)
        .arg("--policies")
        .arg(&policies)
        .arg("--state")
        .arg(&state)
        .arg("--trust")
        .arg(&trust)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let pid = agent.id();
    let mut agent = Agent(agent);
    let marker = state.join("roots/mdatp-managed/mdatp_managed.json");
    let report = state.join("last-report.json");

    // The start pass: the plugin writes its marker, then sleeps; the 15 s deadline ends the
    // run and the write is rolled back.
    wait_for("the plugin's first run", &stderr, || marker.exists());
    wait_for("the start pass's report", &stderr, || report.exists());
    let error = run_error(&read_json(&report));
    assert!(error.contains("timed out after 15s"), "{error}");
    assert!(!marker.exists(), "the timed-out run was rolled back");

    // `rampart sync` asks for a pass; SIGTERM comes while its run sleeps.
    let sync = rampart()
        .args(["sync", "--json", "--timeout", "2m", "--state"])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the plugin's second run", &stderr, || marker.exists());
    let signalled = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(status) = agent.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < STOP_BOUND + Duration::from_secs(20),
            "the agent did not stop; stderr:\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let stopped_after = signalled.elapsed();
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(status.success(), "{status:?}: {log}");
    // Well before the run's 15 s deadline: the run was interrupted, not waited for.
    assert!(
        stopped_after < STOP_BOUND,
        "stopped after {stopped_after:?}: {log}"
    );
    assert!(!state.join("agent.sock").exists());

    // The interrupted pass was committed and reported: the run stopped and rolled back.
    let error = run_error(&read_json(&report));
    assert!(error.contains("was stopped"), "{error}");
    assert!(!marker.exists(), "the stopped run was rolled back");

    // The pending `sync` got that pass's outcome.
    let out = sync.wait_with_output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(summary["counts"]["error"], 1, "{summary}");
}
