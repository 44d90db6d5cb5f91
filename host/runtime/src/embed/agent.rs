//! [`Agent`]: the runtime wired as the `rampart` agent wires it, built with [`Agent::builder`].
//!
//! With a state directory ([`AgentBuilder::state_dir`] or [`AgentBuilder::state`]) an agent
//! holds the directory's lock (one writer), journals every run durably in `journal/` before
//! it changes anything, settles the runs a crash left unfinished when it is built (what that
//! did is in [`Agent::recovered`] and in the first report), keeps the hash-chained audit trail
//! in `audit/`, and remembers what rampart wrote in `owned.json` (drift and the removal of
//! dropped settings). Without one, runs are journaled in memory: rolled back when they fail,
//! but not recovered after a crash, and drift is not tracked.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_policy::catalog::Catalog;
use rampart_policy::device::Device;
use rampart_policy::graph::PolicyDocument;

use crate::audit::{AuditError, AuditLog, Retention};
use crate::capabilities::Capabilities;
use crate::drift::{Ledger, LedgerError};
use crate::embed::{EmbedError, Embedded};
use crate::journal::{Journal, JournalError};
use crate::limits::RunLimits;
use crate::lock::{LockError, StateLock};
use crate::pipeline::enforce::{Atomicity, Enforcer};
use crate::pipeline::report::DeviceReport;
use crate::pipeline::route::PluginSet;

/// The change journals of a state directory.
const JOURNAL_DIR: &str = "journal";
/// The audit trail of a state directory.
const AUDIT_DIR: &str = "audit";
/// The ledger of what rampart wrote, in a state directory.
const LEDGER_FILE: &str = "owned.json";

/// Why an [`Agent`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The state directory could not be created.
    #[error("cannot create state directory '{}': {source}", dir.display())]
    StateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the state directory, or its lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The ledger of what rampart wrote is unreadable.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The journal directory is unusable, or a run a crash left could not be settled (its file
    /// is kept for the next attempt).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The audit trail cannot be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// How the state directory is held.
#[derive(Debug)]
enum State {
    None,
    /// Create `dir` and take its lock for `holder` when built.
    Dir {
        dir: PathBuf,
        holder: String,
    },
    /// A lock the embedder took.
    Locked(StateLock),
    /// Read the ledger of `dir` for plans; nothing is written.
    PlanAgainst(PathBuf),
}

/// Builds an [`Agent`]: backends, plugins, catalog, limits and, optionally, a state directory.
#[derive(Debug)]
#[must_use = "an agent is made by `build`"]
pub struct AgentBuilder {
    capabilities: Capabilities,
    plugins: PluginSet,
    catalog: Option<Catalog>,
    limits: RunLimits,
    atomicity: Atomicity,
    retention: Retention,
    state: State,
}

impl AgentBuilder {
    /// The plugins passes run with when none are given per pass (see [`Agent::enforce_with`]).
    pub fn plugins(mut self, plugins: PluginSet) -> Self {
        self.plugins = plugins;
        self
    }

    /// The settings catalog policies are resolved with. Default: [`Catalog::embedded`].
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// The limits of each plugin run. Default: [`RunLimits::default`].
    pub fn limits(mut self, limits: RunLimits) -> Self {
        self.limits = limits;
        self
    }

    /// When a run's changes are rolled back. Default: [`Atomicity::OnRunFailure`].
    pub fn atomicity(mut self, atomicity: Atomicity) -> Self {
        self.atomicity = atomicity;
        self
    }

    /// How long the audit trail keeps records. Default: [`Retention::default`].
    pub fn audit_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Keeps the agent's state in `dir` (created if missing), as its only writer: the lock is
    /// taken for `holder` (what a second writer's error names, e.g. `my-agent run`) when the
    /// agent is built.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>, holder: &str) -> Self {
        self.state = State::Dir {
            dir: dir.into(),
            holder: holder.to_string(),
        };
        self
    }

    /// Keeps the agent's state in the directory of `lock`, which the embedder took (for
    /// example before opening backends that live in the same directory).
    pub fn state(mut self, lock: StateLock) -> Self {
        self.state = State::Locked(lock);
        self
    }

    /// An agent for plans only: every pass is a what-if pass over copy-on-write overlays of the
    /// backends, planned against the ledger of the state directory `dir` (so it plans the
    /// removal of dropped settings the real pass would make). Nothing is written, no lock is
    /// taken.
    pub fn plan_against(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state = State::PlanAgainst(dir.into());
        self
    }

    /// Builds the agent. With a state directory, the runs a crash left unfinished are settled
    /// first ([`Agent::recovered`] says what that did).
    ///
    /// # Errors
    ///
    /// The state directory cannot be created or locked (another process holds it), or its
    /// ledger, journal or audit trail cannot be opened, or an unfinished run cannot be settled.
    pub fn build(self) -> Result<Agent, AgentError> {
        let catalog = self.catalog.unwrap_or_else(Catalog::embedded);
        let enforcer = Enforcer::new(self.capabilities, self.limits).with_atomicity(self.atomicity);
        let (enforcer, lock, plan_only) = match self.state {
            State::None => (enforcer, None, false),
            State::PlanAgainst(dir) => (
                enforcer.with_ledger(Ledger::open(&dir.join(LEDGER_FILE))?),
                None,
                true,
            ),
            State::Dir { dir, holder } => {
                std::fs::create_dir_all(&dir).map_err(|source| AgentError::StateDir {
                    dir: dir.clone(),
                    source,
                })?;
                let lock = StateLock::acquire(&dir, &holder)?;
                (
                    durable(enforcer, lock.dir(), self.retention)?,
                    Some(lock),
                    false,
                )
            }
            State::Locked(lock) => (
                durable(enforcer, lock.dir(), self.retention)?,
                Some(lock),
                false,
            ),
        };
        // Journals left on disk (a killed agent's runs) are settled before anything else.
        let recovered = match lock {
            Some(_) => enforcer.recover()?,
            None => Vec::new(),
        };
        for line in &recovered {
            tracing::warn!("{line}");
        }
        Ok(Agent {
            embedded: Embedded::new(enforcer, self.plugins, catalog),
            recovered: Mutex::new(recovered),
            plan_only,
            pass_lock: Mutex::new(()),
            _lock: lock,
        })
    }
}

/// `enforcer` with the durable journal, audit trail and ledger of the state directory `dir`.
fn durable(enforcer: Enforcer, dir: &Path, retention: Retention) -> Result<Enforcer, AgentError> {
    let ledger = Ledger::open(&dir.join(LEDGER_FILE))?;
    let journal = Journal::durable(&dir.join(JOURNAL_DIR))?
        .with_audit(AuditLog::open_with(&dir.join(AUDIT_DIR), retention)?);
    Ok(enforcer.with_journal(journal).with_ledger(ledger))
}

/// The runtime wired for production: an enforcer with its journal, recovery, ledger, audit
/// trail and state lock, the plugins and the catalog. What the `rampart` agent runs its passes
/// with; `Send + Sync`.
#[derive(Debug)]
pub struct Agent {
    embedded: Embedded,
    /// What settling the runs a crash left did, until the first pass reports it.
    recovered: Mutex<Vec<String>>,
    plan_only: bool,
    /// Passes of one agent never overlap (they share the journal, the ledger and the backends).
    pass_lock: Mutex<()>,
    /// Held for the agent's lifetime: it is the state directory's only writer.
    _lock: Option<StateLock>,
}

impl Agent {
    /// A builder over these backends.
    pub fn builder(capabilities: Capabilities) -> AgentBuilder {
        AgentBuilder {
            capabilities,
            plugins: PluginSet::new(),
            catalog: None,
            limits: RunLimits::default(),
            atomicity: Atomicity::default(),
            retention: Retention::default(),
            state: State::None,
        }
    }

    /// The parts, for one-off calls the agent does not wrap.
    pub fn embedded(&self) -> &Embedded {
        &self.embedded
    }

    /// What settling the runs a crash left did when the agent was built (one line per run),
    /// until the first pass has reported it.
    pub fn recovered(&self) -> Vec<String> {
        self.recovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// One pass with the agent's plugins: resolve `documents` for `device`, enforce them (plan
    /// them, for an agent built with [`AgentBuilder::plan_against`]) and report.
    pub fn enforce(&self, device: &Device, documents: &[PolicyDocument]) -> DeviceReport {
        self.enforce_with(self.embedded.plugins(), device, documents)
    }

    /// [`Agent::enforce`] with `plugins` (for example a `LivePlugins::snapshot` taken for the
    /// pass). The first pass after a crash recovery reports what the recovery did.
    pub fn enforce_with(
        &self,
        plugins: &PluginSet,
        device: &Device,
        documents: &[PolicyDocument],
    ) -> DeviceReport {
        if self.plan_only {
            return self.plan_with(plugins, device, documents);
        }
        let _pass = self
            .pass_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut report = self.embedded.enforce_with(plugins, device, documents);
        let mut recovered = std::mem::take(
            &mut *self
                .recovered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        recovered.append(&mut report.recovered);
        report.recovered = recovered;
        report
    }

    /// [`Agent::enforce_with`] over policy bodies as a service delivers them (Graph JSON in any
    /// layout `rampart-policy` reads, by origin): a body that does not parse is left out and
    /// named in the report's `input_errors`; the others are enforced.
    pub fn enforce_bodies(
        &self,
        plugins: &PluginSet,
        device: &Device,
        bodies: &[PolicyBody],
    ) -> DeviceReport {
        let (documents, errors) = parse_bodies(bodies);
        let mut report = self.enforce_with(plugins, device, &documents);
        report.input_errors.extend(errors);
        report
    }

    /// One pass from an asynchronous policy source, run on tokio's blocking pool so the
    /// embedder's runtime keeps serving; call it from within a tokio runtime. With a
    /// `time_limit`, a pass that takes longer is given up ([`EmbedError::TimedOut`]).
    ///
    /// Dropping the future, or a time limit, abandons only the report: a pass that started
    /// goes on until it ends (each plugin run is bounded by its own deadline) and commits or
    /// rolls back as usual, so nothing is left half-made, and the next pass waits for it.
    ///
    /// # Errors
    ///
    /// The source failed (nothing was enforced), the time limit passed, or the pass ended
    /// without a report (a panic: a host bug).
    pub async fn enforce_from<S: AsyncPolicySource>(
        self: &Arc<Self>,
        plugins: Arc<PluginSet>,
        device: Device,
        source: &mut S,
        time_limit: Option<Duration>,
    ) -> Result<DeviceReport, EmbedError> {
        let bodies = source
            .fetch()
            .await
            .map_err(|e| EmbedError::Source(Box::new(e)))?;
        let agent = self.clone();
        let pass =
            tokio::task::spawn_blocking(move || agent.enforce_bodies(&plugins, &device, &bodies));
        let joined = match time_limit {
            Some(limit) => tokio::time::timeout(limit, pass)
                .await
                .map_err(|_| EmbedError::TimedOut(limit))?,
            None => pass.await,
        };
        joined.map_err(|_| EmbedError::Aborted)
    }

    /// Plans a pass: the same resolve and enforce over copy-on-write overlays; nothing is
    /// written.
    pub fn plan_with(
        &self,
        plugins: &PluginSet,
        device: &Device,
        documents: &[PolicyDocument],
    ) -> DeviceReport {
        self.embedded.plan_with(plugins, device, documents)
    }
}

/// One policy body as a service delivers it: where it came from (shown in errors and
/// reports) and its bytes.
pub type PolicyBody = (String, Vec<u8>);

/// Where an asynchronous embedder's policies come from: its own management service, a cache,
/// a message queue. The runtime resolves targeting and applicability for the device.
pub trait AsyncPolicySource {
    /// Why fetching failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The policy bodies that apply now (all of them), as delivered.
    fn fetch(&mut self) -> impl Future<Output = Result<Vec<PolicyBody>, Self::Error>> + Send;
}

/// Parses each body (every layout `rampart-policy` reads); a body that does not parse gives
/// one error line instead of its documents.
fn parse_bodies(bodies: &[PolicyBody]) -> (Vec<PolicyDocument>, Vec<String>) {
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for (origin, body) in bodies {
        match rampart_policy::graph::parse_policies(body, origin) {
            Ok(file) => documents.extend(file.documents),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (documents, errors)
}
