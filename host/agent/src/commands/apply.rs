//! `rampart apply`: parse → resolve → enforce → report, once.
//!
//! Every input (device, policies, catalog, plugins) is read and validated before anything is
//! written: a bad input is a one-line error naming the file, exit code 2, and the state
//! directory is left untouched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rampart_backends::defender::SimulatedDefender;
use rampart_backends::registry::EmulatedRegistry;
use rampart_policy::catalog::Catalog;
use rampart_policy::device::{self, Device};
use rampart_policy::graph::{self, PolicyDocument};
use rampart_policy::status::SettingStatus;
use rampart_runtime::{Capabilities, Enforcer, Engine, GrantPolicy, Plugin, PluginSet, RunLimits};

use crate::cli::{ApplyArgs, Switch};
use crate::state::{StateDir, write_atomic};
use crate::{BadInput, defaults, exit, output};

pub(crate) fn run(args: ApplyArgs) -> anyhow::Result<u8> {
    // 1. Inputs, all validated before any write.
    let device = load_device(args.device.as_deref())?;
    let documents = load_policies(&args.policies)?;
    let mut catalog = Catalog::embedded();
    if let Some(path) = &args.catalog {
        let bytes = std::fs::read(path)
            .map_err(|e| BadInput(format!("catalog '{}': {e}", path.display())))?;
        let extra = Catalog::from_graph_definitions_json(&bytes)
            .map_err(|e| BadInput(format!("catalog '{}': {e}", path.display())))?;
        catalog.extend(extra);
    }
    let engine = Engine::new()?;
    let plugins = load_plugins(&engine, args.plugins.as_deref())?;

    // 2. Backends over the state directory.
    let state = StateDir::resolve(args.state.as_deref());
    let registry_file = state.registry_file();
    if registry_file.exists() {
        // Parse the persisted registry before creating anything, so a corrupt file is reported
        // as bad input with nothing written.
        EmulatedRegistry::open(&registry_file)
            .map_err(|e| BadInput(format!("registry '{}': {e}", registry_file.display())))?;
    }
    state.create()?;
    let registry = Arc::new(
        EmulatedRegistry::open(&registry_file)
            .map_err(|e| BadInput(format!("registry '{}': {e}", registry_file.display())))?,
    );
    let defender = Arc::new(
        SimulatedDefender::new(registry.clone())
            .with_tamper_protection(args.tamper_protection == Switch::On),
    );
    let capabilities = Capabilities::none()
        .with_registry(registry.clone())
        .with_defender(defender);

    // 3. Resolve and enforce.
    let resolved = rampart_policy::resolve::resolve(&documents, &device, &catalog);
    let enforcer = Enforcer::new(plugins, capabilities, RunLimits::default());
    let report = enforcer.enforce(&device, &resolved);

    // 4. Persist and print.
    registry
        .save()
        .with_context(|| format!("cannot write '{}'", registry_file.display()))?;
    let json = serde_json::to_string_pretty(&report)?;
    write_atomic(&state.report_file(), json.as_bytes())?;
    if args.json {
        println!("{json}");
    } else {
        output::print_table(&report, &device, state.root());
    }
    let failed = report.count(SettingStatus::Error) + report.count(SettingStatus::Conflict);
    Ok(if failed > 0 {
        exit::SETTINGS_FAILED
    } else {
        exit::OK
    })
}

fn load_device(path: Option<&Path>) -> anyhow::Result<Device> {
    match path {
        Some(p) => device::load_device_file(p).map_err(|e| BadInput(e.to_string()).into()),
        None => {
            let (origin, text) = defaults::DEVICE;
            device::parse_device_toml(text, origin).map_err(|e| BadInput(e.to_string()).into())
        }
    }
}

fn load_policies(paths: &[PathBuf]) -> anyhow::Result<Vec<PolicyDocument>> {
    if paths.is_empty() {
        return defaults::POLICIES
            .iter()
            .map(|(origin, text)| {
                graph::parse_policy(text.as_bytes(), origin)
                    .map_err(|e| BadInput(e.to_string()).into())
            })
            .collect();
    }
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| BadInput(format!("policy path '{}': {e}", path.display())))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| BadInput(format!("policy directory '{}': {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .is_some_and(|x| x.eq_ignore_ascii_case("json"))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(BadInput(format!(
                    "policy directory '{}' has no .json files",
                    path.display()
                ))
                .into());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
        .iter()
        .map(|f| graph::load_policy_file(f).map_err(|e| BadInput(e.to_string()).into()))
        .collect()
}

fn load_plugins(engine: &Engine, dir: Option<&Path>) -> anyhow::Result<PluginSet> {
    let policy = GrantPolicy::Ceiling(defaults::grant_ceiling());
    let mut set = PluginSet::new();
    for (name, bytes) in rampart_plugin_artifacts::FIRST_PARTY {
        let plugin = Plugin::load(engine, &format!("embedded:{name}"), bytes, &policy)
            .context("an embedded first-party plugin failed to load")?;
        set.insert(Arc::new(plugin));
    }
    let Some(dir) = dir else { return Ok(set) };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| BadInput(format!("plugin directory '{}': {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file)
            .map_err(|e| BadInput(format!("plugin '{}': {e}", file.display())))?;
        let plugin = Plugin::load(engine, &file.display().to_string(), &bytes, &policy)
            .map_err(|e| BadInput(e.to_string()))?;
        if let Some(old) = set.insert(Arc::new(plugin)) {
            tracing::info!(plugin = old.name(), file = %file.display(), "directory plugin overrides the embedded one");
        }
    }
    Ok(set)
}
