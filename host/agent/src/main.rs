//! `rampart`: resolve Intune endpoint-security policies for this device and enforce them
//! through sandboxed WebAssembly plugins.
//!
//! This binary is wiring only: argument parsing ([`cli`]), the embedded defaults
//! ([`defaults`]), the state directory ([`state`]) and one module per command. The work happens
//! in the libraries (`rampart-policy`, `rampart-runtime`, `rampart-backends`). `anyhow` lives
//! here and nowhere else.

mod cli;
mod commands;
mod compile;
mod defaults;
mod inputs;
mod job;
mod last_good;
mod output;
mod state;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc, tuned for a small footprint (see `rampart-alloc`): plugin runs are about 5 % faster
/// than on the system allocator. The benchmarks install the same allocator.
#[global_allocator]
static ALLOCATOR: rampart_alloc::Allocator = rampart_alloc::Allocator;

/// Exit codes, documented in `--help`.
pub(crate) mod exit {
    /// Everything enforced (compliant, remediated or not applicable).
    pub(crate) const OK: u8 = 0;
    /// The command failed (I/O, engine, internal).
    pub(crate) const FAILURE: u8 = 1;
    /// Bad input (policy, device or plugin file): nothing was written.
    pub(crate) const BAD_INPUT: u8 = 2;
    /// Enforcement ran but some settings ended in error or conflict.
    pub(crate) const SETTINGS_FAILED: u8 = 3;
    /// Some policy documents could not be read; the others were enforced (`--keep-going`).
    pub(crate) const PARTIAL: u8 = 4;
    /// Another process owns the state directory (`apply`, `run` or `registry import`): nothing
    /// was written.
    pub(crate) const BUSY: u8 = 5;
}

/// An error that maps to a specific exit code.
#[derive(Debug)]
pub(crate) struct BadInput(pub(crate) String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn main() -> ExitCode {
    rampart_alloc::tune();
    restore_sigpipe();
    // The compiler child process (`compile`): not a command of the CLI, so not in `--help`.
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == compile::SUBCOMMAND) {
        return compile::child_main(&args.collect::<Vec<_>>());
    }
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rampart: {e:#}");
            if e.downcast_ref::<BadInput>().is_some() {
                ExitCode::from(exit::BAD_INPUT)
            } else if matches!(
                e.downcast_ref::<rampart_runtime::LockError>(),
                Some(rampart_runtime::LockError::Busy { .. })
            ) {
                ExitCode::from(exit::BUSY)
            } else {
                ExitCode::from(exit::FAILURE)
            }
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Lets `rampart ... | head` end quietly: Rust ignores SIGPIPE, which turns a closed pipe into
/// a panic on the next `println!`; the default action just ends the process, as for any Unix
/// tool.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; resetting a signal's
    // disposition to its default has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
