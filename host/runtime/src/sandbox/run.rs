//! One plugin run: a fresh store, instantiate, `apply`, check the results, drop everything.
//!
//! No guest state survives between runs: each gets a new [`RunState`], a new WASI context that
//! denies everything, a memory limiter and a deadline, which covers the plugin's code (checked
//! at every epoch tick) and its WASI waits (`crate::sandbox::host::wasi`). A run that traps poisons only
//! its own store, which is dropped; the pre-linked [`Plugin`] serves the next run. The one thing
//! a plugin's runs share is the host's cache of parsed registry key paths (`KnownKeys`), which
//! holds no values and only short keys.

use std::time::{Duration, Instant};

use rampart_policy::device::{Device, Platform};
use rampart_policy::settings::{GroupPosition, ResolvedSetting, SettingValue};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::WasiCtxBuilder;

use crate::capabilities::Capabilities;
use crate::journal::RunJournal;
use crate::redact::Redactor;
use crate::sandbox::bindings::types as wit;
use crate::sandbox::engine::{DeadlineExceeded, Stopped};
use crate::sandbox::error::RunError;
use crate::sandbox::host::RunState;
use crate::sandbox::host::wasi::RunClock;
use crate::sandbox::limits::{LimitExceeded, MemoryLimitExceeded, RunLimiter, RunLimits};
use crate::sandbox::plugin::Plugin;
use rampart_gate::results::{PluginResult, ReportedStatus, check_results};
pub use rampart_gate::results::{SettingOutcome, UNCONFIRMED};
use rampart_gate::{Gate, LogRecord};
use stderr_tail::StderrTail;

/// Bytes of a plugin's stderr kept (the last ones written) to explain a panic.
const STDERR_CAPTURE: usize = 4 << 10;

/// What a successful run produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// One outcome per setting handed to the plugin, in the same order.
    pub outcomes: Vec<SettingOutcome>,
    /// Problems with the plugin's answer (results for unknown settings, duplicates).
    pub protocol_errors: Vec<String>,
    /// Log records the plugin wrote.
    pub logs: Vec<(String, String)>,
    /// Log records dropped over the per-run bound.
    pub logs_dropped: u32,
    /// Capability calls made.
    pub host_calls: u32,
    /// Wall-clock time of the run (store, instantiate, apply).
    pub elapsed: Duration,
    /// The changes the run made, in order (old → new), as journaled.
    pub changes: Vec<crate::journal::Change>,
}

impl Plugin {
    /// Runs the plugin once over `settings` in a fresh sandbox.
    ///
    /// # Errors
    ///
    /// [`RunError`] when the run as a whole failed (deadline, memory cap, call flood, trap, or
    /// changes a write-behind backend could not make durable). A plugin that answers badly (missing or unknown results) is not a run error: the affected
    /// settings become `error` and the problems are listed in [`RunOutput::protocol_errors`].
    pub fn run(
        &self,
        device: &Device,
        settings: &[ResolvedSetting],
        capabilities: &Capabilities,
        limits: &RunLimits,
    ) -> Result<RunOutput, RunError> {
        let (result, mut journal) = self.execute(
            device,
            settings,
            capabilities,
            limits,
            RunJournal::in_memory(),
        );
        // Backends that write behind hold the run's changes until flushed: a run is done only
        // once they are durable. What a failed run changed stands, as it would have with
        // backends that persist at once; a run whose changes cannot be made durable is undone
        // in memory, since none of them reached the disk.
        if let Err(message) = journal.settle(capabilities) {
            let error = RunError::NotPersisted {
                plugin: self.name().to_string(),
                message,
            };
            let (_, failures) = journal.rollback(capabilities, false);
            tracing::error!(%error, ?failures, "the run's changes were undone");
            return Err(match result {
                Err(run_error) => run_error,
                Ok(_) => error,
            });
        }
        let redactor = journal.redactor();
        // An in-memory journal has no commit record to write: committing cannot fail.
        let changes = match journal.commit() {
            Ok(committed) => committed.changes,
            Err(failed) => failed.0.changes().to_vec(),
        };
        result.map(|mut out| {
            out.changes = changes.iter().map(|c| redactor.present(c)).collect();
            out
        })
    }

    /// Runs the plugin once, journaling every change in `journal` before it is made. The caller
    /// decides what happens to the changes: [`RunJournal::commit`] or [`RunJournal::rollback`].
    pub(crate) fn execute(
        &self,
        device: &Device,
        settings: &[ResolvedSetting],
        capabilities: &Capabilities,
        limits: &RunLimits,
        journal: RunJournal,
    ) -> (Result<RunOutput, RunError>, RunJournal) {
        let started = Instant::now();
        if self.engine.is_stopped() {
            let plugin = self.name().to_string();
            return (Err(RunError::Stopped { plugin }), journal);
        }
        let mut journal = journal;
        let redactor = Redactor::shared_for_settings(settings);
        journal.redact_with(redactor.clone());
        let stderr = StderrTail::new(STDERR_CAPTURE);
        // Deny-all WASI: no environment, arguments or preopens; stdin closed; sockets refused.
        // Only stderr is kept, to explain panics. The monotonic clock is the run's: the WASI
        // waits measure the deadline with it.
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .monotonic_clock(RunClock::new(started))
            .build();
        let state = RunState {
            wasi,
            table: ResourceTable::new(),
            limiter: RunLimiter::new(limits.memory),
            limits: *limits,
            gate: Gate::new(
                self.shared_name(),
                self.shared_grants(),
                capabilities.clone(),
                *limits,
                journal,
                self.known_keys.snapshot(),
            ),
        };
        let mut store = Store::new(self.engine.wasmtime(), state);
        store.limiter(|s| &mut s.limiter);
        // The deadline covers instantiation and apply together. Plugin code checks it, and the
        // engine's stop, at every epoch tick: wall-clock time, so a ticker that falls behind on
        // a loaded host does not stretch it. (A store starts with epoch deadline 0, so this is
        // set before any guest code runs.)
        let deadline = started.checked_add(limits.deadline);
        let stop = self.engine.stop_signal().clone();
        store.epoch_deadline_callback(move |_| {
            if stop.is_stopped() {
                return Err(wasmtime::Error::new(Stopped));
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            Ok(wasmtime::UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);

        let tags: Vec<&str> = device.tags.iter().map(String::as_str).collect();
        let wit_device = to_wit_device(device, &tags);
        let lists = text_lists(settings);
        let wit_settings: Vec<wit::Setting> = settings
            .iter()
            .zip(&lists)
            .map(|(s, list)| to_wit_setting(s, list))
            .collect();
        let results = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| instance.call_apply(&mut store, wit_device, &wit_settings));
        let state = store.into_data().gate.finish();
        self.known_keys.publish(state.parsed_keys);
        let results = match results {
            Ok(r) => r,
            Err(e) => {
                let error = redact_error(classify(self.name(), limits, e, &stderr), &redactor);
                return (Err(error), state.journal);
            }
        };
        let max_results = settings
            .len()
            .saturating_mul(2)
            .saturating_add(crate::sandbox::limits::MAX_EXTRA_RESULTS);
        if results.len() > max_results {
            return (
                Err(RunError::TooManyResults {
                    plugin: self.name().to_string(),
                    results: results.len(),
                    limit: max_results,
                }),
                state.journal,
            );
        }
        let given: Vec<(&str, Option<&GroupPosition>)> = settings
            .iter()
            .map(|s| (s.id.as_str(), s.group.as_ref()))
            .collect();
        let results = results.into_iter().map(plugin_result).collect();
        let (mut outcomes, mut protocol_errors) = check_results(&given, results);
        if !redactor.is_empty() {
            for o in &mut outcomes {
                o.message = o.message.take().map(|m| redactor.redact_owned(m));
            }
        }
        // Protocol errors quote what the plugin sent (ids): redacted, then escaped, since the
        // agent logs them as they are.
        for p in &mut protocol_errors {
            *p = crate::text::escape_control(&redactor.redact(p)).into_owned();
        }
        let output = RunOutput {
            outcomes,
            protocol_errors,
            logs: state
                .logs
                .into_iter()
                .map(|LogRecord { level, message }| (level.name().to_string(), message))
                .collect(),
            logs_dropped: state.logs_dropped,
            host_calls: state.host_calls,
            elapsed: started.elapsed(),
            changes: Vec::new(),
        };
        (Ok(output), state.journal)
    }
}

/// `error` with the run's secrets taken out of the text the plugin controls (a panic message),
/// and its control characters escaped: the agent logs it as it is.
fn redact_error(error: RunError, redactor: &Redactor) -> RunError {
    match error {
        RunError::Trap { plugin, message } => RunError::Trap {
            plugin,
            message: crate::text::escape_control(&redactor.redact(&message)).into_owned(),
        },
        other => other,
    }
}

/// Turns a wasmtime error into the typed reason the run failed.
fn classify(
    plugin: &str,
    limits: &RunLimits,
    error: wasmtime::Error,
    stderr: &StderrTail,
) -> RunError {
    let plugin = plugin.to_string();
    if error.is::<Stopped>() {
        return RunError::Stopped { plugin };
    }
    if error.is::<DeadlineExceeded>() {
        return RunError::Timeout {
            plugin,
            deadline: limits.deadline,
        };
    }
    if let Some(m) = error.downcast_ref::<MemoryLimitExceeded>() {
        return RunError::MemoryLimit {
            plugin,
            limit: m.limit,
        };
    }
    if let Some(exceeded) = error.downcast_ref::<LimitExceeded>() {
        return match *exceeded {
            LimitExceeded::LogFlood { dropped } => RunError::LogFlood { plugin, dropped },
            LimitExceeded::HostCalls { limit } => RunError::HostCallLimit { plugin, limit },
            LimitExceeded::WriteQuota { limit } => RunError::WriteQuota { plugin, limit },
        };
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return RunError::Exited {
            plugin,
            code: exit.0,
        };
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => RunError::StackOverflow { plugin },
        Some(wasmtime::Trap::UnreachableCodeReached) => {
            let printed = String::from_utf8_lossy(&stderr.contents())
                .trim()
                .to_string();
            let message = match panic_message(&printed) {
                Some(p) => format!("panicked: {p}"),
                None => "aborted (unreachable code reached)".to_string(),
            };
            RunError::Trap { plugin, message }
        }
        Some(trap) => RunError::Trap {
            plugin,
            message: trap.to_string(),
        },
        // Not a trap of the guest's own code: wasmtime refused what the guest handed across
        // the boundary (lifting a string or list, a `cabi_realloc` answer, a handle). The
        // innermost cause says what; the outer ones are backtrace context.
        None => RunError::AbiViolation {
            plugin,
            message: crate::text::excerpt(&error.root_cause().to_string(), 200),
        },
    }
}

/// Extracts the panic message Rust's panic hook printed to stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let line = stderr.lines().find(|l| l.contains("panicked at"))?;
    let after: Vec<&str> = stderr.lines().skip_while(|l| *l != line).skip(1).collect();
    let detail = after.first().map(|s| s.trim()).filter(|s| !s.is_empty());
    Some(match detail {
        Some(d) => rampart_gate::gate::truncate(d.to_string(), 512),
        None => line.trim().to_string(),
    })
}

/// A setting's identity, borrowed: matching results to settings allocates nothing per setting.
/// A result as the gate's result check takes it.
fn plugin_result(r: wit::SettingResult) -> PluginResult {
    PluginResult {
        id: r.id,
        group: r.group.map(|g| GroupPosition {
            definition_id: g.definition_id,
            index: g.index,
        }),
        status: match r.status {
            wit::SettingStatus::Compliant => ReportedStatus::Compliant,
            wit::SettingStatus::Remediated => ReportedStatus::Remediated,
            wit::SettingStatus::Error => ReportedStatus::Error,
            wit::SettingStatus::NotApplicable => ReportedStatus::NotApplicable,
        },
        message: r.message,
        code: r.code,
    }
}

/// The device as the contract passes it, borrowing from `d` and `tags` (the tags as `&str`).
fn to_wit_device<'a>(d: &'a Device, tags: &'a [&'a str]) -> wit::Device<'a> {
    wit::Device {
        id: &d.id,
        name: &d.name,
        platform: match d.platform {
            Platform::WindowsClient => wit::Platform::WindowsClient,
            Platform::WindowsServer => wit::Platform::WindowsServer,
            Platform::Linux => wit::Platform::Linux,
            Platform::Macos => wit::Platform::Macos,
        },
        os_version: &d.os_version,
        domain_controller: d.domain_controller,
        tags,
    }
}

/// Each setting's text list as `&str`s, by position (empty, so not allocated, for other
/// values): the contract's borrowed setting type lends `&[&str]`.
fn text_lists(settings: &[ResolvedSetting]) -> Vec<Vec<&str>> {
    settings
        .iter()
        .map(|s| match &s.value {
            SettingValue::TextList(items) => items.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// A setting as the contract passes it, borrowing every string from `s` (and its text list,
/// if it has one, from `list`): lowering into the guest copies each string once, with no host
/// copy in between.
fn to_wit_setting<'a>(s: &'a ResolvedSetting, list: &'a [&'a str]) -> wit::Setting<'a> {
    wit::Setting {
        id: &s.id,
        value: match &s.value {
            SettingValue::Integer(i) => wit::SettingValue::Integer(*i),
            SettingValue::Boolean(b) => wit::SettingValue::Boolean(*b),
            SettingValue::Text(t) => wit::SettingValue::Text(t),
            SettingValue::TextList(_) => wit::SettingValue::TextList(list),
            SettingValue::IntegerList(l) => wit::SettingValue::IntegerList(l),
            SettingValue::Secret(secret) => wit::SettingValue::Secret(secret.expose()),
        },
        group: s.group.as_ref().map(|g| wit::GroupPositionParam {
            definition_id: &g.definition_id,
            index: g.index,
        }),
        csp_uri: s.csp_uri.as_deref(),
    }
}

/// The plugin's stderr: accepts everything, keeps the last bytes. wasmtime's
/// `MemoryOutputPipe` traps a guest that writes past its capacity, so with it a plugin that
/// prints a few KiB of diagnostics would be killed and reported as "aborted"; and Rust's panic
/// hook prints
/// last, so the tail is what explains a trap.
mod stderr_tail {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use tokio::io::AsyncWrite;
    use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
    use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

    #[derive(Clone)]
    pub(super) struct StderrTail {
        keep: usize,
        tail: Arc<Mutex<VecDeque<u8>>>,
    }

    impl StderrTail {
        pub(super) fn new(keep: usize) -> StderrTail {
            StderrTail {
                keep,
                // Empty until the plugin writes: most runs never do, and a run should not
                // pay for a buffer it does not use.
                tail: Arc::new(Mutex::new(VecDeque::new())),
            }
        }

        fn push(&self, bytes: &[u8]) {
            let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
            let bytes = &bytes[bytes.len().saturating_sub(self.keep)..];
            let overflow = (tail.len() + bytes.len()).saturating_sub(self.keep);
            tail.drain(..overflow);
            tail.extend(bytes);
        }

        /// The last bytes written, oldest first.
        pub(super) fn contents(&self) -> Vec<u8> {
            let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
            tail.iter().copied().collect()
        }
    }

    impl IsTerminal for StderrTail {
        fn is_terminal(&self) -> bool {
            false
        }
    }

    impl StdoutStream for StderrTail {
        fn p2_stream(&self) -> Box<dyn OutputStream> {
            Box::new(self.clone())
        }

        fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
            Box::new(self.clone())
        }
    }

    #[wasmtime_wasi::async_trait]
    impl Pollable for StderrTail {
        async fn ready(&mut self) {}
    }

    impl OutputStream for StderrTail {
        fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
            self.push(&bytes);
            Ok(())
        }

        fn flush(&mut self) -> Result<(), StreamError> {
            Ok(())
        }

        fn check_write(&mut self) -> Result<usize, StreamError> {
            // Always ready, always room: what does not fit pushes out the oldest bytes.
            Ok(64 << 10)
        }
    }

    impl AsyncWrite for StderrTail {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.push(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn keeps_the_last_bytes() {
            let tail = StderrTail::new(8);
            tail.push(b"0123");
            tail.push(b"4567");
            assert_eq!(tail.contents(), b"01234567");
            tail.push(b"89");
            assert_eq!(tail.contents(), b"23456789");
            tail.push(b"abcdefghijkl");
            assert_eq!(tail.contents(), b"efghijkl");
        }
    }
}
