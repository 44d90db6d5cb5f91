//! Reading the agent's inputs: device identity, policy documents, catalog, plugins.
//!
//! Each function turns a bad file into a [`BadInput`] naming the file and the problem, so
//! `apply` can refuse before writing anything.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rampart_policy::catalog::Catalog;
use rampart_policy::device::{self, Device, Platform};
use rampart_policy::graph;
use rampart_runtime::{AotCache, Engine, GrantPolicy, OperatorGrants, Plugin, TrustPolicy};

use crate::state::StateDir;
use crate::{BadInput, defaults, last_good};

/// The device: `--device FILE`, else the embedded example.
pub(crate) fn device(path: Option<&Path>) -> anyhow::Result<Device> {
    match path {
        Some(p) => device::load_device_file(p).map_err(|e| BadInput(e.to_string()).into()),
        None => {
            let (origin, text) = defaults::DEVICE;
            device::parse_device_toml(text, origin).map_err(|e| BadInput(e.to_string()).into())
        }
    }
}

/// The policy files named by `paths` (files, or directories of `.json` files), sorted within
/// each directory. A missing path is bad input (an empty set is refused by [`policies`]).
pub(crate) fn policy_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let found = last_good::list(path)
            .map_err(|e| BadInput(format!("policy path '{}': {e}", path.display())))?;
        files.extend(found);
    }
    Ok(files)
}

/// The embedded example policies (the default when no `--policies` is given).
fn embedded_policies() -> anyhow::Result<Vec<graph::PolicyDocument>> {
    let mut documents = Vec::new();
    for (origin, text) in defaults::POLICIES {
        let file = graph::parse_policies(text.as_bytes(), origin)
            .context("an embedded example policy does not parse")?;
        documents.extend(file.documents);
    }
    Ok(documents)
}

/// Shows what the policy files said about themselves (a page of a longer Graph list, a file
/// holding no policy) as warnings: the report has no place for them, and they are not errors.
fn warn(notes: &[graph::Note]) {
    for note in notes {
        tracing::warn!("{note}");
    }
}

/// The policy documents of `paths` as they are now (the embedded examples when there are
/// none), every document of each file, and the errors of the files that do not parse: for the
/// commands that only look (`policy check`, `plugin test`).
pub(crate) fn policies_as_read(
    paths: &[PathBuf],
) -> anyhow::Result<(Vec<graph::PolicyDocument>, Vec<graph::PolicyError>)> {
    if paths.is_empty() {
        return Ok((embedded_policies()?, Vec::new()));
    }
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for file in policy_files(paths)? {
        match graph::load_policies(&file) {
            Ok(read) => {
                warn(&read.notes);
                docs.extend(read.documents);
            }
            Err(e) => errors.push(e),
        }
    }
    Ok((docs, errors))
}

/// Every policy document of `paths` (the embedded examples when there are none): every document
/// of each file that parses, the kept last good documents of each file that does not (see
/// [`last_good`]), and the errors. Writes nothing; the files' notes are shown as warnings. An
/// empty set is bad input unless `allow_empty`: it would withdraw every setting rampart
/// enforces. A file that holds no policy (an empty Graph list) counts as read: it withdraws what
/// it held, with a warning, and adds nothing to the set.
pub(crate) fn policies(
    paths: &[PathBuf],
    state: &StateDir,
    allow_empty: bool,
) -> anyhow::Result<last_good::Outcome> {
    if paths.is_empty() {
        return Ok(last_good::Outcome::embedded(embedded_policies()?));
    }
    let outcome = last_good::read_policies(paths, &state.last_good_dir());
    warn(&outcome.notes);
    if outcome.documents.is_empty() && !allow_empty {
        let names: Vec<String> = paths.iter().map(|p| format!("'{}'", p.display())).collect();
        let why = match outcome.errors.first() {
            Some(e) => format!("no readable policy document in {} ({e})", names.join(", ")),
            None => format!("no policy document in {}", names.join(", ")),
        };
        return Err(BadInput(format!(
            "{why}; an empty policy set would remove every setting rampart enforces: pass --allow-empty if that is meant"
        ))
        .into());
    }
    Ok(outcome)
}

/// The embedded catalog, extended by `--catalog FILE`.
pub(crate) fn catalog(extra: Option<&Path>) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog::embedded();
    if let Some(path) = extra {
        let bytes = std::fs::read(path)
            .map_err(|e| BadInput(format!("catalog '{}': {e}", path.display())))?;
        let more = Catalog::from_graph_definitions_json(&bytes)
            .map_err(|e| BadInput(format!("catalog '{}': {e}", path.display())))?;
        catalog.extend(more);
    }
    Ok(catalog)
}

/// The operator's grants configuration: `--grants FILE`, else none.
pub(crate) fn operator_grants(path: Option<&Path>) -> anyhow::Result<Option<Arc<OperatorGrants>>> {
    path.map(|p| {
        OperatorGrants::load(p)
            .map(Arc::new)
            .map_err(|e| BadInput(e.to_string()).into())
    })
    .transpose()
}

/// The grant policy plugins given on the command line (and the embedded ones) are loaded
/// under: requests beyond the ceiling — the built-in one, narrowed per plugin by `operator` —
/// are narrowed.
pub(crate) fn grant_policy(operator: Option<&Arc<OperatorGrants>>) -> GrantPolicy {
    match operator {
        Some(op) => GrantPolicy::Operator {
            ceiling: defaults::grant_ceiling(),
            operator: op.clone(),
            strict: false,
        },
        None => GrantPolicy::Ceiling(defaults::grant_ceiling()),
    }
}

/// The grant policy of the watched plugin directory of `rampart run`: a plugin signed by a key
/// trusted for its name, or listed in the grants file, has the agent's ceiling (narrowed by
/// the grants file); any other plugin is read-only. A version that asks for more than its
/// ceiling is refused as over-privileged, and the last good version keeps serving.
pub(crate) fn strict_grant_policy(operator: Option<&Arc<OperatorGrants>>) -> GrantPolicy {
    GrantPolicy::ThirdParty {
        ceiling: defaults::grant_ceiling(),
        operator: operator.cloned(),
        strict: true,
    }
}

/// The grant policy of the plugin files given with `apply --plugins`: as
/// [`strict_grant_policy`], but requests beyond the ceiling are narrowed.
pub(crate) fn directory_grant_policy(operator: Option<&Arc<OperatorGrants>>) -> GrantPolicy {
    GrantPolicy::ThirdParty {
        ceiling: defaults::grant_ceiling(),
        operator: operator.cloned(),
        strict: false,
    }
}

/// The embedded first-party plugins, compiled in this process: they are part of the binary,
/// trusted as it is, so they load even where no compiler process can be started.
pub(crate) fn embedded_plugins(
    engine: &Engine,
    cache: Option<&AotCache>,
    platform: Platform,
    operator: Option<&Arc<OperatorGrants>>,
) -> anyhow::Result<Vec<Arc<Plugin>>> {
    let policy = grant_policy(operator);
    rampart_plugin_artifacts::FIRST_PARTY
        .iter()
        // Compiling plugins for other platforms would only cost start-up time: routing never
        // picks them for this device.
        .filter(|(_, bytes)| {
            rampart_runtime::manifest::read_sections(bytes)
                .ok()
                .and_then(|s| rampart_runtime::Manifest::parse(&s.manifest).ok())
                .is_none_or(|m| m.platforms.contains(&platform))
        })
        .map(|(name, bytes)| {
            Plugin::load_with_cache(engine, &format!("embedded:{name}"), bytes, &policy, cache)
                .map(Arc::new)
                .context("an embedded first-party plugin failed to load")
        })
        .collect()
}

/// The signature trust policy: `--trust FILE`, else none (signatures not checked).
///
/// Embedded first-party plugins are never checked against it: they are part of the rampart
/// binary, whose integrity is the operating system's package and code-signing checks' job.
pub(crate) fn trust(path: Option<&Path>) -> anyhow::Result<TrustPolicy> {
    match path {
        Some(p) => TrustPolicy::load(p).map_err(|e| BadInput(e.to_string()).into()),
        None => Ok(TrustPolicy::off()),
    }
}

/// Every `.wasm` file of a plugin directory, each loaded (signatures checked against `trust`)
/// and compiled in a child process within the compile budget ([`crate::compile`]); any failure
/// is bad input. A file over the size limit is refused without being read.
pub(crate) fn directory_plugins(
    engine: &Engine,
    dir: &Path,
    cache: Option<&AotCache>,
    trust: &TrustPolicy,
    operator: Option<&Arc<OperatorGrants>>,
) -> anyhow::Result<Vec<Arc<Plugin>>> {
    let policy = directory_grant_policy(operator);
    let engine = &crate::compile::isolated(engine);
    let entries = std::fs::read_dir(dir)
        .map_err(|e| BadInput(format!("plugin directory '{}': {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let bytes = rampart_runtime::plugin::read_plugin_file(file)
                .map_err(|e| BadInput(format!("plugin '{}': {e}", file.display())))?;
            Plugin::load_trusted(
                engine,
                &file.display().to_string(),
                &bytes,
                &policy,
                trust,
                cache,
            )
            .map(Arc::new)
            .map_err(|e| BadInput(e.to_string()).into())
        })
        .collect()
}
