//! Hostile plugins: escape attempts through the real capabilities, forbidden WASI imports,
//! malformed components, limit violations and forged results.
//!
//! Every case checks three things: the typed error (an enum variant or a capability error kind,
//! never log text), that the same engine serves a well-behaved plugin right afterwards, and
//! that nothing outside the plugin's grants changed (the emulated registry and the directories
//! beside the file root are compared before and after).
//!
//! The `hostile_*` programs are tested here; `programs.rs` imports these tests so its
//! one-test-per-program check sees them.

use std::sync::Arc;

use rampart_backends::files::{FileAccess, FileRoots};
use rampart_backends::registry::{EmulatedRegistry, RegValue, RegistryBackend, RegistryPath};
use rampart_policy::settings::{GroupPosition, ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::grants::{Access, FileGrant, RegistryGrant};
use rampart_runtime::manifest::ManifestError;
use rampart_runtime::{
    Capabilities, GrantPolicy, Grants, LoadFailure, Plugin, RunError, RunLimits, RunOutput,
};
use rampart_test_artifacts::*;
use rampart_tests::{RootedDir, engine, load_program, permissive_ceiling, setting, windows_client};

const GRANTED: &str = r"HKLM\SOFTWARE\Policies\Rampart Test";
const READ_ONLY: &str = r"HKLM\SOFTWARE\Policies\Rampart ReadOnly";
const OUTSIDE: &str = r"HKLM\SOFTWARE\Policies\Rampart Escape";

/// The kind of capability error `hostile_escape` reports as its result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ok,
    AccessDenied,
    InvalidArgument,
    NotFound,
    TamperProtected,
    Unavailable,
    Failed,
}

impl Kind {
    fn of(outcome: &rampart_runtime::SettingOutcome) -> Kind {
        match (outcome.status, outcome.code) {
            (SettingStatus::Remediated, None) => Kind::Ok,
            (SettingStatus::Error, Some(1)) => Kind::AccessDenied,
            (SettingStatus::Error, Some(2)) => Kind::InvalidArgument,
            (SettingStatus::Error, Some(3)) => Kind::NotFound,
            (SettingStatus::Error, Some(4)) => Kind::TamperProtected,
            (SettingStatus::Error, Some(5)) => Kind::Unavailable,
            (SettingStatus::Error, Some(6)) => Kind::Failed,
            other => panic!("not an answer of hostile_escape: {other:?} {outcome:?}"),
        }
    }
}

/// The well-behaved plugin every case runs after the hostile one, on the same engine: a write
/// inside its grant must succeed.
fn assert_host_serves_next_run() {
    let good = load_program(CAPS_REGISTRY_PROBE).expect("a well-behaved plugin loads");
    let registry = Arc::new(EmulatedRegistry::new());
    let caps = Capabilities::none().with_registry(registry.clone());
    let out = good
        .run(
            &windows_client(),
            &[setting("test_ok", SettingValue::Text(GRANTED.into()))],
            &caps,
            &RunLimits::default(),
        )
        .expect("a well-behaved plugin runs after a hostile one");
    assert_eq!(out.outcomes[0].status, SettingStatus::Remediated);
    assert_eq!(
        registry
            .get_value(&RegistryPath::parse(GRANTED).unwrap(), "Probe")
            .unwrap(),
        Some(RegValue::Dword(1))
    );
}

/// The grants `hostile_escape` asks for, used as a strict ceiling: it loads with exactly these.
fn escape_grants() -> Grants {
    Grants {
        registry: vec![
            RegistryGrant {
                key: RegistryPath::parse(GRANTED).unwrap(),
                access: Access::ReadWrite,
            },
            RegistryGrant {
                key: RegistryPath::parse(READ_ONLY).unwrap(),
                access: Access::Read,
            },
        ],
        defender: None,
        files: vec![
            FileGrant {
                root: "sandbox".into(),
                access: Access::ReadWrite,
            },
            FileGrant {
                root: "readonly".into(),
                access: Access::Read,
            },
        ],
    }
}

fn load_escape() -> Plugin {
    let wasm = std::fs::read(HOSTILE_ESCAPE).unwrap();
    let plugin = Plugin::load(
        &engine(),
        "hostile_escape.wasm",
        &wasm,
        &GrantPolicy::Strict(escape_grants()),
    )
    .unwrap();
    assert_eq!(plugin.grants(), &escape_grants());
    plugin
}

/// One `hostile_escape` call per case; returns the kind each call failed with (or `Ok`) and the
/// message of each.
fn run_escape(cases: &[&[&str]], caps: &Capabilities) -> (Vec<Kind>, RunOutput) {
    let settings: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, args)| {
            setting(
                &format!("test_{i}"),
                SettingValue::TextList(args.iter().map(|s| (*s).to_owned()).collect()),
            )
        })
        .collect();
    let out = load_escape()
        .run(&windows_client(), &settings, caps, &RunLimits::default())
        .expect("hostile_escape handles every capability error itself");
    assert!(out.protocol_errors.is_empty(), "{:?}", out.protocol_errors);
    (out.outcomes.iter().map(Kind::of).collect(), out)
}

fn assert_kinds(cases: &[(&[&str], Kind)], kinds: &[Kind], out: &RunOutput) {
    assert_eq!(kinds.len(), cases.len());
    let wrong: Vec<String> = cases
        .iter()
        .zip(kinds)
        .zip(&out.outcomes)
        .filter(|(((_, expected), got), _)| expected != *got)
        .map(|(((args, expected), got), outcome)| {
            format!(
                "{args:?}: expected {expected:?}, got {got:?} ({:?})",
                outcome.message
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
pub(crate) fn hostile_escape() {
    // Registry half; the files half is `file_escapes_through_the_files_capability`.
    let registry = Arc::new(EmulatedRegistry::new());
    let outside = RegistryPath::parse(OUTSIDE).unwrap();
    registry
        .set_value(&outside, "Secret", RegValue::Sz("do not read".into()))
        .unwrap();
    let read_only = RegistryPath::parse(READ_ONLY).unwrap();
    registry
        .set_value(&read_only, "Existing", RegValue::Dword(5))
        .unwrap();
    registry
        .set_value(
            &RegistryPath::parse(r"HKCU\SOFTWARE\Policies\Rampart Test").unwrap(),
            "User",
            RegValue::Dword(3),
        )
        .unwrap();
    let before = registry.export_reg();
    let caps = Capabilities::none().with_registry(registry.clone());

    let long_component = "A".repeat(256);
    let over_long = format!(r"{GRANTED}\{long_component}");
    let at_limit = format!(r"{GRANTED}\{}", "B".repeat(255));
    let too_deep = format!(r"{GRANTED}{}", r"\k".repeat(510));
    let too_long_path = format!(r"{GRANTED}{}", format!(r"\{}", "C".repeat(250)).repeat(140));
    let long_value_name = "v".repeat(16384);
    use Kind::*;
    let cases: &[(&[&str], Kind)] = &[
        // Inside the grant, in every spelling the registry treats as the same key.
        (&["reg-set", GRANTED, "Probe"], Ok),
        (
            &[
                "reg-set",
                r"hkey_local_machine\software\POLICIES\rampart test",
                "Mixed",
            ],
            Ok,
        ),
        (
            &[
                "reg-set",
                r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Rampart Test\Sub",
                "Deep",
            ],
            Ok,
        ),
        (&["reg-set", &at_limit, "AtLimit"], Ok),
        (&["reg-get", READ_ONLY, "Existing"], Ok),
        (&["reg-list-values", READ_ONLY], Ok),
        // Outside the grant: siblings, parents, prefixes, reads and enumeration.
        (&["reg-set", OUTSIDE, "Probe"], AccessDenied),
        (&["reg-get", OUTSIDE, "Secret"], AccessDenied),
        (&["reg-list-values", OUTSIDE], AccessDenied),
        (
            &["reg-list-subkeys", r"HKLM\SOFTWARE\Policies"],
            AccessDenied,
        ),
        (&["reg-delete-key", r"HKLM\SOFTWARE\Policies"], AccessDenied),
        (&["reg-delete-key", "HKLM"], AccessDenied),
        (
            &["reg-set", r"HKLM\SOFTWARE\Policies\Rampart TestX", "Probe"],
            AccessDenied,
        ),
        (
            &["reg-set", r"HKLM\SOFTWARE\Policies\Rampart Tes", "Probe"],
            AccessDenied,
        ),
        (
            &["reg-set", r"HKLM\SOFTWARE\Policies\ Rampart Test", "Probe"],
            AccessDenied,
        ),
        // Other hives, long and short names.
        (
            &["reg-set", r"HKCU\SOFTWARE\Policies\Rampart Test", "Probe"],
            AccessDenied,
        ),
        (
            &[
                "reg-get",
                r"HKEY_CURRENT_USER\SOFTWARE\Policies\Rampart Test",
                "User",
            ],
            AccessDenied,
        ),
        (
            &[
                "reg-set",
                r"HKU\.DEFAULT\SOFTWARE\Policies\Rampart Test",
                "Probe",
            ],
            AccessDenied,
        ),
        (
            &["reg-set", r"HKEY_USERS\S-1-5-18\Software", "Probe"],
            AccessDenied,
        ),
        (&["reg-set", r"HKCR\CLSID", "Probe"], AccessDenied),
        (
            &["reg-set", r"HKEY_CURRENT_CONFIG\Software", "Probe"],
            AccessDenied,
        ),
        // Unicode look-alikes are distinct keys (denied), never folded into the grant.
        (
            &[
                "reg-set",
                "HKLM\\SOFTWARE\\Policies\\Rampart Te\u{17f}t",
                "Probe",
            ],
            AccessDenied,
        ),
        (
            &[
                "reg-set",
                "HKLM\\SOFTWARE\\Pol\u{131}cies\\Rampart Test",
                "Probe",
            ],
            AccessDenied,
        ),
        (
            &[
                "reg-set",
                "HKLM\\SOFTWARE\\Policies\u{ff3c}Rampart Test",
                "Probe",
            ],
            AccessDenied,
        ),
        (
            &[
                "reg-set",
                "HKLM\\SOFTWARE\\Policies\\Rampart\u{a0}Test",
                "Probe",
            ],
            AccessDenied,
        ),
        // The read-only grant.
        (&["reg-set", READ_ONLY, "Existing"], AccessDenied),
        (&["reg-create", &format!(r"{READ_ONLY}\Sub")], AccessDenied),
        (&["reg-delete-value", READ_ONLY, "Existing"], AccessDenied),
        (&["reg-delete-key", READ_ONLY], AccessDenied),
        // Canonicalisation tricks: refused before any grant is consulted.
        (
            &["reg-set", &format!(r"{GRANTED}\..\Rampart Escape"), "Probe"],
            InvalidArgument,
        ),
        (
            &[
                "reg-set",
                &format!(r"{GRANTED}\..\..\..\..\SYSTEM"),
                "Probe",
            ],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!(r"{GRANTED}\.\X"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!(r"{GRANTED}\\X"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!(r"{GRANTED}\"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!(r"\{GRANTED}"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!(r"\\?\{GRANTED}"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!(r"\\.\{GRANTED}"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!(r"\??\{GRANTED}"), "Probe"],
            InvalidArgument,
        ),
        (
            &[
                "reg-set",
                r"\Registry\Machine\SOFTWARE\Policies\Rampart Test",
                "Probe",
            ],
            InvalidArgument,
        ),
        (
            &["reg-set", r"HKLM/SOFTWARE/Policies/Rampart Test", "Probe"],
            InvalidArgument,
        ),
        (
            &[
                "reg-set",
                &format!(r"{GRANTED}/..\..\Rampart Escape"),
                "Probe",
            ],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!("{GRANTED}."), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!("{GRANTED} "), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!("{GRANTED}\\X."), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!("{GRANTED}\\X\t"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!("{GRANTED}\\X\u{3000}"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!("{GRANTED}\0Escape"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!("{GRANTED}\\X\0"), "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", &format!("{GRANTED}\\X\u{1b}"), "Probe"],
            InvalidArgument,
        ),
        (&["reg-set", "", "Probe"], InvalidArgument),
        (
            &["reg-set", r"HKLM \SOFTWARE\Policies\Rampart Test", "Probe"],
            InvalidArgument,
        ),
        (
            &[
                "reg-set",
                "H\u{212a}LM\\SOFTWARE\\Policies\\Rampart Test",
                "Probe",
            ],
            InvalidArgument,
        ),
        (
            &["reg-set", r"HKEY_PERFORMANCE_DATA\Counters", "Probe"],
            InvalidArgument,
        ),
        (
            &["reg-set", r"HKEY_LOCAL_MACHINE_\SOFTWARE", "Probe"],
            InvalidArgument,
        ),
        (
            &[
                "reg-set",
                r"..\HKLM\SOFTWARE\Policies\Rampart Test",
                "Probe",
            ],
            InvalidArgument,
        ),
        // Over-long keys and value names.
        (&["reg-set", &over_long, "Probe"], InvalidArgument),
        (&["reg-set", &too_deep, "Probe"], InvalidArgument),
        (&["reg-set", &too_long_path, "Probe"], InvalidArgument),
        (&["reg-set", GRANTED, &long_value_name], InvalidArgument),
        (&["reg-set", GRANTED, "Probe\0Hidden"], InvalidArgument),
        (&["reg-get", GRANTED, "Probe\0"], InvalidArgument),
        // A read that needs the key to exist.
        (
            &["reg-list-values", &format!(r"{GRANTED}\Missing")],
            NotFound,
        ),
    ];
    let args: Vec<&[&str]> = cases.iter().map(|(a, _)| *a).collect();
    let (kinds, out) = run_escape(&args, &caps);
    assert_kinds(cases, &kinds, &out);
    // The outside value never reached the plugin.
    assert!(out.outcomes.iter().all(|o| {
        !o.message
            .as_deref()
            .unwrap_or_default()
            .contains("do not read")
    }));

    // Only the granted key changed, through every spelling that names it.
    let granted = RegistryPath::parse(GRANTED).unwrap();
    let mut names: Vec<String> = registry
        .list_values(&granted)
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.sort();
    assert_eq!(names, ["Mixed", "Probe"]);
    registry.delete_key(&granted).unwrap();
    assert_eq!(registry.export_reg(), before);
    assert_host_serves_next_run();
}

#[test]
fn file_escapes_through_the_files_capability() {
    let dir = RootedDir::new();
    let root = dir.root();
    let outside = dir.outside();
    let read_only = dir.scratch();
    std::fs::write(root.join("inside.txt"), b"inside").unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(read_only.join("ro.txt"), b"read only").unwrap();
    // Links planted in the root by someone else, pointing out of it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(outside.join("secret.txt"), root.join("abs_link")).unwrap();
        symlink("../outside/secret.txt", root.join("rel_link")).unwrap();
        symlink("../outside", root.join("dir_link")).unwrap();
        symlink("../outside/secret.txt", root.join("link_to_overwrite")).unwrap();
        symlink("../outside/secret.txt", root.join("link_to_remove")).unwrap();
        symlink(root.join("inside.txt"), root.join("abs_link_inside")).unwrap();
        symlink("inside.txt", root.join("rel_link_inside")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        symlink("../outside/new.txt", root.join("dangling_out")).unwrap();
    }
    // A hard link: the same inode as the outside file, but its name is in the root.
    let hard_link = std::fs::hard_link(outside.join("secret.txt"), root.join("hard_link")).is_ok();

    let mut roots = FileRoots::new();
    roots
        .open_ambient("sandbox", &root, FileAccess::ReadWrite)
        .unwrap();
    roots
        .open_ambient("readonly", &read_only, FileAccess::Read)
        .unwrap();
    let caps = Capabilities::none().with_files(Arc::new(roots));
    let outside_before = dir.outside_snapshot();

    let long_path = "a/".repeat(2100) + "x";
    let long_read = ["file-read", "sandbox", long_path.as_str()];
    use Kind::*;
    let mut cases: Vec<(&[&str], Kind)> = vec![
        (&["file-read", "sandbox", "inside.txt"], Ok),
        (&["file-list", "sandbox", ""], Ok),
        (&["file-write", "sandbox", "sub/new.txt", "new"], Ok),
        (&["file-read", "readonly", "ro.txt"], Ok),
        // Absolute paths and `..`.
        (&["file-read", "sandbox", "/etc/passwd"], InvalidArgument),
        (
            &["file-read", "sandbox", "../outside/secret.txt"],
            InvalidArgument,
        ),
        (
            &["file-read", "sandbox", "sub/../../outside/secret.txt"],
            InvalidArgument,
        ),
        (
            &["file-read", "sandbox", "sub/../inside.txt"],
            InvalidArgument,
        ),
        (
            &["file-write", "sandbox", "../outside/secret.txt", "pwned"],
            InvalidArgument,
        ),
        (&["file-write", "sandbox", "./x", "x"], InvalidArgument),
        (
            &["file-remove", "sandbox", "../outside/secret.txt"],
            InvalidArgument,
        ),
        (&["file-list", "sandbox", ".."], InvalidArgument),
        (&["file-list", "sandbox", "/"], InvalidArgument),
        // Windows spellings, NUL, control characters, empty and over-long paths.
        (
            &["file-write", "sandbox", r"..\outside\secret.txt", "pwned"],
            InvalidArgument,
        ),
        (
            &["file-write", "sandbox", "C:/Windows/x", "pwned"],
            InvalidArgument,
        ),
        (
            &["file-write", "sandbox", "inside.txt:stream", "pwned"],
            InvalidArgument,
        ),
        (
            &["file-write", "sandbox", "inside.txt\0.bak", "pwned"],
            InvalidArgument,
        ),
        (&["file-write", "sandbox", "x\ny", "pwned"], InvalidArgument),
        (&["file-write", "sandbox", "", "pwned"], InvalidArgument),
        (
            &["file-write", "sandbox", "sub//x", "pwned"],
            InvalidArgument,
        ),
        (&["file-write", "sandbox", "sub/", "pwned"], InvalidArgument),
        (&long_read, InvalidArgument),
        // Roots that were not granted, however they are spelled.
        (&["file-read", "SANDBOX", "inside.txt"], AccessDenied),
        (&["file-read", "sandbox/..", "inside.txt"], AccessDenied),
        (&["file-read", "../sandbox", "inside.txt"], AccessDenied),
        (&["file-read", "", "inside.txt"], AccessDenied),
        (&["file-read", "/", "etc/passwd"], AccessDenied),
        // The read-only root.
        (&["file-write", "readonly", "ro.txt", "pwned"], AccessDenied),
        (&["file-remove", "readonly", "ro.txt"], AccessDenied),
        // Missing parents are not created.
        (&["file-write", "sandbox", "missing/x", "x"], NotFound),
        (&["file-read", "sandbox", "missing.txt"], NotFound),
    ];
    #[cfg(unix)]
    cases.extend([
        // Symlinks that lead out of the root are refused on every operation.
        (&["file-read", "sandbox", "abs_link"][..], AccessDenied),
        (&["file-read", "sandbox", "rel_link"][..], AccessDenied),
        (
            &["file-read", "sandbox", "dir_link/secret.txt"][..],
            AccessDenied,
        ),
        (&["file-list", "sandbox", "dir_link"][..], AccessDenied),
        (
            &["file-write", "sandbox", "dir_link/secret.txt", "pwned"][..],
            AccessDenied,
        ),
        (
            &["file-write", "sandbox", "dir_link/new.txt", "pwned"][..],
            AccessDenied,
        ),
        (
            &["file-remove", "sandbox", "dir_link/secret.txt"][..],
            AccessDenied,
        ),
        // An absolute symlink is refused even when it points back inside.
        (
            &["file-read", "sandbox", "abs_link_inside"][..],
            AccessDenied,
        ),
        // A relative symlink that stays inside is followed.
        (&["file-read", "sandbox", "rel_link_inside"][..], Ok),
        // A symlink loop is an error, not a hang.
        (&["file-read", "sandbox", "loop"][..], Failed),
        // Writing "through" a symlink replaces the link itself (the write is a rename into
        // the root); the file it pointed to is untouched. Same for a dangling one.
        (
            &["file-write", "sandbox", "link_to_overwrite", "replaced"][..],
            Ok,
        ),
        (
            &["file-write", "sandbox", "dangling_out", "replaced"][..],
            Ok,
        ),
        // Even removing a link that leads outside is refused (the check resolves it first);
        // its target is untouched either way.
        (
            &["file-remove", "sandbox", "link_to_remove"][..],
            AccessDenied,
        ),
    ]);
    if hard_link {
        // The hard link's name is in the root, but it may name a file outside, so reads refuse
        // it; a write replaces the name, never the shared inode.
        cases.push((&["file-read", "sandbox", "hard_link"], AccessDenied));
        cases.push((&["file-write", "sandbox", "hard_link", "replaced"], Ok));
    }
    let args: Vec<&[&str]> = cases.iter().map(|(a, _)| *a).collect();
    let (kinds, out) = run_escape(&args, &caps);
    assert_kinds(&cases, &kinds, &out);

    // Nothing outside the root changed: not the target of any link, not the read-only root.
    assert_eq!(dir.outside_snapshot(), outside_before);
    assert_eq!(
        std::fs::read(outside.join("secret.txt")).unwrap(),
        b"secret"
    );
    assert!(!outside.join("new.txt").exists());
    // Inside the root, exactly the granted writes happened and no temporary file was left.
    assert_eq!(std::fs::read(root.join("sub/new.txt")).unwrap(), b"new");
    #[cfg(unix)]
    {
        for name in ["link_to_overwrite", "dangling_out"] {
            let meta = std::fs::symlink_metadata(root.join(name)).unwrap();
            assert!(meta.is_file(), "{name} is now a regular file in the root");
            assert_eq!(std::fs::read(root.join(name)).unwrap(), b"replaced");
        }
        assert!(std::fs::symlink_metadata(root.join("link_to_remove")).is_ok());
    }
    assert!(
        dir.root_listing()
            .iter()
            .all(|name| !name.contains("rampart-tmp")),
        "{:?}",
        dir.root_listing()
    );
    assert_host_serves_next_run();
}

#[test]
pub(crate) fn hostile_wasi_probe() {
    // The host satisfies std's WASI imports with a deny-all context: the plugin sees no
    // environment (the test process has one: PATH, CARGO_*), no arguments, and an empty stdin;
    // what it prints goes nowhere. Clocks and randomness are allowed and work.
    assert!(std::env::vars_os().count() > 0);
    let plugin = load_program(HOSTILE_WASI_PROBE).unwrap();
    let probes = [
        ("test_env", 0),
        ("test_args", 0),
        ("test_stdin", 0),
        ("test_stdout", 0),
        ("test_clock", 1),
        ("test_random", 1),
    ];
    let settings: Vec<_> = probes
        .iter()
        .map(|(id, _)| setting(id, SettingValue::Integer(0)))
        .collect();
    let (registry, caps) = rampart_tests::backends(false);
    let before = registry.export_reg();
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let found: Vec<(&str, Option<i32>)> = probes
        .iter()
        .zip(&out.outcomes)
        .map(|((id, _), o)| (*id, o.code))
        .collect();
    let expected: Vec<(&str, Option<i32>)> =
        probes.iter().map(|(id, code)| (*id, Some(*code))).collect();
    assert_eq!(found, expected);
    assert_eq!(registry.export_reg(), before);
    assert_host_serves_next_run();
}

#[test]
pub(crate) fn hostile_exit() {
    // `exit(0)` mid-apply returns no results: a failed run, not a success with nothing to say.
    let plugin = load_program(HOSTILE_EXIT).unwrap();
    let registry = Arc::new(EmulatedRegistry::new());
    let caps = Capabilities::none().with_registry(registry.clone());
    let err = plugin
        .run(
            &windows_client(),
            &[setting("test_a", SettingValue::Integer(1))],
            &caps,
            &RunLimits::default(),
        )
        .unwrap_err();
    assert_eq!(
        err,
        RunError::Exited {
            plugin: "hostile-exit".into(),
            code: 0
        }
    );
    // Its one write was inside its grant; nothing else changed.
    assert_eq!(
        registry.export_reg(),
        only_granted_value("BeforeExit").export_reg()
    );
    assert_host_serves_next_run();
}

/// An emulated registry holding nothing but DWORD `name` = 1 under the granted key.
fn only_granted_value(name: &str) -> EmulatedRegistry {
    let expected = EmulatedRegistry::new();
    expected
        .set_value(
            &RegistryPath::parse(GRANTED).unwrap(),
            name,
            RegValue::Dword(1),
        )
        .unwrap();
    expected
}

#[test]
pub(crate) fn hostile_limits() {
    let plugin = load_program(HOSTILE_LIMITS).unwrap();
    let run = |id: &str, limits: &RunLimits| {
        let registry = Arc::new(EmulatedRegistry::new());
        let caps = Capabilities::none().with_registry(registry.clone());
        let before = registry.export_reg();
        let result = plugin.run(
            &windows_client(),
            &[setting(id, SettingValue::Integer(1))],
            &caps,
            limits,
        );
        (result.unwrap_err(), registry, before)
    };

    // One 1.5 GiB allocation: refused by the memory cap, reported as such (not as an abort).
    let limits = RunLimits {
        memory: 32 << 20,
        ..RunLimits::default()
    };
    let (err, registry, before) = run("test_grow_huge", &limits);
    assert_eq!(
        err,
        RunError::MemoryLimit {
            plugin: "hostile-limits".into(),
            limit: 32 << 20
        }
    );
    assert_eq!(registry.export_reg(), before);
    assert_host_serves_next_run();

    // A write inside the grant, then a spin: the deadline stops it; the write stays inside.
    let limits = RunLimits {
        deadline: std::time::Duration::from_millis(300),
        ..RunLimits::default()
    };
    let (err, registry, _) = run("test_write_then_spin", &limits);
    assert_eq!(
        err,
        RunError::Timeout {
            plugin: "hostile-limits".into(),
            deadline: limits.deadline
        }
    );
    assert_eq!(
        registry.export_reg(),
        only_granted_value("BeforeSpin").export_reg()
    );
    assert_host_serves_next_run();

    // Denied calls in a loop that never ends: every call counts, so the cap ends it long before
    // the deadline.
    let limits = RunLimits {
        max_host_calls: 10_000,
        deadline: std::time::Duration::from_secs(20),
        ..RunLimits::default()
    };
    let started = std::time::Instant::now();
    let (err, registry, before) = run("test_calls_then_spin", &limits);
    assert_eq!(
        err,
        RunError::HostCallLimit {
            plugin: "hostile-limits".into(),
            limit: 10_000
        }
    );
    assert!(started.elapsed() < limits.deadline);
    assert_eq!(registry.export_reg(), before);
    assert_host_serves_next_run();
}

#[test]
pub(crate) fn hostile_forged_results() {
    let plugin = load_program(HOSTILE_FORGED_RESULTS).unwrap();
    let group = |index| {
        Some(GroupPosition {
            definition_id: "test_group".into(),
            index,
        })
    };
    let settings = vec![
        ResolvedSetting {
            group: group(0),
            ..setting("test_rule", SettingValue::Integer(1))
        },
        ResolvedSetting {
            group: group(1),
            ..setting("test_rule", SettingValue::Integer(2))
        },
        setting("test_plain", SettingValue::Integer(3)),
        setting("test_last", SettingValue::Integer(4)),
    ];
    let (registry, caps) = rampart_tests::backends(false);
    let before = registry.export_reg();
    let out = plugin
        .run(&windows_client(), &settings, &caps, &RunLimits::default())
        .unwrap();
    let statuses: Vec<_> = out.outcomes.iter().map(|o| o.status).collect();
    // Only the genuine answers count: the first answer per setting wins (the contradicting
    // error is a duplicate), forged ids and group positions are rejected, and the last setting,
    // which got only forged answers, has no result.
    assert_eq!(
        statuses,
        [
            SettingStatus::Compliant,
            SettingStatus::Compliant,
            SettingStatus::Compliant,
            SettingStatus::Error
        ]
    );
    for (o, s) in out.outcomes.iter().zip(&settings) {
        assert_eq!((&o.id, &o.group), (&s.id, &s.group));
        assert_ne!(o.message.as_deref(), Some("forged"));
    }
    // Forged results: 4 settings x (shifted group, upper-cased id, empty id) + 2 grouped
    // settings without their group = 14; the host keeps the first 20 problems, all of them
    // here, plus 1 duplicate.
    assert_eq!(out.protocol_errors.len(), 15, "{:#?}", out.protocol_errors);
    assert_eq!(registry.export_reg(), before);
    assert_host_serves_next_run();
}

// ---------------------------------------------------------------------------------------------
// Forbidden imports and malformed components: refused at load, before any plugin code runs.

const GOOD_MANIFEST: &str = r#"[plugin]
name = "handmade"
version = "0.1.0"
platforms = ["windows-client"]
settings = ["test_*"]
"#;

fn load_bytes(wasm: &[u8], policy: &GrantPolicy) -> Result<Plugin, LoadFailure> {
    Plugin::load(&engine(), "hostile.wasm", wasm, policy).map_err(|e| {
        assert_eq!(e.origin, "hostile.wasm");
        e.reason
    })
}

fn refused(wasm: &[u8]) -> LoadFailure {
    load_bytes(wasm, &permissive_ceiling()).expect_err("must be refused")
}

fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    // A section is its id (0 for custom sections) then what `encode` writes: size, name, data.
    let mut section = vec![0];
    wasm_encoder::Encode::encode(
        &wasm_encoder::CustomSection {
            name: name.into(),
            data: data.into(),
        },
        &mut section,
    );
    section
}

/// A component that imports one (empty) instance named `import` and carries the given
/// manifest and contract sections.
fn component_importing(import: &str, manifest: &str, contract: &str) -> Vec<u8> {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
    };
    let mut component = Component::new();
    let mut types = ComponentTypeSection::new();
    types.instance(&InstanceType::new());
    component.section(&types);
    let mut imports = ComponentImportSection::new();
    imports.import(import, ComponentTypeRef::Instance(0));
    component.section(&imports);
    let mut bytes = component.finish();
    bytes.extend(custom_section("rampart:manifest", manifest.as_bytes()));
    bytes.extend(custom_section("rampart:contract", contract.as_bytes()));
    bytes
}

#[test]
fn forbidden_imports_are_refused_by_name() {
    let forbidden = [
        "wasi:sockets/tcp@0.2.0",
        "wasi:sockets/ip-name-lookup@0.2.6",
        "wasi:filesystem/preopens@0.2.0",
        "wasi:filesystem/types@0.2.3",
        "wasi:http/outgoing-handler@0.2.0",
        "wasi:cli/run@0.2.0",
        "wasi:config/store@0.2.0-draft",
        "evil:backdoor/shell",
        "rampart:plugin/admin@0.1.1",
        "rampart:plugin/registry@0.1.1", // no registry grant in the manifest
        "rampart:plugin/files@0.1.1",    // no files grant
        "rampart:plugin/defender@0.1.1", // no defender grant
    ];
    for import in forbidden {
        let wasm = component_importing(import, GOOD_MANIFEST, "0.1.1");
        match refused(&wasm) {
            LoadFailure::ForbiddenImport { import: named, .. } => assert_eq!(named, import),
            other => panic!("{import}: expected a forbidden import, got {other:?}"),
        }
    }
    // A newer contract patch or another minor in an import: the contract error, not a link
    // failure.
    for import in [
        "rampart:plugin/log@0.1.2",
        "rampart:plugin/types@0.2.0",
        "rampart:plugin/log",
    ] {
        let wasm = component_importing(import, GOOD_MANIFEST, "0.1.1");
        assert!(
            matches!(refused(&wasm), LoadFailure::Contract { .. }),
            "{import}"
        );
    }
    // What the host allows (std's WASI, including the environment, which it serves empty)
    // passes the audit; these components then fail only for lacking `apply`.
    for import in [
        "wasi:cli/environment@0.2.0",
        "wasi:clocks/wall-clock@0.2.0",
        "wasi:random/random@0.2.0",
        "rampart:plugin/log@0.1.0",
    ] {
        let wasm = component_importing(import, GOOD_MANIFEST, "0.1.1");
        assert!(
            matches!(refused(&wasm), LoadFailure::Link(_)),
            "{import}: {:?}",
            refused(&wasm)
        );
    }
    assert_host_serves_next_run();
}

/// Replaces the first occurrence of `from` at or after `start` (it must occur) with `to` of the
/// same length, so every size field of the binary stays valid.
fn patched(wasm: &[u8], start: usize, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "same-length patches only");
    let at = start
        + wasm[start..]
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{:?} not in the binary", String::from_utf8_lossy(from)));
    let mut out = wasm.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn tampered_manifest_sections_are_refused() {
    let good = std::fs::read(CAPS_REGISTRY_PROBE).unwrap();
    // The manifest text is also in the plugin's data (the SDK keeps it as a constant): patch
    // the section, which starts right after its name.
    let manifest_start = {
        let at = good
            .windows(17)
            .position(|w| w == b"\x10rampart:manifest")
            .unwrap();
        at + 17
    };

    // No manifest section (renamed).
    let missing = patched(&good, 0, b"rampart:manifest", b"rampart:manifesx");
    assert_eq!(
        refused(&missing),
        LoadFailure::Manifest(ManifestError::Missing)
    );
    // No contract section.
    let no_contract = patched(&good, 0, b"rampart:contract", b"rampart:contracx");
    assert_eq!(
        refused(&no_contract),
        LoadFailure::Manifest(ManifestError::MissingContract)
    );
    // A contract from the future.
    let future = patched(&good, 0, b"rampart:contract0.1.1", b"rampart:contract9.9.9");
    assert!(
        matches!(refused(&future), LoadFailure::Contract { ref plugin, .. } if plugin == "9.9.9"),
        "{:?}",
        refused(&future)
    );
    // Not UTF-8.
    let mut not_utf8 = good.clone();
    not_utf8[manifest_start + 2] = 0xff;
    assert!(matches!(
        refused(&not_utf8),
        LoadFailure::Manifest(ManifestError::Invalid(ref m)) if m.contains("not UTF-8")
    ));
    // Not TOML.
    let not_toml = patched(&good, manifest_start, b"[plugin]", b"[plugin ");
    assert!(matches!(
        refused(&not_toml),
        LoadFailure::Manifest(ManifestError::Invalid(_))
    ));
    // TOML of the wrong shape: an unknown key, a bad name.
    let unknown_key = patched(&good, manifest_start, b"\nversion =", b"\nversiom =");
    assert!(matches!(
        refused(&unknown_key),
        LoadFailure::Manifest(ManifestError::Invalid(_))
    ));
    let bad_name = patched(
        &good,
        manifest_start,
        b"\"caps-registry-probe\"",
        b"\"CAPS-REGISTRY-PROBE\"",
    );
    assert!(matches!(
        refused(&bad_name),
        LoadFailure::Manifest(ManifestError::Invalid(ref m)) if m.contains("CAPS-REGISTRY-PROBE")
    ));
    // A grant that escapes through `..`: refused, not normalised.
    let dotdot_grant = patched(
        &good,
        manifest_start,
        br"'HKLM\SOFTWARE\Policies\Rampart Test'",
        br"'HKLM\SOFTWARE\Policies\Rampart\..\X'",
    );
    assert!(matches!(
        refused(&dotdot_grant),
        LoadFailure::Manifest(ManifestError::Invalid(ref m)) if m.contains("registry grant")
    ));
    // A manifest widened after the build (the grant now names all of HKLM): a strict host
    // refuses it as over-privileged; a narrowing host cuts it back to its ceiling.
    let widened = patched(
        &good,
        manifest_start,
        br"'HKLM\SOFTWARE\Policies\Rampart Test'",
        br"'HKLM'                               ",
    );
    let ceiling = Grants {
        registry: vec![
            RegistryGrant {
                key: RegistryPath::parse(GRANTED).unwrap(),
                access: Access::ReadWrite,
            },
            RegistryGrant {
                key: RegistryPath::parse(READ_ONLY).unwrap(),
                access: Access::Read,
            },
        ],
        ..Grants::none()
    };
    match load_bytes(&widened, &GrantPolicy::Strict(ceiling.clone())).unwrap_err() {
        LoadFailure::OverPrivileged { excess } => {
            assert_eq!(excess, ["registry HKEY_LOCAL_MACHINE (read-write)"]);
        }
        other => panic!("expected over-privileged, got {other:?}"),
    }
    let narrowed = load_bytes(&widened, &GrantPolicy::Ceiling(ceiling.clone())).unwrap();
    assert!(!narrowed.grants().is_empty());
    assert_eq!(narrowed.grants().excess(&ceiling), Vec::<String>::new());

    // A second manifest section appended to the component.
    let mut duplicate = good.clone();
    duplicate.extend(custom_section("rampart:manifest", GOOD_MANIFEST.as_bytes()));
    assert_eq!(
        refused(&duplicate),
        LoadFailure::Manifest(ManifestError::Duplicate("rampart:manifest"))
    );
    // A huge manifest (1 MiB), the original renamed away.
    let mut huge = missing.clone();
    let mut text = GOOD_MANIFEST.to_string();
    text.push_str(&"# padding\n".repeat(100_000));
    huge.extend(custom_section("rampart:manifest", text.as_bytes()));
    assert_eq!(
        refused(&huge),
        LoadFailure::Manifest(ManifestError::TooLarge(text.len()))
    );
    assert_host_serves_next_run();
}

#[test]
fn malformed_binaries_are_refused_with_typed_errors() {
    let good = std::fs::read(CAPS_REGISTRY_PROBE).unwrap();

    // Truncated anywhere: never loads, never panics.
    let mut cuts: Vec<usize> = vec![0, 1, 4, 7, 8, 9, 64, 1000];
    cuts.extend((1..16).map(|i| good.len() * i / 16));
    cuts.push(good.len() - 1);
    for cut in cuts {
        match refused(&good[..cut]) {
            LoadFailure::Manifest(ManifestError::NotWasm(_) | ManifestError::Missing)
            | LoadFailure::Compile(_) => {}
            other => panic!("truncated at {cut}: {other:?}"),
        }
    }

    // A core module, not a component, even with valid rampart sections.
    let mut core = b"\0asm\x01\0\0\0".to_vec();
    assert_eq!(
        refused(&core),
        LoadFailure::Manifest(ManifestError::Missing)
    );
    core.extend(custom_section("rampart:manifest", GOOD_MANIFEST.as_bytes()));
    core.extend(custom_section("rampart:contract", b"0.1.1"));
    assert!(
        matches!(refused(&core), LoadFailure::Compile(_)),
        "{:?}",
        refused(&core)
    );

    // Random bytes, bare and behind a component header.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..64 {
        let len = (next() % 4096) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 1 {
            let mut framed = b"\0asm\x0d\0\x01\0".to_vec();
            framed.extend(bytes);
            bytes = framed;
        }
        match refused(&bytes) {
            LoadFailure::Manifest(ManifestError::NotWasm(_) | ManifestError::Missing)
            | LoadFailure::Compile(_) => {}
            other => panic!("random input {i}: {other:?}"),
        }
    }

    // Over the size limit: refused before parsing.
    let too_large = vec![0u8; rampart_runtime::plugin::MAX_PLUGIN_BYTES + 1];
    assert!(matches!(
        refused(&too_large),
        LoadFailure::TooLarge { size, max } if size == max + 1
    ));
    assert_host_serves_next_run();
}

#[test]
pub(crate) fn hostile_stderr_flood() {
    // 64 KiB to stderr: the host keeps only the tail (to explain panics) and the plugin runs on;
    // a capture that trapped writes past its capacity would end the run as "aborted".
    let plugin = load_program(HOSTILE_STDERR_FLOOD).unwrap();
    let (registry, caps) = rampart_tests::backends(false);
    let before = registry.export_reg();
    let out = plugin
        .run(
            &windows_client(),
            &[setting("test_a", SettingValue::Integer(1))],
            &caps,
            &RunLimits::default(),
        )
        .expect("printing to stderr is not a failure");
    assert_eq!(out.outcomes[0].status, SettingStatus::Compliant);
    assert_eq!(registry.export_reg(), before);
    assert_host_serves_next_run();
}

const DEFENDER: &str = "device_vendor_msft_policy_config_defender_";

/// `hostile_claims`: a plugin with no grants that claims the first-party plugin's settings.
/// The first-party claims stand and the intruder is reported, never run; when two claims of the
/// same standing dispute a setting it is not enforced, and neither claimant removes what it
/// set for it; a plugin with a first-party name is admitted only when signed by a key trusted
/// for that name.
#[test]
pub(crate) fn hostile_claims() {
    use rampart_runtime::drift::Ledger;
    use rampart_runtime::{ClaimError, Enforcer, PluginSet};
    let first_party = Arc::new(rampart_tests::windows_defender(&permissive_ceiling()));
    let intruder = Arc::new(load_program(HOSTILE_CLAIMS).unwrap());
    let (registry, caps) = rampart_tests::backends(false);
    let enforcer = Enforcer::new(caps, RunLimits::default()).with_ledger(Ledger::in_memory());
    let device = windows_client();
    let policy = rampart_tests::policy_of(vec![
        setting(
            &format!("{DEFENDER}cloudblocklevel"),
            SettingValue::Integer(4),
        ),
        setting(
            &format!("{DEFENDER}puaprotection"),
            SettingValue::Integer(1),
        ),
    ]);
    let mut set = PluginSet::new();
    set.insert_first_party(first_party.clone());
    let first = enforcer.enforce(&set, &device, &policy);
    assert_eq!(first.count(SettingStatus::Remediated), 2, "{first:#?}");
    let enforced = registry.export_reg();
    assert!(enforced.contains("PUAProtection"), "{enforced}");

    // The intruder joins: overruled, reported, not run; the values stay.
    set.insert(intruder.clone());
    let second = enforcer.enforce(&set, &device, &policy);
    assert_eq!(second.count(SettingStatus::Compliant), 2, "{second:#?}");
    assert!(second.plugins.iter().all(|p| p.name != "hostile-claims"));
    assert_eq!(second.overruled_claims.len(), 1, "{second:#?}");
    let claim = &second.overruled_claims[0];
    assert_eq!(
        (claim.plugin.as_str(), claim.owner.as_str(), claim.count),
        ("hostile-claims", "windows-defender", 2)
    );
    assert_eq!(registry.export_reg(), enforced);

    // Two claims of one standing: the settings are errors, and nothing is removed for them.
    let mut equal = PluginSet::new();
    equal.insert(first_party.clone());
    equal.insert(intruder.clone());
    let disputed = enforcer.enforce(&equal, &device, &policy);
    assert_eq!(disputed.count(SettingStatus::Error), 2, "{disputed:#?}");
    assert_eq!(registry.export_reg(), enforced, "{disputed:#?}");

    // The operator's assignment stands before the first-party claim: the intruder runs.
    set.assign("hostile-claims", vec![format!("{DEFENDER}puaprotection")]);
    let assigned = enforcer.enforce(&set, &device, &policy);
    let routed: Vec<(&str, Option<&str>)> = assigned.policies[0]
        .settings
        .iter()
        .map(|s| (s.id.as_str(), s.plugin.as_deref()))
        .collect();
    assert_eq!(
        routed,
        [
            (
                "device_vendor_msft_policy_config_defender_cloudblocklevel",
                Some("windows-defender")
            ),
            (
                "device_vendor_msft_policy_config_defender_puaprotection",
                Some("hostile-claims")
            ),
        ]
    );

    // A plugin named like a first-party one is admitted only when its signature is trusted.
    let mut named = PluginSet::new();
    named.insert_first_party(intruder.clone());
    let unsigned = load_program(HOSTILE_CLAIMS).unwrap();
    assert!(matches!(
        named.check_admission(&unsigned),
        Err(ClaimError::UntrustedOverride { .. })
    ));
    let key = rampart_runtime::signing::generate_key().unwrap();
    let signed =
        rampart_runtime::signing::sign(&std::fs::read(HOSTILE_CLAIMS).unwrap(), &key).unwrap();
    let trust = rampart_runtime::trust::TrustPolicy::new(
        rampart_runtime::trust::TrustMode::Enforce,
        vec![rampart_runtime::trust::TrustedKey {
            name: "release".into(),
            id: rampart_runtime::signing::key_id(&key.verifying_key()),
            key: key.verifying_key(),
            plugins: vec!["hostile-claims".into()],
        }],
    );
    let trusted = Plugin::load_trusted(
        &engine(),
        "signed",
        &signed,
        &permissive_ceiling(),
        &trust,
        None,
    )
    .unwrap();
    named.admit(Arc::new(trusted)).unwrap();
    assert!(named.is_first_party("hostile-claims"));
}

/// `hostile_echo`: a plugin that echoes a secret through every channel it has and wraps its
/// messages in terminal control sequences. The secret reaches the registry (the plugin needs
/// it) and nothing else: not the report, the audit trail, the log records, the changes listed
/// or the panic message.
#[test]
pub(crate) fn hostile_echo() {
    use rampart_policy::graph::Secret;
    use rampart_runtime::audit::{AuditLog, Retention};
    use rampart_runtime::drift::Ledger;
    use rampart_runtime::{Enforcer, Journal, PluginSet};
    const SECRET: &str = "0nboarding-blob-SECRET-42";
    let secret = || setting("test_secret", SettingValue::Secret(Secret::new(SECRET)));
    let plugin = Arc::new(
        Plugin::load(
            &engine(),
            "hostile-echo",
            &std::fs::read(HOSTILE_ECHO).unwrap(),
            &permissive_ceiling(),
        )
        .unwrap(),
    );
    let state = tempfile::tempdir().unwrap();
    let journal = Journal::durable(&state.path().join("journal"))
        .unwrap()
        .with_audit(
            AuditLog::open_with(&state.path().join("audit"), Retention::default()).unwrap(),
        );
    let (registry, caps) = rampart_tests::backends(false);
    let enforcer = Enforcer::new(caps.clone(), RunLimits::default())
        .with_journal(journal)
        .with_ledger(Ledger::in_memory());
    let mut set = PluginSet::new();
    set.insert(plugin.clone());
    let report = enforcer.enforce(
        &set,
        &windows_client(),
        &rampart_tests::policy_of(vec![secret()]),
    );
    assert!(
        registry.export_reg().contains(SECRET),
        "the plugin got the secret"
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(SECRET), "{json}");
    assert!(json.contains("<redacted>"), "{json}");
    let mut trail = String::new();
    for entry in std::fs::read_dir(state.path().join("audit")).unwrap() {
        trail.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    assert!(trail.contains("registry.set-value"), "{trail}");
    assert!(!trail.contains(SECRET), "{trail}");

    // The same through a single run: log records, messages and changes.
    let out = plugin
        .run(&windows_client(), &[secret()], &caps, &RunLimits::default())
        .unwrap();
    let everything = format!("{:?} {:?} {:?}", out.logs, out.outcomes, out.changes);
    assert!(!everything.contains(SECRET), "{everything}");
    // Control sequences reach the report as data; every human output escapes them.
    let message = out.outcomes[0].message.as_deref().unwrap();
    assert!(message.contains('\r') && message.contains('\u{1b}'));
    let shown = rampart_runtime::text::escape_control(message);
    assert!(!shown.chars().any(char::is_control), "{shown}");

    // A panic quoting the secret.
    let err = plugin
        .run(
            &windows_client(),
            &[
                secret(),
                setting("test_panic", SettingValue::Secret(Secret::new(SECRET))),
            ],
            &caps,
            &RunLimits::default(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Trap { message, .. } if message.contains("<redacted>") && !message.contains(SECRET)),
        "{err:?}"
    );
}

/// Waits in WASI calls, where epoch interruption cannot reach: `std::thread::sleep` (a clock
/// pollable and `block`) and `poll` on a list of clock pollables, each asking for 100 s or more.
/// Both end at the deadline with the timeout reason, and the host does not wait.
#[test]
pub(crate) fn hostile_sleep() {
    use std::time::{Duration, Instant};

    let plugin = load_program(HOSTILE_SLEEP).unwrap();
    let limits = RunLimits {
        deadline: Duration::from_secs(1),
        ..RunLimits::default()
    };
    for how in ["test_thread_sleep", "test_poll_list"] {
        let started = Instant::now();
        let err = plugin
            .run(
                &windows_client(),
                &[setting(how, SettingValue::Integer(1))],
                &Capabilities::none(),
                &limits,
            )
            .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(
            err,
            RunError::Timeout {
                plugin: "linux-defender".into(),
                deadline: limits.deadline
            },
            "{how}"
        );
        assert!(elapsed >= limits.deadline, "{how}: ended after {elapsed:?}");
        // About the deadline; the bound is loose so a loaded machine never fails it.
        assert!(
            elapsed < Duration::from_secs(30),
            "{how}: the host waited {elapsed:?}"
        );
        assert_host_serves_next_run();
    }
}

/// `Engine::stop` ends the runs in flight, whether they wait in WASI calls or run code, with
/// `RunError::Stopped`, long before their deadline; later runs fail the same way without
/// starting.
#[test]
fn stopping_the_engine_ends_waiting_and_running_plugins() {
    use std::time::{Duration, Instant};

    // An engine of its own: stopping the shared one would stop the other tests.
    let engine = rampart_runtime::Engine::new().unwrap();
    let load = |path: &str| {
        let wasm = std::fs::read(path).unwrap();
        Arc::new(Plugin::load(&engine, path, &wasm, &permissive_ceiling()).unwrap())
    };
    let sleeper = load(HOSTILE_SLEEP);
    let spinner = load(LIMITS_SPIN);
    let limits = RunLimits {
        deadline: Duration::from_secs(100),
        ..RunLimits::default()
    };
    let runs: Vec<_> = [
        (sleeper.clone(), "test_thread_sleep"),
        (sleeper.clone(), "test_poll_list"),
        (spinner.clone(), "test_spin"),
    ]
    .into_iter()
    .map(|(plugin, how)| {
        std::thread::spawn(move || {
            let err = plugin
                .run(
                    &windows_client(),
                    &[setting(how, SettingValue::Integer(1))],
                    &Capabilities::none(),
                    &limits,
                )
                .unwrap_err();
            (plugin.name().to_string(), how, err)
        })
    })
    .collect();
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    engine.stop();
    for run in runs {
        let (plugin, how, err) = run.join().unwrap();
        assert_eq!(err, RunError::Stopped { plugin }, "{how}");
    }
    let elapsed = stopped.elapsed();
    assert!(
        elapsed < Duration::from_secs(30),
        "stopping took {elapsed:?}"
    );

    // Stopped for good, clones included: a new run fails at once.
    assert!(engine.clone().is_stopped());
    let started = Instant::now();
    let err = spinner
        .run(
            &windows_client(),
            &[setting("test_spin", SettingValue::Integer(1))],
            &Capabilities::none(),
            &limits,
        )
        .unwrap_err();
    assert_eq!(
        err,
        RunError::Stopped {
            plugin: "limits-spin".into()
        }
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A run stopped after it wrote is rolled back like any failed run.
#[test]
fn a_stopped_run_is_rolled_back() {
    use std::time::{Duration, Instant};

    let engine = rampart_runtime::Engine::new().unwrap();
    let wasm = std::fs::read(HOSTILE_LIMITS).unwrap();
    let plugin = Plugin::load(&engine, HOSTILE_LIMITS, &wasm, &permissive_ceiling()).unwrap();
    let mut plugins = rampart_runtime::PluginSet::new();
    plugins.insert(Arc::new(plugin));
    let (registry, caps) = rampart_tests::backends(false);
    let before = registry.export_reg();
    let limits = RunLimits {
        deadline: Duration::from_secs(100),
        ..RunLimits::default()
    };
    let enforcer = rampart_runtime::Enforcer::new(caps, limits);
    let policy = rampart_tests::policy_of(vec![setting(
        "test_write_then_spin",
        SettingValue::Integer(1),
    )]);
    let pass = std::thread::spawn(move || enforcer.enforce(&plugins, &windows_client(), &policy));
    // Stop once the write is made and the plugin spins.
    let written = RegistryPath::parse(GRANTED).unwrap();
    let waiting = Instant::now();
    while registry
        .get_value(&written, "BeforeSpin")
        .unwrap()
        .is_none()
    {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the plugin never wrote"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    engine.stop();
    let report = pass.join().unwrap();

    assert_eq!(registry.export_reg(), before, "the write was rolled back");
    let run = &report.plugins[0];
    assert!(run.rolled_back.is_some(), "{run:?}");
    let error = run.error.as_deref().unwrap_or_default();
    assert!(error.contains("was stopped"), "{error}");
    for s in &report.policies[0].settings {
        assert_eq!(s.status, SettingStatus::Error, "{s:?}");
    }
}

/// `hostile_quota`: many values, each within the per-value cap, that together exceed the run's
/// write budget. The run ends with a typed reason and is rolled back; reports quote large values
/// by size and digest, never whole; and what a plugin already owns counts against later runs.
#[test]
pub(crate) fn hostile_quota() {
    use rampart_runtime::drift::Ledger;
    use rampart_runtime::{Enforcer, PluginSet};
    const MIB: usize = 1 << 20;
    let mut set = PluginSet::new();
    set.insert(Arc::new(load_program(HOSTILE_QUOTA).unwrap()));
    let (registry, caps) = rampart_tests::backends(false);
    let limits = RunLimits {
        max_written_bytes: 6 * MIB,
        max_owned_bytes: 9 * MIB,
        // Megabytes through the emulated registry and the journal: on a loaded machine this
        // takes longer than the default 2 s, and the budget, not the deadline, must end it.
        deadline: std::time::Duration::from_secs(60),
        ..RunLimits::default()
    };
    let enforcer = Enforcer::new(caps, limits).with_ledger(Ledger::in_memory());
    let device = windows_client();
    let pass = |values: &[(&str, i64)]| {
        let settings = values
            .iter()
            .map(|(id, n)| setting(id, SettingValue::Integer(*n)))
            .collect();
        enforcer.enforce(&set, &device, &rampart_tests::policy_of(settings))
    };

    // Four values of 1 MiB: within budget; the report names them by size and digest.
    let first = pass(&[("test_a", 4)]);
    assert_eq!(first.count(SettingStatus::Remediated), 1, "{first:#?}");
    let json = serde_json::to_string(&first).unwrap();
    assert!(json.len() < 16 << 10, "{} bytes of report", json.len());
    assert!(json.contains("bytes, sha256:"), "{json}");
    let kept = registry.export_reg();

    // Twelve more in one run: past the budget; typed, rolled back.
    let budget_error = |report: &rampart_runtime::DeviceReport| {
        report.plugins[0]
            .error
            .clone()
            .filter(|e| e.starts_with("plugin 'hostile-quota' tried to write more than its budget"))
    };
    let flood = pass(&[("test_a", 4), ("test_b", 12)]);
    assert!(budget_error(&flood).is_some(), "{flood:#?}");
    assert_eq!(registry.export_reg(), kept);

    // Rewriting what it owns fits what is left of the owned bound (9 - 4 MiB)...
    let again = pass(&[("test_a", 4)]);
    assert_eq!(again.count(SettingStatus::Remediated), 1, "{again:#?}");
    // ... but 2 MiB more do not, although the run's own budget (6 MiB) would allow them.
    let owned = pass(&[("test_a", 4), ("test_c", 2)]);
    let error = budget_error(&owned).expect("the owned bound applies");
    // 9 MiB less the 4 MiB and the four 8-byte names it owns.
    assert!(error.contains(&format!("{}", 5 * MIB - 32)), "{error}");
    assert_eq!(registry.export_reg(), kept);

    // Files count the same: 64 files of 1 MiB in one root stop at the run's budget, and
    // nothing of the run stays in the root.
    let dir = RootedDir::new();
    let caps = Capabilities::none().with_files(dir.file_roots("data"));
    let plugin = Plugin::load(
        &engine(),
        "hostile-quota",
        &std::fs::read(HOSTILE_QUOTA).unwrap(),
        &rampart_tests::files_ceiling(&["data"]),
    )
    .unwrap();
    let mut files = PluginSet::new();
    files.insert(Arc::new(plugin));
    let enforcer = Enforcer::new(caps, limits).with_ledger(Ledger::in_memory());
    let filled = enforcer.enforce(
        &files,
        &rampart_tests::linux_device(),
        &rampart_tests::policy_of(vec![setting("test_file_a", SettingValue::Integer(64))]),
    );
    assert!(budget_error(&filled).is_some(), "{filled:#?}");
    assert!(dir.root_listing().is_empty(), "{:?}", dir.root_listing());
}

/// `hostile_abi`: a host call whose string runs past the end of the plugin's memory. The run
/// ends with a typed reason quoting wasmtime's cause in one short line, and the host serves
/// the next run.
#[test]
pub(crate) fn hostile_abi() {
    let plugin = load_program(HOSTILE_ABI).unwrap();
    let err = plugin
        .run(
            &windows_client(),
            &[setting("test_a", SettingValue::Integer(1))],
            &Capabilities::none(),
            &RunLimits::default(),
        )
        .unwrap_err();
    let RunError::AbiViolation {
        plugin: name,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(name, "hostile-abi");
    assert!(message.contains("out of bounds"), "{message}");
    assert!(
        !err.to_string().contains("backtrace") && !message.contains('\n'),
        "{err}"
    );
    assert_host_serves_next_run();
}
