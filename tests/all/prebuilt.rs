//! The first-party plugins without a nested build: with `RAMPART_PREBUILT_PLUGINS=DIR`,
//! `rampart-plugin-artifacts` embeds the components found in DIR and builds no guest.

use std::path::Path;
use std::process::Command;

fn build_artifacts(prebuilt: &Path, target: &Path) -> std::process::Output {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--offline",
            "--locked",
            "-p",
            "rampart-plugin-artifacts",
        ])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .env("RAMPART_PREBUILT_PLUGINS", prebuilt)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

#[test]
fn prebuilt_first_party_plugins_are_embedded_without_building_a_guest() {
    let prebuilt = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();

    // One component missing: the build fails and says which file and what to do.
    let out = build_artifacts(prebuilt.path(), target.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("windows-defender.wasm' is not a file")
            && stderr.contains("unset RAMPART_PREBUILT_PLUGINS"),
        "{stderr}"
    );

    for (name, bytes) in rampart_plugin_artifacts::FIRST_PARTY {
        std::fs::write(prebuilt.path().join(format!("{name}.wasm")), bytes).unwrap();
    }
    let out = build_artifacts(prebuilt.path(), target.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !target.path().join("wasm32-wasip2").exists(),
        "no guest was built"
    );
    let embedded: Vec<_> = std::fs::read_dir(target.path().join("debug/build"))
        .unwrap()
        .filter_map(|e| {
            let out = e.ok()?.path().join("out/windows-defender.wasm");
            out.is_file().then_some(out)
        })
        .collect();
    assert_eq!(embedded.len(), 1, "{embedded:?}");
    assert_eq!(
        std::fs::read(&embedded[0]).unwrap(),
        rampart_plugin_artifacts::get("windows-defender").unwrap()
    );
}
