//! `rampart plugin inspect` and `rampart plugin test`: golden outputs and errors.
//!
//! Golden files live in `tests/golden/plugin/`; run with `RAMPART_BLESS=1` to rewrite them after
//! an intended change. Machine-specific parts (temporary paths, the plugin's digest, which
//! changes with every rebuild of the plugin) are replaced by placeholders before comparing.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn rampart() -> Command {
    let mut cmd = Command::cargo_bin("rampart").expect("binary built");
    cmd.env_remove("RAMPART_LOG");
    cmd
}

fn embedded(name: &str) -> &'static [u8] {
    rampart_plugin_artifacts::FIRST_PARTY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
        .expect("first-party plugin")
}

/// Writes `bytes` as `<dir>/<file>`.
fn write(dir: &Path, file: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Replaces the temporary directory and every SHA-256 digest with placeholders.
fn normalise(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "<dir>");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(pos) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let run = rest[pos..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(rest.len() - pos, |n| n);
        out.push_str(&rest[..pos]);
        let word = &rest[pos..pos + run];
        out.push_str(if run == 64 { "<sha256>" } else { word });
        rest = &rest[pos + run..];
    }
    out.push_str(rest);
    out
}

fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/plugin")
        .join(name);
    if std::env::var_os("RAMPART_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} is missing ({e}); run with RAMPART_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "output differs from {} (RAMPART_BLESS=1 rewrites it)",
        path.display()
    );
}

/// The Mac of the tests: settings-catalog profiles reach it through Apple MDM.
const MAC: &str = r#"id = "00000000-0000-4000-8000-00000000ac05"
name = "MAC-TEST"
platform = "macos"
os-version = "14.5"
channels = ["mdm"]
"#;

fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// The plugin with its contract section claiming `version` instead (same length, so the
/// binary stays well-formed).
fn with_contract(wasm: &[u8], version: &[u8; 5]) -> Vec<u8> {
    let marker = b"rampart:contract0.1.1";
    let at = wasm
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("contract section");
    let mut patched = wasm.to_vec();
    patched[at + marker.len() - 5..at + marker.len()].copy_from_slice(version);
    patched
}

#[test]
fn inspect_shows_manifest_contract_imports_grants_and_digest() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "macos-defender.wasm",
        embedded("macos-defender"),
    );
    let out = rampart()
        .args(["plugin", "inspect"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let size = embedded("macos-defender").len();
    let stdout = stdout.replace(&format!("({size} bytes)"), "(<size> bytes)");
    assert_golden("inspect-macos.txt", &normalise(&stdout, dir.path()));
}

#[test]
fn inspect_json_has_the_same_facts() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = embedded("macos-defender");
    let file = write(dir.path(), "macos-defender.wasm", wasm);
    let out = rampart()
        .args(["plugin", "inspect", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    use sha2::Digest as _;
    assert_eq!(json["sha256"], format!("{:x}", sha2::Sha256::digest(wasm)));
    assert_eq!(json["name"], "macos-defender");
    assert_eq!(json["contract"]["compatible"], true);
    assert_eq!(json["signature"]["state"], "unsigned");
    assert_eq!(json["loadError"], serde_json::Value::Null);
    assert!(
        json["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "rampart:plugin/files@0.1.1"),
        "{json}"
    );
    let text = String::from_utf8(out.stdout).unwrap().replace(
        &format!("\"size\": {},", wasm.len()),
        "\"size\": \"<size>\",",
    );
    assert_golden("inspect-macos.json", &normalise(&text, dir.path()));
}

#[test]
fn inspect_shows_an_incompatible_contract_and_refuses_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "future.wasm",
        &with_contract(embedded("macos-defender"), b"0.2.0"),
    );
    let out = rampart()
        .args(["plugin", "inspect"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("Contract") || l.starts_with("Loads"))
        .collect();
    assert_golden(
        "inspect-incompatible.txt",
        &normalise(&(lines.join("\n") + "\n"), dir.path()),
    );
}

#[test]
fn inspect_errors_are_one_line_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.wasm", None),
        ("text.wasm", Some(b"not wasm at all".to_vec())),
        ("core.wasm", Some(b"\0asm\x01\0\0\0".to_vec())),
    ];
    let mut transcript = String::new();
    for (name, bytes) in cases {
        let file = match bytes {
            Some(b) => write(dir.path(), name, &b),
            None => dir.path().join(name),
        };
        let out = rampart()
            .args(["plugin", "inspect"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
        transcript.push_str(&stderr);
    }
    assert_golden("inspect-errors.txt", &normalise(&transcript, dir.path()));
}

#[test]
fn test_plans_one_plugin_against_real_policies_and_changes_nothing() {
    let policy = shared_data()
        .join("intune-exports/macos-sc-defender-antivirus-configuration.oib-v1.0.json");
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "macos-defender.wasm",
        embedded("macos-defender"),
    );
    let device = write(dir.path(), "mac.toml", MAC.as_bytes());
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("roots/library-preferences")).unwrap();
    let out = rampart()
        .args(["plugin", "test"])
        .arg(&file)
        .arg("--policies")
        .arg(&policy)
        .arg("--device")
        .arg(&device)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_golden("test-macos.txt", &normalise(&stdout, dir.path()));
    // What-if: the state is as it was.
    assert_eq!(
        std::fs::read_dir(state.join("roots/library-preferences"))
            .unwrap()
            .count(),
        0
    );
    assert!(!state.join("registry.reg").exists());
}

#[test]
fn test_refuses_a_plugin_this_agent_would_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "future.wasm",
        &with_contract(embedded("macos-defender"), b"0.2.0"),
    );
    let out = rampart()
        .args(["plugin", "test"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_golden("test-incompatible.txt", &normalise(&stderr, dir.path()));
}

#[test]
fn inspect_names_the_signing_key_of_a_signed_plugin_and_flags_a_broken_signature() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "macos-defender.wasm",
        embedded("macos-defender"),
    );
    let key = dir.path().join("release.pem");
    let keygen = rampart()
        .args(["plugin", "keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(keygen.status.code(), Some(0), "{keygen:?}");
    let sign = rampart()
        .args(["plugin", "sign", "--key"])
        .arg(&key)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(sign.status.code(), Some(0), "{sign:?}");

    let inspect = |file: &Path| {
        let out = rampart()
            .args(["plugin", "inspect", "--json"])
            .arg(file)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let json = inspect(&file);
    assert_eq!(json["signature"]["state"], "signed", "{json}");
    let key_id = json["signature"]["keyId"].as_str().unwrap();
    assert_eq!(key_id.len(), 16, "{key_id}");

    // Cut the signature section's payload short: the section no longer parses.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let broken = write(dir.path(), "broken.wasm", &bytes);
    assert_eq!(inspect(&broken)["signature"]["state"], "malformed");
}

#[test]
fn first_party_plugins_ask_for_nothing_beyond_the_built_in_ceiling() {
    // Plugin tests run under a permissive ceiling; a grant the agent's own ceiling cuts off
    // would only show as "access denied" under `rampart apply`.
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in rampart_plugin_artifacts::FIRST_PARTY {
        let file = write(dir.path(), &format!("{name}.wasm"), bytes);
        let out = rampart()
            .args(["plugin", "inspect", "--json"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let beyond = &report["beyondCeiling"];
        assert!(beyond.is_array(), "{name}: no beyondCeiling in {report}");
        assert_eq!(beyond.as_array().unwrap().len(), 0, "{name}: {beyond}");
    }
}
