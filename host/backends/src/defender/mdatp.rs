//! Microsoft Defender for Endpoint on Linux and macOS, as its `mdatp` command line reports it.
//!
//! [`MdatpDefender`] answers the `defender` capability's *reads* from
//! `mdatp health --output json`, the one machine-readable view of what Defender actually uses.
//! That JSON is an object (`"$type": "getHealthAllResult"`) whose configurable fields carry
//! `{"value": …, "isManaged": …, "displayValue": …}`; `isManaged` is true when the value came
//! from a managed configuration (on Linux security settings management's
//! `mdeattach_managed.json` or `mdatp_managed.json` in `/etc/opt/microsoft/mdatp/managed`; on
//! macOS `/Library/Preferences/com.microsoft.mdeattach.plist` or the `com.microsoft.wdav`
//! profile).
//!
//! # Preference names
//!
//! The capability names preferences with ASCII letters, digits and `_`. This backend accepts:
//!
//! 1. **Managed-configuration names** `<section>_<key>`, spelled as in `mdatp_managed.json`, so a
//!    plugin verifies a managed key by asking for the name it wrote:
//!
//!    | preference | health field(s) | value |
//!    |---|---|---|
//!    | `antivirusEngine_enforcementLevel` | `passiveModeEnabled`, `realTimeProtectionEnabled` | text: `passive` if passive mode is on, else `real_time` if real-time protection is on, else `on_demand` |
//!    | `antivirusEngine_enableRealTimeProtection` | `realTimeProtectionEnabled` | boolean |
//!    | `antivirusEngine_passiveMode` | `passiveModeEnabled` | boolean |
//!    | `antivirusEngine_behaviorMonitoring` | `behaviorMonitoring` | text (`enabled` / `disabled`) |
//!    | `cloudService_enabled` | `cloudEnabled` | boolean |
//!    | `cloudService_diagnosticLevel` | `cloudDiagnosticEnabled` | text: `optional` when true, `required` when false (UNVERIFIED: inferred from `mdatp config cloud-diagnostic`) |
//!    | `cloudService_automaticSampleSubmissionConsent` | `cloudAutomaticSampleSubmissionConsent` | text (`none` / `safe` / `all`) |
//!    | `cloudService_automaticDefinitionUpdateEnabled` | `automaticDefinitionUpdateEnabled` | boolean |
//!    | `networkProtection_enforcementLevel` | `networkProtectionEnforcementLevel` | text (`disabled` / `audit` / `block`) |
//!    | `edr_tags` | `edrDeviceTags` | text list, one `KEY=value` per tag (UNVERIFIED: the real samples only show `[]`) |
//!    | `edr_groupIds` | `edrGroupIds` | text |
//!    | `tamperProtection_enforcementLevel` | `tamperProtection` | text (`disabled` / `audit` / `block`) |
//!
//! 2. **Health field names** as `mdatp health --output json` spells them (`cloudEnabled`,
//!    `appVersion`, `healthy`, …): the field's `value`, or the field itself when it is a plain
//!    boolean, number or string.
//! 3. Either of the above followed by **`_isManaged`**: a boolean, whether Defender marks the
//!    value as coming from the managed configuration (for a derived name, whether any of its
//!    fields does).
//!
//! Names compare case-insensitively; an unknown name, or a field this `mdatp` version does not
//! report, reads as `None`.
//!
//! # What it does not do
//!
//! On Linux and macOS settings are configured through the managed configuration file or
//! profile, never through this backend: `set_preference`, the exclusion writes and the ASR calls
//! answer [`DefenderError::Unavailable`], and so does `list_exclusions` (health does not report
//! exclusions).
//!
//! # Running `mdatp`
//!
//! The command path comes from the host's configuration ([`MdatpDefender::with_command`]), never
//! from a plugin, and the arguments are fixed. Each run is bounded: a timeout (the child is
//! killed), 1 MiB of output. One health answer serves every read for a short time
//! ([`MdatpDefender::with_cache_ttl`]) so a plugin that verifies twenty settings runs `mdatp`
//! once, not forty times.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{
    AsrAction, ComputerStatus, DefenderBackend, DefenderError, ExclusionKind, PreferenceValue,
};

/// The command [`MdatpDefender::new`] runs: `mdatp`, looked up on `PATH`.
pub const DEFAULT_COMMAND: &str = "mdatp";
/// Where Defender for Endpoint installs `mdatp` (Linux packages, then macOS), tried by
/// [`MdatpDefender::locate`] after `PATH`.
pub const WELL_KNOWN_COMMANDS: &[&str] = &["/usr/bin/mdatp", "/usr/local/bin/mdatp"];
/// Default for [`MdatpDefender::with_timeout`]. `mdatp health` answers in well under a second on
/// a healthy device; a hung daemon must not hang the host.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`MdatpDefender::with_cache_ttl`]: long enough for one plugin run, short enough
/// that the next run sees what Defender did since.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(2);
/// Largest `mdatp` output read; a real health answer is about 3 KB.
const MAX_OUTPUT: u64 = 1 << 20;
/// Stderr kept to explain a failure.
const MAX_STDERR: u64 = 4 << 10;
/// The arguments of the one command this backend runs.
const HEALTH_ARGS: [&str; 3] = ["health", "--output", "json"];
/// The suffix that asks for a value's `isManaged` flag.
const IS_MANAGED_SUFFIX: &str = "_isManaged";
/// What every refused write says.
const CONFIGURE_THROUGH_FILE: &str = "Defender for Endpoint on Linux and macOS is configured \
     through its managed configuration files (mdeattach_managed.json, mdatp_managed.json, \
     com.microsoft.mdeattach.plist or the com.microsoft.wdav profile), not through this backend";

/// How a managed-configuration name is computed from health fields.
#[derive(Debug, Clone, Copy)]
enum Derivation {
    /// The field's value, unchanged.
    Same(&'static str),
    /// `passive` / `real_time` / `on_demand` from the two mode flags.
    EnforcementLevel,
    /// `optional` when the boolean field is true, `required` when false.
    DiagnosticLevel(&'static str),
}

/// The managed-configuration names and how each is read (see the module documentation).
const ALIASES: &[(&str, Derivation)] = &[
    (
        "antivirusEngine_enforcementLevel",
        Derivation::EnforcementLevel,
    ),
    (
        "antivirusEngine_enableRealTimeProtection",
        Derivation::Same("realTimeProtectionEnabled"),
    ),
    (
        "antivirusEngine_passiveMode",
        Derivation::Same("passiveModeEnabled"),
    ),
    (
        "antivirusEngine_behaviorMonitoring",
        Derivation::Same("behaviorMonitoring"),
    ),
    ("cloudService_enabled", Derivation::Same("cloudEnabled")),
    (
        "cloudService_diagnosticLevel",
        Derivation::DiagnosticLevel("cloudDiagnosticEnabled"),
    ),
    (
        "cloudService_automaticSampleSubmissionConsent",
        Derivation::Same("cloudAutomaticSampleSubmissionConsent"),
    ),
    (
        "cloudService_automaticDefinitionUpdateEnabled",
        Derivation::Same("automaticDefinitionUpdateEnabled"),
    ),
    (
        "networkProtection_enforcementLevel",
        Derivation::Same("networkProtectionEnforcementLevel"),
    ),
    ("edr_tags", Derivation::Same("edrDeviceTags")),
    ("edr_groupIds", Derivation::Same("edrGroupIds")),
    (
        "tamperProtection_enforcementLevel",
        Derivation::Same("tamperProtection"),
    ),
];

/// One parsed `mdatp health --output json` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    fields: Map<String, Value>,
}

impl Health {
    /// Parses the JSON `mdatp health --output json` prints.
    ///
    /// # Errors
    ///
    /// [`DefenderError::Backend`] when the output is not a JSON object, or is an object of
    /// another `$type` than `getHealthAllResult`.
    pub fn parse(bytes: &[u8]) -> Result<Health, DefenderError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            DefenderError::Backend(format!("mdatp health printed invalid JSON: {e}"))
        })?;
        let Value::Object(fields) = value else {
            return Err(DefenderError::Backend(
                "mdatp health printed JSON that is not an object".into(),
            ));
        };
        match fields.get("$type") {
            None => {}
            Some(Value::String(t)) if t == "getHealthAllResult" => {}
            Some(other) => {
                return Err(DefenderError::Backend(format!(
                    "mdatp health answered $type {other}, not getHealthAllResult"
                )));
            }
        }
        Ok(Health { fields })
    }

    /// Reads a preference by name (see the [module documentation](self) for the names).
    pub fn preference(&self, name: &str) -> Option<PreferenceValue> {
        if let Some(base) = strip_suffix_ignore_case(name, IS_MANAGED_SUFFIX) {
            return self.is_managed(base).map(PreferenceValue::Boolean);
        }
        if let Some(derivation) = alias(name) {
            return self.derived(derivation);
        }
        to_preference(self.value(name)?)
    }

    /// The computer status: tamper protection from `tamperProtection` (`block` is on; `audit`
    /// reports without blocking, so it is off), real-time protection from
    /// `realTimeProtectionEnabled`, running mode `Passive` when `passiveModeEnabled`, else
    /// `Normal`, and the product version from `appVersion`.
    pub fn computer_status(&self) -> ComputerStatus {
        let tamper_protected = match self.value("tamperProtection") {
            Some(Value::String(level)) => level.eq_ignore_ascii_case("block"),
            Some(Value::Bool(on)) => *on,
            _ => false,
        };
        let flag = |field| matches!(self.value(field), Some(Value::Bool(true)));
        ComputerStatus {
            tamper_protected,
            real_time_protection_enabled: flag("realTimeProtectionEnabled"),
            running_mode: if flag("passiveModeEnabled") {
                "Passive".into()
            } else {
                "Normal".into()
            },
            product_version: match self.value("appVersion") {
                Some(Value::String(v)) => v.clone(),
                _ => String::new(),
            },
        }
    }

    /// The top-level field by name, compared case-insensitively.
    fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).or_else(|| {
            self.fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    }

    /// A field's value: `value` of a `{value, isManaged}` object, else the field itself.
    fn value(&self, name: &str) -> Option<&Value> {
        match self.field(name)? {
            Value::Object(object) => object.get("value"),
            other => Some(other),
        }
    }

    fn is_managed(&self, name: &str) -> Option<bool> {
        let managed = |field: &str| match self.field(field)? {
            Value::Object(object) => object.get("isManaged").and_then(Value::as_bool),
            _ => None,
        };
        match alias(name) {
            Some(Derivation::Same(field) | Derivation::DiagnosticLevel(field)) => managed(field),
            Some(Derivation::EnforcementLevel) => {
                let passive = managed("passiveModeEnabled");
                let real_time = managed("realTimeProtectionEnabled");
                match (passive, real_time) {
                    (None, None) => None,
                    (p, r) => Some(p.unwrap_or(false) || r.unwrap_or(false)),
                }
            }
            None => managed(name),
        }
    }

    fn derived(&self, derivation: Derivation) -> Option<PreferenceValue> {
        match derivation {
            Derivation::Same(field) => to_preference(self.value(field)?),
            Derivation::DiagnosticLevel(field) => {
                let optional = self.value(field)?.as_bool()?;
                Some(PreferenceValue::Text(
                    if optional { "optional" } else { "required" }.into(),
                ))
            }
            Derivation::EnforcementLevel => {
                let passive = self.value("passiveModeEnabled").and_then(Value::as_bool);
                let real_time = self
                    .value("realTimeProtectionEnabled")
                    .and_then(Value::as_bool);
                let level = match (passive, real_time) {
                    (Some(true), _) => "passive",
                    (_, Some(true)) => "real_time",
                    (Some(false), Some(false)) => "on_demand",
                    // Without both flags the mode cannot be told apart.
                    _ => return None,
                };
                Some(PreferenceValue::Text(level.into()))
            }
        }
    }
}

fn alias(name: &str) -> Option<Derivation> {
    ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map(|(_, derivation)| *derivation)
}

fn strip_suffix_ignore_case<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let split = name.len().checked_sub(suffix.len())?;
    let (base, tail) = (name.get(..split)?, name.get(split..)?);
    (!base.is_empty() && tail.eq_ignore_ascii_case(suffix)).then_some(base)
}

/// A health JSON value as a preference value; `None` for null and shapes that have no
/// equivalent (objects other than tags).
fn to_preference(value: &Value) -> Option<PreferenceValue> {
    match value {
        Value::Bool(b) => Some(PreferenceValue::Boolean(*b)),
        Value::Number(n) => n.as_i64().map(PreferenceValue::Integer),
        Value::String(s) => Some(PreferenceValue::Text(s.clone())),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Some(s.clone()),
                // Device tags: {"key": "GROUP", "value": "…"}.
                Value::Object(tag) => match (tag.get("key"), tag.get("value")) {
                    (Some(Value::String(k)), Some(Value::String(v))) => Some(format!("{k}={v}")),
                    _ => None,
                },
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map(PreferenceValue::TextList),
        Value::Null | Value::Object(_) => None,
    }
}

/// Defender for Endpoint on Linux or macOS, read through `mdatp health --output json`.
#[derive(Debug)]
pub struct MdatpDefender {
    command: PathBuf,
    timeout: Duration,
    cache_ttl: Duration,
    cache: Mutex<Option<(Instant, Arc<Health>)>>,
}

impl Default for MdatpDefender {
    fn default() -> Self {
        MdatpDefender::new()
    }
}

impl MdatpDefender {
    /// Runs [`DEFAULT_COMMAND`] (`mdatp` on `PATH`).
    pub fn new() -> MdatpDefender {
        MdatpDefender::with_command(DEFAULT_COMMAND)
    }

    /// Runs the `mdatp` at `command` (a path, or a bare name looked up on `PATH`). Tests point
    /// this at a test double instead of changing `PATH`.
    pub fn with_command(command: impl Into<PathBuf>) -> MdatpDefender {
        MdatpDefender {
            command: command.into(),
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
            cache: Mutex::new(None),
        }
    }

    /// Finds an installed `mdatp`: the first `mdatp` on `PATH`, else the first of
    /// [`WELL_KNOWN_COMMANDS`] that exists. `None` when Defender for Endpoint is not installed.
    pub fn locate() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(DEFAULT_COMMAND))
                .find(|candidate| is_executable_file(candidate))
        });
        on_path.or_else(|| {
            WELL_KNOWN_COMMANDS
                .iter()
                .map(PathBuf::from)
                .find(|candidate| is_executable_file(candidate))
        })
    }

    /// Sets how long one `mdatp` run may take before it is killed.
    pub fn with_timeout(mut self, timeout: Duration) -> MdatpDefender {
        self.timeout = timeout;
        self
    }

    /// Sets how long one health answer is reused. Zero runs `mdatp` for every read.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> MdatpDefender {
        self.cache_ttl = ttl;
        self
    }

    /// The command this backend runs.
    pub fn command(&self) -> &Path {
        &self.command
    }

    /// The current health answer: the cached one if it is fresh, else a new `mdatp` run.
    ///
    /// # Errors
    ///
    /// [`DefenderError::Unavailable`] when `mdatp` cannot be run (not installed, not
    /// executable); [`DefenderError::Backend`] when it fails, times out or prints something
    /// other than a health object.
    pub fn health(&self) -> Result<Arc<Health>, DefenderError> {
        // A poisoned lock only means another thread panicked mid-update of a cache entry;
        // the entry is replaced below anyway.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, health)) = cache.as_ref()
            && at.elapsed() < self.cache_ttl
        {
            return Ok(Arc::clone(health));
        }
        let health = Arc::new(Health::parse(&self.run(&HEALTH_ARGS)?)?);
        *cache = Some((Instant::now(), Arc::clone(&health)));
        Ok(health)
    }

    /// Runs the command with `args`, bounded in time and output.
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, DefenderError> {
        let shown = self.command.display();
        let mut child = self.spawn(args)?;
        let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            return Err(DefenderError::Backend(format!(
                "'{shown}' started without output pipes"
            )));
        };
        // Pipes are drained on their own threads so a chatty child cannot block on a full pipe
        // while this thread waits for it to exit.
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut stdout).take(MAX_OUTPUT + 1).read_to_end(&mut buf);
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut stderr).take(MAX_STDERR).read_to_end(&mut buf);
            buf
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // The reader threads end when the pipes close; they are not joined, in
                    // case a grandchild keeps a pipe open.
                    return Err(DefenderError::Backend(format!(
                        "'{shown} {}' did not finish within {:?}",
                        args.join(" "),
                        self.timeout
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    return Err(DefenderError::Backend(format!(
                        "waiting for '{shown}': {e}"
                    )));
                }
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if !status.success() {
            let detail = String::from_utf8_lossy(&stderr);
            let detail = detail.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(DefenderError::Backend(format!(
                "'{shown} {}' failed ({status}){}{}",
                args.join(" "),
                if detail.is_empty() { "" } else { ": " },
                detail.trim()
            )));
        }
        if u64::try_from(stdout.len()).unwrap_or(u64::MAX) > MAX_OUTPUT {
            return Err(DefenderError::Backend(format!(
                "'{shown}' printed more than {MAX_OUTPUT} bytes"
            )));
        }
        Ok(stdout)
    }

    fn spawn(&self, args: &[&str]) -> Result<Child, DefenderError> {
        let mut attempts = 0;
        loop {
            let spawned = Command::new(&self.command)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            match spawned {
                Ok(child) => return Ok(child),
                // A script that was just written can be briefly "busy" while another thread
                // of this process forks with the writer's descriptor inherited.
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 5 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(DefenderError::Unavailable(format!(
                        "Defender for Endpoint is not installed ('{}' not found)",
                        self.command.display()
                    )));
                }
                Err(e) => {
                    return Err(DefenderError::Unavailable(format!(
                        "cannot run '{}': {e}",
                        self.command.display()
                    )));
                }
            }
        }
    }
}

#[cfg(unix)]
fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable_file(path: &Path) -> bool {
    path.is_file()
}

impl DefenderBackend for MdatpDefender {
    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, DefenderError> {
        Ok(self.health()?.preference(name))
    }

    fn set_preference(&self, name: &str, _value: PreferenceValue) -> Result<(), DefenderError> {
        Err(DefenderError::Unavailable(format!(
            "cannot set '{name}': {CONFIGURE_THROUGH_FILE}"
        )))
    }

    fn list_exclusions(&self, _kind: ExclusionKind) -> Result<Vec<String>, DefenderError> {
        Err(DefenderError::Unavailable(
            "mdatp health does not report exclusions".into(),
        ))
    }

    fn add_exclusion(&self, _kind: ExclusionKind, _value: &str) -> Result<(), DefenderError> {
        Err(DefenderError::Unavailable(format!(
            "cannot add an exclusion: {CONFIGURE_THROUGH_FILE}"
        )))
    }

    fn remove_exclusion(&self, _kind: ExclusionKind, _value: &str) -> Result<bool, DefenderError> {
        Err(DefenderError::Unavailable(format!(
            "cannot remove an exclusion: {CONFIGURE_THROUGH_FILE}"
        )))
    }

    fn get_asr_rule(&self, _id: &str) -> Result<Option<AsrAction>, DefenderError> {
        Err(DefenderError::Unavailable(
            "attack surface reduction rules do not exist in Defender for Endpoint on Linux or macOS"
                .into(),
        ))
    }

    fn set_asr_rule(&self, _id: &str, _action: AsrAction) -> Result<(), DefenderError> {
        Err(DefenderError::Unavailable(
            "attack surface reduction rules do not exist in Defender for Endpoint on Linux or macOS"
                .into(),
        ))
    }

    fn computer_status(&self) -> Result<ComputerStatus, DefenderError> {
        Ok(self.health()?.computer_status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `mdatp health --output json` from `../shared/data`; the test fails loudly when
    /// the shared data is missing rather than passing without it.
    fn real_sample(relative: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data")
            .join(relative);
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "the shared data file {} is missing ({e}); these tests read real mdatp health samples from it",
                path.display()
            )
        })
    }

    fn linux() -> Health {
        Health::parse(&real_sample(
            "linux/mdatp-health.linux-101.23062.0010.glpi-agent.json",
        ))
        .expect("the real Linux sample parses")
    }

    fn macos() -> Health {
        Health::parse(&real_sample(
            "macos/mdatp-health.macos-101.98.30.glpi-agent.json",
        ))
        .expect("the real macOS sample parses")
    }

    fn text(s: &str) -> Option<PreferenceValue> {
        Some(PreferenceValue::Text(s.into()))
    }

    fn boolean(b: bool) -> Option<PreferenceValue> {
        Some(PreferenceValue::Boolean(b))
    }

    #[test]
    fn managed_configuration_names_map_to_the_real_linux_health_fields() {
        let h = linux();
        // The sample device runs in passive mode with real-time protection off.
        assert_eq!(
            h.preference("antivirusEngine_enforcementLevel"),
            text("passive")
        );
        assert_eq!(h.preference("antivirusEngine_passiveMode"), boolean(true));
        assert_eq!(
            h.preference("antivirusEngine_enableRealTimeProtection"),
            boolean(false)
        );
        assert_eq!(
            h.preference("antivirusEngine_behaviorMonitoring"),
            text("disabled")
        );
        assert_eq!(h.preference("cloudService_enabled"), boolean(true));
        assert_eq!(
            h.preference("cloudService_diagnosticLevel"),
            text("required")
        );
        assert_eq!(
            h.preference("cloudService_automaticSampleSubmissionConsent"),
            text("safe")
        );
        assert_eq!(
            h.preference("cloudService_automaticDefinitionUpdateEnabled"),
            boolean(true)
        );
        assert_eq!(
            h.preference("networkProtection_enforcementLevel"),
            text("disabled")
        );
        assert_eq!(
            h.preference("edr_tags"),
            Some(PreferenceValue::TextList(vec![]))
        );
        assert_eq!(h.preference("edr_groupIds"), text(""));
        assert_eq!(
            h.preference("tamperProtection_enforcementLevel"),
            text("disabled")
        );
        // Names compare case-insensitively.
        assert_eq!(h.preference("CLOUDSERVICE_ENABLED"), boolean(true));
    }

    #[test]
    fn is_managed_flags_and_raw_fields_are_readable() {
        let h = linux();
        assert_eq!(
            h.preference("cloudService_enabled_isManaged"),
            boolean(false)
        );
        assert_eq!(h.preference("cloudEnabled_isManaged"), boolean(false));
        assert_eq!(
            h.preference("antivirusEngine_enforcementLevel_isManaged"),
            boolean(false)
        );
        assert_eq!(h.preference("cloudEnabled"), boolean(true));
        assert_eq!(h.preference("appVersion"), text("101.23062.0010"));
        assert_eq!(h.preference("healthy"), boolean(true));
        assert_eq!(
            h.preference("definitionsUpdatedMinutesAgo"),
            Some(PreferenceValue::Integer(20))
        );
        assert_eq!(
            h.preference("realTimeProtectionSubsystem"),
            text("fanotify")
        );
        // Plain fields have no isManaged flag; unknown names read as None.
        assert_eq!(h.preference("healthy_isManaged"), None);
        assert_eq!(h.preference("noSuchField"), None);
        assert_eq!(h.preference("_isManaged"), None);
        // An object without a value (definitionsStatus) has no preference equivalent.
        assert_eq!(h.preference("definitionsStatus"), None);
    }

    #[test]
    fn is_managed_follows_the_health_flag() {
        let json = br#"{"$type":"getHealthAllResult",
            "cloudEnabled":{"displayValue":true,"isManaged":true,"value":false},
            "passiveModeEnabled":{"displayValue":true,"isManaged":false,"value":false},
            "realTimeProtectionEnabled":{"displayValue":true,"isManaged":true,"value":false},
            "edrDeviceTags":{"displayValue":true,"isManaged":true,"value":[{"key":"GROUP","value":"Finance"}]}}"#;
        let h = Health::parse(json).unwrap();
        assert_eq!(h.preference("cloudService_enabled"), boolean(false));
        assert_eq!(
            h.preference("cloudService_enabled_isManaged"),
            boolean(true)
        );
        assert_eq!(
            h.preference("antivirusEngine_enforcementLevel"),
            text("on_demand")
        );
        assert_eq!(
            h.preference("antivirusEngine_enforcementLevel_isManaged"),
            boolean(true)
        );
        assert_eq!(
            h.preference("edr_tags"),
            Some(PreferenceValue::TextList(vec!["GROUP=Finance".into()]))
        );
        // Without both mode flags the enforcement level is unknown, not guessed.
        let partial = Health::parse(br#"{"passiveModeEnabled":{"value":false}}"#).unwrap();
        assert_eq!(partial.preference("antivirusEngine_enforcementLevel"), None);
    }

    #[test]
    fn computer_status_comes_from_the_real_samples() {
        let status = linux().computer_status();
        assert_eq!(
            status,
            ComputerStatus {
                tamper_protected: false,
                real_time_protection_enabled: false,
                running_mode: "Passive".into(),
                product_version: "101.23062.0010".into(),
            }
        );
        let mac = macos();
        assert_eq!(
            mac.computer_status(),
            ComputerStatus {
                tamper_protected: true,
                real_time_protection_enabled: true,
                running_mode: "Normal".into(),
                product_version: "101.98.30".into(),
            }
        );
        assert_eq!(
            mac.preference("antivirusEngine_enforcementLevel"),
            text("real_time")
        );
        assert_eq!(
            mac.preference("tamperProtection_enforcementLevel"),
            text("block")
        );
        assert_eq!(
            mac.preference("cloudService_diagnosticLevel"),
            text("optional")
        );
        // The macOS build does not report behavior monitoring.
        assert_eq!(mac.preference("antivirusEngine_behaviorMonitoring"), None);
    }

    #[test]
    fn other_json_is_refused() {
        for bad in [&b"[]"[..], b"not json", br#"{"$type":"error"}"#] {
            assert!(
                matches!(Health::parse(bad), Err(DefenderError::Backend(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_missing_command_is_unavailable_and_writes_are_refused() {
        let d = MdatpDefender::with_command("/nonexistent/rampart/mdatp");
        let e = d.get_preference("cloudService_enabled").unwrap_err();
        assert!(matches!(e, DefenderError::Unavailable(_)), "{e:?}");
        assert!(e.to_string().contains("not installed"), "{e}");
        assert!(matches!(
            d.computer_status(),
            Err(DefenderError::Unavailable(_))
        ));
        assert!(matches!(
            d.set_preference("cloudService_enabled", PreferenceValue::Boolean(true)),
            Err(DefenderError::Unavailable(m)) if m.contains("managed configuration")
        ));
        assert!(matches!(
            d.add_exclusion(ExclusionKind::Path, "/tmp"),
            Err(DefenderError::Unavailable(_))
        ));
        assert!(matches!(
            d.list_exclusions(ExclusionKind::Path),
            Err(DefenderError::Unavailable(_))
        ));
        assert!(matches!(
            d.get_asr_rule("d4f940ab-401b-4efc-aadc-ad5f3c50688a"),
            Err(DefenderError::Unavailable(_))
        ));
    }

    #[cfg(unix)]
    mod with_a_test_double {
        use super::*;
        use std::os::unix::fs::PermissionsExt as _;

        /// Writes `mdatp-test-double.sh`, a stand-in for `mdatp` (NOT Defender) running `body`.
        fn test_double(dir: &Path, body: &str) -> PathBuf {
            let path = dir.join("mdatp-test-double.sh");
            std::fs::write(
                &path,
                format!("#!/bin/sh\n# Test double for mdatp.\n{body}\n"),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        }

        #[test]
        fn health_is_read_from_the_command_and_cached() {
            let dir = tempfile::tempdir().unwrap();
            let sample = dir.path().join("health.json");
            std::fs::write(
                &sample,
                real_sample("linux/mdatp-health.linux-101.23062.0010.glpi-agent.json"),
            )
            .unwrap();
            let calls = dir.path().join("calls");
            let script = test_double(
                dir.path(),
                &format!(
                    "[ \"$*\" = \"health --output json\" ] || exit 64\necho x >> '{}'\ncat '{}'",
                    calls.display(),
                    sample.display()
                ),
            );
            let d = MdatpDefender::with_command(&script).with_cache_ttl(Duration::from_secs(60));
            assert_eq!(d.command(), script.as_path());
            assert_eq!(
                d.get_preference("cloudService_enabled").unwrap(),
                boolean(true)
            );
            assert!(!d.computer_status().unwrap().tamper_protected);
            let runs = std::fs::read_to_string(&calls).unwrap().lines().count();
            assert_eq!(runs, 1, "the second read is served from the cache");

            let uncached = MdatpDefender::with_command(&script).with_cache_ttl(Duration::ZERO);
            uncached.get_preference("cloudEnabled").unwrap();
            uncached.get_preference("cloudEnabled").unwrap();
            let runs = std::fs::read_to_string(&calls).unwrap().lines().count();
            assert_eq!(runs, 3);
        }

        #[test]
        fn failures_timeouts_and_garbage_are_backend_errors() {
            let dir = tempfile::tempdir().unwrap();
            let failing = test_double(dir.path(), "echo 'daemon is not running' >&2\nexit 1");
            let e = MdatpDefender::with_command(&failing)
                .health()
                .unwrap_err()
                .to_string();
            assert!(e.contains("daemon is not running"), "{e}");

            let sub = dir.path().join("slow");
            std::fs::create_dir(&sub).unwrap();
            let slow = test_double(&sub, "exec sleep 30");
            let started = Instant::now();
            let e = MdatpDefender::with_command(&slow)
                .with_timeout(Duration::from_millis(200))
                .health()
                .unwrap_err();
            assert!(
                matches!(e, DefenderError::Backend(ref m) if m.contains("did not finish")),
                "{e:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(10));

            let sub = dir.path().join("garbage");
            std::fs::create_dir(&sub).unwrap();
            let garbage = test_double(&sub, "echo 'Defender is starting'");
            let e = MdatpDefender::with_command(&garbage).health().unwrap_err();
            assert!(
                matches!(e, DefenderError::Backend(ref m) if m.contains("invalid JSON")),
                "{e:?}"
            );
        }
    }
}
