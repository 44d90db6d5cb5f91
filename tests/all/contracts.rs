//! The versions of the `rampart:plugin` contract in `sdk/wit`: a released version's files never
//! change (their hashes are in `sdk/wit/released.toml`), every version folder is released or
//! the current one, and a plugin built against each released version loads and runs on this
//! host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rampart_backends::registry::{RegValue, RegistryBackend as _, RegistryPath};
use rampart_policy::settings::SettingValue;
use rampart_policy::status::SettingStatus;
use rampart_runtime::{CONTRACT_VERSION, Plugin, RunLimits};
use rampart_test_artifacts::{CAPS_REGISTRY_PROBE, CONTRACT_0_1_0_PLUGIN};
use rampart_tests::{engine, permissive_ceiling, setting, windows_client};
use sha2::{Digest as _, Sha256};

/// The key every version's plugin is granted read-write and writes its DWORD under.
const TEST_KEY: &str = r"HKLM\SOFTWARE\Policies\Rampart Test";

/// A plugin built against `version` of the contract, and the DWORD it sets to 1 under the key
/// named by a setting's text value. The current version's plugin is built with the SDK; every
/// other released version needs a plugin built against its frozen folder without the SDK
/// (a crate like `tests/contract-0.1.0`, built by `tests/artifacts`).
fn plugin_built_against(version: &str) -> Option<(&'static str, &'static str)> {
    if version == CONTRACT_VERSION {
        return Some((CAPS_REGISTRY_PROBE, "Probe"));
    }
    match version {
        "0.1.0" => Some((CONTRACT_0_1_0_PLUGIN, "Old")),
        _ => None,
    }
}

fn wit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/wit")
}

fn folder(version: &str) -> PathBuf {
    wit_dir().join(format!("rampart-plugin-{version}"))
}

/// `major.minor.patch`, for ordering versions.
fn parse_version(version: &str) -> [u64; 3] {
    let parts: Vec<u64> = version
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("bad version '{version}'"))
        })
        .collect();
    parts
        .try_into()
        .unwrap_or_else(|_| panic!("'{version}' is not major.minor.patch"))
}

/// `released.toml`: version → file name → SHA-256 (hex), oldest version first.
fn released() -> Vec<(String, BTreeMap<String, String>)> {
    let path = wit_dir().join("released.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let versions = table
        .get("released")
        .and_then(toml::Value::as_table)
        .expect("a [released] table");
    let mut released: Vec<(String, BTreeMap<String, String>)> = versions
        .iter()
        .map(|(version, files)| {
            let files = files
                .as_table()
                .unwrap_or_else(|| panic!("released.\"{version}\" is not a table"))
                .iter()
                .map(|(name, hash)| {
                    let hash = hash
                        .as_str()
                        .unwrap_or_else(|| panic!("the hash of {version}/{name} is not a string"));
                    (name.clone(), hash.to_string())
                })
                .collect::<BTreeMap<_, _>>();
            assert!(
                !files.is_empty(),
                "released version {version} lists no file"
            );
            (version.clone(), files)
        })
        .collect();
    released.sort_by_key(|(version, _)| parse_version(version));
    assert!(!released.is_empty(), "released.toml lists no version");
    released
}

/// SHA-256 of a file with LF line endings, so a checkout with CRLF endings hashes the same.
fn sha256_lf(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!(
        "{:x}",
        Sha256::digest(text.replace("\r\n", "\n").as_bytes())
    )
}

/// The file names in a version folder, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn released_contract_files_are_unchanged() {
    let mut changed = Vec::new();
    let mut checked = 0;
    for (version, files) in released() {
        let dir = folder(&version);
        let listed: Vec<String> = files.keys().cloned().collect();
        let present = files_in(&dir);
        if present != listed {
            changed.push(format!(
                "sdk/wit/rampart-plugin-{version}: holds {present:?}, released.toml lists \
                 {listed:?}"
            ));
        }
        for (name, expected) in &files {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            let actual = sha256_lf(&path);
            checked += 1;
            if &actual != expected {
                changed.push(format!(
                    "sdk/wit/rampart-plugin-{version}/{name}: sha256 {actual}, released as \
                     {expected}"
                ));
            }
        }
    }
    assert!(
        changed.is_empty(),
        "released contract files changed (a released version is never edited: make a new \
         version folder instead, see sdk/wit/README.md):\n{}",
        changed.join("\n")
    );
    println!("{checked} released contract file(s) match released.toml");
}

#[test]
fn every_contract_folder_is_released_or_current() {
    assert_eq!(
        rampart_sdk::CONTRACT_VERSION,
        CONTRACT_VERSION,
        "the SDK builds against the contract the host implements"
    );
    let released: Vec<String> = released().into_iter().map(|(v, _)| v).collect();
    assert!(
        folder(CONTRACT_VERSION).join("plugin.wit").is_file(),
        "the current contract {CONTRACT_VERSION} has no sdk/wit/rampart-plugin-{CONTRACT_VERSION}"
    );
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(wit_dir()).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let version = name
            .strip_prefix("rampart-plugin-")
            .unwrap_or_else(|| panic!("sdk/wit/{name} is not a rampart-plugin-<version> folder"));
        parse_version(version);
        let wit = std::fs::read_to_string(entry.path().join("plugin.wit"))
            .unwrap_or_else(|e| panic!("sdk/wit/{name}/plugin.wit: {e}"));
        let package = wit
            .lines()
            .find(|line| line.starts_with("package "))
            .unwrap_or_else(|| panic!("sdk/wit/{name}/plugin.wit has no package line"));
        assert_eq!(
            package.trim(),
            format!("package rampart:plugin@{version};"),
            "sdk/wit/{name}/plugin.wit"
        );
        assert!(
            version == CONTRACT_VERSION || released.iter().any(|r| r == version),
            "sdk/wit/{name} is neither released (sdk/wit/released.toml) nor the current \
             contract {CONTRACT_VERSION}"
        );
        folders.push(version.to_string());
    }
    for version in &released {
        assert!(
            folders.contains(version),
            "released version {version} has no folder"
        );
    }
    folders.sort_by_key(|v| parse_version(v));
    println!("contract folders {folders:?}; released {released:?}; current {CONTRACT_VERSION}");
}

/// The `rampart:plugin/*` interfaces a component imports, with their versions
/// (`rampart:plugin/log@0.1.1`).
fn contract_imports(wasm: &[u8]) -> Vec<String> {
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ComponentImportSection(section) = payload.unwrap() {
            for import in section {
                let name = import.unwrap().name.name;
                if name.starts_with("rampart:plugin/") {
                    imports.push(name.to_string());
                }
            }
        }
    }
    imports
}

#[test]
fn a_plugin_built_against_every_released_contract_loads_and_runs() {
    let mut ran = Vec::new();
    for (version, _) in released() {
        let (path, value) = plugin_built_against(&version).unwrap_or_else(|| {
            panic!(
                "no plugin built against the released contract {version}: build one against \
                 sdk/wit/rampart-plugin-{version} without the SDK (like tests/contract-0.1.0) \
                 and list it in plugin_built_against"
            )
        });
        let wasm = std::fs::read(path).expect("test plugin built");
        let imports = contract_imports(&wasm);
        assert!(
            !imports.is_empty() && imports.iter().all(|i| i.ends_with(&format!("@{version}"))),
            "{path} is built against {version}: {imports:?}"
        );
        let plugin = Plugin::load(&engine(), path, &wasm, &permissive_ceiling())
            .unwrap_or_else(|e| panic!("the {version} plugin loads on this host: {e}"));
        assert_eq!(plugin.contract_version(), version);

        let (registry, caps) = rampart_tests::backends(false);
        let out = plugin
            .run(
                &windows_client(),
                &[setting(
                    "test_contract",
                    SettingValue::Text(TEST_KEY.into()),
                )],
                &caps,
                &RunLimits::default(),
            )
            .unwrap_or_else(|e| panic!("the {version} plugin runs: {e}"));
        assert_eq!(
            out.outcomes[0].status,
            SettingStatus::Remediated,
            "{version}: {:?}",
            out.outcomes[0]
        );
        let key = RegistryPath::parse(TEST_KEY).unwrap();
        assert_eq!(
            registry.get_value(&key, value).unwrap(),
            Some(RegValue::Dword(1)),
            "{version}: {value} written"
        );
        ran.push(version);
    }
    println!("plugins built against {ran:?} loaded and ran on a {CONTRACT_VERSION} host");
}
