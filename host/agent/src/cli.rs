//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Enforce Microsoft Intune endpoint-security policies on this device through sandboxed
/// WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about, long_about = None, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RAMPART_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 enforced; 1 failure; 2 bad input (nothing written); \
3 some settings ended in error or conflict.";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Resolve policies for the device and enforce them once, then print the status.
    ///
    /// With no arguments it runs the embedded default: a simulated Windows 11 device, the
    /// example policies shipped with rampart, the first-party plugins, the emulated registry
    /// and a simulated Defender, with state in the user's cache directory.
    Apply(ApplyArgs),
    /// Inspect or seed the emulated registry of a state directory.
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// Device identity file (TOML or JSON). Default: a simulated Windows 11 client.
    #[arg(long, value_name = "FILE")]
    pub(crate) device: Option<PathBuf>,
    /// Policy files or directories of `.json` Graph exports. Default: the embedded examples.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub(crate) policies: Vec<PathBuf>,
    /// State directory (emulated registry, last report). Default: the user's cache directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) state: Option<PathBuf>,
    /// Directory of plugin `.wasm` files; they override embedded plugins with the same name.
    #[arg(long, value_name = "DIR")]
    pub(crate) plugins: Option<PathBuf>,
    /// Extra settings-catalog definitions (Graph definitions JSON) on top of the embedded ones.
    #[arg(long, value_name = "FILE")]
    pub(crate) catalog: Option<PathBuf>,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Tamper protection of the simulated Defender.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub(crate) tamper_protection: Switch,
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Switch {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// Print the emulated registry as `.reg` text.
    Export {
        /// State directory.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
    /// Merge a `.reg` file (UTF-8 or UTF-16) into the emulated registry.
    Import {
        /// The `.reg` file.
        file: PathBuf,
        /// State directory.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
}
