//! Embedding the runtime in an agent of your own.
//!
//! [`Agent`] is the way to embed: [`Agent::builder`] takes the backends, plugins, catalog,
//! limits and, optionally, a state directory, and wires the journal, crash recovery (reported
//! in the first pass), drift ledger, audit trail and the directory's lock exactly as the
//! `rampart` CLI does (the CLI is built on it). Passes run blocking ([`Agent::enforce_with`]),
//! from raw policy bodies with unreadable ones named in the report
//! ([`Agent::enforce_bodies`]), or awaited from tokio with a time limit from an
//! [`AsyncPolicySource`] ([`Agent::enforce_from`]); passes of one agent never overlap.
//! `examples/embedding` is a vendor's agent built this way.
//!
//! ```
//! use std::sync::Arc;
//! use rampart_runtime::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let state = std::env::temp_dir().join(format!("rampart-doc-{}", std::process::id()));
//! let capabilities = Capabilities::none().with_registry(Arc::new(EmulatedRegistry::new()));
//! let agent = Agent::builder(capabilities)
//!     .plugins(PluginSet::new()) // load plugins with `Plugin::load` and insert them here
//!     .state_dir(&state, "my-agent")
//!     .build()?;
//! let report = agent.enforce(&Device::example_windows_client(), &[]);
//! assert!(report.policies.is_empty());
//! # drop(agent);
//! # std::fs::remove_dir_all(&state)?;
//! # Ok(())
//! # }
//! ```
//!
//! [`Embedded`] holds the parts without a state directory (an in-memory journal, no ledger, no
//! lock); its [`PolicySource`] and [`Embedded::enforce_async`] (a thread per pass) serve
//! embedders that bring their own wiring.

mod agent;

pub use agent::{Agent, AgentBuilder, AgentError, AsyncPolicySource, PolicyBody};

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use rampart_policy::catalog::Catalog;
use rampart_policy::device::Device;
use rampart_policy::graph::PolicyDocument;

use crate::pipeline::enforce::Enforcer;
use crate::pipeline::report::DeviceReport;
use crate::pipeline::route::PluginSet;

/// Where an embedding agent's policy documents come from.
pub trait PolicySource {
    /// Why fetching failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The documents that apply now (all of them; the runtime resolves targeting and
    /// applicability for the device).
    ///
    /// # Errors
    ///
    /// Whatever the source cannot deliver; an embedder usually keeps its last good set.
    fn fetch(&mut self) -> Result<Vec<PolicyDocument>, Self::Error>;
}

/// A fixed set of documents, for tests and simple embedders.
#[derive(Debug, Clone, Default)]
pub struct StaticPolicies {
    documents: Vec<PolicyDocument>,
}

impl StaticPolicies {
    /// A source that always returns `documents`.
    pub fn new(documents: Vec<PolicyDocument>) -> Self {
        StaticPolicies { documents }
    }
}

impl PolicySource for StaticPolicies {
    type Error = std::convert::Infallible;

    fn fetch(&mut self) -> Result<Vec<PolicyDocument>, Self::Error> {
        Ok(self.documents.clone())
    }
}

/// Why an embedded pass did not produce a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The policy source failed.
    #[error("policy source: {0}")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The enforcement thread could not be started.
    #[error("cannot start the enforcement thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The enforcement thread ended without a report (it panicked: a host bug).
    #[error("the enforcement pass ended without a report (see the log for a panic)")]
    Aborted,
    /// The pass took longer than its time limit. It goes on in the background until it ends
    /// (each plugin run is bounded by its own deadline), so nothing is left half-made; only
    /// its report is given up.
    #[error("the pass took longer than {0:?}; its report was given up")]
    TimedOut(std::time::Duration),
}

/// An enforcer, its plugins and its settings catalog: everything a pass needs besides the device
/// and the policies. Cheap to clone (shared parts are reference-counted); `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Embedded {
    enforcer: Enforcer,
    plugins: Arc<PluginSet>,
    catalog: Arc<Catalog>,
}

impl Embedded {
    /// Puts the parts together.
    pub fn new(enforcer: Enforcer, plugins: PluginSet, catalog: Catalog) -> Self {
        Embedded {
            enforcer,
            plugins: Arc::new(plugins),
            catalog: Arc::new(catalog),
        }
    }

    /// The enforcer (its backends are [`Enforcer::capabilities`]).
    pub fn enforcer(&self) -> &Enforcer {
        &self.enforcer
    }

    /// The plugins.
    pub fn plugins(&self) -> &PluginSet {
        &self.plugins
    }

    /// The settings catalog policies are resolved with.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Resolves `documents` for `device` and enforces them: one pass, blocking.
    pub fn enforce(&self, device: &Device, documents: &[PolicyDocument]) -> DeviceReport {
        self.enforce_with(&self.plugins, device, documents)
    }

    /// [`Embedded::enforce`] with `plugins` instead of the set this was built with: for an
    /// agent whose plugins are swapped live, pass a [`LivePlugins::snapshot`] taken for the
    /// pass. The `rampart` agent runs every pass this way.
    ///
    /// [`LivePlugins::snapshot`]: crate::live::LivePlugins::snapshot
    pub fn enforce_with(
        &self,
        plugins: &PluginSet,
        device: &Device,
        documents: &[PolicyDocument],
    ) -> DeviceReport {
        let resolved = rampart_policy::resolve::resolve(documents, device, &self.catalog);
        self.enforcer.enforce(plugins, device, &resolved)
    }

    /// Like [`Embedded::enforce`] over copy-on-write overlays: the report plans the changes and
    /// nothing reaches the backends.
    pub fn plan(&self, device: &Device, documents: &[PolicyDocument]) -> DeviceReport {
        self.plan_with(&self.plugins, device, documents)
    }

    /// [`Embedded::plan`] with `plugins` instead of the set this was built with.
    pub fn plan_with(
        &self,
        plugins: &PluginSet,
        device: &Device,
        documents: &[PolicyDocument],
    ) -> DeviceReport {
        let resolved = rampart_policy::resolve::resolve(documents, device, &self.catalog);
        self.enforcer.what_if().enforce(plugins, device, &resolved)
    }

    /// Fetches from `source`, then enforces.
    ///
    /// # Errors
    ///
    /// [`EmbedError::Source`] when the source fails; nothing is enforced then.
    pub fn enforce_from<S: PolicySource>(
        &self,
        device: &Device,
        source: &mut S,
    ) -> Result<DeviceReport, EmbedError> {
        let documents = source
            .fetch()
            .map_err(|e| EmbedError::Source(Box::new(e)))?;
        Ok(self.enforce(device, &documents))
    }

    /// [`Embedded::enforce`] on a dedicated thread, as a future. It does not need a particular
    /// executor (it wakes the task when the thread finishes), so it never blocks an async
    /// runtime's workers. Dropping the future does not cancel the pass: enforcement, once
    /// started, finishes and journals normally.
    pub fn enforce_async(&self, device: Device, documents: Vec<PolicyDocument>) -> PendingReport {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let sender = Sender { slot: slot.clone() };
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("rampart-enforce".into())
            .spawn(move || {
                let report = this.enforce(&device, &documents);
                sender.send(report);
            });
        if let Err(e) = spawned {
            lock(&slot).outcome = Some(Err(EmbedError::Spawn(e)));
        }
        PendingReport { slot }
    }
}

#[derive(Default)]
struct Slot {
    outcome: Option<Result<DeviceReport, EmbedError>>,
    waker: Option<Waker>,
}

fn lock(slot: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    // A poisoned slot only means a thread panicked while holding it; its data is still whole.
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The enforcement thread's end of the slot. Dropped without sending (a panic), it reports
/// [`EmbedError::Aborted`] instead of leaving the future pending forever.
struct Sender {
    slot: Arc<Mutex<Slot>>,
}

impl Sender {
    fn send(self, report: DeviceReport) {
        let mut slot = lock(&self.slot);
        slot.outcome = Some(Ok(report));
        if let Some(w) = slot.waker.take() {
            w.wake();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut slot = lock(&self.slot);
        if slot.outcome.is_none() {
            slot.outcome = Some(Err(EmbedError::Aborted));
        }
        if let Some(w) = slot.waker.take() {
            w.wake();
        }
    }
}

/// The future of [`Embedded::enforce_async`].
#[must_use = "the report arrives only when the future is awaited"]
pub struct PendingReport {
    slot: Arc<Mutex<Slot>>,
}

impl std::fmt::Debug for PendingReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingReport")
            .field("done", &lock(&self.slot).outcome.is_some())
            .finish()
    }
}

impl Future for PendingReport {
    type Output = Result<DeviceReport, EmbedError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.slot);
        match slot.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capabilities, RunLimits};

    /// A minimal executor: polls on this thread, parking until woken.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    #[test]
    fn the_async_pass_delivers_the_same_report_as_the_blocking_one() {
        let agent = Embedded::new(
            Enforcer::new(Capabilities::none(), RunLimits::default()),
            PluginSet::new(),
            Catalog::embedded(),
        );
        let device = Device::example_windows_client();
        let report = block_on(agent.enforce_async(device.clone(), Vec::new())).unwrap();
        assert_eq!(report.device.name, agent.enforce(&device, &[]).device.name);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("service unreachable")]
    struct Unreachable;

    struct Failing;
    impl PolicySource for Failing {
        type Error = Unreachable;
        fn fetch(&mut self) -> Result<Vec<PolicyDocument>, Unreachable> {
            Err(Unreachable)
        }
    }

    #[test]
    fn a_failing_source_is_a_typed_error() {
        let agent = Embedded::new(
            Enforcer::new(Capabilities::none(), RunLimits::default()),
            PluginSet::new(),
            Catalog::embedded(),
        );
        let err = agent
            .enforce_from(&Device::example_windows_client(), &mut Failing)
            .unwrap_err();
        assert_eq!(err.to_string(), "policy source: service unreachable");
    }
}
