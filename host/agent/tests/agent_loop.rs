//! `rampart run`: the agent loop answers `rampart sync`, swaps plugins from its directory live,
//! reports rejections, and stops cleanly on SIGTERM.

#![cfg(unix)]

use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

mod support;

fn start_agent(state: &Path, trust: &Path) -> Child {
    StdCommand::new(cargo_bin("rampart"))
        .args(["run", "--interval", "1h", "--state"])
        .arg(state)
        .arg("--trust")
        .arg(trust)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills the agent if the test fails before stopping it, so no daemon outlives the test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sync(state: &Path) -> serde_json::Value {
    let out = StdCommand::new(cargo_bin("rampart"))
        .args(["sync", "--json", "--state"])
        .arg(state)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn status(state: &Path) -> serde_json::Value {
    let out = StdCommand::new(cargo_bin("rampart"))
        .args(["status", "--json", "--state"])
        .arg(state)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_agent_syncs_swaps_plugins_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // The stand-in for the first-party plugin, signed by a key trusted for its name; it is
    // deployed later.
    let staged = dir.path().join("staged");
    let trust = support::deploy_signed(
        &std::fs::read(rampart_test_artifacts::TXN_SLOW_WRITER).unwrap(),
        &staged,
        "wd.wasm",
        "windows-defender",
    );
    let mut agent = Running(start_agent(&state, &trust));
    wait_for("the agent socket", || state.join("agent.sock").exists());

    // On demand: a pass runs and its outcome comes back.
    let first = sync(&state);
    assert_eq!(first["exitCode"], 0, "{first}");
    let count = |status: &str| first["counts"][status].as_u64().unwrap_or(0);
    assert_eq!(count("compliant") + count("remediated"), 15, "{first}");

    // A corrupt plugin file is rejected and shows in the report; the embedded one keeps serving.
    std::fs::write(
        state.join("plugins/windows-defender.wasm.tmp"),
        b"\0asm broken",
    )
    .unwrap();
    std::fs::rename(
        state.join("plugins/windows-defender.wasm.tmp"),
        state.join("plugins/windows-defender.wasm"),
    )
    .unwrap();
    wait_for("the rejection in the report", || {
        sync(&state);
        status(&state)["pluginStatus"]["rejected"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    });
    let report = status(&state);
    let active = &report["pluginStatus"]["active"][0];
    assert_eq!(active["source"], "embedded:windows-defender", "{report}");
    let rejected = &report["pluginStatus"]["rejected"][0];
    assert!(
        rejected["file"]
            .as_str()
            .unwrap()
            .ends_with("windows-defender.wasm")
    );
    // A new file that never loaded replaced nothing: no `kept` version to name.
    assert!(rejected["kept"].is_null(), "{rejected}");
    assert!(!rejected["reason"].as_str().unwrap().is_empty());

    // A good version replaces it live: the next pass names the new digest.
    std::fs::copy(staged.join("wd.wasm"), state.join("plugins/wd.wasm.tmp")).unwrap();
    std::fs::remove_file(state.join("plugins/windows-defender.wasm")).unwrap();
    std::fs::rename(
        state.join("plugins/wd.wasm.tmp"),
        state.join("plugins/wd.wasm"),
    )
    .unwrap();
    wait_for("the new plugin version to serve", || {
        sync(&state);
        status(&state)["plugins"][0]["version"] == "0.0.1"
    });

    // SIGTERM: the agent stops and removes its socket.
    let pid = agent.0.id().to_string();
    assert!(
        StdCommand::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let code = agent.0.wait().unwrap();
    assert!(code.success(), "{code:?}");
    assert!(!state.join("agent.sock").exists());
}
