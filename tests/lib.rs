//! Shared helpers for rampart's integration tests (`tests/all`): an engine, plugin loading,
//! devices, settings and backends.

use std::sync::Arc;

use rampart_backends::defender::SimulatedDefender;
use rampart_backends::registry::{EmulatedRegistry, RegistryPath};
use rampart_policy::device::{Device, Platform};
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_runtime::grants::{Access, DefenderGrant, RegistryGrant};
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
