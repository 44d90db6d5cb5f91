//! `rampart apply`: parse → resolve → enforce → report, once.
//!
//! Every input (device, policies, catalog, plugins) is read and validated before anything is
//! written: a bad input is a one-line error naming the file, exit code 2, and the state
//! directory is left untouched. With `--keep-going`, malformed policy documents are reported and
//! the others are enforced (exit code 4: partial).

use anyhow::Context as _;
use rampart_policy::status::SettingStatus;
use rampart_runtime::{AotCache, Atomicity, Engine, PluginSet};

use crate::cli::ApplyArgs;
use crate::job::{BackendOptions, Job};
use crate::state::StateDir;
use crate::{BadInput, exit, inputs, output};

pub(crate) fn run(args: ApplyArgs) -> anyhow::Result<u8> {
    // 1. Inputs, all validated before any write.
    let device = inputs::device(args.inputs.device.as_deref())?;
    let state = StateDir::resolve(args.inputs.state.as_deref())
        .with_file_roots(args.inputs.file_roots.clone());
    let mut policies = inputs::policies(&args.inputs.policies, &state, args.inputs.allow_empty)?;
    if let Some(first) = policies.errors.first()
        && !args.keep_going
    {
        let hint = if policies.stale.is_empty() {
            ""
        } else {
            " (--keep-going enforces the others, and the last good version of this one)"
        };
        return Err(BadInput(format!("{first}{hint}")).into());
    }
    let catalog = inputs::catalog(args.inputs.catalog.as_deref())?;
    let options = BackendOptions::from_inputs(&args.inputs)?;
    let registry_file = state.registry_file();
    if registry_file.exists() && options.uses_emulation(device.platform) {
        // A corrupt persisted registry is bad input too, reported before anything is written.
        rampart_backends::registry::EmulatedRegistry::open(&registry_file)
            .map_err(|e| BadInput(format!("registry '{}': {e}", registry_file.display())))?;
    }
    let trust = inputs::trust(args.inputs.trust.as_deref())?;
    let operator = inputs::operator_grants(args.inputs.grants.as_deref())?;
    let engine = Engine::new()?;
    // The compiled-plugin cache lives in the state directory; a first run (no state yet)
    // compiles, so that refusing bad input never leaves files behind.
    // New entries are held in memory until every input passed: a refused plugin (or policy)
    // leaves nothing behind, not even the compiled embedded plugins.
    let mut cache = if state.root().is_dir() {
        Some(
            AotCache::open(&state.aot_cache_dir(), &engine)
                .context("cannot open the AOT cache")?
                .holding_writes(),
        )
    } else {
        None
    };
    let mut plugins = match &operator {
        Some(op) => PluginSet::new().with_assignments(op),
        None => PluginSet::new(),
    };
    for p in inputs::embedded_plugins(&engine, cache.as_ref(), device.platform, operator.as_ref())?
    {
        plugins.insert_first_party(p);
    }
    if let Some(dir) = &args.inputs.plugins {
        for p in inputs::directory_plugins(&engine, dir, cache.as_ref(), &trust, operator.as_ref())?
        {
            let source = p.source().to_string();
            let replaced = plugins
                .admit(p)
                .map_err(|e| BadInput(format!("plugin '{source}': {e}")))?;
            if let Some(old) = replaced {
                tracing::info!(plugin = old.name(), dir = %dir.display(), "directory plugin overrides the embedded one");
            }
        }
    }

    // 2. Enforce (or plan) and persist.
    let atomicity = if args.inputs.atomic {
        Atomicity::AllOrNothing
    } else {
        Atomicity::OnRunFailure
    };
    if args.what_if {
        // What-if must not create or touch the state: open it only if it already exists, over
        // a throw-away copy otherwise.
        let scratch;
        let job_state = if state.root().is_dir() {
            state.clone()
        } else {
            scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
            StateDir::resolve(Some(scratch.path())).with_file_roots(args.inputs.file_roots.clone())
        };
        let job = Job::open_read_only(device, catalog, job_state, options, atomicity)?;
        let mut report = job.plan(&plugins, &policies.documents, &policies.errors);
        report.stale_inputs = policies.stale;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            output::print_plan(&report, state.root());
        }
        return Ok(exit_code(&report));
    }
    let retention = crate::job::retention(&args.inputs);
    let job = Job::open(
        device,
        catalog,
        state,
        options,
        atomicity,
        retention,
        "rampart apply",
    )?;
    if let Some(cache) = &mut cache {
        cache.write_held();
    }
    policies.save(&job.state.last_good_dir())?;
    let report = job.pass(&plugins, &policies)?;

    // 3. Print.
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        output::print_table(&report, job.state.root());
    }
    Ok(exit_code(&report))
}

/// The exit code a finished pass deserves.
pub(crate) fn exit_code(report: &rampart_runtime::DeviceReport) -> u8 {
    let failed = report.count(SettingStatus::Error) + report.count(SettingStatus::Conflict);
    if !report.input_errors.is_empty() {
        exit::PARTIAL
    } else if failed > 0 {
        exit::SETTINGS_FAILED
    } else {
        exit::OK
    }
}
