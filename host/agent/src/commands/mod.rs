//! One module per command.

mod apply;
mod registry;

use crate::cli::{Cli, Command};

/// Runs the parsed command; returns the process exit code.
pub(crate) fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Apply(args) => apply::run(args),
        Command::Registry(cmd) => registry::run(cmd),
    }
}
