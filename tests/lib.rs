//! Shared helpers for rampart's integration tests (`tests/all`): an engine, plugin loading,
//! devices, settings and backends.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_backends::defender::SimulatedDefender;
use rampart_backends::files::{FileAccess, FileRoots};
use rampart_backends::registry::{EmulatedRegistry, RegistryPath};
use rampart_policy::device::{Device, Platform};
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_runtime::grants::{Access, DefenderGrant, FileGrant, RegistryGrant};
use rampart_runtime::{Capabilities, Engine, GrantPolicy, Grants, LoadError, Plugin};

/// The shared data directory beside the repository (`../shared/data`).
///
/// # Panics
///
/// Panics with instructions when the directory is missing: tests that need real data must say
/// so loudly rather than pass vacuously.
pub fn shared_data() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.is_dir(),
        "the shared data directory {} is missing; these tests read real Intune exports from it",
        dir.display()
    );
    dir
}

/// One engine per test process; compiling is what costs, the engine itself is cheap to share.
pub fn engine() -> Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| Engine::new().expect("engine"))
        .clone()
}

/// A ceiling that allows anything a test plugin asks for under `HKLM` and all of Defender.
pub fn permissive_ceiling() -> GrantPolicy {
    GrantPolicy::Ceiling(Grants {
        registry: vec![RegistryGrant {
            key: RegistryPath::parse("HKLM").expect("hive"),
            access: Access::ReadWrite,
        }],
        defender: Some(DefenderGrant {
            read: vec!["*".into()],
            write: vec!["*".into()],
            exclusions: Some(Access::ReadWrite),
            asr_rules: Some(Access::ReadWrite),
            status: true,
        }),
        files: vec![],
    })
}

/// Loads a test program by path with the permissive ceiling.
pub fn load_program(path: &str) -> Result<Plugin, LoadError> {
    let wasm = std::fs::read(path).expect("test program was built");
    Plugin::load(&engine(), path, &wasm, &permissive_ceiling())
}

/// Loads the first-party Windows Defender plugin with the given ceiling.
pub fn windows_defender(policy: &GrantPolicy) -> Plugin {
    let wasm = rampart_plugin_artifacts::get("windows-defender").expect("embedded plugin");
    Plugin::load(&engine(), "embedded:windows-defender", wasm, policy).expect("plugin loads")
}

/// A simulated Windows 11 client.
pub fn windows_client() -> Device {
    Device::example_windows_client()
}

/// The same device as a Windows Server.
pub fn windows_server() -> Device {
    Device {
        platform: Platform::WindowsServer,
        os_version: "10.0.20348".into(),
        ..Device::example_windows_client()
    }
}

/// A setting with no group.
pub fn setting(id: &str, value: SettingValue) -> ResolvedSetting {
    ResolvedSetting {
        id: id.to_string(),
        value,
        group: None,
        csp_uri: None,
    }
}

/// One policy document that enforces `settings`.
pub fn policy_of(settings: Vec<ResolvedSetting>) -> Vec<rampart_policy::resolve::ResolvedPolicy> {
    use rampart_policy::resolve::{Disposition, Entry, ResolvedPolicy};
    vec![ResolvedPolicy {
        id: "p".into(),
        name: "test policy".into(),
        origin: "test".into(),
        not_applicable: None,
        not_assigned: None,
        template: None,
        entries: settings
            .into_iter()
            .map(|s| Entry {
                id: s.id.clone(),
                group: s.group.clone(),
                disposition: Disposition::Enforce(s),
            })
            .collect(),
    }]
}

/// A fresh emulated registry and a simulated Defender over it.
pub fn backends(tamper_protection: bool) -> (Arc<EmulatedRegistry>, Capabilities) {
    let registry = Arc::new(EmulatedRegistry::new());
    let defender = Arc::new(
        SimulatedDefender::new(registry.clone()).with_tamper_protection(tamper_protection),
    );
    let caps = Capabilities::none()
        .with_registry(registry.clone())
        .with_defender(defender);
    (registry, caps)
}

/// Loads the first-party Linux Defender plugin (embedded) with the given ceiling.
pub fn linux_defender(policy: &GrantPolicy) -> Plugin {
    let wasm = rampart_plugin_artifacts::get("linux-defender").expect("embedded plugin");
    Plugin::load(&engine(), "embedded:linux-defender", wasm, policy).expect("plugin loads")
}

/// Loads the first-party macOS Defender plugin (embedded) with the given ceiling.
pub fn macos_defender(policy: &GrantPolicy) -> Plugin {
    let wasm = rampart_plugin_artifacts::get("macos-defender").expect("embedded plugin");
    Plugin::load(&engine(), "embedded:macos-defender", wasm, policy).expect("plugin loads")
}

/// A simulated Ubuntu 22.04 server managed through Defender for Endpoint (`microsoftSense`).
pub fn linux_device() -> Device {
    Device {
        id: "00000000-0000-4000-8000-0000000011cc".to_owned(),
        name: "rampart-sim-ubuntu".to_owned(),
        platform: Platform::Linux,
        os_version: "22.04".to_owned(),
        ..Device::example_windows_client()
    }
}

/// A simulated macOS 14 device that receives policy through `channels` (Graph technologies such
/// as `microsoftSense` or `mdm`).
pub fn macos_device(channels: &[&str]) -> Device {
    Device {
        id: "00000000-0000-4000-8000-00000000ac05".to_owned(),
        name: "RAMPART-SIM-MAC".to_owned(),
        platform: Platform::Macos,
        os_version: "14.5".to_owned(),
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        ..Device::example_windows_client()
    }
}

/// A ceiling that allows the named file roots read-write and every Defender read, nothing else.
pub fn files_ceiling(roots: &[&str]) -> GrantPolicy {
    GrantPolicy::Ceiling(Grants {
        registry: vec![],
        defender: Some(DefenderGrant {
            read: vec!["*".into()],
            status: true,
            ..DefenderGrant::default()
        }),
        files: roots
            .iter()
            .map(|root| FileGrant {
                root: (*root).to_owned(),
                access: Access::ReadWrite,
            })
            .collect(),
    })
}

/// A temporary directory holding `root/` (served to plugins as a file root) beside
/// `outside/` (which nothing may touch), so tests can prove that nothing leaves the root.
#[derive(Debug)]
pub struct RootedDir {
    base: tempfile::TempDir,
}

impl RootedDir {
    /// Creates `root/` and `outside/` (with `outside/secret.txt`) in a fresh temporary directory.
    pub fn new() -> RootedDir {
        let base = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(base.path().join("root")).expect("root");
        std::fs::create_dir(base.path().join("outside")).expect("outside");
        std::fs::write(base.path().join("outside/secret.txt"), b"secret").expect("secret");
        RootedDir { base }
    }

    /// The directory served as the root.
    pub fn root(&self) -> PathBuf {
        self.base.path().join("root")
    }

    /// The directory beside the root.
    pub fn outside(&self) -> PathBuf {
        self.base.path().join("outside")
    }

    /// A scratch directory beside the root (for test doubles).
    pub fn scratch(&self) -> PathBuf {
        let dir = self.base.path().join("scratch");
        std::fs::create_dir_all(&dir).expect("scratch");
        dir
    }

    /// `FileRoots` serving [`RootedDir::root`] as `name`, read-write, with the default size limit.
    pub fn file_roots(&self, name: &str) -> Arc<FileRoots> {
        self.file_roots_limited(name, rampart_backends::files::DEFAULT_MAX_FILE_SIZE)
    }

    /// `FileRoots` serving [`RootedDir::root`] as `name`, read-write, with files up to `max` bytes.
    pub fn file_roots_limited(&self, name: &str, max: u64) -> Arc<FileRoots> {
        let mut roots = FileRoots::new().with_max_file_size(max);
        roots
            .open_ambient(name, &self.root(), FileAccess::ReadWrite)
            .expect("open root");
        Arc::new(roots)
    }

    /// Every path under the base directory except those inside the root, with file contents,
    /// so a test can assert that a run changed nothing outside the root.
    pub fn outside_snapshot(&self) -> Vec<(String, Vec<u8>)> {
        fn walk(dir: &Path, base: &Path, skip: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .expect("list")
                .map(|e| e.expect("entry").path())
                .collect();
            entries.sort();
            for path in entries {
                if path == skip {
                    continue;
                }
                let name = path
                    .strip_prefix(base)
                    .expect("under base")
                    .display()
                    .to_string();
                let meta = std::fs::symlink_metadata(&path).expect("metadata");
                if meta.is_dir() {
                    out.push((name, Vec::new()));
                    walk(&path, base, skip, out);
                } else if meta.is_file() {
                    out.push((name, std::fs::read(&path).expect("read")));
                } else {
                    out.push((name, b"<link>".to_vec()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.base.path(), self.base.path(), &self.root(), &mut out);
        out
    }

    /// The names in the root, sorted (temporary files of a failed write would show here).
    pub fn root_listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root())
            .expect("list root")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Default for RootedDir {
    fn default() -> Self {
        RootedDir::new()
    }
}

/// Writes `mdatp-test-double.sh` into `dir`: a shell script that stands in for Defender's
/// `mdatp` command line in tests. It is NOT Defender: for `mdatp health --output json` it prints
/// the contents of `health.json` beside it (which the test writes and may rewrite between
/// runs), and it fails for any other arguments. Returns the script's path, for
/// `MdatpDefender::with_command`.
#[cfg(unix)]
pub fn mdatp_test_double(dir: &Path, health_json: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let health = dir.join("health.json");
    std::fs::write(&health, health_json).expect("write health.json");
    let script = dir.join("mdatp-test-double.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             # Test double for Defender for Endpoint's mdatp command line (not Defender).\n\
             if [ \"$*\" = \"health --output json\" ]; then exec cat '{}'; fi\n\
             echo \"mdatp-test-double: unsupported arguments: $*\" >&2\n\
             exit 64\n",
            health.display()
        ),
    )
    .expect("write test double");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

/// Compares `actual` with the golden file `tests/golden/<relative>`; with `RAMPART_BLESS=1` in
/// the environment, (re)writes the golden file instead.
///
/// # Panics
///
/// When the golden file is missing (and not blessing) or differs, with a diff-friendly message.
pub fn assert_golden(relative: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(relative);
    if std::env::var_os("RAMPART_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("golden parent")).expect("golden dir");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} is missing ({e}); run the test with RAMPART_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "output differs from the golden file {} (rerun with RAMPART_BLESS=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
