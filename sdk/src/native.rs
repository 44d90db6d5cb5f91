//! Run a plugin's logic natively, in-process, through the runtime's own capability gate and
//! backends — for `cargo test`, benchmarks and tools. Needs the `native` feature and a non-wasm
//! target; a plugin's `.wasm` contains none of it, and building it compiles no WebAssembly
//! engine.
//!
//! A [`NativeHost`] plays the part the rampart host plays for a `.wasm` plugin. It decides the
//! plugin's grants from its manifest with the runtime's own [`Manifest`] parser and [`Grants`]
//! semantics (deny by default: anything the manifest does not request is refused), passes every
//! capability call through the same `rampart_gate::Gate` the runtime's sandbox calls (canonical
//! registry paths, value-name and size rules, read vs read-write, per-preference Defender
//! grants, named file roots, call and write budgets, the change journal), checks the results
//! with the runtime's own result check, and reaches the same backends the runtime uses — an [`EmulatedRegistry`], a
//! [`SimulatedDefender`], [`FileRoots`] over a temporary directory, or any backend you pass,
//! shared with other code through an [`Arc`].
//!
//! [`NativeHost::apply`] calls [`Plugin::apply`], which is exactly what the component's exported
//! `apply` calls (see [`export_plugin!`](crate::export_plugin)); only the transport differs.
//!
//! ```
//! # // A doctest stands in for a plugin crate: the plugin type and its manifest.
//! use std::sync::Arc;
//! use rampart_sdk::native::{NativeHost, backends::registry::EmulatedRegistry, setting, test_device};
//! use rampart_sdk::{Device, Platform, Plugin, Setting, SettingResult, SettingStatus, SettingValue};
//! use rampart_sdk::registry::Key;
//!
//! struct Pua;
//! impl Plugin for Pua {
//!     fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
//!         let key = Key::new(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender");
//!         settings
//!             .iter()
//!             .map(|s| match s.value.as_integer().and_then(|v| u32::try_from(v).ok()) {
//!                 Some(v) => match key.ensure_dword("PUAProtection", v) {
//!                     Ok(changed) => s.enforced(changed),
//!                     Err(e) => s.error(e.message()),
//!                 },
//!                 None => s.error("expected a non-negative integer"),
//!             })
//!             .collect()
//!     }
//! }
//!
//! let registry = Arc::new(EmulatedRegistry::new());
//! let host = NativeHost::from_manifest_toml(
//!     r#"
//!     [plugin]
//!     name = "pua"
//!     version = "0.1.0"
//!     platforms = ["windows-client"]
//!     settings = ["device_vendor_msft_policy_config_defender_puaprotection"]
//!     [[grants.registry]]
//!     key = 'HKLM\SOFTWARE\Policies\Microsoft\Windows Defender'
//!     access = "read-write"
//!     "#,
//! )?
//! .with_registry(registry.clone());
//!
//! let device = test_device(Platform::WindowsClient);
//! let settings = [setting("device_vendor_msft_policy_config_defender_puaprotection", SettingValue::Integer(1))];
//! let first = host.apply::<Pua>(&device, &settings);
//! assert_eq!(first[0].status, SettingStatus::Remediated);
//! let second = host.apply::<Pua>(&device, &settings);
//! assert_eq!(second[0].status, SettingStatus::Compliant);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! In a plugin crate, [`NativeHost::for_plugin`] reads the manifest that
//! [`export_plugin!`](crate::export_plugin) embeds, so the test and the `.wasm` cannot disagree
//! about grants.
//!
//! What the native host does not model: the WebAssembly sandbox itself (memory cap, deadline,
//! the deny-all WASI context), rollback of a failed run (its changes are journaled and listed
//! in [`NativeRun::changes`], not undone), and routing of settings between plugins. Test those on the built `.wasm` with `rampart plugin test`.
//!
//! [`EmulatedRegistry`]: rampart_backends::registry::EmulatedRegistry
//! [`SimulatedDefender`]: rampart_backends::defender::SimulatedDefender
//! [`FileRoots`]: rampart_backends::files::FileRoots

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use rampart_backends::defender::{
    AsrAction as BAsr, DefenderBackend, ExclusionKind as BKind, PreferenceValue as BPref,
};
use rampart_backends::files::{FileAccess, FileBackend, FileRoots};
use rampart_backends::registry::{RegValue as BValue, RegistryBackend};
use rampart_gate::results::{PluginResult, ReportedStatus, SettingOutcome};
use rampart_gate::txn::journal::RunJournal;
use rampart_gate::{CallError, Gate, GateAnswer, KnownKeys, LimitExceeded, LogLevel};

pub use rampart_backends as backends;
pub use rampart_gate::grants::{DefenderGrant, FileGrant, RegistryGrant};
pub use rampart_gate::manifest::ManifestError;
pub use rampart_gate::{Access, Capabilities, Grants, Manifest, RunLimits};

use crate::bindings::rampart::plugin::defender::{
    AsrAction, ComputerStatus, ExclusionKind, PreferenceValue,
};
use crate::bindings::rampart::plugin::files::DirEntry;
use crate::bindings::rampart::plugin::registry::{NamedValue, RegValue};
use crate::imports::{NativeCalls, install};
use crate::log::Level;
use crate::{
    CapabilityError, Device, ExportedPlugin, GroupPosition, Platform, Plugin, Setting,
    SettingResult, SettingStatus, SettingValue,
};

/// An in-process stand-in for the rampart host: a plugin's grants (from its manifest) plus the
/// backends its capability calls reach.
///
/// Cheap to clone; clones share the backends.
#[derive(Debug, Clone)]
pub struct NativeHost {
    manifest: Arc<Manifest>,
    grants: Arc<Grants>,
    capabilities: Capabilities,
    limits: RunLimits,
    /// Registry keys as the plugin spelled them → their canonical form, kept across runs as
    /// the runtime keeps them (parsing is a pure function of the text; the grant check still
    /// runs on every call).
    known_keys: Arc<KnownKeys>,
}

impl NativeHost {
    /// A host for a plugin exported with [`export_plugin!`](crate::export_plugin), using the
    /// manifest embedded in its `.wasm`. The plugin gets what its manifest requests (as under an
    /// operator ceiling that allows all of it) and no backends until you add them.
    ///
    /// # Errors
    ///
    /// The runtime's [`ManifestError`] when the manifest would be refused at load.
    pub fn for_plugin<P: ExportedPlugin>() -> Result<NativeHost, ManifestError> {
        NativeHost::from_manifest_toml(P::MANIFEST)
    }

    /// A host for a plugin with this manifest text (the contents of `rampart-plugin.toml`).
    ///
    /// # Errors
    ///
    /// The runtime's [`ManifestError`] when the manifest would be refused at load.
    pub fn from_manifest_toml(manifest: &str) -> Result<NativeHost, ManifestError> {
        Ok(NativeHost::new(Manifest::parse(manifest)?))
    }

    /// A host for a plugin with this manifest; the plugin gets every grant it requests.
    pub fn new(manifest: Manifest) -> NativeHost {
        let grants = Arc::new(manifest.grants.clone());
        NativeHost {
            manifest: Arc::new(manifest),
            grants,
            capabilities: Capabilities::none(),
            limits: RunLimits::default(),
            known_keys: Arc::default(),
        }
    }

    /// Narrows the grants to `requested ∩ ceiling`, exactly as the runtime does under an
    /// operator's `GrantPolicy::Ceiling` — to test how a plugin copes with less than it asked for.
    pub fn with_ceiling(mut self, ceiling: &Grants) -> NativeHost {
        self.grants = Arc::new(self.manifest.grants.intersect(ceiling));
        self
    }

    /// Uses these backends (replacing any set before).
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> NativeHost {
        self.capabilities = capabilities;
        self
    }

    /// Uses this registry backend, for example a shared `Arc<EmulatedRegistry>`.
    pub fn with_registry(mut self, registry: Arc<dyn RegistryBackend>) -> NativeHost {
        self.capabilities = self.capabilities.with_registry(registry);
        self
    }

    /// Uses this Defender backend, for example a `SimulatedDefender` over the same registry.
    pub fn with_defender(mut self, defender: Arc<dyn DefenderBackend>) -> NativeHost {
        self.capabilities = self.capabilities.with_defender(defender);
        self
    }

    /// Uses these file roots (see [`file_roots`]).
    pub fn with_files(mut self, files: Arc<dyn FileBackend>) -> NativeHost {
        self.capabilities = self.capabilities.with_files(files);
        self
    }

    /// Uses these limits (the host-call budget, log volume and value size cap apply natively).
    pub fn with_limits(mut self, limits: RunLimits) -> NativeHost {
        self.limits = limits;
        self
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The effective grants every capability call is checked against.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// The backends.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Runs `P`'s `apply` once over `settings` and returns its results as the plugin gave them.
    ///
    /// A panic in the plugin propagates (with its backtrace, which is what a test wants); the
    /// host is uninstalled either way.
    pub fn apply<P: Plugin>(&self, device: &Device, settings: &[Setting]) -> Vec<SettingResult> {
        self.run::<P>(device, settings).results
    }

    /// [`NativeHost::apply`], with what the run did besides its results.
    pub fn run<P: Plugin>(&self, device: &Device, settings: &[Setting]) -> NativeRun {
        let calls = Rc::new(Calls {
            gate: RefCell::new(Gate::new(
                Arc::from(self.manifest.name.as_str()),
                self.grants.clone(),
                self.capabilities.clone(),
                self.limits,
                RunJournal::in_memory(),
                self.known_keys.snapshot(),
            )),
            exceeded: Cell::new(None),
        });
        let results = {
            let _installed = install(calls.clone());
            P::apply(device.clone(), settings.to_vec())
        };
        let unclaimed = settings
            .iter()
            .filter(|s| !self.manifest.claims(&s.id))
            .map(|s| s.id.clone())
            .collect();
        let (outcomes, protocol_errors) = check_results(settings, &results);
        let exceeded = calls.exceeded.get();
        let Ok(calls) = Rc::try_unwrap(calls) else {
            unreachable!("the plugin's host is uninstalled when `apply` returns")
        };
        let gate = calls.gate.into_inner().finish();
        self.known_keys.publish(gate.parsed_keys);
        NativeRun {
            results,
            outcomes,
            protocol_errors,
            unclaimed,
            logs: gate
                .logs
                .into_iter()
                .map(|r| (level(r.level), r.message))
                .collect(),
            logs_dropped: gate.logs_dropped,
            host_calls: gate.host_calls,
            call_budget_exceeded: gate.host_calls > self.limits.max_host_calls,
            limit_exceeded: exceeded.map(|e| e.to_string()),
            changes: gate
                .journal
                .changes()
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

/// What one [`NativeHost::run`] produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NativeRun {
    /// The results exactly as the plugin returned them.
    pub results: Vec<SettingResult>,
    /// One outcome per setting given, as the runtime reports it: a missing result becomes an
    /// `error`, a value written but not confirmed ([`Setting::unconfirmed`]) is `unknown`.
    pub outcomes: Vec<SettingOutcome>,
    /// Where the results break the contract as the runtime checks it (a setting without exactly
    /// one result, a result for a setting that was not given); the runtime would turn each into
    /// an `error`. Empty for a well-behaved plugin.
    pub protocol_errors: Vec<String>,
    /// Ids of settings given to the run that the manifest does not claim; the runtime would
    /// never route them to this plugin.
    pub unclaimed: Vec<String>,
    /// The log records, level and message, as the runtime would keep them.
    pub logs: Vec<(Level, String)>,
    /// Records dropped beyond the log bound.
    pub logs_dropped: u32,
    /// Capability calls made.
    pub host_calls: u32,
    /// True when the run made more capability calls than the budget allows; the runtime would
    /// have trapped it (every setting `error`). Calls beyond the budget answered `failed`.
    pub call_budget_exceeded: bool,
    /// The first run limit the plugin broke (call budget, write budget, log flood), if any:
    /// the runtime would have ended the run there and rolled it back (every setting `error`).
    /// From then on every call answered `failed`.
    pub limit_exceeded: Option<String>,
    /// The changes the run made, in order (old → new), as the runtime journals them.
    pub changes: Vec<String>,
}

impl NativeRun {
    /// The status of the first result with this setting id.
    pub fn status(&self, id: &str) -> Option<SettingStatus> {
        self.results.iter().find(|r| r.id == id).map(|r| r.status)
    }
}

/// Checks results with the runtime's own check ([`rampart_gate::results`]).
fn check_results(
    settings: &[Setting],
    results: &[SettingResult],
) -> (Vec<SettingOutcome>, Vec<String>) {
    let groups: Vec<Option<rampart_policy::settings::GroupPosition>> = settings
        .iter()
        .map(|s| s.group.as_ref().map(policy_group))
        .collect();
    let given: Vec<(&str, Option<&rampart_policy::settings::GroupPosition>)> = settings
        .iter()
        .zip(&groups)
        .map(|(s, g)| (s.id.as_str(), g.as_ref()))
        .collect();
    let results = results
        .iter()
        .map(|r| PluginResult {
            id: r.id.clone(),
            group: r.group.as_ref().map(policy_group),
            status: match r.status {
                SettingStatus::Compliant => ReportedStatus::Compliant,
                SettingStatus::Remediated => ReportedStatus::Remediated,
                SettingStatus::Error => ReportedStatus::Error,
                SettingStatus::NotApplicable => ReportedStatus::NotApplicable,
            },
            message: r.message.clone(),
            code: r.code,
        })
        .collect();
    rampart_gate::results::check_results(&given, results)
}

fn policy_group(g: &GroupPosition) -> rampart_policy::settings::GroupPosition {
    rampart_policy::settings::GroupPosition {
        definition_id: g.definition_id.clone(),
        index: g.index,
    }
}

/// A device for tests: the given platform and plausible values for the rest.
pub fn test_device(platform: Platform) -> Device {
    let os_version = match platform {
        Platform::WindowsClient => "10.0.22631",
        Platform::WindowsServer => "10.0.20348",
        Platform::Linux => "6.8.0",
        Platform::Macos => "14.5",
    };
    Device {
        id: "00000000-0000-0000-0000-000000000001".into(),
        name: "test-device".into(),
        platform,
        os_version: os_version.into(),
        domain_controller: false,
        tags: Vec::new(),
    }
}

/// A setting with this id and value, not in a group, without a CSP URI.
pub fn setting(id: &str, value: SettingValue) -> Setting {
    Setting {
        id: id.into(),
        value,
        group: None,
        csp_uri: None,
    }
}

/// A setting that is one field of item `index` of the repeating group `definition_id`.
pub fn group_setting(id: &str, value: SettingValue, definition_id: &str, index: u32) -> Setting {
    Setting {
        group: Some(GroupPosition {
            definition_id: definition_id.into(),
            index,
        }),
        ..setting(id, value)
    }
}

/// [`FileRoots`] with each `(name, directory)` as a read-write root — the same backend the agent
/// uses, here over (usually temporary) directories.
///
/// # Errors
///
/// When a directory cannot be opened.
pub fn file_roots<'a>(
    roots: impl IntoIterator<Item = (&'a str, &'a Path)>,
) -> std::io::Result<Arc<FileRoots>> {
    let mut files = FileRoots::new();
    for (name, dir) in roots {
        files.open_ambient(name, dir, FileAccess::ReadWrite)?;
    }
    Ok(Arc::new(files))
}

impl From<&rampart_policy::device::Device> for Device {
    /// The device as the runtime hands it to a `.wasm` plugin.
    fn from(d: &rampart_policy::device::Device) -> Device {
        use rampart_policy::device::Platform as P;
        Device {
            id: d.id.clone(),
            name: d.name.clone(),
            platform: match d.platform {
                P::WindowsClient => Platform::WindowsClient,
                P::WindowsServer => Platform::WindowsServer,
                P::Linux => Platform::Linux,
                P::Macos => Platform::Macos,
            },
            os_version: d.os_version.clone(),
            domain_controller: d.domain_controller,
            tags: d.tags.clone(),
        }
    }
}

impl From<&rampart_policy::settings::ResolvedSetting> for Setting {
    /// The setting as the runtime hands it to a `.wasm` plugin (secrets included, as plugins
    /// receive them).
    fn from(s: &rampart_policy::settings::ResolvedSetting) -> Setting {
        use rampart_policy::settings::SettingValue as V;
        Setting {
            id: s.id.clone(),
            value: match &s.value {
                V::Integer(i) => SettingValue::Integer(*i),
                V::Boolean(b) => SettingValue::Boolean(*b),
                V::Text(t) => SettingValue::Text(t.clone()),
                V::TextList(l) => SettingValue::TextList(l.clone()),
                V::IntegerList(l) => SettingValue::IntegerList(l.clone()),
                V::Secret(secret) => SettingValue::Secret(secret.expose().to_string()),
            },
            group: s.group.as_ref().map(|g| GroupPosition {
                definition_id: g.definition_id.clone(),
                index: g.index,
            }),
            csp_uri: s.csp_uri.clone(),
        }
    }
}

/// The per-run side of [`NativeHost`]: answers the plugin's capability calls through the
/// runtime's own [`Gate`].
struct Calls {
    gate: RefCell<Gate>,
    /// The first limit the run broke; the runtime would have ended the run there.
    exceeded: Cell<Option<LimitExceeded>>,
}

impl Calls {
    /// Passes one call to the gate. Once the run has broken a limit, every call answers
    /// `failed`, since the runtime would have ended the run.
    fn call<T, U>(
        &self,
        call: impl FnOnce(&mut Gate) -> GateAnswer<T>,
        convert: impl FnOnce(T) -> U,
    ) -> Result<U, CapabilityError> {
        if let Some(exceeded) = self.exceeded.get() {
            return Err(ended(exceeded));
        }
        match call(&mut self.gate.borrow_mut()) {
            Ok(result) => result.map(convert).map_err(capability_error),
            Err(exceeded) => {
                self.exceeded.set(Some(exceeded));
                Err(ended(exceeded))
            }
        }
    }
}

fn ended(exceeded: LimitExceeded) -> CapabilityError {
    CapabilityError::Failed(format!("{exceeded} (the runtime ends the run here)"))
}

fn capability_error(e: CallError) -> CapabilityError {
    match e {
        CallError::AccessDenied(m) => CapabilityError::AccessDenied(m),
        CallError::InvalidArgument(m) => CapabilityError::InvalidArgument(m),
        CallError::NotFound(m) => CapabilityError::NotFound(m),
        CallError::TamperProtected(m) => CapabilityError::TamperProtected(m),
        CallError::Unavailable(m) => CapabilityError::Unavailable(m),
        CallError::Failed(m) => CapabilityError::Failed(m),
    }
}

fn to_backend(v: &RegValue) -> BValue {
    match v.clone() {
        RegValue::Dword(d) => BValue::Dword(d),
        RegValue::Qword(q) => BValue::Qword(q),
        RegValue::Sz(s) => BValue::Sz(s),
        RegValue::ExpandSz(s) => BValue::ExpandSz(s),
        RegValue::MultiSz(l) => BValue::MultiSz(l),
        RegValue::Binary(b) => BValue::Binary(b),
    }
}

fn from_backend(v: BValue) -> RegValue {
    match v {
        BValue::Dword(d) => RegValue::Dword(d),
        BValue::Qword(q) => RegValue::Qword(q),
        BValue::Sz(s) => RegValue::Sz(s),
        BValue::ExpandSz(s) => RegValue::ExpandSz(s),
        BValue::MultiSz(l) => RegValue::MultiSz(l),
        BValue::Binary(b) => RegValue::Binary(b),
    }
}

fn pref_to_backend(v: &PreferenceValue) -> BPref {
    match v.clone() {
        PreferenceValue::Integer(i) => BPref::Integer(i),
        PreferenceValue::Boolean(b) => BPref::Boolean(b),
        PreferenceValue::Text(t) => BPref::Text(t),
        PreferenceValue::TextList(l) => BPref::TextList(l),
    }
}

fn pref_from_backend(v: BPref) -> PreferenceValue {
    match v {
        BPref::Integer(i) => PreferenceValue::Integer(i),
        BPref::Boolean(b) => PreferenceValue::Boolean(b),
        BPref::Text(t) => PreferenceValue::Text(t),
        BPref::TextList(l) => PreferenceValue::TextList(l),
    }
}

fn kind(k: ExclusionKind) -> BKind {
    match k {
        ExclusionKind::Path => BKind::Path,
        ExclusionKind::Extension => BKind::Extension,
        ExclusionKind::Process => BKind::Process,
    }
}

fn asr_to_backend(a: AsrAction) -> BAsr {
    match a {
        AsrAction::Off => BAsr::Off,
        AsrAction::Block => BAsr::Block,
        AsrAction::Audit => BAsr::Audit,
        AsrAction::Warn => BAsr::Warn,
    }
}

fn asr_from_backend(a: BAsr) -> AsrAction {
    match a {
        BAsr::Off => AsrAction::Off,
        BAsr::Block => AsrAction::Block,
        BAsr::Audit => AsrAction::Audit,
        BAsr::Warn => AsrAction::Warn,
    }
}

fn log_level(l: Level) -> LogLevel {
    match l {
        Level::Trace => LogLevel::Trace,
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    }
}

fn level(l: LogLevel) -> Level {
    match l {
        LogLevel::Trace => Level::Trace,
        LogLevel::Debug => Level::Debug,
        LogLevel::Info => Level::Info,
        LogLevel::Warn => Level::Warn,
        LogLevel::Error => Level::Error,
    }
}

impl NativeCalls for Calls {
    fn get_value(&self, key: &str, name: &str) -> Result<Option<RegValue>, CapabilityError> {
        self.call(|g| g.registry_get_value(key, name), |v| v.map(from_backend))
    }

    fn set_value(&self, key: &str, name: &str, value: &RegValue) -> Result<(), CapabilityError> {
        self.call(
            |g| g.registry_set_value(key, name, to_backend(value)),
            |()| (),
        )
    }

    fn delete_value(&self, key: &str, name: &str) -> Result<bool, CapabilityError> {
        self.call(|g| g.registry_delete_value(key, name), |b| b)
    }

    fn create_key(&self, key: &str) -> Result<(), CapabilityError> {
        self.call(|g| g.registry_create_key(key), |()| ())
    }

    fn delete_key(&self, key: &str) -> Result<bool, CapabilityError> {
        self.call(|g| g.registry_delete_key(key), |b| b)
    }

    fn list_values(&self, key: &str) -> Result<Vec<NamedValue>, CapabilityError> {
        self.call(
            |g| g.registry_list_values(key),
            |values| {
                values
                    .into_iter()
                    .map(|(name, value)| NamedValue {
                        name,
                        value: from_backend(value),
                    })
                    .collect()
            },
        )
    }

    fn list_subkeys(&self, key: &str) -> Result<Vec<String>, CapabilityError> {
        self.call(|g| g.registry_list_subkeys(key), |k| k)
    }

    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, CapabilityError> {
        self.call(
            |g| g.defender_get_preference(name),
            |v| v.map(pref_from_backend),
        )
    }

    fn set_preference(&self, name: &str, value: &PreferenceValue) -> Result<(), CapabilityError> {
        self.call(
            |g| g.defender_set_preference(name, pref_to_backend(value)),
            |()| (),
        )
    }

    fn list_exclusions(&self, k: ExclusionKind) -> Result<Vec<String>, CapabilityError> {
        self.call(|g| g.defender_list_exclusions(kind(k)), |l| l)
    }

    fn add_exclusion(&self, k: ExclusionKind, value: &str) -> Result<(), CapabilityError> {
        self.call(|g| g.defender_add_exclusion(kind(k), value), |()| ())
    }

    fn remove_exclusion(&self, k: ExclusionKind, value: &str) -> Result<bool, CapabilityError> {
        self.call(|g| g.defender_remove_exclusion(kind(k), value), |b| b)
    }

    fn get_asr_rule(&self, id: &str) -> Result<Option<AsrAction>, CapabilityError> {
        self.call(|g| g.defender_get_asr_rule(id), |a| a.map(asr_from_backend))
    }

    fn set_asr_rule(&self, id: &str, action: AsrAction) -> Result<(), CapabilityError> {
        self.call(
            |g| g.defender_set_asr_rule(id, asr_to_backend(action)),
            |()| (),
        )
    }

    fn get_computer_status(&self) -> Result<ComputerStatus, CapabilityError> {
        self.call(
            |g| g.defender_computer_status(),
            |s| ComputerStatus {
                tamper_protected: s.tamper_protected,
                real_time_protection_enabled: s.real_time_protection_enabled,
                running_mode: s.running_mode,
                product_version: s.product_version,
            },
        )
    }

    fn read(&self, root: &str, path: &str) -> Result<Vec<u8>, CapabilityError> {
        self.call(|g| g.files_read(root, path), |b| b)
    }

    fn write(&self, root: &str, path: &str, contents: &[u8]) -> Result<(), CapabilityError> {
        self.call(|g| g.files_write(root, path, contents), |()| ())
    }

    fn remove(&self, root: &str, path: &str) -> Result<bool, CapabilityError> {
        self.call(|g| g.files_remove(root, path), |b| b)
    }

    fn list_dir(&self, root: &str, path: &str) -> Result<Vec<DirEntry>, CapabilityError> {
        self.call(
            |g| g.files_list_dir(root, path),
            |entries| {
                entries
                    .into_iter()
                    .map(|e| DirEntry {
                        name: e.name,
                        is_dir: e.is_dir,
                        size: e.size,
                    })
                    .collect()
            },
        )
    }

    fn log(&self, level: Level, message: &str) {
        if self.exceeded.get().is_some() {
            return;
        }
        match self
            .gate
            .borrow_mut()
            .log(log_level(level), message.to_owned())
        {
            // Printed too: `cargo test` shows it only for a failing test, where it helps.
            Ok(Some(kept)) => eprintln!("[plugin {level:?}] {}", kept.message),
            Ok(None) => {}
            Err(exceeded) => self.exceeded.set(Some(exceeded)),
        }
    }

    fn enabled(&self, _level: Level) -> bool {
        // Every level is kept natively, so tests can assert on debug output.
        self.exceeded.get().is_none() && self.call(|g| g.count_call().map(Ok), |()| true).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Key;
    use rampart_backends::registry::{EmulatedRegistry, RegistryPath};

    const MANIFEST: &str = r#"
        [plugin]
        name = "probe"
        version = "0.1.0"
        platforms = ["windows-client"]
        settings = ["probe_*"]
        [[grants.registry]]
        key = 'HKLM\SOFTWARE\Policies\Probe'
        access = "read-write"
        [[grants.registry]]
        key = 'HKLM\SOFTWARE\Vendor'
        access = "read"
    "#;

    /// Tries one registry write per setting, at the key named by the setting's text value.
    struct Probe;

    impl Plugin for Probe {
        fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
            crate::log::info("probing");
            settings
                .iter()
                .map(|s| {
                    let key = Key::new(s.value.as_text().unwrap_or_default());
                    match key.ensure_dword("Value", 1) {
                        Ok(changed) => s.enforced(changed),
                        Err(e) => s.error(e.message()),
                    }
                })
                .collect()
        }
    }

    fn run(host: &NativeHost, key: &str) -> SettingResult {
        let settings = [setting("probe_a", SettingValue::Text(key.into()))];
        host.apply::<Probe>(&test_device(Platform::WindowsClient), &settings)
            .remove(0)
    }

    fn host() -> (NativeHost, Arc<EmulatedRegistry>) {
        let registry = Arc::new(EmulatedRegistry::new());
        let host = NativeHost::from_manifest_toml(MANIFEST)
            .unwrap()
            .with_registry(registry.clone());
        (host, registry)
    }

    #[test]
    fn the_unconfirmed_code_is_the_one_the_host_reads() {
        assert_eq!(crate::UNCONFIRMED, rampart_gate::results::UNCONFIRMED);
    }

    #[test]
    fn granted_keys_are_written_through_to_the_shared_backend() {
        let (host, registry) = host();
        let r = run(&host, r"hklm\software\policies\probe\sub");
        assert_eq!(r.status, SettingStatus::Remediated, "{r:?}");
        let path = RegistryPath::parse(r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Probe\Sub").unwrap();
        assert_eq!(
            registry.get_value(&path, "Value").unwrap(),
            Some(BValue::Dword(1))
        );
        assert_eq!(
            run(&host, r"HKLM\SOFTWARE\Policies\Probe\Sub").status,
            SettingStatus::Compliant
        );
    }

    #[test]
    fn anything_not_granted_is_denied_after_canonicalisation() {
        let (host, registry) = host();
        for (key, expected) in [
            (r"HKLM\SOFTWARE\Policies\ProbeX", "access denied"),
            (r"HKLM\SOFTWARE\Policies\Probe\..\Other", "invalid argument"),
            (r"HKLM\SOFTWARE\Vendor\App", "read-only grant"),
            (r"HKCU\SOFTWARE\Policies\Probe", "access denied"),
        ] {
            let r = run(&host, key);
            assert_eq!(r.status, SettingStatus::Error, "{key}: {r:?}");
            let message = r.message.unwrap_or_default();
            assert!(message.contains(expected), "{key}: {message}");
        }
        assert!(
            registry.snapshot().is_empty()
                || registry.export_reg().lines().all(|l| !l.contains("Value"))
        );
    }

    #[test]
    fn a_ceiling_narrows_the_requested_grants() {
        let (host, _) = host();
        let host = host.with_ceiling(&Grants::none());
        let r = run(&host, r"HKLM\SOFTWARE\Policies\Probe");
        assert!(r.message.unwrap_or_default().contains("access denied"));
    }

    #[test]
    fn a_missing_backend_is_unavailable_not_a_panic() {
        let host = NativeHost::from_manifest_toml(MANIFEST).unwrap();
        let r = run(&host, r"HKLM\SOFTWARE\Policies\Probe");
        assert!(
            r.message.unwrap_or_default().contains("unavailable"),
            "no registry backend"
        );
    }

    #[test]
    fn outside_a_run_capabilities_are_unavailable() {
        let err = crate::registry::get(r"HKLM\SOFTWARE", "x").unwrap_err();
        assert!(matches!(err, CapabilityError::Unavailable(_)), "{err:?}");
        crate::log::info("dropped: no host");
    }

    #[test]
    fn runs_report_logs_calls_and_contract_breaches() {
        let (host, _) = host();
        let device = test_device(Platform::WindowsClient);
        let settings = [
            setting(
                "probe_a",
                SettingValue::Text(r"HKLM\SOFTWARE\Policies\Probe".into()),
            ),
            setting(
                "other_b",
                SettingValue::Text(r"HKLM\SOFTWARE\Policies\Probe".into()),
            ),
        ];
        let run = host.run::<Probe>(&device, &settings);
        assert_eq!(run.logs, vec![(Level::Info, "probing".to_string())]);
        // Two settings: one read each, one write for the first only.
        assert_eq!(run.host_calls, 1 + 3);
        assert_eq!(run.unclaimed, vec!["other_b".to_string()]);
        assert!(run.protocol_errors.is_empty(), "{:?}", run.protocol_errors);

        let (outcomes, breach) = check_results(&settings[..1], &[settings[1].compliant()]);
        assert_eq!(breach.len(), 1, "{breach:?}");
        assert_eq!(
            outcomes[0].status,
            rampart_policy::status::SettingStatus::Error
        );
    }

    #[test]
    fn an_invalid_manifest_is_refused_with_the_runtime_error() {
        let err = NativeHost::from_manifest_toml("[plugin]\nname = 'Bad Name'\n").unwrap_err();
        assert!(matches!(err, ManifestError::Invalid(_)), "{err}");
    }
}
