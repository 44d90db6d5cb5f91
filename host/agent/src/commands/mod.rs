//! One module per command.

mod apply;
mod audit;
pub(crate) mod plugin;
mod policy;
mod registry;
mod run;
mod sign;
mod status;
mod sync;

use crate::cli::{AuditCommand, Cli, Command, PolicyCommand};

/// Runs the parsed command; returns the process exit code.
pub(crate) fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Apply(args) => apply::run(args),
        Command::Registry(cmd) => registry::run(cmd),
        Command::Policy(PolicyCommand::Show {
            file,
            catalog,
            plugins,
        }) => policy::show(&file, catalog.as_deref(), plugins.as_deref()),
        Command::Policy(PolicyCommand::Check {
            paths,
            device,
            catalog,
            plugins,
        }) => policy::check(
            &paths,
            device.as_deref(),
            catalog.as_deref(),
            plugins.as_deref(),
        ),
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Sync {
            state,
            json,
            timeout,
        } => sync::run(state.as_deref(), json, timeout),
        Command::Status { state, json } => status::run(state.as_deref(), json),
        Command::Audit(AuditCommand::Verify { state }) => audit::verify(state.as_deref()),
    }
}
