//! `kill -9` at random points while a plugin writes: the emulated registry's file never holds
//! part of a run (it is rewritten once, when the run ends), and the next start rolls the
//! unfinished run back, so the device ends with all of the run's writes or none.

#![cfg(unix)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin;

mod support;

const KEY: &str =
    r"[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows Defender\RampartKillTest]";

/// The values under the test key in a state's registry.
fn kill_test_values(state: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(state.join("registry.reg")).unwrap_or_default();
    let Some(start) = text.find(KEY) else {
        return 0;
    };
    text[start + KEY.len()..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| l.starts_with("\"v"))
        .count()
}

#[test]
fn killing_the_agent_mid_run_never_leaves_a_torn_state() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let trust = support::deploy_signed(
        &std::fs::read(rampart_test_artifacts::TXN_SLOW_WRITER).unwrap(),
        &plugins,
        "windows-defender.wasm",
        "windows-defender",
    );
    let empty_policies = dir.path().join("no-policies");
    std::fs::create_dir(&empty_policies).unwrap();

    let mut killed_mid_run = 0;
    for round in 0..10u64 {
        let state = dir.path().join(format!("state-{round}"));
        let mut child = StdCommand::new(cargo_bin("rampart"))
            .args(["apply", "-v", "--plugins"])
            .arg(&plugins)
            .arg("--trust")
            .arg(&trust)
            .arg("--state")
            .arg(&state)
            .env("RAMPART_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the plugin starts writing, then kill at a pseudo-random point of the
        // ~250 ms it spends writing (sometimes after it finished).
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let started = lines.any(|l| l.is_ok_and(|l| l.contains("rampart-test: writing")));
        assert!(started, "the plugin never started writing");
        std::thread::sleep(Duration::from_millis((round * 37) % 300));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let after_kill = kill_test_values(&state);
        assert!(
            after_kill == 0 || after_kill == 60,
            "round {round}: the registry file holds {after_kill} of the run's 60 values"
        );
        // Journals of runs killed before their commit record; one killed after it (the
        // ledger and the audit trail not yet caught up) is completed, not undone.
        let pending = std::fs::read_dir(state.join("journal"))
            .unwrap()
            .filter(|e| {
                let text = std::fs::read_to_string(e.as_ref().unwrap().path()).unwrap();
                !text.lines().any(|l| l.starts_with("{\"commit\""))
            })
            .count();
        if pending > 0 {
            killed_mid_run += 1;
        }
        // The next start recovers (and then enforces nothing: no policies).
        let out = StdCommand::new(cargo_bin("rampart"))
            .args(["apply", "--json", "--allow-empty", "--policies"])
            .arg(&empty_policies)
            .arg("--state")
            .arg(&state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let recovered = kill_test_values(&state);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if pending > 0 {
            // Killed before the run committed: whatever reached the file is undone.
            assert_eq!(
                recovered, 0,
                "round {round}: an unfinished run must be rolled back (there were {after_kill} values after the kill)"
            );
            assert!(
                report["recovered"][0]
                    .as_str()
                    .unwrap_or_default()
                    .contains("rolled back"),
                "round {round}: {report}"
            );
        } else {
            // Killed before the first change or after the commit. (A committed run's values
            // may then be removed by the next pass, which enforces no policy, as dropped.)
            assert!(
                recovered == 0 || recovered == 60,
                "round {round}: {recovered} of 60 values after the next start"
            );
        }
        assert!(
            std::fs::read_dir(state.join("journal"))
                .unwrap()
                .next()
                .is_none(),
            "round {round}: the journal is empty after recovery"
        );
    }
    // The test is only meaningful if some kills really landed in an unfinished run.
    assert!(
        killed_mid_run > 0,
        "no kill landed mid-run; the timing needs a look"
    );
}
