//! `rampart:plugin/log`: plugin log records into `tracing`, bounded per run.

use crate::bindings::log::{Host, Level};
use crate::limits::{LogFloodExceeded, MAX_LOG_MESSAGE_BYTES};

use super::RunState;

/// One log record a plugin wrote, kept for the run's report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct LogRecord {
    pub(crate) level: &'static str,
    pub(crate) message: String,
}

impl Host for RunState {
    fn enabled(&mut self, level: Level) -> wasmtime::Result<bool> {
        self.count_call()?;
        Ok(match level {
            Level::Trace => tracing::enabled!(target: "rampart::plugin", tracing::Level::TRACE),
            Level::Debug => tracing::enabled!(target: "rampart::plugin", tracing::Level::DEBUG),
            Level::Info => tracing::enabled!(target: "rampart::plugin", tracing::Level::INFO),
            Level::Warn => tracing::enabled!(target: "rampart::plugin", tracing::Level::WARN),
            Level::Error => tracing::enabled!(target: "rampart::plugin", tracing::Level::ERROR),
        })
    }

    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.count_call()?;
        let message = self
            .redactor
            .redact_owned(truncate(message, MAX_LOG_MESSAGE_BYTES));
        if self.logs.len() >= self.limits.max_log_records as usize
            || self.log_bytes.saturating_add(message.len()) > self.limits.max_log_bytes
        {
            // Past the budget records are dropped and counted, so what is kept stays bounded;
            // a plugin that goes on logging long after (more records dropped than it may keep)
            // is flooding, and its run ends with a typed error.
            self.logs_dropped = self.logs_dropped.saturating_add(1);
            if self.logs_dropped > self.limits.max_log_records {
                return Err(wasmtime::Error::new(LogFloodExceeded {
                    dropped: self.logs_dropped,
                }));
            }
            return Ok(());
        }
        self.log_bytes += message.len();
        let plugin = &*self.plugin;
        // Control characters escaped: a log line must not rewrite the operator's terminal.
        let shown = crate::text::escape_control(&message);
        let name = match level {
            Level::Trace => {
                tracing::trace!(target: "rampart::plugin", plugin, "{shown}");
                "trace"
            }
            Level::Debug => {
                tracing::debug!(target: "rampart::plugin", plugin, "{shown}");
                "debug"
            }
            Level::Info => {
                tracing::info!(target: "rampart::plugin", plugin, "{shown}");
                "info"
            }
            Level::Warn => {
                tracing::warn!(target: "rampart::plugin", plugin, "{shown}");
                "warn"
            }
            Level::Error => {
                tracing::error!(target: "rampart::plugin", plugin, "{shown}");
                "error"
            }
        };
        self.logs.push(LogRecord {
            level: name,
            message,
        });
        Ok(())
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}
