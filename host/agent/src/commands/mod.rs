//! One module per command.

mod apply;
mod registry;
mod run;
mod status;
mod sync;

use crate::cli::{Cli, Command};

/// Runs the parsed command; returns the process exit code.
pub(crate) fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Apply(args) => apply::run(args),
        Command::Registry(cmd) => registry::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Sync { state, json } => sync::run(state.as_deref(), json),
        Command::Status { state, json } => status::run(state.as_deref(), json),
    }
}
