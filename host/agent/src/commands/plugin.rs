//! `rampart plugin`: tools for plugin authors and operators — look inside a plugin file, try it
//! against a device's state without changing anything, and start a new plugin crate.
//!
//! Each subcommand is one variant of [`PluginCommand`] (defined with the other arguments in
//! `cli`) and one function below.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rampart_policy::status::SettingStatus;
use rampart_runtime::manifest::{self, Manifest};
use rampart_runtime::{Access, Engine, Grants, LoadFailure, Plugin, PluginSet};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::cli::{PluginCommand, Switch};
use crate::job::{BackendOptions, Job};
use crate::output::safe;
use crate::state::StateDir;
use crate::{BadInput, exit, inputs};

/// Runs a `rampart plugin` subcommand.
pub(crate) fn run(command: PluginCommand) -> anyhow::Result<u8> {
    match command {
        PluginCommand::Inspect { file, json } => inspect(&file, json),
        PluginCommand::Test {
            file,
            policies,
            device,
            state,
            catalog,
            file_roots,
            tamper_protection,
            json,
        } => test(&TestArgs {
            file,
            policies,
            device,
            state,
            catalog,
            file_roots,
            tamper_protection: tamper_protection == Switch::On,
            json,
        }),
        PluginCommand::New {
            name,
            dir,
            sdk_path,
        } => new(&name, dir.as_deref(), sdk_path.as_deref()),
        PluginCommand::Signing(cmd) => super::sign::run(cmd),
    }
}

/// Reads a plugin file; a missing or unreadable file is bad input.
/// The plugin file, refused without being read whole when it is over the size limit.
fn read_plugin(file: &Path) -> anyhow::Result<Vec<u8>> {
    rampart_runtime::plugin::read_plugin_file(file)
        .map_err(|e| BadInput(format!("plugin '{}': {e}", file.display())).into())
}

/// What the plugin's embedded signature section says, before any trust decision: whether it
/// is signed and by which key. Whether that key is trusted for this plugin is
/// `rampart plugin verify FILE --trust TRUST`'s question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
enum SignatureState {
    /// No `rampart:signature` section.
    Unsigned,
    /// A well-formed signature section by this key id (not checked against a trust file).
    #[serde(rename_all = "camelCase")]
    Signed { key_id: String },
    /// A signature section that cannot be read.
    Malformed { reason: String },
}

impl SignatureState {
    fn describe(&self) -> String {
        match self {
            SignatureState::Unsigned => "unsigned".to_string(),
            SignatureState::Signed { key_id } => format!(
                "signed by key {key_id} (check it with `rampart plugin verify FILE --trust TRUST`)"
            ),
            SignatureState::Malformed { reason } => format!("malformed signature: {reason}"),
        }
    }
}

fn signature_state(wasm: &[u8]) -> SignatureState {
    match rampart_runtime::signing::find_signature(wasm) {
        Ok(None) => SignatureState::Unsigned,
        Ok(Some(sig)) => SignatureState::Signed { key_id: sig.key_id },
        Err(e) => SignatureState::Malformed {
            reason: e.to_string(),
        },
    }
}

/// What `inspect` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Inspection {
    file: String,
    size: usize,
    sha256: String,
    name: String,
    version: String,
    description: String,
    platforms: Vec<String>,
    settings: Vec<String>,
    contract: Contract,
    imports: Vec<String>,
    requested_grants: Vec<String>,
    /// What this agent would grant (requested ∩ its ceiling).
    effective_grants: Vec<String>,
    /// Requested beyond the ceiling: narrowed by `apply`, refused by `run`'s watched directory.
    beyond_ceiling: Vec<String>,
    /// `None` when this agent loads the plugin; the reason otherwise.
    load_error: Option<String>,
    signature: SignatureState,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Contract {
    plugin: String,
    host: String,
    compatible: bool,
}

fn inspect(file: &Path, json: bool) -> anyhow::Result<u8> {
    let wasm = read_plugin(file)?;
    // One line: wasmparser's messages can span several.
    let bad = |e: String| {
        let e = e.split_whitespace().collect::<Vec<_>>().join(" ");
        BadInput(format!("plugin '{}': {e}", file.display()))
    };
    // First whether it is a component at all, which explains a core module best.
    let imports = component_imports(&wasm).map_err(bad)?;
    let sections = manifest::read_sections(&wasm).map_err(|e| bad(e.to_string()))?;
    let manifest = Manifest::parse(&sections.manifest).map_err(|e| bad(e.to_string()))?;

    let engine = crate::compile::isolated(&Engine::new()?);
    let load = Plugin::load(
        &engine,
        &file.display().to_string(),
        &wasm,
        &inputs::grant_policy(None),
    );
    let contract_refused =
        matches!(&load, Err(e) if matches!(e.reason, LoadFailure::Contract { .. }));
    let ceiling = crate::defaults::grant_ceiling();
    let inspection = Inspection {
        file: file.display().to_string(),
        size: wasm.len(),
        sha256: format!("{:x}", Sha256::digest(&wasm)),
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        description: manifest.description.clone(),
        platforms: manifest
            .platforms
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        settings: manifest.settings.clone(),
        contract: Contract {
            plugin: sections.contract.trim().to_string(),
            host: rampart_runtime::CONTRACT_VERSION.to_string(),
            compatible: !contract_refused,
        },
        imports,
        requested_grants: describe_grants(&manifest.grants),
        effective_grants: describe_grants(&manifest.grants.intersect(&ceiling)),
        beyond_ceiling: manifest.grants.excess(&ceiling),
        load_error: load.as_ref().err().map(|e| e.reason.to_string()),
        signature: signature_state(&wasm),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&inspection)?);
    } else {
        print_inspection(&inspection);
    }
    Ok(match load {
        Ok(_) => exit::OK,
        Err(_) => exit::BAD_INPUT,
    })
}

fn print_inspection(i: &Inspection) {
    println!("Plugin       {} {}", safe(&i.name), safe(&i.version));
    if !i.description.is_empty() {
        println!("             {}", safe(&i.description));
    }
    println!("File         {} ({} bytes)", safe(&i.file), i.size);
    println!("SHA-256      {}", i.sha256);
    println!(
        "Contract     rampart:plugin@{} — {} (this agent implements {})",
        safe(&i.contract.plugin),
        if i.contract.compatible {
            "compatible"
        } else {
            "INCOMPATIBLE"
        },
        i.contract.host
    );
    println!("Platforms    {}", i.platforms.join(", "));
    println!("Settings     {} pattern(s)", i.settings.len());
    for s in &i.settings {
        println!("             {}", safe(s));
    }
    println!("Imports");
    for import in &i.imports {
        println!("             {}", safe(import));
    }
    print_list("Requested", &i.requested_grants);
    print_list("Effective", &i.effective_grants);
    if !i.beyond_ceiling.is_empty() {
        print_list("Beyond ceiling", &i.beyond_ceiling);
    }
    println!("Signature    {}", i.signature.describe());
    match &i.load_error {
        None => println!("Loads        yes"),
        Some(e) => println!("Loads        NO: {}", safe(&e.to_string())),
    }
}

fn print_list(title: &str, items: &[String]) {
    if items.is_empty() {
        println!("{title:<12} (nothing)");
        return;
    }
    for (n, item) in items.iter().enumerate() {
        let label = if n == 0 { title } else { "" };
        println!("{label:<12} {}", safe(item));
    }
}

/// One line per grant, in the words `rampart` uses in its errors.
fn describe_grants(g: &Grants) -> Vec<String> {
    let access = |a: Access| match a {
        Access::Read => "read",
        Access::ReadWrite => "read-write",
    };
    let mut out: Vec<String> = g
        .registry
        .iter()
        .map(|r| format!("registry {} ({})", r.key, access(r.access)))
        .collect();
    if let Some(d) = &g.defender {
        if !d.read.is_empty() {
            out.push(format!("defender read {}", d.read.join(", ")));
        }
        if !d.write.is_empty() {
            out.push(format!("defender write {}", d.write.join(", ")));
        }
        if let Some(a) = d.exclusions {
            out.push(format!("defender exclusions ({})", access(a)));
        }
        if let Some(a) = d.asr_rules {
            out.push(format!("defender asr-rules ({})", access(a)));
        }
        if d.status {
            out.push("defender status".into());
        }
    }
    out.extend(
        g.files
            .iter()
            .map(|f| format!("file root '{}' ({})", f.root, access(f.access))),
    );
    out
}

/// The component-level imports (interfaces and functions), in order.
fn component_imports(wasm: &[u8]) -> Result<Vec<String>, String> {
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly binary: {e}"))?;
        match payload {
            wasmparser::Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != wasmparser::Encoding::Component {
                    return Err(
                        "a core WebAssembly module, not a component (build the plugin for wasm32-wasip2)"
                            .into(),
                    );
                }
                depth += 1;
            }
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            // Only the outermost component's imports are what the host must provide.
            wasmparser::Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| format!("unreadable import: {e}"))?;
                    imports.push(import.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(imports)
}

struct TestArgs {
    file: PathBuf,
    policies: Vec<PathBuf>,
    device: Option<PathBuf>,
    state: Option<PathBuf>,
    catalog: Option<PathBuf>,
    file_roots: Vec<(String, PathBuf)>,
    tamper_protection: bool,
    json: bool,
}

/// One setting the tested plugin was routed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlannedSetting {
    policy: String,
    id: String,
    status: SettingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TestReport {
    plugin: String,
    version: String,
    digest: String,
    device: String,
    settings: Vec<PlannedSetting>,
    /// Settings of the policies that this plugin does not claim (not run here).
    other_settings: usize,
    changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_error: Option<String>,
    protocol_errors: Vec<String>,
    host_calls: u32,
}

fn test(args: &TestArgs) -> anyhow::Result<u8> {
    let device = inputs::device(args.device.as_deref())?;
    let (documents, errors) = inputs::policies_as_read(&args.policies)?;
    if let Some(first) = errors.first() {
        return Err(BadInput(first.to_string()).into());
    }
    let catalog = inputs::catalog(args.catalog.as_deref())?;
    let wasm = read_plugin(&args.file)?;
    let engine = crate::compile::isolated(&Engine::new()?);
    let plugin = Plugin::load(
        &engine,
        &args.file.display().to_string(),
        &wasm,
        &inputs::grant_policy(None),
    )
    .map_err(|e| BadInput(e.to_string()))?;
    let name = plugin.name().to_string();
    let manifest_grants = plugin.manifest().grants.clone();
    let (version, digest) = (plugin.version().to_string(), plugin.digest().to_string());
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(plugin));

    // What-if never writes the state: an existing one is opened read-only, and without one the
    // plan runs over a throw-away directory.
    let scratch;
    let state = match &args.state {
        Some(dir) if dir.is_dir() => StateDir::resolve(Some(dir)),
        Some(dir) => {
            return Err(BadInput(format!(
                "state directory '{}' does not exist",
                dir.display()
            ))
            .into());
        }
        None => {
            scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
            // An empty state has empty file roots, so a plugin that manages files plans
            // writing them from scratch.
            for grant in &manifest_grants.files {
                let dir = scratch.path().join("roots").join(&grant.root);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create '{}'", dir.display()))?;
            }
            StateDir::resolve(Some(scratch.path()))
        }
    }
    .with_file_roots(args.file_roots.clone());
    let job = Job::open_read_only(
        device,
        catalog,
        state,
        // A plan is always made over the emulation of the state directory, never this
        // machine's registry.
        BackendOptions {
            registry: crate::cli::RegistryKind::Emulated,
            tamper_protection: args.tamper_protection,
        },
        rampart_runtime::Atomicity::OnRunFailure,
    )?;
    let report = job.plan(&plugins, &documents, &errors);

    let mut settings = Vec::new();
    let mut other_settings = 0;
    for policy in &report.policies {
        for s in &policy.settings {
            if s.plugin.as_deref() == Some(name.as_str()) {
                settings.push(PlannedSetting {
                    policy: policy.name.clone(),
                    id: match &s.group {
                        Some(g) => format!("{} [item {}]", s.id, g.index),
                        None => s.id.clone(),
                    },
                    status: s.status,
                    message: s.message.clone(),
                });
            } else {
                other_settings += 1;
            }
        }
    }
    let run = report.plugins.iter().find(|p| p.name == name);
    let test = TestReport {
        plugin: name.clone(),
        version,
        digest,
        device: format!("{} ({})", report.device.name, report.device.platform),
        settings,
        other_settings,
        changes: run
            .map(|r| r.changes.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        run_error: run.and_then(|r| r.error.clone()),
        protocol_errors: run.map(|r| r.protocol_errors.clone()).unwrap_or_default(),
        host_calls: run.map_or(0, |r| r.host_calls),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&test)?);
    } else {
        print_test(&test);
    }
    let failed = test.run_error.is_some()
        || test
            .settings
            .iter()
            .any(|s| matches!(s.status, SettingStatus::Error | SettingStatus::Conflict));
    Ok(if failed {
        exit::SETTINGS_FAILED
    } else {
        exit::OK
    })
}

fn print_test(t: &TestReport) {
    println!(
        "What-if of plugin {} {} on {} — nothing was changed.",
        safe(&t.plugin),
        safe(&t.version),
        safe(&t.device)
    );
    println!("Digest  {}", t.digest);
    println!();
    if t.settings.is_empty() {
        println!("No setting of these policies is routed to this plugin.");
    }
    let width = t.settings.iter().map(|s| s.id.len()).max().unwrap_or(0);
    for s in &t.settings {
        let status = s.status.to_string();
        match &s.message {
            Some(m) => println!("  {status:<14} {:<width$}  {}", safe(&s.id), safe(m)),
            None => println!("  {status:<14} {}", safe(&s.id)),
        }
    }
    if t.other_settings > 0 {
        println!(
            "  ({} other setting(s) of these policies are not this plugin's)",
            t.other_settings
        );
    }
    if let Some(e) = &t.run_error {
        println!("Run failed: {}", safe(&e.to_string()));
    }
    for e in &t.protocol_errors {
        println!("Contract breach: {}", safe(&e.to_string()));
    }
    println!();
    if t.changes.is_empty() {
        println!("Planned changes: none");
    } else {
        println!("Planned changes:");
        for c in &t.changes {
            println!("  {}", safe(&c.to_string()));
        }
    }
}

/// The template's files: path in the new crate, contents. `{{name}}` and `{{sdk}}` are filled
/// in by [`new`].
const TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../template/Cargo.toml.in")),
    (
        "rampart-plugin.toml",
        include_str!("../../template/rampart-plugin.toml.in"),
    ),
    ("src/lib.rs", include_str!("../../template/src/lib.rs.in")),
    (
        "tests/native.rs",
        include_str!("../../template/tests/native.rs.in"),
    ),
    ("README.md", include_str!("../../template/README.md.in")),
    (".gitignore", "/target\n"),
];

/// `my-plugin` → `MyPlugin`.
fn type_name(name: &str) -> String {
    name.split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The git repository the template's `rampart-sdk` dependency points at by default.
const SDK_GIT: &str = "https://github.com/rampart-runtime/rampart";

fn new(name: &str, dir: Option<&Path>, sdk_path: Option<&Path>) -> anyhow::Result<u8> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || name.starts_with('-')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(BadInput(format!(
            "plugin name '{name}' must be 1-64 characters of a-z, 0-9 and '-', starting with a letter"
        ))
        .into());
    }
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(BadInput(format!(
            "'{}' already exists and is not empty",
            dir.display()
        ))
        .into());
    }
    let sdk = match sdk_path {
        Some(path) => {
            let path = std::fs::canonicalize(path)
                .map_err(|e| BadInput(format!("rampart-sdk path '{}': {e}", path.display())))?;
            if !path.join("Cargo.toml").is_file() || !path.join("wit/released.toml").is_file() {
                return Err(BadInput(format!(
                    "'{}' is not rampart's sdk directory (no Cargo.toml and wit/released.toml)",
                    path.display()
                ))
                .into());
            }
            // TOML basic strings need escaped backslashes (Windows paths).
            format!(
                "path = \"{}\"",
                path.display().to_string().replace('\\', "\\\\")
            )
        }
        None => format!("git = \"{SDK_GIT}\""),
    };
    for (file, contents) in TEMPLATE {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create '{}'", parent.display()))?;
        }
        let contents = contents
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{Type}}", &type_name(name))
            .replace("{{sdk}}", &sdk);
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write '{}'", path.display()))?;
    }
    println!("Created plugin '{name}' in {}", dir.display());
    println!();
    println!("  cd {}", dir.display());
    println!("  cargo test                                    # native unit tests");
    println!("  cargo build --release --target wasm32-wasip2  # the plugin");
    println!(
        "  rampart plugin inspect target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    );
    Ok(exit::OK)
}
