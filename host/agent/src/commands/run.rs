//! `rampart run`: the agent's long-running mode.
//!
//! One worker enforces; everything else only asks it to. A pass runs
//!
//! - at start,
//! - when a policy directory changes (watched, debounced),
//! - when a plugin version is swapped in or out (the plugin directory is watched; see
//!   `rampart_runtime::live`),
//! - every `--interval` (default 90 minutes, the Defender agent's check-in),
//! - on demand: `rampart sync` over the local socket `<state>/agent.sock`, or `SIGHUP`.
//!
//! Requests go through a bounded queue and are coalesced: the worker takes every pending request
//! before a pass, so a burst of events costs one pass and two passes never overlap. Passes run on
//! a blocking thread (plugin runs are synchronous and bounded by their deadlines, which cover
//! their WASI waits too).
//!
//! On `SIGTERM` or Ctrl-C the agent stops taking requests and stops the engine
//! ([`Engine::stop`]): the plugin run in flight ends at once (within one epoch tick, or when the
//! capability call it is in returns) and is rolled back, the pass's remaining runs fail without
//! starting, and the pass is committed and reported as usual; then the agent exits. A pass that
//! has not finished [`SHUTDOWN_GRACE`] after the signal (a backend call that hangs) is left
//! behind: the agent exits anyway, as if killed, and the journal rolls back what it left
//! unfinished at the next start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use rampart_runtime::live::DEFAULT_DEBOUNCE;
use rampart_runtime::{AotCache, Atomicity, DeviceReport, Engine, PluginDirectory};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::cli::RunArgs;
use crate::job::{BackendOptions, Job};
use crate::state::StateDir;
use crate::{exit, inputs};

/// Why a pass was asked for.
#[derive(Debug)]
#[cfg_attr(
    not(unix),
    allow(
        dead_code,
        reason = "signals and the sync socket are Unix-only for now"
    )
)]
enum Request {
    Start,
    Interval,
    PolicyChange,
    PluginChange,
    Signal,
    /// `rampart sync`: answer with the pass's summary when it is done.
    Sync(oneshot::Sender<PassSummary>),
}

/// What `rampart sync` prints: the outcome of the pass it asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PassSummary {
    /// When the pass finished.
    pub(crate) generated_at: String,
    /// Settings by status.
    pub(crate) counts: std::collections::BTreeMap<String, usize>,
    /// The exit code `rampart apply` would have returned for this pass.
    pub(crate) exit_code: u8,
    /// Set when the pass failed as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl PassSummary {
    fn of(report: &DeviceReport) -> Self {
        let mut counts = std::collections::BTreeMap::new();
        for s in report.policies.iter().flat_map(|p| &p.settings) {
            *counts.entry(s.status.to_string()).or_insert(0) += 1;
        }
        PassSummary {
            generated_at: report.generated_at.clone(),
            counts,
            exit_code: super::apply::exit_code(report),
            error: None,
        }
    }

    fn failed(error: &anyhow::Error) -> Self {
        PassSummary {
            generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
            counts: Default::default(),
            exit_code: exit::FAILURE,
            error: Some(format!("{error:#}")),
        }
    }
}

/// Requests waiting for the worker. Small: requests are coalesced, so a full queue only means a
/// pass is already due.
const QUEUE: usize = 16;

/// How long after `SIGTERM` (or Ctrl-C) the agent waits for the pass in flight, once its runs
/// are stopped, before exiting without it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a stopping agent waits for its `sync` connections to write their answers.
#[cfg(unix)]
const SYNC_ANSWER_GRACE: Duration = Duration::from_secs(2);

pub(crate) fn run(args: RunArgs) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = runtime.block_on(agent(args));
    // A pass left behind at shutdown (see `SHUTDOWN_GRACE`) must not hold the exit.
    runtime.shutdown_background();
    code
}

async fn agent(args: RunArgs) -> anyhow::Result<u8> {
    let device = inputs::device(args.inputs.device.as_deref())?;
    let catalog = inputs::catalog(args.inputs.catalog.as_deref())?;
    let trust = inputs::trust(args.inputs.trust.as_deref())?;
    let operator = inputs::operator_grants(args.inputs.grants.as_deref())?;
    let options = BackendOptions::from_inputs(&args.inputs)?;
    // Policy paths are validated now (they must exist); their contents are read every pass.
    inputs::policy_files(&args.inputs.policies)?;
    let state = StateDir::resolve(args.inputs.state.as_deref())
        .with_file_roots(args.inputs.file_roots.clone());
    let atomicity = if args.inputs.atomic {
        Atomicity::AllOrNothing
    } else {
        Atomicity::OnRunFailure
    };
    let platform = device.platform;
    let job = Arc::new(Job::open(
        device,
        catalog,
        state.clone(),
        options,
        atomicity,
        crate::job::retention(&args.inputs),
        "rampart run",
    )?);

    let engine = Engine::new()?;
    let cache =
        AotCache::open(&state.aot_cache_dir(), &engine).context("cannot open the AOT cache")?;
    let embedded = inputs::embedded_plugins(&engine, Some(&cache), platform, operator.as_ref())?;
    let plugin_dir = args
        .inputs
        .plugins
        .clone()
        .unwrap_or_else(|| state.root().join("plugins"));
    std::fs::create_dir_all(&plugin_dir)
        .with_context(|| format!("cannot create plugin directory '{}'", plugin_dir.display()))?;
    let directory = Arc::new(
        PluginDirectory::new(
            &plugin_dir,
            // Files of the directory compile in a child process, within the compile budget.
            crate::compile::isolated(&engine),
            inputs::strict_grant_policy(operator.as_ref()),
            Some(cache),
            embedded,
        )
        .with_trust(trust),
    );
    let scanned = directory.scan();
    tracing::info!(dir = %plugin_dir.display(), ?scanned, "plugin directory scanned");

    let (tx, mut rx) = mpsc::channel::<Request>(QUEUE);
    let plugin_tx = tx.clone();
    let _plugin_watch = directory
        .watch(DEFAULT_DEBOUNCE, move |_| {
            let _ = plugin_tx.try_send(Request::PluginChange);
        })
        .with_context(|| format!("cannot watch plugin directory '{}'", plugin_dir.display()))?;
    let _policy_watch = watch_policies(&args.inputs.policies, tx.clone())?;
    spawn_interval(args.interval, tx.clone());
    spawn_signals(tx.clone());
    #[cfg(unix)]
    let answering = socket::serve(&state.socket_file(), tx.clone()).await?;
    tx.send(Request::Start).await.ok();
    drop(tx);

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    // Set once the shutdown signal came during a pass: the loop ends after that pass.
    let mut stopping = false;
    eprintln!(
        "rampart: agent running (state '{}', plugins '{}'); Ctrl-C to stop",
        state.root().display(),
        plugin_dir.display()
    );
    loop {
        let first = tokio::select! {
            request = rx.recv() => match request {
                Some(r) => r,
                None => break,
            },
            () = &mut shutdown => break,
        };
        // Coalesce everything already queued into this pass.
        let mut requests = vec![first];
        while let Ok(r) = rx.try_recv() {
            requests.push(r);
        }
        let reasons: Vec<String> = requests.iter().map(reason).collect();
        tracing::info!(?reasons, "enforcement pass");
        let job = job.clone();
        let live = directory.live().clone();
        let policies = args.inputs.policies.clone();
        let allow_empty = args.inputs.allow_empty;
        let mut pass = tokio::task::spawn_blocking(move || -> anyhow::Result<DeviceReport> {
            let mut policies = inputs::policies(&policies, &job.state, allow_empty)?;
            policies.save(&job.state.last_good_dir())?;
            let plugins = live.snapshot();
            let mut report = job.pass(&plugins, &policies)?;
            report.plugin_status = Some(live.status());
            job.persist(&report)?;
            Ok(report)
        });
        let joined = tokio::select! {
            joined = &mut pass => joined,
            () = &mut shutdown => {
                stopping = true;
                eprintln!("rampart: stopping; the plugin run in flight is stopped and rolled back");
                engine.stop();
                match tokio::time::timeout(SHUTDOWN_GRACE, &mut pass).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        eprintln!(
                            "rampart: the pass did not stop within {}; exiting without it (the journal rolls back what it left unfinished at the next start)",
                            humantime::format_duration(SHUTDOWN_GRACE)
                        );
                        #[cfg(unix)]
                        let _ = std::fs::remove_file(state.socket_file());
                        return Ok(exit::FAILURE);
                    }
                }
            }
        };
        let outcome = joined.context("the enforcement pass panicked")?;
        let summary = match &outcome {
            Ok(report) => PassSummary::of(report),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "enforcement pass failed");
                PassSummary::failed(e)
            }
        };
        for r in requests {
            if let Request::Sync(reply) = r {
                let _ = reply.send(summary.clone());
            }
        }
        if stopping {
            break;
        }
    }
    #[cfg(unix)]
    {
        // Each `sync` answered above is written by its connection's task: let them finish
        // before the runtime (and with it those tasks) goes away. Requests still queued get
        // "the agent stopped before the pass" once the queue is gone.
        drop(rx);
        answering.drained(SYNC_ANSWER_GRACE).await;
        let _ = std::fs::remove_file(state.socket_file());
    }
    eprintln!("rampart: agent stopped");
    Ok(exit::OK)
}

fn reason(r: &Request) -> String {
    match r {
        Request::Start => "start",
        Request::Interval => "interval",
        Request::PolicyChange => "policy change",
        Request::PluginChange => "plugin change",
        Request::Signal => "signal",
        Request::Sync(_) => "sync",
    }
    .to_string()
}

/// Watches each policy path (a directory, or a file's directory) and asks for a pass on change.
fn watch_policies(
    paths: &[PathBuf],
    tx: mpsc::Sender<Request>,
) -> anyhow::Result<Vec<Box<dyn std::any::Any>>> {
    let mut watchers: Vec<Box<dyn std::any::Any>> = Vec::new();
    for path in paths {
        let dir = if path.is_dir() {
            path.clone()
        } else {
            path.parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
        };
        let tx = tx.clone();
        let mut debouncer = new_debouncer(
            Duration::from_millis(200),
            None,
            move |result: DebounceEventResult| {
                let relevant = result.is_ok_and(|events| {
                    events
                        .iter()
                        .any(|e| !matches!(e.kind, EventKind::Access(_)))
                });
                if relevant {
                    let _ = tx.try_send(Request::PolicyChange);
                }
            },
        )?;
        debouncer
            .watch(&dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch policy directory '{}'", dir.display()))?;
        watchers.push(Box::new(debouncer));
    }
    Ok(watchers)
}

fn spawn_interval(interval: Duration, tx: mpsc::Sender<Request>) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await; // the first tick is immediate; the start pass covers it
        loop {
            ticker.tick().await;
            if tx.send(Request::Interval).await.is_err() {
                break;
            }
        }
    });
}

#[cfg(unix)]
fn spawn_signals(tx: mpsc::Sender<Request>) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            if tx.send(Request::Signal).await.is_err() {
                break;
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_signals(_tx: mpsc::Sender<Request>) {}

/// Resolves on `SIGTERM` or `SIGINT` (Ctrl-C). The handlers are installed when this is called,
/// not when it is first awaited, so from then on either signal asks the agent to stop rather
/// than killing it.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = interrupt.recv() => {},
                }
            }
            (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                one.recv().await;
            }
            // Neither handler is installed: both signals keep their default action, which
            // ends the process.
            (Err(_), Err(_)) => std::future::pending().await,
        }
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The local socket `rampart sync` talks to: one line `sync` in, one JSON [`PassSummary`] line
/// out when the pass is done.
#[cfg(unix)]
mod socket {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use anyhow::Context;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixListener;
    use tokio::sync::{mpsc, oneshot};

    use super::Request;

    /// Longest request line accepted.
    const MAX_LINE: usize = 64;

    /// The connections answering a `sync` right now.
    #[derive(Clone, Default)]
    pub(super) struct Answering(Arc<AtomicUsize>);

    impl Answering {
        /// Waits until no connection is still writing its answer, or `grace` passed.
        pub(super) async fn drained(&self, grace: std::time::Duration) {
            let until = tokio::time::Instant::now() + grace;
            while self.0.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < until {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }

    /// Counts one connection in [`Answering`] until dropped.
    struct Busy(Arc<AtomicUsize>);

    impl Busy {
        fn new(answering: &Answering) -> Busy {
            answering.0.fetch_add(1, Ordering::AcqRel);
            Busy(answering.0.clone())
        }
    }

    impl Drop for Busy {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }

    pub(super) async fn serve(path: &Path, tx: mpsc::Sender<Request>) -> anyhow::Result<Answering> {
        // A socket file left by a killed agent would make bind fail.
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on '{}'", path.display()))?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Only the agent's user may ask it to enforce.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        let answering = Answering::default();
        let counter = answering.clone();
        tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Persistent errors (e.g. out of file descriptors) must not turn this
                        // loop into a busy spin.
                        tracing::warn!(error = %e, "sync socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let tx = tx.clone();
                let busy = Busy::new(&counter);
                tokio::spawn(async move {
                    let _busy = busy;
                    let (read, mut write) = stream.into_split();
                    let mut line = String::new();
                    let mut reader = BufReader::new(read.take(MAX_LINE as u64));
                    if reader.read_line(&mut line).await.is_err() {
                        return;
                    }
                    let answer = if line.trim() == "sync" {
                        let (reply, wait) = oneshot::channel();
                        if tx.send(Request::Sync(reply)).await.is_err() {
                            "{\"error\":\"the agent is stopping\"}".to_string()
                        } else {
                            match wait.await {
                                Ok(summary) => serde_json::to_string(&summary).unwrap_or_default(),
                                Err(_) => {
                                    "{\"error\":\"the agent stopped before the pass\"}".to_string()
                                }
                            }
                        }
                    } else {
                        "{\"error\":\"unknown request; send 'sync'\"}".to_string()
                    };
                    let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
                });
            }
        });
        Ok(answering)
    }
}
