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
3 some settings ended in error or conflict; 4 partial (unreadable policy documents: their last \
good versions enforced, or skipped); 5 the state directory is in use by another rampart process.";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Resolve policies for the device and enforce them once, then print the status.
    ///
    /// With no arguments it runs the embedded default: a simulated Windows 11 device, the
    /// example policies shipped with rampart, the first-party plugins, the emulated registry
    /// and a simulated Defender (on Windows: this machine's registry and Defender), with state
    /// in the user's cache directory.
    Apply(ApplyArgs),
    /// Run as an agent: enforce at start, on policy and plugin changes, on an interval, and on
    /// `rampart sync`; swap plugins live without a restart.
    Run(RunArgs),
    /// Ask the running agent for an enforcement pass now and print its outcome.
    Sync {
        /// State directory of the running agent.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        /// How long to wait for the pass to finish before giving up (e.g. `60s`, `5m`).
        #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Print the latest report.
    Status {
        /// State directory.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Explain policy documents without enforcing anything.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Inspect or seed the emulated registry of a state directory.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Plugin tools: inspect a plugin file, plan what it would do, start a new plugin.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Check the audit trail of a state directory.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// What enforcement works on: shared by `apply` and `run`.
#[derive(Debug, Args)]
pub(crate) struct Inputs {
    /// Device identity file (TOML or JSON). Default: a simulated Windows 11 client.
    #[arg(long, value_name = "FILE")]
    pub(crate) device: Option<PathBuf>,
    /// Policy files or directories of `.json` Graph exports (`run` re-reads and watches them).
    /// A file holds one policy or a list of them (a Graph list response, a JSON array).
    /// Default: the embedded examples.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub(crate) policies: Vec<PathBuf>,
    /// State directory (emulated registry, reports, journal, caches). Default: the user's cache
    /// directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) state: Option<PathBuf>,
    /// Directory of plugin `.wasm` files (`run` watches it and swaps new versions in live;
    /// default there: `<state>/plugins`). A file replaces the embedded plugin of its name only
    /// when signed by a key `--trust` trusts for that name; a file neither signed by a trusted
    /// key nor listed in `--grants` is read-only; its claims on settings an embedded plugin
    /// enforces are overruled unless `--grants` assigns them to it.
    #[arg(long, value_name = "DIR")]
    pub(crate) plugins: Option<PathBuf>,
    /// Extra settings-catalog definitions (Graph definitions JSON) on top of the embedded ones.
    #[arg(long, value_name = "FILE")]
    pub(crate) catalog: Option<PathBuf>,
    /// Where a file root lives (repeatable), e.g.
    /// `mdatp-managed=/etc/opt/microsoft/mdatp/managed` (Linux) or
    /// `library-preferences=/Library/Preferences` (macOS; only `com.microsoft.mdeattach.plist`
    /// in it is reachable). Default: `<state>/roots/<name>`.
    #[arg(long = "file-root", value_name = "NAME=DIR", value_parser = parse_file_root)]
    pub(crate) file_roots: Vec<(String, PathBuf)>,
    /// Roll back a plugin run's changes if any of its settings fails, not only if the run fails.
    #[arg(long)]
    pub(crate) atomic: bool,
    /// Accept an empty policy set (no document in `--policies`): every value rampart set is
    /// then removed. Without it an empty set is an error, so that an emptied directory or a
    /// failed download cannot switch a device's protection off.
    #[arg(long)]
    pub(crate) allow_empty: bool,
    /// Audit trail retention: total size of the rotated files kept (e.g. `64MiB`, `1GB`).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub(crate) audit_max_size: u64,
    /// Audit trail retention: age past which a rotated file is pruned (e.g. `365d`, `8w`).
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = humantime::parse_duration)]
    pub(crate) audit_max_age: std::time::Duration,
    /// Tamper protection of the simulated Defender (emulated registry only).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub(crate) tamper_protection: Switch,
    // ---- security options ----
    /// Plugin signature trust configuration (TOML: trusted keys, the plugins each may sign,
    /// mode enforce|audit|off). With it, plugins from `--plugins` must be signed by a trusted
    /// key (mode enforce, the default). See SECURITY.md.
    #[arg(long, value_name = "FILE")]
    pub(crate) trust: Option<PathBuf>,
    /// Operator grants configuration (TOML) narrowing what each plugin may touch below its
    /// manifest and the agent's built-in ceiling, and assigning setting ids to plugins
    /// (`settings = [...]` under `[plugin.NAME]`). See SECURITY.md.
    #[arg(long, value_name = "FILE")]
    pub(crate) grants: Option<PathBuf>,
    // ---- end security options ----
    /// Registry of a Windows device: `system` is this machine's registry and Defender (Windows
    /// only); `emulated` is `<state>/registry.reg` with a simulated Defender. Default: system on
    /// Windows, emulated elsewhere.
    #[arg(long, value_enum, value_name = "KIND")]
    pub(crate) registry: Option<RegistryKind>,
}

/// Which registry a Windows device's settings go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RegistryKind {
    /// This machine's registry, and Defender through WMI.
    System,
    /// The emulation in the state directory, and a simulated Defender.
    Emulated,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    pub(crate) inputs: Inputs,
    /// Print the report as JSON on stdout instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Enforce the readable policy documents even if others are malformed (exit code 4).
    #[arg(long)]
    pub(crate) keep_going: bool,
    /// Plan only: run the plugins against copy-on-write overlays and print what would change
    /// (registry, files, Defender) with the statuses; nothing is written.
    #[arg(long)]
    pub(crate) what_if: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) inputs: Inputs,
    /// Time between passes (e.g. `90m`, `30s`; at least 1s).
    #[arg(long, value_name = "DURATION", default_value = "90m", value_parser = parse_interval)]
    pub(crate) interval: std::time::Duration,
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Switch {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Each setting of every policy in a file: id, typed value, and the plugin that will enforce
    /// it.
    Show {
        /// The policy file: one policy, a Graph list response or a JSON array of them (Graph
        /// JSON, CIPP wrappers; UTF-8 or UTF-16).
        file: PathBuf,
        /// Extra settings-catalog definitions.
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
        /// Plugin directory (a first-party plugin's claims stand before its plugins').
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
    },
    /// Resolve documents for a device without enforcing: applicability, targeting, merges,
    /// conflicts, and where each setting would go. Exit code 4 if some documents are unreadable.
    Check {
        /// Policy files or directories.
        #[arg(required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Device identity file. Default: the simulated Windows 11 client.
        #[arg(long, value_name = "FILE")]
        device: Option<PathBuf>,
        /// Extra settings-catalog definitions.
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
        /// Plugin directory (a first-party plugin's claims stand before its plugins').
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
    },
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

// ---- security commands ----

#[derive(Debug, Subcommand)]
pub(crate) enum SigningCommand {
    /// Sign a plugin: append an ed25519 signature section (replacing any existing one).
    Sign {
        /// The plugin `.wasm` file.
        file: PathBuf,
        /// The private key (PKCS#8 PEM, from `rampart plugin keygen` or
        /// `openssl genpkey -algorithm ed25519`).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        /// Where to write the signed plugin. Default: replace FILE.
        #[arg(short, long, value_name = "OUT")]
        out: Option<PathBuf>,
    },
    /// Check a plugin's signature against a trust configuration; exit code 2 if it would be
    /// refused in enforce mode.
    Verify {
        /// The plugin `.wasm` file.
        file: PathBuf,
        /// The trust configuration (TOML).
        #[arg(long, value_name = "TRUST")]
        trust: PathBuf,
    },
    /// Generate an ed25519 signing key; print its public key and a trust-file entry.
    Keygen {
        /// Where to write the private key (PKCS#8 PEM, mode 0600). Refuses to overwrite.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The key's name in the printed trust-file entry.
        #[arg(long, default_value = "release")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the audit trail's hash chain: detects edited, deleted, inserted or reordered
    /// records (and a truncated tail, against the head file; pruned files against the
    /// checkpoint). Lists the repairs and tamper events the agent recorded at start. Exit code
    /// 1 on any break, or while the trail records a tamper event.
    Verify {
        /// State directory.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
}

// ---- end security commands ----

/// Shortest `--interval`: a pass takes milliseconds, and an interval below a second would only
/// keep the agent busy re-enforcing what is already in place.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < MIN_INTERVAL {
        return Err(format!("'{s}' is shorter than the minimum interval of 1s"));
    }
    Ok(d)
}

fn parse_size(s: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = s.parse().map_err(|e| format!("'{s}': {e}"))?;
    Ok(size.as_u64())
}

pub(crate) fn parse_file_root(s: &str) -> Result<(String, PathBuf), String> {
    let (name, dir) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=DIR"))?;
    if name.is_empty() || dir.is_empty() {
        return Err(format!("'{s}' is not NAME=DIR"));
    }
    Ok((name.to_string(), PathBuf::from(dir)))
}

// `rampart plugin`: tools for plugin authors and operators.
#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Show what a plugin file is and asks for, without running it: manifest, contract version
    /// and whether this agent accepts it, imports, requested and effective grants, SHA-256.
    /// Exit code 2 if this agent would refuse the plugin.
    Inspect {
        /// The plugin `.wasm` file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Plan what one plugin would do on this device (a what-if run against copy-on-write
    /// overlays of the state): per-setting statuses and the changes it would make. Nothing is
    /// written. Exit code 3 if a setting of the plugin would end in error.
    Test {
        /// The plugin `.wasm` file.
        file: PathBuf,
        /// Policy files or directories of `.json` Graph exports. Default: the embedded examples.
        #[arg(long, value_name = "PATH", num_args = 1..)]
        policies: Vec<PathBuf>,
        /// Device identity file (TOML or JSON). Default: a simulated Windows 11 client.
        #[arg(long, value_name = "FILE")]
        device: Option<PathBuf>,
        /// State directory to plan against (its registry and file roots are read, never
        /// written). Default: an empty state.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Extra settings-catalog definitions.
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
        /// Where a file root lives (repeatable), e.g. `mdatp-managed=/etc/opt/microsoft/mdatp/managed`
        /// or `library-preferences=/Library/Preferences`; read, never written. Default:
        /// `<state>/roots/<name>` (empty roots without `--state`).
        #[arg(long = "file-root", value_name = "NAME=DIR", value_parser = parse_file_root)]
        file_roots: Vec<(String, PathBuf)>,
        /// Tamper protection of the simulated Defender.
        #[arg(long, value_enum, default_value_t = Switch::On)]
        tamper_protection: Switch,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a new plugin crate from the template: manifest, a plugin with one setting, a
    /// native unit test. It builds with `cargo build --target wasm32-wasip2` as generated.
    New {
        /// Plugin name: 1-64 characters of a-z, 0-9 and '-'.
        name: String,
        /// Directory to create. Default: `./NAME`.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Use the rampart-sdk of this rampart checkout (its `sdk` directory) by path instead of
        /// the git repository.
        #[arg(long, value_name = "DIR")]
        sdk_path: Option<PathBuf>,
    },
    /// Signing: `sign`, `verify`, `keygen` (see SECURITY.md).
    #[command(flatten)]
    Signing(SigningCommand),
}
