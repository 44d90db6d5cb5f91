//! `rampart plugin new`: the generated crate builds as a wasm32-wasip2 component that this
//! agent loads, and its native unit tests pass.
//!
//! The crate's `rampart-sdk` dependency points at this repository's `sdk` by path, and the
//! build is offline with the workspace's lock file, so the test needs no network. It builds in
//! its own target directory beside this test binary's (a nested cargo cannot share the outer
//! one's lock), which later runs reuse.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as BinCommand;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `<target>/plugin-template`, beside `<target>/debug` (this test binary is in
/// `<target>/debug/deps`).
fn template_target() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .expect("test binary inside a target directory")
        .join("plugin-template")
}

fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(dir)
        .args(args)
        .arg("--offline")
        .env("CARGO_TARGET_DIR", template_target())
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

#[test]
fn a_new_plugin_builds_loads_and_passes_its_native_tests() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("pua-guard");
    let out = BinCommand::cargo_bin("rampart")
        .unwrap()
        .args(["plugin", "new", "pua-guard", "--dir"])
        .arg(&crate_dir)
        .arg("--sdk-path")
        .arg(repo().join("sdk"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "Cargo.toml",
        "rampart-plugin.toml",
        "src/lib.rs",
        "tests/native.rs",
        "README.md",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} generated");
    }
    // The workspace's versions, so the offline build finds every crate locally.
    std::fs::copy(repo().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();

    let build = cargo(&crate_dir, &["build", "--target", "wasm32-wasip2"]);
    assert!(
        build.status.success(),
        "cargo build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let wasm = template_target().join("wasm32-wasip2/debug/pua_guard.wasm");
    let inspect = BinCommand::cargo_bin("rampart")
        .unwrap()
        .args(["plugin", "inspect", "--json"])
        .arg(&wasm)
        .output()
        .unwrap();
    assert_eq!(
        inspect.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&inspect.stdout)
    );
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(json["name"], "pua-guard");
    assert_eq!(json["loadError"], serde_json::Value::Null);

    let test = cargo(&crate_dir, &["test"]);
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success(),
        "cargo test: {stdout}{}",
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(stdout.contains("test result: ok. 3 passed"), "{stdout}");
}

#[test]
fn bad_names_and_occupied_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["Bad", "9lives", "-x", "a_b"] {
        let out = BinCommand::cargo_bin("rampart")
            .unwrap()
            .args(["plugin", "new", name, "--dir"])
            .arg(dir.path().join("x"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
    }
    std::fs::write(dir.path().join("taken.txt"), "").unwrap();
    let out = BinCommand::cargo_bin("rampart")
        .unwrap()
        .args(["plugin", "new", "ok", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}
