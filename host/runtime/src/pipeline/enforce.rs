//! The enforce stage: one pass of an [`Enforcer`] over what the policy stage produced for one
//! device ([`ResolvedPolicy`] per document).
//!
//! A pass settles any earlier run left on disk, detects drift, has the settings routed
//! ([`crate::pipeline::route`]), runs each plugin once in its own sandbox under the change
//! journal (a failed run turns its settings into errors, is rolled back, and the other plugins
//! still run), removes what plugins wrote for settings that left the policy, and hands the
//! outcomes to [`crate::pipeline::report`] to assemble the [`DeviceReport`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use rampart_policy::device::Device;
use rampart_policy::resolve::ResolvedPolicy;
use rampart_policy::settings::ResolvedSetting;
use rampart_policy::status::SettingStatus;

use crate::capabilities::Capabilities;
use crate::drift::{Footprint, Ledger};
use crate::journal::{Change, Journal, JournalError, JournalValue, RunJournal};
use crate::pipeline::report::{
    DeviceReport, OverruledClaim, PluginLog, PluginRunReport, ReportedDevice, RolledBack,
    policy_reports,
};
use crate::pipeline::route::{PluginSet, Routing, Unique, platform_name};
use crate::redact::{Redactor, quote};
use crate::sandbox::error::RunError;
use crate::sandbox::limits::RunLimits;
use crate::sandbox::plugin::Plugin;
use crate::sandbox::run::SettingOutcome;
use rampart_backends::registry::{EmulatedRegistry, RegistryPath};

/// When the changes of a plugin run are rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Atomicity {
    /// When the run fails as a whole (trap, timeout, memory cap, call flood). The default: a
    /// run that did not finish leaves nothing half-done.
    #[default]
    OnRunFailure,
    /// Also when any setting of the run ends in `error`: each plugin run is all-or-nothing.
    AllOrNothing,
}

/// Enforces resolved policies on a device with a set of plugins and backends.
///
/// Every change a plugin run makes is journaled before it is made (see [`crate::journal`]).
/// A run that fails is rolled back; with [`Atomicity::AllOrNothing`] so is a run with any
/// failed setting. [`Enforcer::what_if`] gives an enforcer over copy-on-write overlays of the
/// same backends: the same code path, with nothing reaching the device.
#[derive(Debug, Clone)]
pub struct Enforcer {
    capabilities: Capabilities,
    limits: RunLimits,
    journal: Arc<Journal>,
    atomicity: Atomicity,
    what_if: bool,
    ledger: Option<Arc<Mutex<Ledger>>>,
    /// The last footprint fingerprint computed per plugin, with its inputs: a long-running
    /// agent whose policy did not change reuses it instead of hashing the settings every pass.
    fingerprints: Arc<Mutex<HashMap<String, FingerprintMemo>>>,
}

/// The inputs of a footprint fingerprint and the fingerprint (see [`Footprint::fingerprint`]).
#[derive(Debug)]
struct FingerprintMemo {
    digest: String,
    device: Device,
    grants: crate::Grants,
    settings: Vec<ResolvedSetting>,
    fingerprint: String,
}

/// What every plugin run of one pass shares.
#[derive(Debug, Clone, Copy)]
struct Pass<'a> {
    /// The pass's settings, each once.
    unique: &'a [&'a ResolvedSetting],
    /// Settings disputed between plugins, by claimant.
    disputed: &'a BTreeMap<String, Vec<usize>>,
    /// Takes the secrets of all the pass's settings out of what it reports.
    redactor: &'a Redactor,
    /// The pass's time (RFC 3339).
    now: &'a str,
}

impl Enforcer {
    /// An enforcer reaching `capabilities`, with per-run `limits`.
    pub fn new(capabilities: Capabilities, limits: RunLimits) -> Self {
        Enforcer {
            capabilities,
            limits,
            journal: Arc::new(Journal::in_memory()),
            atomicity: Atomicity::default(),
            what_if: false,
            ledger: None,
            fingerprints: Arc::default(),
        }
    }

    /// Detects drift against `ledger` before each pass and records what committed runs set.
    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(Arc::new(Mutex::new(ledger)));
        self
    }

    /// Journals changes in `journal` (use [`Journal::durable`] for crash recovery).
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = Arc::new(journal);
        self
    }

    /// Sets when runs are rolled back.
    pub fn with_atomicity(mut self, atomicity: Atomicity) -> Self {
        self.atomicity = atomicity;
        self
    }

    /// The same enforcer over copy-on-write overlays of its backends, with an in-memory
    /// journal: enforcing with it plans (every run's changes are in its report) and changes
    /// nothing.
    pub fn what_if(&self) -> Enforcer {
        Enforcer {
            capabilities: self.capabilities.what_if(),
            limits: self.limits,
            journal: Arc::new(Journal::in_memory()),
            atomicity: self.atomicity,
            what_if: true,
            // A plan reports drift and plans the removal of values whose settings were dropped
            // against a copy of the ledger that is never saved.
            ledger: self
                .ledger
                .as_ref()
                .map(|l| Arc::new(Mutex::new(lock(l).detached()))),
            fingerprints: self.fingerprints.clone(),
        }
    }

    /// Settles the runs whose journal is still on disk (a crash, or an earlier commit that
    /// could not be finished): see [`Journal::recover`]. [`Enforcer::enforce`] calls it first,
    /// so every pass starts from a consistent registry, ledger and audit trail; call it at
    /// start-up to report what it did before the first pass.
    ///
    /// # Errors
    ///
    /// As [`Journal::recover`]; the files it could not settle are kept for the next attempt.
    pub fn recover(&self) -> Result<Vec<String>, JournalError> {
        let mut ledger = self.ledger.as_ref().map(|l| lock(l));
        self.journal
            .recover(&self.capabilities, ledger.as_deref_mut())
    }

    /// The backends the plugins reach.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Enforces every applicable setting of `policies` on `device` with `plugins` (take a
    /// [`crate::LivePlugins::snapshot`] when plugins are swapped live) and reports per policy
    /// and per setting.
    pub fn enforce(
        &self,
        plugins: &PluginSet,
        device: &Device,
        policies: &[ResolvedPolicy],
    ) -> DeviceReport {
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        // Nothing runs on top of a run that could not be settled: its journal would undo the
        // new runs' writes to the same values.
        let (recovered, blocked) = match self.recover() {
            Ok(lines) => (lines, None),
            Err(e) => {
                tracing::error!(error = %e, "cannot settle an earlier run; nothing enforced");
                (
                    Vec::new(),
                    Some(format!(
                        "not enforced: the journal of an earlier run could not be settled: {e}"
                    )),
                )
            }
        };
        let mut drift = match &self.ledger {
            Some(l) => lock(l).detect(&self.capabilities, &now),
            None => Vec::new(),
        };
        for d in &drift {
            tracing::warn!(target = %d.target, expected = %d.expected, found = %d.found, "drift detected");
        }
        let Unique {
            settings: unique,
            index,
        } = Unique::of(policies);
        // Everything this pass reports passes through the secrets of all its settings.
        let redactor = Redactor::for_settings(unique.iter().copied());
        for d in &mut drift {
            d.expected = quote(&redactor.redact(&d.expected));
            d.found = quote(&redactor.redact(&d.found));
        }
        let mut outcomes: Vec<Option<(SettingOutcome, Option<String>)>> = vec![None; unique.len()];
        let Routing {
            batches,
            refused,
            overruled_claims,
            disputed,
        } = match &blocked {
            None => plugins.route_all(device.platform, &unique),
            Some(message) => Routing::none_run(unique.len(), message),
        };
        for (i, message) in refused {
            let setting = unique[i];
            outcomes[i] = Some((
                SettingOutcome {
                    id: setting.id.clone(),
                    group: setting.group.clone(),
                    status: SettingStatus::Error,
                    message: Some(message),
                    code: None,
                    written: false,
                },
                None,
            ));
        }

        let mut plugin_reports = Vec::new();
        for (plugin, members) in batches.into_values() {
            plugin_reports.push(self.run_batch(
                &plugin,
                &members,
                device,
                &Pass {
                    unique: &unique,
                    disputed: &disputed,
                    redactor: &redactor,
                    now: &now,
                },
                &mut outcomes,
            ));
        }
        // Plugins that own values but got no setting this pass: every value they wrote is for a
        // dropped setting.
        if blocked.is_none() {
            let disputed: BTreeMap<String, Vec<ResolvedSetting>> = disputed
                .keys()
                .map(|name| (name.clone(), disputed_settings(&disputed, name, &unique)))
                .collect();
            plugin_reports.extend(self.remove_for_idle_plugins(
                plugins,
                device,
                &plugin_reports,
                &disputed,
                &now,
            ));
        }

        let policies = policy_reports(policies, &index, &outcomes, &now);

        if let Some(l) = &self.ledger {
            let mut ledger = lock(l);
            ledger.refresh_files(&self.capabilities);
            // What is left to save here (footprints, released values) can be recomputed: a
            // failure costs a footprint run or a drift report, never a value.
            if let Err(e) = ledger.save() {
                tracing::error!(error = %e, "cannot save the drift ledger");
            }
        }
        self.journal.audit_pass(serde_json::json!({
            "settings": index.len(),
            "changes": plugin_reports.iter().map(|r| r.changes.len()).sum::<usize>(),
            "drift": drift.len(),
            "runs": plugin_reports
                .iter()
                .map(|r| format!("{} {}", r.name, r.digest))
                .collect::<Vec<_>>(),
        }));
        let summary: rampart_policy::status::DeviceSummary = policies
            .iter()
            .flat_map(|p| &p.settings)
            .map(|s| s.status)
            .collect();
        DeviceReport {
            drift,
            summary,
            device: ReportedDevice {
                id: device.id.clone(),
                name: device.name.clone(),
                platform: platform_name(device.platform).to_string(),
                os_version: device.os_version.clone(),
            },
            generated_at: now,
            policies,
            plugins: plugin_reports,
            input_errors: Vec::new(),
            stale_inputs: Vec::new(),
            overruled_claims: overruled_claims
                .into_iter()
                .map(|((plugin, owner), settings)| {
                    tracing::warn!(%plugin, %owner, settings = settings.len(), "claims overruled");
                    OverruledClaim {
                        plugin,
                        owner,
                        count: settings.len(),
                        settings: settings
                            .into_iter()
                            .take(OverruledClaim::MAX_LISTED)
                            .collect(),
                    }
                })
                .collect(),
            plugin_status: None,
            what_if: self.what_if,
            recovered,
        }
    }

    /// Commits a run that settled: its commit record, then the ledger's ownership of its
    /// changes (saved), then its audit records (see [`crate::journal`]). Returns its changes,
    /// or, when the commit record cannot be written, why, with the run undone.
    /// The run stage for one plugin: runs `plugin` once over its batch (`members`, positions
    /// in the pass's unique settings) under a fresh journal, removes what it wrote for
    /// settings that left the policy, then commits the run or rolls it back, and records each
    /// member's outcome in `outcomes`.
    fn run_batch(
        &self,
        plugin: &Arc<Plugin>,
        members: &[usize],
        device: &Device,
        pass: &Pass<'_>,
        outcomes: &mut [Option<(SettingOutcome, Option<String>)>],
    ) -> PluginRunReport {
        let Pass {
            unique,
            disputed,
            redactor,
            now,
        } = *pass;
        let name = plugin.name().to_string();
        let settings: Vec<ResolvedSetting> = members.iter().map(|&i| unique[i].clone()).collect();
        let mut report = PluginRunReport::new(plugin, settings.len());
        let fail_all = |outcomes: &mut [Option<(SettingOutcome, Option<String>)>],
                        message: &str| {
            for &i in members {
                outcomes[i] = Some((
                    SettingOutcome {
                        id: unique[i].id.clone(),
                        group: unique[i].group.clone(),
                        status: SettingStatus::Error,
                        message: Some(message.to_string()),
                        code: None,
                        written: false,
                    },
                    Some(name.clone()),
                ));
            }
        };
        let deferred = self.capabilities.defers_durability();
        let journal = match self.journal.start(&name, plugin.digest(), deferred) {
            Ok(j) => j,
            Err(e) => {
                // Without a journal no change could be undone: do not run at all.
                let message = format!("not run: cannot start the change journal: {e}");
                fail_all(outcomes, &message);
                report.error = Some(message);
                return report;
            }
        };
        let limits = self.limits_for(&name);
        let (mut result, mut journal) =
            plugin.execute(device, &settings, &self.capabilities, &limits, journal);
        if result.is_ok() {
            let mut kept = settings.clone();
            kept.extend(disputed_settings(disputed, &name, unique));
            report.released = self
                .remove_dropped(plugin, device, &kept, &mut journal)
                .into_iter()
                .map(|line| quote(&redactor.redact(&line)))
                .collect();
        }
        let failed_setting = result.as_ref().ok().and_then(|output| {
            output
                .outcomes
                .iter()
                .find(|o| o.status == SettingStatus::Error)
                .map(|o| o.id.clone())
        });
        let roll_back = self.atomicity == Atomicity::AllOrNothing
            && failed_setting.is_some()
            && !journal.changes().is_empty();
        // A run that commits must be durable first (its changes and the removals); if they
        // cannot be made durable, the run fails and is undone like any other. Nothing of
        // it reached the disk then (see `RunJournal::rollback`).
        if result.is_ok()
            && !roll_back
            && let Err(message) = journal.settle(&self.capabilities)
        {
            result = Err(RunError::NotPersisted {
                plugin: name.clone(),
                message,
            });
        }
        match result {
            Ok(output) => {
                report.protocol_errors = output.protocol_errors;
                report.host_calls = output.host_calls;
                report.logs = output
                    .logs
                    .into_iter()
                    .map(|(level, message)| PluginLog { level, message })
                    .collect();
                report.logs_dropped = output.logs_dropped;
                report.elapsed_us = u64::try_from(output.elapsed.as_micros()).unwrap_or(u64::MAX);
                if roll_back {
                    let (changes, failures) = journal.rollback(&self.capabilities, false);
                    let why = format!(
                        "rolled back: setting '{}' of this run failed and the run is all-or-nothing",
                        failed_setting.unwrap_or_default()
                    );
                    for (&i, mut outcome) in members.iter().zip(output.outcomes) {
                        // Written, confirmed or not (`unknown` "written; …"): undone now.
                        if outcome.written {
                            outcome.status = SettingStatus::Error;
                            outcome.message = Some(why.clone());
                            outcome.code = None;
                            outcome.written = false;
                        }
                        outcomes[i] = Some((outcome, Some(name.clone())));
                    }
                    report.rolled_back = Some(RolledBack {
                        changes: changes.iter().map(|c| redactor.present(c)).collect(),
                        failures,
                    });
                } else {
                    match self.commit(&name, journal, now) {
                        Ok(changes) => {
                            for (&i, outcome) in members.iter().zip(output.outcomes) {
                                outcomes[i] = Some((outcome, Some(name.clone())));
                            }
                            report.changes = changes.iter().map(|c| redactor.present(c)).collect();
                        }
                        Err((message, rolled_back)) => {
                            fail_all(outcomes, &message);
                            report.error = Some(message);
                            report.rolled_back = Some(rolled_back);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(plugin = %name, error = %e, "plugin run failed");
                let (changes, failures) = journal.rollback(&self.capabilities, false);
                let mut message = e.to_string();
                if !changes.is_empty() {
                    message.push_str(&format!(
                        "; its {} change(s) were rolled back",
                        changes.len()
                    ));
                }
                fail_all(outcomes, &message);
                report.error = Some(e.to_string());
                report.rolled_back = Some(RolledBack {
                    changes: changes.iter().map(|c| redactor.present(c)).collect(),
                    failures,
                });
            }
        }
        report
    }

    fn commit(
        &self,
        plugin: &str,
        journal: RunJournal,
        now: &str,
    ) -> Result<Vec<Change>, (String, RolledBack)> {
        let committed = match journal.commit() {
            Ok(committed) => committed,
            Err(failed) => {
                let (journal, e) = *failed;
                let error = RunError::NotPersisted {
                    plugin: plugin.to_string(),
                    message: format!("cannot write the commit record: {e}"),
                };
                tracing::error!(%error, "the run's changes are undone");
                let (changes, failures) = journal.rollback(&self.capabilities, true);
                return Err((error.to_string(), RolledBack { changes, failures }));
            }
        };
        let changes = committed.changes.clone();
        let mut keep_file = false;
        if let Some(l) = &self.ledger {
            let mut ledger = lock(l);
            ledger.record(plugin, &changes, now);
            if !changes.is_empty() {
                ledger.refresh_files(&self.capabilities);
                if let Err(e) = ledger.save() {
                    // The run stands (its commit record is durable); recovery brings the
                    // ledger up to date from the journal, which stays until then.
                    tracing::error!(error = %e, plugin, "cannot save the ownership ledger; the next pass completes it");
                    keep_file = true;
                }
            }
        }
        if let Err(e) = self.journal.seal(committed, keep_file) {
            tracing::error!(error = %e, plugin, "the next pass completes this run's commit");
        }
        Ok(changes)
    }
}

impl Enforcer {
    /// The limits of a run of `plugin`: its write budget is what is left of
    /// [`RunLimits::max_owned_bytes`] after the registry values and files it owns, when that
    /// is less than [`RunLimits::max_written_bytes`].
    fn limits_for(&self, plugin: &str) -> RunLimits {
        let mut limits = self.limits;
        if let Some(ledger) = &self.ledger {
            let owned = lock(ledger).owned_bytes(plugin);
            limits.max_written_bytes = limits
                .max_written_bytes
                .min(limits.max_owned_bytes.saturating_sub(owned));
        }
        limits
    }

    /// Removes the registry values this plugin wrote (per the ledger) that no setting of the
    /// current pass needs any more, the way Group Policy removes the values of a setting that
    /// leaves the policy. Which values the current settings need is learnt by running the
    /// plugin once more over a blank emulated registry and noting what it writes (its
    /// footprint), so no plugin has to declare its layout; the footprint is remembered in the
    /// ledger, so that extra run happens only when the plugin, its grants, the device or the
    /// settings changed since it was computed. A value is removed only while it
    /// still holds what rampart wrote; one that something else changed since is left in place,
    /// released from the ledger and listed in the returned lines. Removals are journaled in the
    /// run's journal, so they roll back with the run and show in what-if plans.
    ///
    /// Files are handled the same way: a file the plugin wrote that its current settings no
    /// longer write (a plugin version that moved its file elsewhere) is removed while it holds
    /// exactly what rampart wrote, within the plugin's write grants. Defender preferences are
    /// not.
    fn remove_dropped(
        &self,
        plugin: &Plugin,
        device: &Device,
        settings: &[ResolvedSetting],
        journal: &mut RunJournal,
    ) -> Vec<String> {
        let Some(ledger) = &self.ledger else {
            return Vec::new();
        };
        let owned = lock(ledger).owned_registry(plugin.name());
        let owned_files = lock(ledger).owned_files(plugin.name());
        if owned.is_empty() && owned_files.is_empty() {
            return Vec::new();
        }
        let needed: HashSet<(String, String)> = if settings.is_empty() {
            HashSet::new()
        } else {
            match self.footprint(plugin, device, settings, ledger) {
                Some(values) => values.into_iter().collect(),
                // Without the footprint nothing can be told apart: remove nothing.
                None => return Vec::new(),
            }
        };
        let mut released = self.remove_dropped_files(plugin, owned_files, &needed, journal, ledger);
        let Some(registry) = self.capabilities.registry.clone() else {
            return released;
        };
        for o in owned {
            if needed.contains(&(o.key.to_lowercase(), o.name.to_lowercase())) {
                continue;
            }
            let Ok(path) = RegistryPath::parse(&o.key) else {
                continue;
            };
            // Only what the plugin serving now may write is removed in its name: a version
            // with narrower grants leaves the rest as it is (and still owned).
            if !plugin
                .grants()
                .registry_access(&path)
                .is_some_and(|a| a.can_write())
            {
                continue;
            }
            let current = match registry.get_value(&path, &o.name) {
                Ok(v) => v,
                Err(e) => {
                    released.push(format!("{}\\{}: not removed: {e}", o.key, o.name));
                    continue;
                }
            };
            match current {
                None => lock(ledger).release_registry(&o.key, &o.name),
                Some(v) if JournalValue::from(&v) == o.value => {
                    let change = Change::RegistryValue {
                        key: o.key.clone(),
                        name: o.name.clone(),
                        before: Some(o.value.clone()),
                        after: None,
                    };
                    if let Err(e) = journal.record(change) {
                        released.push(format!("{}\\{}: not removed: {e}", o.key, o.name));
                        continue;
                    }
                    if let Err(e) = registry.delete_value(&path, &o.name) {
                        released.push(format!("{}\\{}: not removed: {e}", o.key, o.name));
                    }
                }
                Some(v) => {
                    lock(ledger).release_registry(&o.key, &o.name);
                    released.push(format!(
                        "{}\\{}: its setting left the policy, but the value ({}) is no longer what rampart set ({}); left in place and released",
                        o.key,
                        o.name,
                        JournalValue::from(&v),
                        o.value
                    ));
                }
            }
        }
        released
    }

    /// The part of [`Enforcer::remove_dropped`] for files: `needed` holds the footprint's files
    /// as (`file <root>`, path).
    fn remove_dropped_files(
        &self,
        plugin: &Plugin,
        owned: Vec<crate::drift::OwnedFile>,
        needed: &HashSet<(String, String)>,
        journal: &mut RunJournal,
        ledger: &Mutex<Ledger>,
    ) -> Vec<String> {
        let mut released = Vec::new();
        let Some(files) = self.capabilities.files.clone() else {
            return released;
        };
        for f in owned {
            if needed.contains(&(format!("file {}", f.root), f.path.clone())) {
                continue;
            }
            if plugin.grants().file_access(&f.root) != Some(crate::grants::Access::ReadWrite) {
                continue;
            }
            let shown = format!("file {}:{}", f.root, f.path);
            let bytes = match files.read(&f.root, &f.path) {
                Ok(bytes) => bytes,
                Err(rampart_backends::files::FileError::NotFound { .. }) => {
                    lock(ledger).release_file(&f.root, &f.path);
                    continue;
                }
                Err(e) => {
                    released.push(format!("{shown}: not removed: {e}"));
                    continue;
                }
            };
            if !f.holds(&bytes) {
                lock(ledger).release_file(&f.root, &f.path);
                released.push(format!(
                    "{shown}: its settings left the plugin's files, but the file is no longer what rampart wrote; left in place and released"
                ));
                continue;
            }
            let change = Change::File {
                root: f.root.clone(),
                path: f.path.clone(),
                before: Some(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    &bytes,
                )),
                after_size: None,
                after_text: None,
            };
            if let Err(e) = journal.record(change) {
                released.push(format!("{shown}: not removed: {e}"));
                continue;
            }
            if let Err(e) = files.remove(&f.root, &f.path) {
                released.push(format!("{shown}: not removed: {e}"));
            }
        }
        released
    }

    /// The registry values (key, name; lower-cased) and files (`file <root>`, path) `plugin`
    /// writes for `settings` on a blank registry and blank file roots: remembered in the ledger
    /// under a fingerprint of the inputs, computed by running the plugin over blank emulated
    /// backends when they changed. `None` when that run fails.
    fn footprint(
        &self,
        plugin: &Plugin,
        device: &Device,
        settings: &[ResolvedSetting],
        ledger: &Mutex<Ledger>,
    ) -> Option<Vec<(String, String)>> {
        let fingerprint = self.fingerprint(plugin, device, settings);
        if let Some(values) = lock(ledger).footprint(plugin.name(), &fingerprint) {
            return Some(values.to_vec());
        }
        let mut blank = Capabilities::none().with_registry(Arc::new(EmulatedRegistry::new()));
        // Kept until the run below ends: the blank file roots live in it.
        let _scratch = match blank_file_roots(plugin) {
            Ok(Some((scratch, roots))) => {
                blank = blank.with_files(Arc::new(roots));
                Some(scratch)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(plugin = %plugin.name(), error = %e, "cannot make blank file roots for the plugin's footprint; no dropped values removed");
                return None;
            }
        };
        let (result, probe) = plugin.execute(
            device,
            settings,
            &blank,
            &self.limits,
            RunJournal::in_memory(),
        );
        if let Err(e) = result {
            tracing::warn!(plugin = %plugin.name(), error = %e, "cannot compute the plugin's footprint; no dropped values removed");
            return None;
        }
        // An in-memory journal: committing cannot fail.
        let changes = match probe.commit() {
            Ok(committed) => committed.changes,
            Err(failed) => failed.0.changes().to_vec(),
        };
        let mut values: Vec<(String, String)> = changes
            .into_iter()
            .filter_map(|c| match c {
                Change::RegistryValue {
                    key,
                    name,
                    after: Some(_),
                    ..
                } => Some((key.to_lowercase(), name.to_lowercase())),
                Change::File {
                    root,
                    path,
                    after_size: Some(_),
                    ..
                } => Some((format!("file {root}"), path)),
                _ => None,
            })
            .collect();
        values.sort();
        values.dedup();
        lock(ledger).remember_footprint(
            plugin.name(),
            Footprint {
                fingerprint,
                values: values.clone(),
            },
        );
        Some(values)
    }

    /// The fingerprint of `plugin`'s footprint inputs, reused from the previous pass when they
    /// are the same.
    fn fingerprint(
        &self,
        plugin: &Plugin,
        device: &Device,
        settings: &[ResolvedSetting],
    ) -> String {
        let mut memo = self.fingerprints.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = memo.get(plugin.name())
            && m.digest == plugin.digest()
            && m.device == *device
            && m.grants == *plugin.grants()
            && m.settings == settings
        {
            return m.fingerprint.clone();
        }
        // The effective grants are part of the inputs: the footprint holds only the values the
        // plugin may write with the grants it has.
        let fingerprint = Footprint::fingerprint(
            plugin.digest(),
            &(device, plugin.grants(), "registry values and files"),
            &settings,
        );
        memo.insert(
            plugin.name().to_string(),
            FingerprintMemo {
                digest: plugin.digest().to_string(),
                device: device.clone(),
                grants: plugin.grants().clone(),
                settings: settings.to_vec(),
                fingerprint: fingerprint.clone(),
            },
        );
        fingerprint
    }

    /// [`Enforcer::remove_dropped`] for the plugins that own registry values but had no
    /// setting in this pass; one report per plugin that removed or released anything.
    fn remove_for_idle_plugins(
        &self,
        plugins: &PluginSet,
        device: &Device,
        ran: &[PluginRunReport],
        disputed: &BTreeMap<String, Vec<ResolvedSetting>>,
        now: &str,
    ) -> Vec<PluginRunReport> {
        let Some(ledger) = &self.ledger else {
            return Vec::new();
        };
        let owners = lock(ledger).registry_owners();
        let mut reports = Vec::new();
        for name in owners {
            if ran.iter().any(|r| r.name == name) {
                continue;
            }
            // A plugin that is gone (or not for this platform) cannot say what it wrote: its
            // values stay until it is back.
            let Some(plugin) = plugins
                .get(&name)
                .filter(|p| p.manifest().platforms.contains(&device.platform))
            else {
                continue;
            };
            let deferred = self.capabilities.defers_durability();
            let Ok(mut journal) = self.journal.start(&name, plugin.digest(), deferred) else {
                continue;
            };
            let kept = disputed.get(&name).map_or(&[][..], Vec::as_slice);
            let released = self.remove_dropped(plugin, device, kept, &mut journal);
            let mut report = PluginRunReport {
                released,
                ..PluginRunReport::new(plugin, 0)
            };
            if let Err(message) = journal.settle(&self.capabilities) {
                let error = RunError::NotPersisted {
                    plugin: name.clone(),
                    message,
                };
                tracing::error!(plugin = %name, %error, "the removal of dropped values was undone");
                let (changes, failures) = journal.rollback(&self.capabilities, false);
                report.error = Some(error.to_string());
                report.rolled_back = Some(RolledBack { changes, failures });
                reports.push(report);
                continue;
            }
            match self.commit(&name, journal, now) {
                Ok(changes) => report.changes = changes,
                Err((message, rolled_back)) => {
                    report.error = Some(message);
                    report.rolled_back = Some(rolled_back);
                }
            }
            if report.changes.is_empty() && report.released.is_empty() && report.error.is_none() {
                continue;
            }
            reports.push(report);
        }
        reports
    }
}

/// The settings of `unique` disputed between `plugin` and others in this pass.
fn disputed_settings(
    disputed: &BTreeMap<String, Vec<usize>>,
    plugin: &str,
    unique: &[&ResolvedSetting],
) -> Vec<ResolvedSetting> {
    disputed
        .get(plugin)
        .map(|members| members.iter().map(|&i| unique[i].clone()).collect())
        .unwrap_or_default()
}

fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

/// Blank file roots for a footprint run: one empty directory per root `plugin` is granted, in
/// a temporary directory (named by position: root names come from manifests). `None` for a
/// plugin granted no file root, which then needs no temporary directory at all.
fn blank_file_roots(
    plugin: &Plugin,
) -> std::io::Result<Option<(tempfile::TempDir, rampart_backends::files::FileRoots)>> {
    let grants = &plugin.grants().files;
    if grants.is_empty() {
        return Ok(None);
    }
    let scratch = tempfile::tempdir()?;
    let mut roots = rampart_backends::files::FileRoots::new();
    for (i, grant) in grants.iter().enumerate() {
        let dir = scratch.path().join(i.to_string());
        std::fs::create_dir(&dir)?;
        roots.open_ambient(
            grant.root.clone(),
            &dir,
            rampart_backends::files::FileAccess::ReadWrite,
        )?;
    }
    Ok(Some((scratch, roots)))
}
