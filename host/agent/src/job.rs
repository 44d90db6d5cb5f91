//! One enforcement pass and what it leaves behind: resolve, enforce, persist the registry and
//! the report. Shared by `apply` (once) and `run` (in a loop).

use std::sync::Arc;

use anyhow::Context;
use rampart_backends::defender::MdatpDefender;
use rampart_backends::defender::SimulatedDefender;
use rampart_backends::files::{FileAccess, FileRoots};
use rampart_backends::registry::{DurableRegistry, EmulatedRegistry, RegistryBackend};
use rampart_policy::catalog::Catalog;
use rampart_policy::device::{Device, Platform};
use rampart_policy::graph::{PolicyDocument, PolicyError};
use rampart_runtime::audit::Retention;
use rampart_runtime::{
    Agent, AgentError, Atomicity, Capabilities, DeviceReport, PluginSet, RunLimits,
};

use crate::BadInput;
use crate::cli::{Inputs, RegistryKind, Switch};
use crate::state::{StateDir, write_replaceable};

/// Reports kept in `<state>/reports/` besides `last-report.json`.
const REPORT_HISTORY: usize = 20;

/// The device, its backends and the runtime's [`Agent`], ready to run passes.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) device: Device,
    pub(crate) state: StateDir,
    registry: Store,
    /// The runtime as the embedding API builds it: enforcer, journal, recovery, ledger, audit
    /// trail and the state directory's lock (none for plans).
    agent: Agent,
}

/// An agent that cannot be built: an unreadable ledger is bad input (exit 2), as a corrupt
/// input file is; the rest (a busy or unwritable state directory) stays as it is.
fn agent_error(e: AgentError) -> anyhow::Error {
    match e {
        AgentError::Ledger(e) => BadInput(e.to_string()).into(),
        AgentError::Lock(e) => e.into(),
        other => other.into(),
    }
}

impl Job {
    /// Opens the backends over `state` (creating it) as its only writer, for `command` (the
    /// name a second writer's error shows): takes the state's lock, repairs the audit trail
    /// if a crash tore it, and settles the runs a crash left unfinished before anything else.
    pub(crate) fn open(
        device: Device,
        catalog: Catalog,
        state: StateDir,
        options: BackendOptions,
        atomicity: Atomicity,
        retention: Retention,
        command: &str,
    ) -> anyhow::Result<Job> {
        let lock = state.create_locked(command)?;
        let registry = Store::open(&device, &state, options)?;
        let capabilities = backends(&device, &state, &registry, options, true)?;
        let agent = Agent::builder(capabilities)
            .catalog(catalog)
            .limits(limits_for(&device))
            .atomicity(atomicity)
            .audit_retention(retention)
            .state(lock)
            .build()
            .map_err(agent_error)?;
        if !agent.recovered().is_empty() {
            registry.save(&state)?;
        }
        Ok(Job {
            device,
            state,
            registry,
            agent,
        })
    }

    /// Resolves and enforces the documents of `policies` with `plugins`, then persists the
    /// registry and the report. The documents that did not parse, and those enforced from
    /// their last good version, are recorded in the report.
    pub(crate) fn pass(
        &self,
        plugins: &PluginSet,
        policies: &crate::last_good::Outcome,
    ) -> anyhow::Result<DeviceReport> {
        self.registry.reload_if_changed(&self.state)?;
        // Crash recovery at start is reported once, in the first pass after it.
        let mut report = self
            .agent
            .enforce_with(plugins, &self.device, &policies.documents);
        report.input_errors = policies.errors.iter().map(ToString::to_string).collect();
        report.stale_inputs = policies.stale.clone();
        self.registry.save(&self.state)?;
        self.persist(&report)?;
        Ok(report)
    }

    /// Opens the backends over an existing `state` without changing anything in it: no
    /// directory is created, no journal recovered. For what-if plans.
    pub(crate) fn open_read_only(
        device: Device,
        catalog: Catalog,
        state: StateDir,
        options: BackendOptions,
        atomicity: Atomicity,
    ) -> anyhow::Result<Job> {
        let registry = Store::open(&device, &state, options)?;
        let capabilities = backends(&device, &state, &registry, options, false)?;
        // The plan works on a copy of the ledger that is never saved, so it plans the removals
        // of dropped settings that the real pass would make.
        let agent = Agent::builder(capabilities)
            .catalog(catalog)
            .limits(limits_for(&device))
            .atomicity(atomicity)
            .plan_against(state.root())
            .build()
            .map_err(agent_error)?;
        Ok(Job {
            device,
            state,
            registry,
            agent,
        })
    }

    /// Plans a pass: the same resolve and enforce over copy-on-write overlays; nothing is written
    /// to the device or the state directory.
    pub(crate) fn plan(
        &self,
        plugins: &PluginSet,
        documents: &[PolicyDocument],
        input_errors: &[PolicyError],
    ) -> DeviceReport {
        let mut report = self.agent.plan_with(plugins, &self.device, documents);
        report.input_errors = input_errors.iter().map(ToString::to_string).collect();
        report
    }

    /// Writes `last-report.json` and a bounded history, each atomically (not synced: see
    /// [`write_replaceable`]).
    pub(crate) fn persist(&self, report: &DeviceReport) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(report)?;
        write_replaceable(&self.state.report_file(), json.as_bytes())?;
        let history = self.state.history_dir();
        std::fs::create_dir_all(&history)
            .with_context(|| format!("cannot create '{}'", history.display()))?;
        let stamp = report.generated_at.replace(':', "");
        let mut name = format!("{stamp}.json");
        let mut n = 1;
        while history.join(&name).exists() {
            n += 1;
            name = format!("{stamp}-{n}.json");
        }
        write_replaceable(&history.join(name), json.as_bytes())?;
        let mut entries: Vec<_> = std::fs::read_dir(&history)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        entries.sort();
        let excess = entries.len().saturating_sub(REPORT_HISTORY);
        for old in &entries[..excess] {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }
}

/// Run limits for the device: `mdatp health` (Linux, macOS) can take seconds, and a plugin
/// waiting on it must not be cut off by the default 2 s deadline.
fn limits_for(device: &Device) -> RunLimits {
    match device.platform {
        Platform::Linux | Platform::Macos => RunLimits {
            deadline: std::time::Duration::from_secs(15),
            ..RunLimits::default()
        },
        Platform::WindowsClient | Platform::WindowsServer => RunLimits::default(),
    }
}

/// Which registry a Windows device's settings go to, and how the simulated Defender behaves
/// (`--registry`, `--tamper-protection`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BackendOptions {
    pub(crate) registry: RegistryKind,
    pub(crate) tamper_protection: bool,
}

/// The audit trail's retention the command line asks for (`--audit-max-size`,
/// `--audit-max-age`).
pub(crate) fn retention(inputs: &Inputs) -> Retention {
    Retention {
        max_bytes: inputs.audit_max_size,
        max_age: inputs.audit_max_age,
        ..Retention::default()
    }
}

impl BackendOptions {
    /// The options the command line asks for; `--registry system` off Windows is bad input.
    /// Default: the system registry on Windows, the emulated one elsewhere.
    pub(crate) fn from_inputs(inputs: &Inputs) -> Result<BackendOptions, crate::BadInput> {
        let registry = match inputs.registry {
            Some(kind) => kind,
            None if cfg!(windows) => RegistryKind::System,
            None => RegistryKind::Emulated,
        };
        if registry == RegistryKind::System && !cfg!(windows) {
            return Err(crate::BadInput(
                "--registry system needs Windows; use --registry emulated".into(),
            ));
        }
        Ok(BackendOptions {
            registry,
            tamper_protection: inputs.tamper_protection == Switch::On,
        })
    }

    /// Whether a device of `platform` works on the emulated registry of the state directory.
    pub(crate) fn uses_emulation(&self, platform: Platform) -> bool {
        let windows = matches!(platform, Platform::WindowsClient | Platform::WindowsServer);
        !(windows && self.registry == RegistryKind::System)
    }
}

/// Where the registry lives: the emulation persisted in `<state>/registry.reg`, or this
/// machine's registry (which persists itself).
#[derive(Debug)]
enum Store {
    Emulated(Arc<EmulatedRegistry>),
    System,
}

impl Store {
    /// The system registry for a Windows device when asked for, the emulation otherwise (Linux
    /// and macOS devices have no registry capability; their emulation stays empty).
    fn open(device: &Device, state: &StateDir, options: BackendOptions) -> anyhow::Result<Store> {
        if !options.uses_emulation(device.platform) {
            return Ok(Store::System);
        }
        let registry_file = state.registry_file();
        let registry = EmulatedRegistry::open(&registry_file)
            .map_err(|e| crate::BadInput(format!("registry '{}': {e}", registry_file.display())))?;
        Ok(Store::Emulated(Arc::new(registry)))
    }

    /// Reads the emulation's file again if something else changed it since (a long-running
    /// agent must not keep reporting a stale copy as compliant).
    fn reload_if_changed(&self, state: &StateDir) -> anyhow::Result<()> {
        if let Store::Emulated(registry) = self
            && registry.reload_if_changed().map_err(|e| {
                BadInput(format!(
                    "registry '{}': {e}",
                    state.registry_file().display()
                ))
            })?
        {
            tracing::info!(file = %state.registry_file().display(), "registry changed on disk; reloaded");
        }
        Ok(())
    }

    /// Persists the emulation; the system registry needs nothing.
    fn save(&self, state: &StateDir) -> anyhow::Result<()> {
        match self {
            Store::Emulated(registry) => registry
                .save()
                .with_context(|| format!("cannot write '{}'", state.registry_file().display())),
            Store::System => Ok(()),
        }
    }
}

/// The backends for the device's platform.
///
/// - Windows with the system registry (the default on Windows): this machine's registry and
///   its Defender (WMI). Where Defender is absent, its calls report "not available" and the
///   plugins' registry writes still stand.
/// - Windows with the emulated registry: the emulation (written through to `registry.reg` when
///   `durable`) and the simulated Defender over it.
/// - Linux / macOS: the file roots (`mdatp-managed`, `library-preferences`) and `mdatp` where it
///   is installed. The roots default to directories inside the state (a simulation that never
///   touches the machine's real configuration); `--file-root NAME=DIR` points them elsewhere,
///   e.g. `mdatp-managed=/etc/opt/microsoft/mdatp/managed` on a Linux device or
///   `library-preferences=/Library/Preferences` on a Mac.
fn backends(
    device: &Device,
    state: &StateDir,
    store: &Store,
    options: BackendOptions,
    durable: bool,
) -> anyhow::Result<Capabilities> {
    match device.platform {
        Platform::WindowsClient | Platform::WindowsServer => {
            let registry = match store {
                Store::Emulated(registry) => registry.clone(),
                Store::System => return system_backends(),
            };
            // A run's writes reach the disk together when it ends, after its journal: a run
            // killed before that leaves the file as it was, one killed after it is undone by
            // the journal at the next start (see `DurableRegistry::write_behind`).
            let registry: Arc<dyn RegistryBackend> = if durable {
                Arc::new(DurableRegistry::write_behind(registry))
            } else {
                registry
            };
            let defender = Arc::new(
                SimulatedDefender::new(registry.clone())
                    .with_tamper_protection(options.tamper_protection),
            );
            Ok(Capabilities::none()
                .with_registry(registry)
                .with_defender(defender))
        }
        Platform::Linux | Platform::Macos => {
            let mut roots = FileRoots::new();
            for (name, dir) in state.file_roots(device.platform) {
                if durable {
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("cannot create file root '{}'", dir.display()))?;
                }
                if dir.is_dir() {
                    roots
                        .open_ambient(name.clone(), &dir, FileAccess::ReadWrite)
                        .with_context(|| {
                            format!("cannot open file root '{name}' at '{}'", dir.display())
                        })?;
                }
            }
            for (root, paths) in crate::defaults::FILE_ROOT_LIMITS {
                roots.limit_to(root, paths);
            }
            let mdatp = MdatpDefender::locate()
                .map(MdatpDefender::with_command)
                .unwrap_or_default();
            Ok(Capabilities::none()
                .with_files(Arc::new(roots))
                .with_defender(Arc::new(mdatp)))
        }
    }
}

/// This Windows machine's registry and Defender.
#[cfg(windows)]
fn system_backends() -> anyhow::Result<Capabilities> {
    use rampart_backends::WindowsRegistry;
    use rampart_backends::defender::WmiDefender;
    Ok(Capabilities::none()
        .with_registry(Arc::new(WindowsRegistry::new()))
        .with_defender(Arc::new(WmiDefender::new())))
}

/// Unreachable: [`BackendOptions::from_inputs`] refuses the system registry off Windows.
#[cfg(not(windows))]
fn system_backends() -> anyhow::Result<Capabilities> {
    Err(crate::BadInput("the system registry exists only on Windows".into()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The macOS preferences root reaches security settings management's file and not the other
    /// system preference files beside it, whatever a plugin is granted.
    #[test]
    fn the_macos_preferences_root_reaches_only_the_mdeattach_file() {
        let dir = tempfile::tempdir().unwrap();
        let prefs = dir.path().join("Preferences");
        std::fs::create_dir_all(&prefs).unwrap();
        std::fs::write(prefs.join("com.apple.loginwindow.plist"), b"system").unwrap();
        let state = StateDir::resolve(Some(&dir.path().join("state")))
            .with_file_roots(vec![("library-preferences".into(), prefs.clone())]);
        let device = Device {
            platform: Platform::Macos,
            ..Device::example_windows_client()
        };
        let store = Store::Emulated(Arc::new(EmulatedRegistry::new()));
        let options = BackendOptions {
            registry: crate::cli::RegistryKind::Emulated,
            tamper_protection: false,
        };
        let caps = backends(&device, &state, &store, options, false).unwrap();
        let files = caps.files.expect("a Mac has file roots");
        files
            .write_atomic(
                "library-preferences",
                "com.microsoft.mdeattach.plist",
                b"ours",
            )
            .unwrap();
        for other in [
            "com.apple.loginwindow.plist",
            "SystemConfiguration/preferences.plist",
        ] {
            assert!(
                matches!(
                    files.write_atomic("library-preferences", other, b"x"),
                    Err(rampart_backends::files::FileError::Denied { .. })
                ),
                "{other}"
            );
        }
        assert_eq!(
            std::fs::read(prefs.join("com.apple.loginwindow.plist")).unwrap(),
            b"system"
        );
    }
}
