//! Run a plugin's logic natively, in-process, against the runtime's own backends and grant
//! checks — for `cargo test`, benchmarks and tools. Needs the `native` feature and a non-wasm
//! target; a plugin's `.wasm` contains none of it.
//!
//! A [`NativeHost`] plays the part the rampart host plays for a `.wasm` plugin. It decides the
//! plugin's grants from its manifest with the runtime's own [`Manifest`] parser and [`Grants`]
//! semantics (deny by default: anything the manifest does not request is refused), checks every
//! capability call the way the runtime's host functions do (canonical registry paths, value-name
//! and size rules, read vs read-write, per-preference Defender grants, named file roots), and
//! then reaches the same backends the runtime uses — an [`EmulatedRegistry`], a
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
//! the deny-all WASI context), the journal and rollback of a failed run, and routing of settings
//! between plugins. Test those on the built `.wasm` with `rampart plugin test`.
//!
//! [`EmulatedRegistry`]: rampart_backends::registry::EmulatedRegistry
//! [`SimulatedDefender`]: rampart_backends::defender::SimulatedDefender
//! [`FileRoots`]: rampart_backends::files::FileRoots

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rampart_backends::defender::{
    AsrAction as BAsr, DefenderBackend, DefenderError, ExclusionKind as BKind,
    PreferenceValue as BPref,
};
use rampart_backends::files::{FileAccess, FileBackend, FileError, FileRoots};
use rampart_backends::registry::{
    RegValue as BValue, RegistryBackend, RegistryError, RegistryPath, validate_value_name,
};
use rampart_runtime::limits::MAX_LOG_MESSAGE_BYTES;
use rampart_runtime::{ParsedKeys, parse_registry_key};

pub use rampart_backends as backends;
pub use rampart_runtime::grants::{DefenderGrant, FileGrant, RegistryGrant};
pub use rampart_runtime::manifest::ManifestError;
pub use rampart_runtime::{Access, Capabilities, Grants, Manifest, RunLimits};

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
    parsed_keys: Arc<Mutex<ParsedKeys>>,
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
            parsed_keys: Arc::default(),
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
            grants: self.grants.clone(),
            capabilities: self.capabilities.clone(),
            limits: self.limits,
            state: RefCell::new(CallState::default()),
            parsed_keys: self.parsed_keys.clone(),
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
        let protocol_errors = check_results(settings, &results);
        let state = calls.state.take();
        NativeRun {
            results,
            protocol_errors,
            unclaimed,
            logs: state.logs,
            logs_dropped: state.logs_dropped,
            host_calls: state.host_calls,
            call_budget_exceeded: state.host_calls > self.limits.max_host_calls,
        }
    }
}

/// What one [`NativeHost::run`] produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NativeRun {
    /// The results exactly as the plugin returned them.
    pub results: Vec<SettingResult>,
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
}

impl NativeRun {
    /// The status of the first result with this setting id.
    pub fn status(&self, id: &str) -> Option<SettingStatus> {
        self.results.iter().find(|r| r.id == id).map(|r| r.status)
    }
}

/// Checks results the way the runtime does before reporting them.
fn check_results(settings: &[Setting], results: &[SettingResult]) -> Vec<String> {
    // Settings are matched by id (ignoring ASCII case) and group position, as the runtime
    // matches them; one pass over each side keeps this linear in the number of settings.
    type Key<'a> = (String, Option<(&'a str, u32)>);
    fn key<'a>(id: &str, group: &'a Option<GroupPosition>) -> Key<'a> {
        (
            id.to_ascii_lowercase(),
            group.as_ref().map(|g| (g.definition_id.as_str(), g.index)),
        )
    }
    // foldhash: the maps live for one check, and SipHash's flooding resistance buys nothing.
    let mut answered: foldhash::HashMap<Key<'_>, usize> =
        HashMap::with_capacity_and_hasher(results.len(), Default::default());
    for r in results {
        *answered.entry(key(&r.id, &r.group)).or_default() += 1;
    }
    let mut errors = Vec::new();
    let mut given: foldhash::HashSet<Key<'_>> =
        HashSet::with_capacity_and_hasher(settings.len(), Default::default());
    for s in settings {
        let k = key(&s.id, &s.group);
        match answered.get(&k).copied().unwrap_or(0) {
            1 => {}
            0 => errors.push(format!("no result for setting '{}'", s.id)),
            n => errors.push(format!("{n} results for setting '{}'", s.id)),
        }
        given.insert(k);
    }
    for r in results {
        if !given.contains(&key(&r.id, &r.group)) {
            errors.push(format!("result for setting '{}' that was not given", r.id));
        }
        if matches!(
            r.status,
            SettingStatus::Error | SettingStatus::NotApplicable
        ) && r.message.as_deref().is_none_or(str::is_empty)
        {
            errors.push(format!(
                "result for '{}' is {:?} without a message",
                r.id, r.status
            ));
        }
    }
    errors
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

/// Longest preference name accepted, as in the runtime.
const MAX_PREFERENCE_NAME: usize = 256;

#[derive(Default)]
struct CallState {
    host_calls: u32,
    logs: Vec<(Level, String)>,
    logs_dropped: u32,
}

/// The per-run side of [`NativeHost`]: answers the plugin's capability calls.
struct Calls {
    grants: Arc<Grants>,
    capabilities: Capabilities,
    limits: RunLimits,
    state: RefCell<CallState>,
    parsed_keys: Arc<Mutex<ParsedKeys>>,
}

impl Calls {
    /// Counts a call; beyond the budget every call fails (the runtime would trap the run).
    fn count(&self) -> Result<(), CapabilityError> {
        let mut state = self.state.borrow_mut();
        state.host_calls = state.host_calls.saturating_add(1);
        if state.host_calls > self.limits.max_host_calls {
            return Err(CapabilityError::Failed(format!(
                "more than {} capability calls in one run (the runtime traps the run here)",
                self.limits.max_host_calls
            )));
        }
        Ok(())
    }

    fn check_size(&self, what: &str, bytes: usize) -> Result<(), CapabilityError> {
        if bytes > self.limits.max_value_bytes {
            return Err(CapabilityError::InvalidArgument(format!(
                "{what} is {bytes} bytes, more than the {} allowed",
                self.limits.max_value_bytes
            )));
        }
        Ok(())
    }

    fn registry_target(
        &self,
        key: &str,
        needed: Access,
    ) -> Result<Arc<RegistryPath>, CapabilityError> {
        let path = parse_registry_key(
            &mut self
                .parsed_keys
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            key,
        )
        .map_err(|e| CapabilityError::InvalidArgument(e.to_string()))?;
        match self.grants.registry_access(&path) {
            Some(access) if access >= needed => Ok(path),
            Some(_) => Err(CapabilityError::AccessDenied(format!(
                "{path} (read-only grant)"
            ))),
            None => Err(CapabilityError::AccessDenied(path.to_string())),
        }
    }

    fn registry(&self) -> Result<&dyn RegistryBackend, CapabilityError> {
        self.capabilities
            .registry
            .as_deref()
            .ok_or_else(|| CapabilityError::Unavailable("this device has no registry".into()))
    }

    fn defender(&self) -> Result<&dyn DefenderBackend, CapabilityError> {
        self.capabilities.defender.as_deref().ok_or_else(|| {
            CapabilityError::Unavailable("Microsoft Defender is not available".into())
        })
    }

    fn file_root(&self, root: &str, needed: Access) -> Result<&dyn FileBackend, CapabilityError> {
        match self.grants.file_access(root) {
            Some(a) if a >= needed => {}
            Some(_) => {
                return Err(CapabilityError::AccessDenied(format!(
                    "file root '{root}' (read-only grant)"
                )));
            }
            None => return Err(CapabilityError::AccessDenied(format!("file root '{root}'"))),
        }
        self.capabilities
            .files
            .as_deref()
            .ok_or_else(|| CapabilityError::Unavailable("no file roots are configured".into()))
    }

    fn need(granted: Option<Access>, needed: Access, what: &str) -> Result<(), CapabilityError> {
        match granted {
            Some(a) if a >= needed => Ok(()),
            _ => Err(CapabilityError::AccessDenied(what.to_string())),
        }
    }

    fn check_preference_name(name: &str) -> Result<(), CapabilityError> {
        if name.is_empty()
            || name.len() > MAX_PREFERENCE_NAME
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(CapabilityError::InvalidArgument(format!(
                "'{}' is not a Defender preference name",
                name.chars().take(64).collect::<String>()
            )));
        }
        Ok(())
    }
}

fn value_name(name: &str) -> Result<(), CapabilityError> {
    validate_value_name(name).map_err(|e| CapabilityError::InvalidArgument(e.to_string()))
}

fn registry_error(e: RegistryError) -> CapabilityError {
    match e {
        RegistryError::KeyNotFound(k) => CapabilityError::NotFound(k),
        RegistryError::InvalidArgument(m) => CapabilityError::InvalidArgument(m),
        other => CapabilityError::Failed(other.to_string()),
    }
}

fn defender_error(e: DefenderError) -> CapabilityError {
    match e {
        DefenderError::TamperProtected(n) => CapabilityError::TamperProtected(n),
        DefenderError::InvalidArgument(m) => CapabilityError::InvalidArgument(m),
        DefenderError::Unavailable(m) => CapabilityError::Unavailable(m),
        other => CapabilityError::Failed(other.to_string()),
    }
}

fn file_error(e: FileError) -> CapabilityError {
    let message = e.to_string();
    match e {
        FileError::InvalidPath { .. } | FileError::TooLarge { .. } => {
            CapabilityError::InvalidArgument(message)
        }
        FileError::NotFound { .. } => CapabilityError::NotFound(message),
        FileError::Denied { .. } | FileError::ReadOnly { .. } => {
            CapabilityError::AccessDenied(message)
        }
        FileError::UnknownRoot { .. } => CapabilityError::Unavailable(message),
        _ => CapabilityError::Failed(message),
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

fn value_bytes(v: &RegValue) -> usize {
    match v {
        RegValue::Dword(_) => 4,
        RegValue::Qword(_) => 8,
        RegValue::Sz(s) | RegValue::ExpandSz(s) => s.len(),
        RegValue::MultiSz(l) => l.iter().map(|s| s.len() + 1).sum(),
        RegValue::Binary(b) => b.len(),
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

impl NativeCalls for Calls {
    fn get_value(&self, key: &str, name: &str) -> Result<Option<RegValue>, CapabilityError> {
        self.count()?;
        let path = self.registry_target(key, Access::Read)?;
        value_name(name)?;
        let value = self
            .registry()?
            .get_value(&path, name)
            .map_err(registry_error)?;
        Ok(value.map(from_backend))
    }

    fn set_value(&self, key: &str, name: &str, value: &RegValue) -> Result<(), CapabilityError> {
        self.count()?;
        let path = self.registry_target(key, Access::ReadWrite)?;
        value_name(name)?;
        self.check_size("registry value", value_bytes(value))?;
        if let RegValue::Sz(s) | RegValue::ExpandSz(s) = value
            && s.contains('\0')
        {
            return Err(CapabilityError::InvalidArgument(
                "string values may not contain NUL".into(),
            ));
        }
        if let RegValue::MultiSz(list) = value
            && list.iter().any(|s| s.contains('\0') || s.is_empty())
        {
            return Err(CapabilityError::InvalidArgument(
                "REG_MULTI_SZ entries may not be empty or contain NUL".into(),
            ));
        }
        self.registry()?
            .set_value(&path, name, to_backend(value))
            .map_err(registry_error)
    }

    fn delete_value(&self, key: &str, name: &str) -> Result<bool, CapabilityError> {
        self.count()?;
        let path = self.registry_target(key, Access::ReadWrite)?;
        value_name(name)?;
        self.registry()?
            .delete_value(&path, name)
            .map_err(registry_error)
    }

    fn create_key(&self, key: &str) -> Result<(), CapabilityError> {
        self.count()?;
        let path = self.registry_target(key, Access::ReadWrite)?;
        self.registry()?.create_key(&path).map_err(registry_error)
    }

    fn delete_key(&self, key: &str) -> Result<bool, CapabilityError> {
        self.count()?;
        let path = self.registry_target(key, Access::ReadWrite)?;
        self.registry()?.delete_key(&path).map_err(registry_error)
    }

    fn list_values(&self, key: &str) -> Result<Vec<NamedValue>, CapabilityError> {
        self.count()?;
        let path = self.registry_target(key, Access::Read)?;
        let values = self
            .registry()?
            .list_values(&path)
            .map_err(registry_error)?;
        Ok(values
            .into_iter()
            .map(|(name, value)| NamedValue {
                name,
                value: from_backend(value),
            })
            .collect())
    }

    fn list_subkeys(&self, key: &str) -> Result<Vec<String>, CapabilityError> {
        self.count()?;
        let path = self.registry_target(key, Access::Read)?;
        self.registry()?.list_subkeys(&path).map_err(registry_error)
    }

    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, CapabilityError> {
        self.count()?;
        Calls::check_preference_name(name)?;
        if !self.grants.defender_can_read(name) {
            return Err(CapabilityError::AccessDenied(format!(
                "defender preference {name} (read)"
            )));
        }
        let v = self
            .defender()?
            .get_preference(name)
            .map_err(defender_error)?;
        Ok(v.map(pref_from_backend))
    }

    fn set_preference(&self, name: &str, value: &PreferenceValue) -> Result<(), CapabilityError> {
        self.count()?;
        Calls::check_preference_name(name)?;
        if !self.grants.defender_can_write(name) {
            return Err(CapabilityError::AccessDenied(format!(
                "defender preference {name} (write)"
            )));
        }
        let bytes = match value {
            PreferenceValue::Text(t) => t.len(),
            PreferenceValue::TextList(l) => l.iter().map(String::len).sum(),
            _ => 8,
        };
        self.check_size("preference value", bytes)?;
        self.defender()?
            .set_preference(name, pref_to_backend(value))
            .map_err(defender_error)
    }

    fn list_exclusions(&self, k: ExclusionKind) -> Result<Vec<String>, CapabilityError> {
        self.count()?;
        Calls::need(
            self.grants.defender_exclusions(),
            Access::Read,
            "defender exclusions (read)",
        )?;
        self.defender()?
            .list_exclusions(kind(k))
            .map_err(defender_error)
    }

    fn add_exclusion(&self, k: ExclusionKind, value: &str) -> Result<(), CapabilityError> {
        self.count()?;
        Calls::need(
            self.grants.defender_exclusions(),
            Access::ReadWrite,
            "defender exclusions (write)",
        )?;
        self.check_size("exclusion", value.len())?;
        self.defender()?
            .add_exclusion(kind(k), value)
            .map_err(defender_error)
    }

    fn remove_exclusion(&self, k: ExclusionKind, value: &str) -> Result<bool, CapabilityError> {
        self.count()?;
        Calls::need(
            self.grants.defender_exclusions(),
            Access::ReadWrite,
            "defender exclusions (write)",
        )?;
        self.defender()?
            .remove_exclusion(kind(k), value)
            .map_err(defender_error)
    }

    fn get_asr_rule(&self, id: &str) -> Result<Option<AsrAction>, CapabilityError> {
        self.count()?;
        Calls::need(
            self.grants.defender_asr_rules(),
            Access::Read,
            "defender ASR rules (read)",
        )?;
        let v = self.defender()?.get_asr_rule(id).map_err(defender_error)?;
        Ok(v.map(asr_from_backend))
    }

    fn set_asr_rule(&self, id: &str, action: AsrAction) -> Result<(), CapabilityError> {
        self.count()?;
        Calls::need(
            self.grants.defender_asr_rules(),
            Access::ReadWrite,
            "defender ASR rules (write)",
        )?;
        self.defender()?
            .set_asr_rule(id, asr_to_backend(action))
            .map_err(defender_error)
    }

    fn get_computer_status(&self) -> Result<ComputerStatus, CapabilityError> {
        self.count()?;
        if !self.grants.defender_status() {
            return Err(CapabilityError::AccessDenied(
                "defender computer status".into(),
            ));
        }
        let s = self.defender()?.computer_status().map_err(defender_error)?;
        Ok(ComputerStatus {
            tamper_protected: s.tamper_protected,
            real_time_protection_enabled: s.real_time_protection_enabled,
            running_mode: s.running_mode,
            product_version: s.product_version,
        })
    }

    fn read(&self, root: &str, path: &str) -> Result<Vec<u8>, CapabilityError> {
        self.count()?;
        self.file_root(root, Access::Read)?
            .read(root, path)
            .map_err(file_error)
    }

    fn write(&self, root: &str, path: &str, contents: &[u8]) -> Result<(), CapabilityError> {
        self.count()?;
        self.check_size("file contents", contents.len())?;
        self.file_root(root, Access::ReadWrite)?
            .write_atomic(root, path, contents)
            .map_err(file_error)
    }

    fn remove(&self, root: &str, path: &str) -> Result<bool, CapabilityError> {
        self.count()?;
        self.file_root(root, Access::ReadWrite)?
            .remove(root, path)
            .map_err(file_error)
    }

    fn list_dir(&self, root: &str, path: &str) -> Result<Vec<DirEntry>, CapabilityError> {
        self.count()?;
        let entries = self
            .file_root(root, Access::Read)?
            .list(root, path)
            .map_err(file_error)?;
        Ok(entries
            .into_iter()
            .map(|e| DirEntry {
                name: e.name,
                is_dir: e.is_dir,
                size: e.size,
            })
            .collect())
    }

    fn log(&self, level: Level, message: &str) {
        if self.count().is_err() {
            return;
        }
        let mut state = self.state.borrow_mut();
        if state.logs.len() >= self.limits.max_log_records as usize {
            state.logs_dropped = state.logs_dropped.saturating_add(1);
            return;
        }
        let message = truncate(message, MAX_LOG_MESSAGE_BYTES);
        // Printed too: `cargo test` shows it only for a failing test, where it helps.
        eprintln!("[plugin {level:?}] {message}");
        state.logs.push((level, message));
    }

    fn enabled(&self, _level: Level) -> bool {
        // Every level is kept natively, so tests can assert on debug output.
        self.count().is_ok()
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, as the runtime does.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Key;
    use rampart_backends::registry::EmulatedRegistry;

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
        assert_eq!(crate::UNCONFIRMED, rampart_runtime::UNCONFIRMED);
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

        let breach = check_results(&settings[..1], &[settings[1].compliant()]);
        assert_eq!(breach.len(), 2, "{breach:?}");
    }

    #[test]
    fn an_invalid_manifest_is_refused_with_the_runtime_error() {
        let err = NativeHost::from_manifest_toml("[plugin]\nname = 'Bad Name'\n").unwrap_err();
        assert!(matches!(err, ManifestError::Invalid(_)), "{err}");
    }
}
