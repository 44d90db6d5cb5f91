//! An agent that embeds the rampart runtime instead of running the `rampart` CLI.
//!
//! It brings two parts of its own:
//! - a Defender backend, [`InventoryDefender`]: its own implementation of
//!   [`DefenderBackend`] (here an in-memory record of preferences that also reports Group Policy
//!   values from the registry, the way Defender merges policy over local preferences);
//! - a policy source, [`ServicePolicies`]: documents as a management service would deliver
//!   them (Graph JSON bodies in memory), not files named on a command line.
//!
//! Everything else is the runtime's: the engine, the first-party Windows plugin, deny-by-default
//! grants narrowed to what this agent allows, the emulated registry, and
//! [`Embedded::enforce_async`] to await a pass from tokio.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rampart_backends::defender::{
    AsrAction, ComputerStatus, DefenderBackend, DefenderError, ExclusionKind, PreferenceValue,
};
use rampart_backends::registry::{EmulatedRegistry, RegValue, RegistryBackend, RegistryPath};
use rampart_policy::catalog::Catalog;
use rampart_policy::device::Device;
use rampart_policy::graph::{PolicyDocument, PolicyError, parse_policy};
use rampart_runtime::embed::{EmbedError, Embedded, PolicySource};
use rampart_runtime::grants::{DefenderGrant, RegistryGrant};
use rampart_runtime::{
    Access, Capabilities, DeviceReport, Enforcer, Engine, GrantPolicy, Grants, LoadError, Plugin,
    PluginSet, RunLimits,
};

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

/// Policies as a management service delivers them: `(id, Graph JSON body)` pairs.
#[derive(Debug, Clone, Default)]
pub struct ServicePolicies {
    bodies: Vec<(String, Vec<u8>)>,
}

impl ServicePolicies {
    /// A source serving these bodies.
    pub fn new(bodies: Vec<(String, Vec<u8>)>) -> Self {
        ServicePolicies { bodies }
    }

    /// The example antivirus baseline shipped with rampart, served from memory.
    pub fn example() -> Self {
        ServicePolicies::new(vec![(
            "service://policies/contoso-defender-antivirus".into(),
            include_bytes!("../../policies/contoso-defender-antivirus.json").to_vec(),
        )])
    }
}

impl PolicySource for ServicePolicies {
    type Error = PolicyError;

    fn fetch(&mut self) -> Result<Vec<PolicyDocument>, PolicyError> {
        self.bodies
            .iter()
            .map(|(origin, body)| parse_policy(body, origin))
            .collect()
    }
}

/// Why the example agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The engine could not be created.
    #[error(transparent)]
    Engine(#[from] rampart_runtime::Error),
    /// A plugin was refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A pass failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The built-in Windows plugin is missing from this build.
    #[error("the windows-defender plugin is not embedded in this build")]
    NoPlugin,
}

/// What this agent allows plugins at most: the Defender policy key, and reading preferences.
pub fn ceiling() -> Grants {
    Grants {
        registry: vec![RegistryGrant {
            key: RegistryPath::parse(POLICY_KEY).expect("a valid key"),
            access: Access::ReadWrite,
        }],
        defender: Some(DefenderGrant {
            read: vec!["*".into()],
            status: true,
            ..DefenderGrant::default()
        }),
        files: Vec::new(),
    }
}

/// The agent: the runtime with this agent's registry and Defender, and the first-party Windows
/// plugin under [`ceiling`].
#[derive(Debug, Clone)]
pub struct Agent {
    /// The embedded runtime.
    pub runtime: Embedded,
    /// The registry the plugins change.
    pub registry: Arc<EmulatedRegistry>,
    /// This agent's Defender.
    pub defender: Arc<InventoryDefender>,
}

impl Agent {
    /// Builds the agent.
    ///
    /// # Errors
    ///
    /// When the engine cannot start or the plugin is refused.
    pub fn new() -> Result<Agent, AgentError> {
        let engine = Engine::new()?;
        let (_, wasm) = rampart_plugin_artifacts::FIRST_PARTY
            .iter()
            .find(|(name, _)| *name == "windows-defender")
            .ok_or(AgentError::NoPlugin)?;
        let plugin = Plugin::load(
            &engine,
            "embedded:windows-defender",
            wasm,
            &GrantPolicy::Ceiling(ceiling()),
        )?;
        let mut plugins = PluginSet::new();
        plugins.insert(Arc::new(plugin));

        let registry = Arc::new(EmulatedRegistry::new());
        let defender = Arc::new(InventoryDefender::new(registry.clone()));
        let capabilities = Capabilities::none()
            .with_registry(registry.clone())
            .with_defender(defender.clone());
        let enforcer = Enforcer::new(capabilities, RunLimits::default());
        Ok(Agent {
            runtime: Embedded::new(enforcer, plugins, Catalog::embedded()),
            registry,
            defender,
        })
    }

    /// One pass: fetch from `source`, enforce on `device` without blocking the async runtime.
    ///
    /// # Errors
    ///
    /// When the source fails or the pass ends without a report.
    pub async fn pass<S: PolicySource>(
        &self,
        device: &Device,
        source: &mut S,
    ) -> Result<DeviceReport, AgentError> {
        let documents = source
            .fetch()
            .map_err(|e| EmbedError::Source(Box::new(e)))?;
        Ok(self
            .runtime
            .enforce_async(device.clone(), documents)
            .await?)
    }
}
