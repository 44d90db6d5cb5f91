//! A vendor's agent that embeds the rampart runtime instead of running the `rampart` CLI: the
//! way [`rampart_runtime::Agent`] is meant to be used.
//!
//! It brings its own parts:
//! - a Defender backend, [`InventoryDefender`]: its own implementation of [`DefenderBackend`]
//!   (an in-memory record of preferences that also reports Group Policy values from the
//!   registry, the way Defender merges policy over local preferences);
//! - a registry wrapper, [`LoggingRegistry`]: the emulated registry behind a layer that counts
//!   and logs writes, forwarding every method of [`RegistryBackend`] (the provided ones too, so
//!   durability is not silently changed);
//! - a policy source, [`ServicePolicies`]: bodies as its management service delivers them,
//!   fetched asynchronously ([`AsyncPolicySource`]);
//! - plugin versions it downloads itself, published from bytes ([`VendorAgent::publish`]).
//!
//! The runtime does the rest: the engine, the first-party Windows plugin under the recommended
//! grant ceiling, the state directory (journal, crash recovery, drift ledger, audit trail, lock)
//! and passes awaited from tokio.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_backends::defender::{
    AsrAction, ComputerStatus, DefenderError, ExclusionKind, PreferenceValue,
};
use rampart_backends::registry::{RegValue, RegistryError, RegistryPath};
use rampart_runtime::live::{PluginDirectory, UpdateSummary};
use rampart_runtime::prelude::*;

/// The Group Policy key the Windows plugin writes.
pub const POLICY_KEY: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender";

/// This agent's own Defender backend: local preferences in memory; the effective value of a
/// preference that Group Policy sets comes from the registry, as in Defender itself.
#[derive(Debug)]
pub struct InventoryDefender {
    registry: Arc<EmulatedRegistry>,
    local: Mutex<BTreeMap<String, PreferenceValue>>,
    /// How many preference reads plugins made (this agent's own telemetry).
    pub reads: std::sync::atomic::AtomicU32,
}

impl InventoryDefender {
    /// A Defender over `registry`.
    pub fn new(registry: Arc<EmulatedRegistry>) -> Self {
        InventoryDefender {
            registry,
            local: Mutex::new(BTreeMap::new()),
            reads: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// `(registry subkey, value name, inverted)` of the policy behind a preference this backend
    /// knows; a `Disable*` preference is the registry value itself.
    fn policy_of(name: &str) -> Option<(&'static str, &'static str)> {
        match name.to_ascii_lowercase().as_str() {
            "disablerealtimemonitoring" => {
                Some(("Real-Time Protection", "DisableRealtimeMonitoring"))
            }
            "disablebehaviormonitoring" => {
                Some(("Real-Time Protection", "DisableBehaviorMonitoring"))
            }
            "puaprotection" => Some(("", "PUAProtection")),
            _ => None,
        }
    }
}

impl DefenderBackend for InventoryDefender {
    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, DefenderError> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some((sub, value)) = Self::policy_of(name) {
            let key = if sub.is_empty() {
                POLICY_KEY.to_string()
            } else {
                format!(r"{POLICY_KEY}\{sub}")
            };
            let path =
                RegistryPath::parse(&key).map_err(|e| DefenderError::Backend(e.to_string()))?;
            if let Some(RegValue::Dword(v)) = self
                .registry
                .get_value(&path, value)
                .map_err(|e| DefenderError::Backend(e.to_string()))?
            {
                return Ok(Some(if name.to_ascii_lowercase().starts_with("disable") {
                    PreferenceValue::Boolean(v != 0)
                } else {
                    PreferenceValue::Integer(i64::from(v))
                }));
            }
        }
        Ok(self
            .local
            .lock()
            .map_err(|_| DefenderError::Backend("poisoned".into()))?
            .get(&name.to_ascii_lowercase())
            .cloned())
    }

    fn set_preference(&self, name: &str, value: PreferenceValue) -> Result<(), DefenderError> {
        self.local
            .lock()
            .map_err(|_| DefenderError::Backend("poisoned".into()))?
            .insert(name.to_ascii_lowercase(), value);
        Ok(())
    }

    fn list_exclusions(&self, _kind: ExclusionKind) -> Result<Vec<String>, DefenderError> {
        Ok(Vec::new())
    }

    fn add_exclusion(&self, _kind: ExclusionKind, _value: &str) -> Result<(), DefenderError> {
        Err(DefenderError::Unavailable(
            "this agent manages no exclusions".into(),
        ))
    }

    fn remove_exclusion(&self, _kind: ExclusionKind, _value: &str) -> Result<bool, DefenderError> {
        Ok(false)
    }

    fn get_asr_rule(&self, _id: &str) -> Result<Option<AsrAction>, DefenderError> {
        Ok(None)
    }

    fn set_asr_rule(&self, _id: &str, _action: AsrAction) -> Result<(), DefenderError> {
        Err(DefenderError::Unavailable(
            "this agent manages no ASR rules".into(),
        ))
    }

    fn computer_status(&self) -> Result<ComputerStatus, DefenderError> {
        Ok(ComputerStatus {
            tamper_protected: false,
            real_time_protection_enabled: true,
            running_mode: "Normal".into(),
            product_version: "4.18.24090.11".into(),
        })
    }
}

/// The emulated registry behind a layer that counts and logs every write. A wrapper must
/// forward every method of the trait, the provided ones too: left to their defaults,
/// `defers_durability` and `flush` would tell the runtime that the emulated registry (written
/// behind) persists each change at once.
#[derive(Debug)]
pub struct LoggingRegistry {
    inner: Arc<EmulatedRegistry>,
    /// Writes that reached the registry.
    pub writes: AtomicU32,
    /// Flushes the runtime asked for.
    pub flushes: AtomicU32,
}

impl LoggingRegistry {
    /// A logging layer over `inner`.
    pub fn new(inner: Arc<EmulatedRegistry>) -> Self {
        LoggingRegistry {
            inner,
            writes: AtomicU32::new(0),
            flushes: AtomicU32::new(0),
        }
    }

    fn wrote(&self, what: &str, key: &RegistryPath) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(target: "vendor::registry", %key, "{what}");
    }
}

impl RegistryBackend for LoggingRegistry {
    fn get_value(&self, key: &RegistryPath, name: &str) -> Result<Option<RegValue>, RegistryError> {
        self.inner.get_value(key, name)
    }

    fn set_value(
        &self,
        key: &RegistryPath,
        name: &str,
        value: RegValue,
    ) -> Result<(), RegistryError> {
        self.wrote("set value", key);
        self.inner.set_value(key, name, value)
    }

    fn delete_value(&self, key: &RegistryPath, name: &str) -> Result<bool, RegistryError> {
        self.wrote("delete value", key);
        self.inner.delete_value(key, name)
    }

    fn create_key(&self, key: &RegistryPath) -> Result<(), RegistryError> {
        self.wrote("create key", key);
        self.inner.create_key(key)
    }

    fn delete_key(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        self.wrote("delete key", key);
        self.inner.delete_key(key)
    }

    fn list_values(&self, key: &RegistryPath) -> Result<Vec<(String, RegValue)>, RegistryError> {
        self.inner.list_values(key)
    }

    fn list_subkeys(&self, key: &RegistryPath) -> Result<Vec<String>, RegistryError> {
        self.inner.list_subkeys(key)
    }

    fn key_exists(&self, key: &RegistryPath) -> Result<bool, RegistryError> {
        self.inner.key_exists(key)
    }

    fn defers_durability(&self) -> bool {
        self.inner.defers_durability()
    }

    fn flush(&self) -> Result<(), RegistryError> {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.inner.flush()
    }
}

/// Policy bodies as the vendor's management service delivers them (Graph JSON, any layout),
/// fetched asynchronously.
#[derive(Debug, Clone, Default)]
pub struct ServicePolicies {
    bodies: Vec<PolicyBody>,
}

impl ServicePolicies {
    /// A source that delivers `bodies` (origin, bytes).
    pub fn new(bodies: Vec<PolicyBody>) -> Self {
        ServicePolicies { bodies }
    }

    /// The example antivirus baseline, as the service would deliver it.
    pub fn example() -> Self {
        ServicePolicies::new(vec![(
            "service://policies/contoso-defender-antivirus".into(),
            include_bytes!("../../policies/contoso-defender-antivirus.json").to_vec(),
        )])
    }
}

impl AsyncPolicySource for ServicePolicies {
    type Error = std::io::Error;

    fn fetch(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Vec<PolicyBody>, Self::Error>> + Send {
        // A real agent awaits its service here.
        let bodies = self.bodies.clone();
        async move { Ok(bodies) }
    }
}

/// Why the vendor's agent could not start or run a pass.
#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    /// The runtime failed: the engine, the state directory, a pass.
    #[error(transparent)]
    Runtime(#[from] rampart_runtime::Error),
    /// This build has no windows-defender plugin.
    #[error("the windows-defender plugin is not embedded in this build")]
    NoPlugin,
    /// The built-in plugin was refused.
    #[error("the built-in plugin was refused: {0}")]
    Refused(String),
}

/// The vendor's agent: the runtime built over its own backends and state directory, the
/// first-party Windows plugin, and plugin versions it publishes from bytes.
#[derive(Debug)]
pub struct VendorAgent {
    /// The runtime, wired as the `rampart` agent wires it.
    pub runtime: Arc<Agent>,
    /// The serving plugin versions: the first-party ones, and those published from bytes.
    pub plugins: PluginDirectory,
    /// The registry the plugins change, behind the logging layer.
    pub registry: Arc<LoggingRegistry>,
    /// This agent's Defender.
    pub defender: Arc<InventoryDefender>,
}

/// Where the built-in plugin version is published from.
pub const BUILT_IN: &str = "builtin:windows-defender";

/// `wasm` signed with a fresh vendor key: the same plugin as a new release, with its own
/// digest, as a vendor's signed build would arrive (the runtime's own `signing::sign`).
///
/// # Errors
///
/// No key can be made, or `wasm` cannot be signed (it is not a component).
pub fn signed_release(wasm: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let key = rampart_runtime::signing::generate_key()?;
    Ok(rampart_runtime::signing::sign(wasm, &key)?)
}

/// The first-party Windows plugin, as bytes.
pub fn windows_defender_plugin() -> Option<&'static [u8]> {
    rampart_plugin_artifacts::get("windows-defender")
}

impl VendorAgent {
    /// Starts the agent with its state in `state_dir` (created if missing): settles what a
    /// crash left there, then holds the directory as its only writer.
    ///
    /// # Errors
    ///
    /// The engine cannot start, the plugin is missing, or the state directory is unusable or
    /// held by another process.
    pub fn start(state_dir: &Path) -> Result<VendorAgent, VendorError> {
        let engine = Engine::new().map_err(rampart_runtime::Error::from)?;
        let wasm = windows_defender_plugin().ok_or(VendorError::NoPlugin)?;
        let policy = GrantPolicy::Ceiling(ceiling::recommended_for(Platform::WindowsClient));
        // Every plugin version this agent serves is published from bytes, the built-in one
        // first; the directory itself is never scanned.
        let plugins = PluginDirectory::new(state_dir.join("plugins"), engine, policy, None, vec![]);
        let first = plugins.publish(BUILT_IN, wasm);
        if first.loaded.is_empty() {
            return Err(VendorError::Refused(format!(
                "{:?}",
                plugins.live().status().rejected
            )));
        }

        let emulated = Arc::new(EmulatedRegistry::new());
        let registry = Arc::new(LoggingRegistry::new(emulated.clone()));
        let defender = Arc::new(InventoryDefender::new(emulated));
        let capabilities = Capabilities::none()
            .with_registry(registry.clone())
            .with_defender(defender.clone());
        let runtime = Agent::builder(capabilities)
            .state_dir(state_dir, "vendor agent")
            .build()
            .map_err(rampart_runtime::Error::from)?;
        Ok(VendorAgent {
            runtime: Arc::new(runtime),
            plugins,
            registry,
            defender,
        })
    }

    /// One pass: fetch from `source`, enforce on `device` with the plugins serving now, without
    /// blocking the async runtime; given up after a minute.
    ///
    /// # Errors
    ///
    /// The source failed, the pass took over a minute, or it ended without a report.
    pub async fn pass<S: AsyncPolicySource>(
        &self,
        device: &Device,
        source: &mut S,
    ) -> Result<DeviceReport, VendorError> {
        Ok(self
            .runtime
            .enforce_from(
                self.plugins.live().snapshot(),
                device.clone(),
                source,
                Some(Duration::from_secs(60)),
            )
            .await
            .map_err(rampart_runtime::Error::from)?)
    }

    /// Publishes a plugin version the agent downloaded under `source` (the built-in one is
    /// [`BUILT_IN`]): verified, then swapped in; a version that fails a check is rejected and
    /// the previous one keeps serving.
    pub fn publish(&self, source: &str, bytes: &[u8]) -> UpdateSummary {
        self.plugins.publish(source, bytes)
    }
}
