//! Security features end to end: plugin signing and trust, operator grants, the audit trail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use assert_cmd::Command;

fn rampart() -> Command {
    let mut cmd = Command::cargo_bin("rampart").expect("binary built");
    cmd.env_remove("RAMPART_LOG");
    cmd
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rampart plugin keygen`; returns the key file and its base64 public key.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.pem"));
    let out = rampart()
        .args(["plugin", "keygen", "--name", name, "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    let public = stdout
        .lines()
        .find_map(|l| l.strip_prefix("public-key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no public key printed: {stdout}"))
        .to_string();
    (key, public)
}

fn trust_file(dir: &Path, mode: &str, public: &str, plugins: &str) -> PathBuf {
    let path = dir.join(format!("trust-{mode}.toml"));
    std::fs::write(
        &path,
        format!(
            "mode = \"{mode}\"\n[[key]]\nname = \"release\"\npublic-key = \"{public}\"\nplugins = {plugins}\n"
        ),
    )
    .unwrap();
    path
}

fn sign(file: &Path, key: &Path, out: &Path) {
    let o = rampart()
        .args(["plugin", "sign"])
        .arg(file)
        .arg("--key")
        .arg(key)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr_of(&o));
}

fn verify(file: &Path, trust: &Path) -> std::process::Output {
    rampart()
        .args(["plugin", "verify"])
        .arg(file)
        .arg("--trust")
        .arg(trust)
        .output()
        .unwrap()
}

fn apply(plugins: &Path, state: &Path, trust: &Path) -> std::process::Output {
    rampart()
        .args(["apply", "--json", "--plugins"])
        .arg(plugins)
        .arg("--state")
        .arg(state)
        .arg("--trust")
        .arg(trust)
        .output()
        .unwrap()
}

#[test]
fn signed_plugins_load_and_unsigned_tampered_or_untrusted_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "release");
    let (_, other_public) = keygen(dir.path(), "other");
    let enforce = trust_file(dir.path(), "enforce", &public, r#"["windows-defender"]"#);

    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let target = plugins.join("windows-defender.wasm");
    let unsigned = dir.path().join("unsigned.wasm");
    std::fs::write(
        &unsigned,
        rampart_plugin_artifacts::get("windows-defender").unwrap(),
    )
    .unwrap();

    // Unsigned: refused by apply (bad input, nothing written) and by verify.
    std::fs::copy(&unsigned, &target).unwrap();
    let state = dir.path().join("state");
    let out = apply(&plugins, &state, &enforce);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("signature refused: the plugin is not signed"),
        "{}",
        stderr_of(&out)
    );
    assert!(!state.exists());
    let out = verify(&unsigned, &enforce);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("not signed"),
        "{}",
        stderr_of(&out)
    );

    // Signed by the trusted key: verify passes and apply enforces with it.
    sign(&unsigned, &key, &target);
    let out = verify(&target, &enforce);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("signed by trusted key 'release'"),
        "{}",
        stdout_of(&out)
    );
    let out = apply(&plugins, &state, &enforce);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    // One flipped byte in the code: the signature no longer matches.
    let mut tampered = std::fs::read(&target).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let tampered_file = dir.path().join("tampered.wasm");
    std::fs::write(&tampered_file, &tampered).unwrap();
    let out = verify(&tampered_file, &enforce);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("does not match the content"),
        "{}",
        stderr_of(&out)
    );

    // Bytes appended after the signature are refused too.
    let mut appended = std::fs::read(&target).unwrap();
    appended.extend_from_slice(&[0, 3, 2, b'x', b'y']);
    std::fs::write(&tampered_file, &appended).unwrap();
    let out = verify(&tampered_file, &enforce);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("not the last section"),
        "{}",
        stderr_of(&out)
    );

    // The right signature, but the key may not sign this plugin name.
    let linux_only = trust_file(dir.path(), "audit", &public, r#"["linux-*"]"#);
    let out = verify(&target, &linux_only);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("key 'release' is not allowed to sign plugin 'windows-defender'"),
        "{}",
        stderr_of(&out)
    );

    // A trust file listing only another key: unknown signer.
    let other = trust_file(dir.path(), "off", &other_public, r#"["*"]"#);
    let out = verify(&target, &other);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("which is not a trusted key"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn audit_mode_loads_an_unsigned_plugin_and_reports_the_finding() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = keygen(dir.path(), "release");
    let audit = trust_file(dir.path(), "audit", &public, r#"["*"]"#);
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        rampart_test_artifacts::HOSTILE_CLAIMS,
        plugins.join("claims.wasm"),
    )
    .unwrap();
    let out = apply(&plugins, &dir.path().join("state"), &audit);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("plugin signature check failed; loaded anyway"),
        "{}",
        stderr_of(&out)
    );
}

/// A plugin file with a first-party plugin's name and no trusted signature never replaces it,
/// whatever the trust mode; one that claims the first-party plugin's settings is overruled and
/// the values the first-party plugin set stay; the grants file can assign it settings.
#[test]
fn a_dropped_plugin_file_cannot_withdraw_protection() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = keygen(dir.path(), "release");
    let state = dir.path().join("state");
    let baseline = rampart()
        .args(["apply", "--json", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(baseline.status.code(), Some(0), "{}", stderr_of(&baseline));
    let enforced = std::fs::read_to_string(state.join("registry.reg")).unwrap();

    // An unsigned windows-defender stand-in: refused in every mode, nothing changed.
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        rampart_test_artifacts::TXN_SLOW_WRITER,
        plugins.join("windows-defender.wasm"),
    )
    .unwrap();
    for mode in ["enforce", "audit", "off"] {
        let trust = trust_file(dir.path(), mode, &public, r#"["*"]"#);
        let out = apply(&plugins, &state, &trust);
        assert_eq!(out.status.code(), Some(2), "{mode}: {}", stderr_of(&out));
        let why = if mode == "enforce" {
            "the plugin is not signed"
        } else {
            "would replace the first-party plugin"
        };
        assert!(stderr_of(&out).contains(why), "{mode}: {}", stderr_of(&out));
    }
    let out = rampart()
        .args(["apply", "--json", "--plugins"])
        .arg(&plugins)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    std::fs::remove_file(plugins.join("windows-defender.wasm")).unwrap();
    assert_eq!(
        std::fs::read_to_string(state.join("registry.reg")).unwrap(),
        enforced
    );

    // A plugin claiming the first-party settings: overruled, never run, nothing removed.
    std::fs::copy(
        rampart_test_artifacts::HOSTILE_CLAIMS,
        plugins.join("claims.wasm"),
    )
    .unwrap();
    let out = rampart()
        .args(["apply", "--plugins"])
        .arg(&plugins)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("Overruled: plugin 'hostile-claims' claims"),
        "{}",
        stdout_of(&out)
    );
    assert_eq!(
        std::fs::read_to_string(state.join("registry.reg")).unwrap(),
        enforced
    );

    // Listed in the grants file and assigned a first-party setting, it enforces that one.
    let grants = dir.path().join("grants.toml");
    std::fs::write(
        &grants,
        "[plugin.hostile-claims]\nsettings = [\"device_vendor_msft_policy_config_defender_puaprotection\"]\n",
    )
    .unwrap();
    let out = rampart()
        .args(["apply", "--json", "--plugins"])
        .arg(&plugins)
        .arg("--grants")
        .arg(&grants)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by: Vec<(String, String)> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["settings"].as_array().unwrap().clone())
        .filter(|s| s["id"].as_str().unwrap().ends_with("_puaprotection"))
        .map(|s| (s["id"].to_string(), s["plugin"].to_string()))
        .collect();
    assert!(!by.is_empty(), "{report}");
    assert!(
        by.iter().all(|(_, plugin)| plugin == "\"hostile-claims\""),
        "{by:?}"
    );
}

#[test]
fn keygen_refuses_to_overwrite_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path(), "release");
    let before = std::fs::read(&key).unwrap();
    let out = rampart()
        .args(["plugin", "keygen", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&key).unwrap(), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private key readable by others: {mode:o}");
    }
}

/// The watched directory of `rampart run`: an unsigned new version is rejected and the signed
/// version keeps serving (keep-last-good), and the rejection is in the status.
#[test]
fn the_watched_directory_keeps_the_last_signed_version() {
    use rampart_runtime::signing;
    use rampart_runtime::trust::{TrustMode, TrustPolicy, TrustedKey};
    use rampart_runtime::{Engine, GrantPolicy, Grants, PluginDirectory};

    let key = signing::SigningKey::from_bytes(&[42; 32]);
    let trust = TrustPolicy::new(
        TrustMode::Enforce,
        vec![TrustedKey {
            name: "release".into(),
            id: signing::key_id(&key.verifying_key()),
            key: key.verifying_key(),
            plugins: vec!["*".into()],
        }],
    );
    let dir = tempfile::tempdir().unwrap();
    let v1 = std::fs::read(rampart_test_artifacts::SWAP_V1).unwrap();
    let v2 = std::fs::read(rampart_test_artifacts::SWAP_V2).unwrap();
    let file = dir.path().join("swap.wasm");
    std::fs::write(&file, signing::sign(&v1, &key).unwrap()).unwrap();
    let engine = Engine::new().unwrap();
    let directory = Arc::new(
        PluginDirectory::new(
            dir.path(),
            engine,
            GrantPolicy::Strict(Grants::none()),
            None,
            Vec::new(),
        )
        .with_trust(trust),
    );
    let s = directory.scan();
    assert_eq!(s.loaded.len(), 1, "{s:?}");
    let serving = |d: &PluginDirectory| d.live().status().active[0].version.clone();
    let v1_version = serving(&directory);

    std::fs::write(&file, &v2).unwrap();
    let s = directory.update(&file);
    assert_eq!(s.rejected.len(), 1, "{s:?}");
    assert_eq!(serving(&directory), v1_version, "keep-last-good");
    let status = directory.live().status();
    assert!(
        status.rejected[0].reason.contains("not signed"),
        "{status:?}"
    );
    assert_eq!(
        status.active[0].signature.as_deref(),
        Some("signed by 'release'")
    );

    std::fs::write(&file, signing::sign(&v2, &key).unwrap()).unwrap();
    let s = directory.update(&file);
    assert_eq!(s.loaded.len(), 1, "{s:?}");
    assert_ne!(serving(&directory), v1_version);
    assert!(directory.live().status().rejected.is_empty());
}

#[test]
fn a_grants_file_narrows_a_plugin_and_a_bad_one_is_refused_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let grants = dir.path().join("grants.toml");
    // windows-defender keeps only read access to its policy key: every write is denied.
    std::fs::write(
        &grants,
        "[plugin.windows-defender]\nregistry = [{ key = 'HKEY_LOCAL_MACHINE\\software\\policies\\microsoft\\windows defender', access = \"read\" }]\ndefender = { read = [\"*\"], status = true }\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let out = rampart()
        .args(["apply", "--json", "--grants"])
        .arg(&grants)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<String> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["settings"].as_array().unwrap().iter())
        .filter_map(|s| s["message"].as_str().map(str::to_string))
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("read-only grant")),
        "{messages:?}"
    );
    // Nothing was written to the registry.
    let export = rampart()
        .args(["registry", "export", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        !stdout_of(&export).contains("Windows Defender]"),
        "{}",
        stdout_of(&export)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[plugin.windows-defender]\nregistry = [{ key = 'HKLM\\A', acces = \"read\" }]\n",
    )
    .unwrap();
    let state2 = dir.path().join("state2");
    let out = rampart()
        .args(["apply", "--grants"])
        .arg(&bad)
        .arg("--state")
        .arg(&state2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr_of(&out).trim_end(),
        format!(
            "rampart: grants configuration '{}': line 2, column 31: unknown field `acces`, expected `key` or `access`",
            bad.display()
        )
    );
    assert!(!state2.exists());
}

#[test]
fn apply_writes_a_hash_chained_audit_trail_and_verify_detects_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for _ in 0..2 {
        let out = rampart()
            .args(["apply", "--state"])
            .arg(&state)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    }
    let verify = || {
        rampart()
            .args(["audit", "verify", "--state"])
            .arg(&state)
            .output()
            .unwrap()
    };
    let out = verify();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("audit trail intact"),
        "{}",
        stdout_of(&out)
    );

    let trail = state.join("audit/audit.jsonl");
    let text = std::fs::read_to_string(&trail).unwrap();
    // The first pass changed the registry: its changes are recorded with their decision, and
    // every capability call with its outcome.
    assert!(text.contains(r#""kind":"change""#) && text.contains(r#""decision":"committed""#));
    assert!(
        text.contains(r#""operation":"registry.set-value""#),
        "{text}"
    );
    assert!(text.contains(r#""kind":"run""#));
    // Change one allowed decision into a denial: verify fails, naming the line.
    let edited = text.replacen(r#""decision":"allowed""#, r#""decision":"denied""#, 1);
    assert_ne!(edited, text);
    std::fs::write(&trail, edited).unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("hash does not match the record (edited)"),
        "{}",
        stderr_of(&out)
    );
}
