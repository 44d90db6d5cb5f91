//! The Windows build of the agent against a real implementation of the Win32 registry: Wine's.
//!
//! `rampart.exe` (cross-compiled for `x86_64-pc-windows-gnu`; `.ci/run` builds it before the
//! tests) applies the shared Intune Windows exports and rampart's Windows example policies
//! (together, every family of the Windows plugin's mapping table: each is checked to have at
//! least one setting in the run) under Wine with its default backends, the
//! system registry and Defender through WMI. The expected registry contents are not written
//! down here: the same inputs go through the native agent with the emulated registry, and the
//! two registries must hold the same keys and values, value by value, under the keys the
//! Windows plugin is granted, and nothing else in `HKLM\SOFTWARE` or `HKCU\Software` may change.
//! Wine has no Defender, so the Defender backend must say so, with a typed "not available"
//! error, while the registry writes stand. A `--what-if` plan before must change nothing, and
//! a second run must find everything compliant and write nothing.
//!
//! Needs `wine` (Debian's `wine64`), `x86_64-w64-mingw32-gcc` (for the `ProcessPrng` shim, see
//! `host/agent/wine/bcryptprimitives.c`) and the cross-compiled `rampart.exe` (found next to the
//! native binary's target directory, or at `RAMPART_WINDOWS_EXE`). Without them the test is
//! skipped with a message, except under `CI=true`, where it fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

/// Repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared_windows_exports() -> Vec<PathBuf> {
    let dir = repo().join("../shared/data/intune-exports");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the shared exports {} are missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("win-es-") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no win-es-*.json in {}", dir.display());
    files
}

/// The shared exports and rampart's Windows example policies: together they hold every family
/// of settings the Windows plugin maps.
fn windows_policies() -> Vec<PathBuf> {
    let mut files = shared_windows_exports();
    for dir in [
        "examples/policies",
        "examples/policies/windows-every-family",
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("contoso-") && n.ends_with(".json"))
            })
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// Whether a setting id belongs to a family.
type FamilyTest = fn(&str) -> bool;

/// The families of the Windows plugin's mapping table (`plugins/windows-defender/README.md`,
/// "Locations"): each must have at least one setting in the run that reaches the plugin.
const FAMILIES: &[(&str, FamilyTest)] = &[
    ("real-time protection", |id| {
        id.ends_with("_allowrealtimemonitoring")
    }),
    ("cloud protection", |id| id.ends_with("_cloudblocklevel")),
    ("network protection", |id| {
        id.ends_with("_enablenetworkprotection")
    }),
    ("network inspection parsers", |id| {
        id.ends_with("_disabletlsparsing")
    }),
    ("scans", |id| id.ends_with("_schedulescanday")),
    ("catch-up scans", |id| {
        id.ends_with("_disablecatchupquickscan")
    }),
    ("scheduler randomization", |id| {
        id.ends_with("_schedulerrandomizationtime")
    }),
    ("archive limits", |id| id.ends_with("_archivemaxdepth")),
    ("remote encryption protection", |id| {
        id.ends_with("configuredstate")
    }),
    ("quarantine", |id| {
        id.ends_with("_daystoretaincleanedmalware")
    }),
    ("threat default actions", |id| {
        id.contains("_threatseveritydefaultaction_")
    }),
    ("UI and local merge", |id| {
        id.ends_with("_disablelocaladminmerge")
    }),
    ("hidden exclusions", |id| {
        id.ends_with("_hideexclusionsfromlocaladmins")
    }),
    ("exclusions", |id| id.ends_with("_excludedpaths")),
    ("ASR rules", |id| {
        id.contains("_attacksurfacereductionrules_") && !id.ends_with("_perruleexclusions")
    }),
    ("per-rule ASR exclusions", |id| {
        id.ends_with("_perruleexclusions")
    }),
    ("ASR-only exclusions", |id| {
        id.ends_with("_attacksurfacereductiononlyexclusions")
    }),
    ("controlled folder access", |id| {
        id.ends_with("_enablecontrolledfolderaccess")
    }),
    ("controlled folder lists", |id| {
        id.ends_with("_controlledfolderaccessprotectedfolders")
    }),
    ("update interval and sources", |id| {
        id.ends_with("_signatureupdatefallbackorder")
    }),
    ("update channels", |id| {
        id.ends_with("_platformupdateschannel")
    }),
    ("metered updates", |id| {
        id.ends_with("_meteredconnectionupdates")
    }),
    ("Windows Security", |id| {
        id.contains("_windowsdefendersecuritycenter_")
    }),
    ("Windows Security contact", |id| {
        id.ends_with("windowsdefendersecuritycenter_companyname")
    }),
    ("tamper protection", |id| {
        id.ends_with("_tamperprotection_options")
    }),
    ("EDR", |id| id.contains("_windowsadvancedthreatprotection_")),
    ("firewall profiles", |id| {
        id.ends_with("profile_enablefirewall")
    }),
    ("firewall shield and merges", |id| {
        id.ends_with("profile_shielded")
    }),
    ("firewall logging", |id| id.ends_with("profile_logfilepath")),
    ("firewall global", |id| id.contains("_mdmstore_global_")),
    ("firewall rules", |id| {
        id.contains("_mdmstore_firewallrules_")
    }),
];

/// The cross-compiled agent: `RAMPART_WINDOWS_EXE`, else
/// `<target>/x86_64-pc-windows-gnu/<profile>/rampart.exe` beside the native binary.
fn windows_exe() -> PathBuf {
    if let Some(p) = std::env::var_os("RAMPART_WINDOWS_EXE") {
        return PathBuf::from(p);
    }
    let native = cargo_bin("rampart");
    let profile_dir = native.parent().expect("binary has a directory");
    let profile = profile_dir.file_name().expect("profile directory name");
    let target = profile_dir.parent().expect("target directory");
    target
        .join("x86_64-pc-windows-gnu")
        .join(profile)
        .join("rampart.exe")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// What is missing to run the test, if anything.
fn missing_prerequisites(exe: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !on_path("wine") {
        missing.push("`wine` (apt-get install wine64 wine)".to_string());
    }
    if !on_path("x86_64-w64-mingw32-gcc") {
        missing.push("`x86_64-w64-mingw32-gcc` (apt-get install gcc-mingw-w64-x86-64)".into());
    }
    if !exe.is_file() {
        missing.push(format!(
            "{} (cargo build -p rampart --target x86_64-pc-windows-gnu)",
            exe.display()
        ));
    }
    missing
}

/// A private Wine prefix with the agent and the shim DLL in one directory.
struct Wine {
    prefix: PathBuf,
    bin: PathBuf,
}

impl Wine {
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // The shim before any builtin; no Mono or Gecko installer prompts at `wineboot`.
            .env("WINEDLLOVERRIDES", "bcryptprimitives=n,b;mscoree=;mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    fn wine(&self, args: &[&str]) -> Output {
        self.command("wine").args(args).output().expect("run wine")
    }

    /// `reg export KEY` as text; `None` if the key does not exist.
    fn reg_export(&self, key: &str, scratch: &Path) -> Option<String> {
        let file = scratch.join("export.reg");
        let _ = std::fs::remove_file(&file);
        let out = self.wine(&["reg", "export", key, &windows_path(&file), "/y"]);
        if !out.status.success() {
            // `reg export` of a missing key fails; make sure that is what happened.
            let query = self.wine(&["reg", "query", key]);
            assert!(
                !query.status.success(),
                "reg export {key} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(decode_utf16(&read_settled(&file)))
    }
}

/// Wine's Z: drive is the Unix root.
fn windows_path(p: &Path) -> String {
    let absolute = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    format!("Z:{}", absolute.display()).replace('/', "\\")
}

/// `reg export` writes UTF-16LE with a BOM.
fn decode_utf16(bytes: &[u8]) -> String {
    let body = bytes.strip_prefix(&[0xFF, 0xFE]).unwrap_or(bytes);
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).expect("UTF-16 export")
}

/// The bytes of a file Wine has just written. `reg export` can return before the last of a
/// large export reaches the file (seen in CI: an export of `HKLM\SOFTWARE` cut mid-line), so
/// the file is read until it ends with a line break (UTF-16LE `\n`) and its size holds still.
fn read_settled(file: &Path) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = std::fs::read(file).expect("read the export");
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = std::fs::read(file).expect("read the export");
        if now.len() == last.len() && now.ends_with(b"\n\0") {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the export {} did not settle ({} bytes)",
            file.display(),
            now.len()
        );
        last = now;
    }
}

/// A `.reg` text as its keys and values, keys and names folded to lower case (the registry is
/// case-insensitive), value data as written, with line continuations and hex spacing removed.
#[derive(Debug, Default, PartialEq, Eq)]
struct RegContents {
    keys: BTreeSet<String>,
    values: BTreeMap<(String, String), String>,
}

impl RegContents {
    fn parse(text: &str) -> RegContents {
        let mut contents = RegContents::default();
        let mut logical = Vec::new();
        let mut pending = String::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            let piece = if pending.is_empty() {
                line
            } else {
                line.trim_start()
            };
            if let Some(continued) = piece.strip_suffix('\\')
                && !piece.starts_with('[')
                && (pending.contains("=hex") || piece.contains("=hex"))
            {
                pending.push_str(continued);
                continue;
            }
            pending.push_str(piece);
            logical.push(std::mem::take(&mut pending));
        }
        let mut key = None;
        for line in logical {
            if line.is_empty() || line.starts_with(';') || line.starts_with("Windows Registry") {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let folded = name.to_lowercase();
                contents.keys.insert(folded.clone());
                key = Some(folded);
                continue;
            }
            let key = key
                .clone()
                .unwrap_or_else(|| panic!("value outside a key: {line}"));
            let (name, data) = split_value(&line);
            let data = if data.starts_with("hex") {
                data.replace([' ', ','], "").to_lowercase()
            } else {
                data.to_string()
            };
            contents.values.insert((key, name.to_lowercase()), data);
        }
        contents
    }

    /// Only what lies under one of `roots` (folded key paths).
    fn under(&self, roots: &[String]) -> RegContents {
        let inside = |k: &str| roots.iter().any(|r| is_under(k, r));
        RegContents {
            keys: self.keys.iter().filter(|k| inside(k)).cloned().collect(),
            values: self
                .values
                .iter()
                .filter(|((k, _), _)| inside(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The same contents with key prefix `from` renamed to `to`.
    fn rebase(&self, from: &str, to: &str) -> RegContents {
        let rename = |k: &str| match k.strip_prefix(from) {
            Some(rest) => format!("{to}{rest}"),
            None => k.to_string(),
        };
        RegContents {
            keys: self.keys.iter().map(|k| rename(k)).collect(),
            values: self
                .values
                .iter()
                .map(|((k, n), v)| ((rename(k), n.clone()), v.clone()))
                .collect(),
        }
    }

    /// Everything except what lies under `roots`.
    fn outside(&self, roots: &[String]) -> RegContents {
        let inside = |k: &str| roots.iter().any(|r| is_under(k, r));
        RegContents {
            keys: self.keys.iter().filter(|k| !inside(k)).cloned().collect(),
            values: self
                .values
                .iter()
                .filter(|((k, _), _)| !inside(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// The differences between two contents, one line each, for a readable failure.
fn diff(before: &RegContents, after: &RegContents) -> Vec<String> {
    let mut lines = Vec::new();
    for k in before.keys.difference(&after.keys) {
        lines.push(format!("key removed: [{k}]"));
    }
    for k in after.keys.difference(&before.keys) {
        lines.push(format!("key added: [{k}]"));
    }
    for (name, value) in &before.values {
        match after.values.get(name) {
            None => lines.push(format!("value removed: {name:?} = {value}")),
            Some(v) if v != value => {
                lines.push(format!("value changed: {name:?} = {value} -> {v}"))
            }
            Some(_) => {}
        }
    }
    for (name, value) in &after.values {
        if !before.values.contains_key(name) {
            lines.push(format!("value added: {name:?} = {value}"));
        }
    }
    lines
}

/// The 32-bit view's name of an `HKLM\SOFTWARE` key.
fn wow64_alias(root: &str) -> Option<String> {
    let prefix = r"hkey_local_machine\software\";
    root.strip_prefix(prefix)
        .map(|rest| format!(r"{prefix}wow6432node\{rest}"))
}

/// Keys Wine maintains by itself, so they can change between any two Wine processes,
/// whatever those processes do; they are left out of the comparisons of what the agent
/// changed (lower case, as parsed):
/// - `NetworkCards` is rewritten from the host's network interfaces whenever Wine's services
///   start;
/// - `Temporary System Parameters` is a volatile key Wine's user32 fills when a process loads
///   it, and which disappears whenever the Wine server exits between two processes.
const WINE_MAINTAINED: [&str; 3] = [
    r"hkey_local_machine\software\microsoft\windows nt\currentversion\networkcards",
    r"hkey_local_machine\software\wow6432node\microsoft\windows nt\currentversion\networkcards",
    r"hkey_current_user\software\wine\temporary system parameters",
];

fn is_under(key: &str, root: &str) -> bool {
    key == root || key.starts_with(&format!("{root}\\"))
}

/// `"name"=data` or `@=data`.
fn split_value(line: &str) -> (String, &str) {
    if let Some(data) = line.strip_prefix("@=") {
        return (String::new(), data);
    }
    let rest = line
        .strip_prefix('"')
        .unwrap_or_else(|| panic!("not a value line: {line}"));
    let mut name = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => name.push(chars.next().map(|(_, c)| c).unwrap_or('\\')),
            '"' => {
                let data = rest[i + 1..]
                    .strip_prefix('=')
                    .unwrap_or_else(|| panic!("no '=' after the name: {line}"));
                return (name, data);
            }
            c => name.push(c),
        }
    }
    panic!("unterminated value name: {line}")
}

/// The registry keys the Windows plugin is granted, from its manifest, with the long hive
/// name `reg export` prints.
fn granted_roots() -> Vec<String> {
    let manifest = repo().join("plugins/windows-defender/rampart-plugin.toml");
    let text = std::fs::read_to_string(&manifest).expect("read the plugin manifest");
    let mut roots = Vec::new();
    let mut in_registry_grant = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_registry_grant = line == "[[grants.registry]]";
            continue;
        }
        if in_registry_grant && let Some(value) = line.strip_prefix("key") {
            let key = value
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches(|c| c == '\'' || c == '"');
            let long = key.replacen("HKLM\\", "HKEY_LOCAL_MACHINE\\", 1).replacen(
                "HKCU\\",
                "HKEY_CURRENT_USER\\",
                1,
            );
            roots.push(long.to_lowercase());
        }
    }
    assert!(
        !roots.is_empty(),
        "no registry grants in {}",
        manifest.display()
    );
    roots
}

/// (policy id, setting id, group) → (status, message) of a JSON report.
fn statuses(report: &Value) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for policy in report["policies"].as_array().expect("policies") {
        for s in policy["settings"].as_array().expect("settings") {
            let id = format!("{} / {} / {}", policy["id"], s["id"], s["group"]);
            let status = s["status"].as_str().expect("status").to_string();
            let message = s["message"].as_str().unwrap_or_default().to_string();
            out.insert(id, (status, message));
        }
    }
    out
}

fn plugin_changes(report: &Value) -> usize {
    report["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .map(|p| p["changes"].as_array().map_or(0, Vec::len))
        .sum()
}

/// The exit code the agent documents for a report: 3 if any setting ended in error or
/// conflict, else 0 (no unreadable input here).
fn documented_exit_code(report: &Value) -> i32 {
    let failed = statuses(report)
        .values()
        .any(|(s, _)| s == "error" || s == "conflict");
    if failed { 3 } else { 0 }
}

#[test]
fn the_windows_agent_writes_the_real_registry_under_wine_exactly_like_the_emulation() {
    let exe = windows_exe();
    let missing = missing_prerequisites(&exe);
    if !missing.is_empty() {
        let message = format!("the Wine test needs {}; see .ci/run", missing.join(", "));
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}");
        }
        // Straight to the process's stderr: the test harness captures `eprintln!` of passing
        // tests, and a skip must not go unnoticed.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!! SKIPPED the Wine test: {message} !!!!!!!!\n"
        );
        return;
    }
    if let (Ok(exe_meta), Ok(native_meta)) = (
        std::fs::metadata(&exe),
        std::fs::metadata(cargo_bin("rampart")),
    ) && exe_meta.modified().ok() < native_meta.modified().ok()
    {
        eprintln!(
            "note: {} is older than the native agent; rebuild it if the sources changed",
            exe.display()
        );
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let exports = windows_policies();
    let roots = granted_roots();

    // 1. The expectation: the native agent on the emulated registry. Simulated tamper
    //    protection is off: Wine has no Defender to refuse anything either.
    let emulated_state = tmp.path().join("emulated");
    let emulated = Command::new(cargo_bin("rampart"))
        .args([
            "apply",
            "--json",
            "--registry",
            "emulated",
            "--tamper-protection",
            "off",
        ])
        .arg("--state")
        .arg(&emulated_state)
        .arg("--policies")
        .args(&exports)
        .output()
        .unwrap();
    let emulated_report: Value = serde_json::from_slice(&emulated.stdout).unwrap_or_else(|e| {
        panic!(
            "emulated apply printed no report ({e}): {}",
            String::from_utf8_lossy(&emulated.stderr)
        )
    });
    // Every family of the mapping table is in the run and reaches the plugin (not withheld as
    // not applicable, in conflict or unknown to the catalog; tamper protection and onboarding
    // are reported, and end in `error` on a device without them).
    let enforced: Vec<String> = statuses(&emulated_report)
        .into_iter()
        .filter(|(_, (status, message))| {
            !matches!(status.as_str(), "notApplicable" | "conflict")
                && !message.starts_with("unknown setting definition")
                && !message.contains("no mapping")
                && !message.contains("no plugin")
        })
        .map(|(key, _)| key)
        .collect();
    for (family, matches) in FAMILIES {
        assert!(
            enforced.iter().any(|key| key
                .split(" / ")
                .nth(1)
                .is_some_and(|id| matches(id.trim_matches('"')))),
            "no setting of the family '{family}' is enforced in the run"
        );
    }
    let export = Command::new(cargo_bin("rampart"))
        .args(["registry", "export", "--state"])
        .arg(&emulated_state)
        .output()
        .unwrap();
    assert!(export.status.success());
    let expected = RegContents::parse(&String::from_utf8(export.stdout).unwrap()).under(&roots);
    assert!(
        !expected.values.is_empty(),
        "the emulated run wrote nothing under {roots:?}: nothing to compare"
    );

    // 2. A private Wine prefix, the agent and the shim.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(&exe, bin.join("rampart.exe")).unwrap();
    let shim_dir = repo().join("host/agent/wine");
    let gcc = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-s", "-o"])
        .arg(bin.join("bcryptprimitives.dll"))
        .arg(shim_dir.join("bcryptprimitives.c"))
        .arg(shim_dir.join("bcryptprimitives.def"))
        .arg("-ladvapi32")
        .output()
        .unwrap();
    assert!(
        gcc.status.success(),
        "building the shim failed: {}",
        String::from_utf8_lossy(&gcc.stderr)
    );
    let wine = Wine {
        prefix: tmp.path().join("prefix"),
        bin,
    };
    let boot = wine.command("wineboot").arg("-i").output().unwrap();
    assert!(
        boot.status.success(),
        "wineboot failed: {}",
        String::from_utf8_lossy(&boot.stderr)
    );
    let booted = started.elapsed();
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    // The roots every granted key lies under: the policy keys in SOFTWARE, the firewall's MDM
    // store in SYSTEM's services.
    let broad = [
        r"HKEY_LOCAL_MACHINE\SOFTWARE",
        r"HKEY_CURRENT_USER\Software",
        r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services",
    ];
    let snapshot = |wine: &Wine| -> Vec<RegContents> {
        broad
            .iter()
            .map(|k| RegContents::parse(&wine.reg_export(k, &scratch).expect("broad key exists")))
            .collect()
    };
    let before = snapshot(&wine);
    let wine_maintained: Vec<String> = WINE_MAINTAINED.iter().map(|k| k.to_string()).collect();
    for (key, snap) in broad.iter().zip(&before) {
        assert!(
            snap.under(&roots).values.is_empty(),
            "a fresh prefix already has values under the granted keys ({key})"
        );
    }

    // 3. The Windows agent with its defaults: the system registry, Defender through WMI.
    let state_dir = tmp.path().join("wine-state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let state = windows_path(&state_dir);
    let apply = |label: &str, extra: &[&str]| -> (Value, i32, String) {
        let exe = windows_path(&wine.bin.join("rampart.exe"));
        let mut args = vec![
            exe,
            "apply".into(),
            "--json".into(),
            "--state".into(),
            state.clone(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push("--policies".into());
        args.extend(exports.iter().map(|p| windows_path(p)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let t = Instant::now();
        let out = wine.wine(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{label}: rampart.exe printed no report ({e}); exit {:?}: {stderr}",
                out.status
            )
        });
        eprintln!("{label}: {:.1} s under Wine", t.elapsed().as_secs_f64());
        (report, out.status.code().expect("exit code"), stderr)
    };
    // A plan over the real registry lists the writes and makes none.
    let (plan, _, _) = apply("what-if", &["--what-if"]);
    assert!(plugin_changes(&plan) > 0, "the plan lists no change");
    for ((key, b), planned) in broad.iter().zip(&before).zip(&snapshot(&wine)) {
        let differences = diff(
            &b.outside(&wine_maintained),
            &planned.outside(&wine_maintained),
        );
        assert!(
            differences.is_empty(),
            "--what-if changed {key}:\n{}",
            differences.join("\n")
        );
    }
    let (first, first_code, first_stderr) = apply("first run", &[]);

    // 4. Value by value: the real registry holds what the emulation holds under the granted
    //    keys, and nothing else changed.
    let actual_policy = wine
        .reg_export(&roots[0], &scratch)
        .map(|t| RegContents::parse(&t))
        .unwrap_or_default();
    let after = snapshot(&wine);
    // (The grants may name keys of either broad root.)
    let actual = RegContents {
        keys: after.iter().flat_map(|c| c.under(&roots).keys).collect(),
        values: after.iter().flat_map(|c| c.under(&roots).values).collect(),
    };
    let differences = diff(
        &actual.under(std::slice::from_ref(&roots[0])),
        &actual_policy,
    );
    assert!(
        differences.is_empty(),
        "the broad export and the policy key's own export disagree:\n{}",
        differences.join("\n")
    );
    for ((name, value), expected_value) in &expected.values {
        assert_eq!(
            actual.values.get(&(name.clone(), value.clone())),
            Some(expected_value),
            "{name} \"{value}\""
        );
    }
    let differences = diff(&expected, &actual);
    assert!(
        differences.is_empty(),
        "registry under {roots:?}, emulation -> Wine:\n{}",
        differences.join("\n")
    );
    // HKLM\SOFTWARE\Policies is shared between the 64- and 32-bit views: Wine (like Windows)
    // makes `Wow6432Node\Policies` a link to it, and `reg export` follows the link. A granted
    // key seen through such a link is the same key, not a write outside the grants; the alias
    // must then show exactly what the key holds.
    let mut unchanged_outside = roots.clone();
    for root in &roots {
        let Some(alias) = wow64_alias(root) else {
            continue;
        };
        let through_alias = after[0].under(std::slice::from_ref(&alias));
        if through_alias == RegContents::default() {
            continue;
        }
        let differences = diff(
            &actual.under(std::slice::from_ref(root)),
            &through_alias.rebase(&alias, root),
        );
        assert!(
            differences.is_empty(),
            "{alias} is not a view of {root}:\n{}",
            differences.join("\n")
        );
        unchanged_outside.push(alias);
    }
    // Creating a granted key creates its missing ancestors, empty: their existence may change,
    // their values may not.
    let is_ancestor = |k: &str| unchanged_outside.iter().any(|r| is_under(r, k));
    let outside = |c: &RegContents| {
        let mut c = c.outside(&unchanged_outside).outside(&wine_maintained);
        c.keys.retain(|k| !is_ancestor(k));
        c
    };
    for ((key, b), a) in broad.iter().zip(&before).zip(&after) {
        let differences = diff(&outside(b), &outside(a));
        assert!(
            differences.is_empty(),
            "{key} changed outside the granted keys:\n{}",
            differences.join("\n")
        );
    }

    // 5. Statuses: what the emulation reports, except where the plugin had to ask Defender,
    //    which must then be an error saying Defender is not available. The Defender backend
    //    logs why, once.
    assert!(
        first_stderr.contains("Microsoft Defender is not available"),
        "no 'Defender not available' from the WMI backend: {first_stderr}"
    );
    let (emulated_statuses, wine_statuses) = (statuses(&emulated_report), statuses(&first));
    assert_eq!(
        wine_statuses.keys().collect::<Vec<_>>(),
        emulated_statuses.keys().collect::<Vec<_>>()
    );
    let mut defender_errors = 0;
    for (id, (status, message)) in &wine_statuses {
        let (expected_status, _) = &emulated_statuses[id];
        if status == "error" && message.to_lowercase().contains("not available") {
            defender_errors += 1;
            continue;
        }
        assert_eq!(status, expected_status, "{id}: {message}");
    }
    assert_eq!(
        first_code,
        documented_exit_code(&first),
        "exit code of the first run"
    );
    assert_eq!(
        emulated.status.code(),
        Some(documented_exit_code(&emulated_report))
    );
    // Written: remediated (a consumer confirmed it) or unknown ("written; Windows Firewall not
    // queried"). Under Wine only the values no consumer can be asked about end unknown; the
    // others need Defender.
    let plugin_settings = wine_statuses
        .values()
        .filter(|(s, m)| s == "remediated" || (s == "unknown" && m.starts_with("written; ")))
        .count();
    assert!(plugin_settings > 0, "nothing was written under Wine");
    // The plugin verifies most Defender settings through Defender: without it those settings
    // must say so rather than claim success.
    assert!(
        defender_errors > 0,
        "no setting reported that Defender is not available"
    );

    // 6. Again: all compliant, nothing written, the registry unchanged.
    let (second, second_code, _) = apply("second run", &[]);
    assert_eq!(plugin_changes(&second), 0, "the second run wrote something");
    for (id, (status, message)) in statuses(&second) {
        let (first_status, _) = &wine_statuses[&id];
        let expected = if first_status == "remediated" {
            "compliant"
        } else {
            first_status.as_str()
        };
        assert_eq!(status, expected, "second run, {id}: {message}");
    }
    assert_eq!(second_code, documented_exit_code(&second));
    for ((key, a), again) in broad.iter().zip(&after).zip(&snapshot(&wine)) {
        let differences = diff(
            &a.outside(&wine_maintained),
            &again.outside(&wine_maintained),
        );
        assert!(
            differences.is_empty(),
            "the second run changed {key}:\n{}",
            differences.join("\n")
        );
    }

    eprintln!(
        "wine: {} values in {} keys compared under {roots:?}, {} settings written then found in \
         place, {defender_errors} settings in error for lack of Defender; prefix ready in \
         {:.1} s, total {:.1} s",
        expected.values.len(),
        expected.keys.len(),
        plugin_settings,
        booted.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Off Windows there is no system registry: asking for it is bad input, refused before
/// anything is written, and `--help` documents the choice.
#[cfg(not(windows))]
#[test]
fn the_system_registry_is_refused_off_windows() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = Command::new(cargo_bin("rampart"))
        .args(["apply", "--registry", "system", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--registry system needs Windows"),
        "{stderr}"
    );
    assert!(!state.exists(), "the refused run created its state");
    let help = Command::new(cargo_bin("rampart"))
        .args(["apply", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--registry <KIND>") && help.contains("emulated"),
        "{help}"
    );
}
