//! `rampart:plugin/log`: plugin log records, bounded per run, redacted, and passed to
//! `tracing` (target `rampart::plugin`) with control characters escaped.

use crate::limits::{LimitExceeded, MAX_LOG_MESSAGE_BYTES};
use crate::text::truncate;

use super::Gate;

/// A log record's level, as the contract names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected the plugin coped with.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The level's name in reports (`info`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One log record a plugin wrote, kept for the run's report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogRecord {
    /// Its level.
    pub level: LogLevel,
    /// Its message, cut to [`MAX_LOG_MESSAGE_BYTES`] and redacted.
    pub message: String,
}

impl Gate {
    /// `log.enabled`: whether records of `level` reach `tracing`'s subscriber.
    ///
    /// # Errors
    ///
    /// The run's call budget is spent.
    pub fn log_enabled(&mut self, level: LogLevel) -> Result<bool, LimitExceeded> {
        self.count_call()?;
        Ok(match level {
            LogLevel::Trace => tracing::enabled!(target: "rampart::plugin", tracing::Level::TRACE),
            LogLevel::Debug => tracing::enabled!(target: "rampart::plugin", tracing::Level::DEBUG),
            LogLevel::Info => tracing::enabled!(target: "rampart::plugin", tracing::Level::INFO),
            LogLevel::Warn => tracing::enabled!(target: "rampart::plugin", tracing::Level::WARN),
            LogLevel::Error => tracing::enabled!(target: "rampart::plugin", tracing::Level::ERROR),
        })
    }

    /// `log.log`: keeps one record for the run's report (cut, redacted) and passes it to
    /// `tracing`. Past the run's log budget records are dropped and counted; the record kept,
    /// if any, is returned.
    ///
    /// # Errors
    ///
    /// The run's call budget is spent, or the plugin went on logging long after its log budget
    /// (more records dropped than it may keep): a flood, which ends the run.
    pub fn log(
        &mut self,
        level: LogLevel,
        message: String,
    ) -> Result<Option<&LogRecord>, LimitExceeded> {
        self.count_call()?;
        let message = self
            .redactor
            .redact_owned(truncate(message, MAX_LOG_MESSAGE_BYTES));
        if self.logs.len() >= self.limits.max_log_records as usize
            || self.log_bytes.saturating_add(message.len()) > self.limits.max_log_bytes
        {
            self.logs_dropped = self.logs_dropped.saturating_add(1);
            if self.logs_dropped > self.limits.max_log_records {
                return Err(LimitExceeded::LogFlood {
                    dropped: self.logs_dropped,
                });
            }
            return Ok(None);
        }
        self.log_bytes += message.len();
        let plugin = &*self.plugin;
        // Control characters escaped: a log line must not rewrite the operator's terminal.
        let shown = crate::text::escape_control(&message);
        match level {
            LogLevel::Trace => tracing::trace!(target: "rampart::plugin", plugin, "{shown}"),
            LogLevel::Debug => tracing::debug!(target: "rampart::plugin", plugin, "{shown}"),
            LogLevel::Info => tracing::info!(target: "rampart::plugin", plugin, "{shown}"),
            LogLevel::Warn => tracing::warn!(target: "rampart::plugin", plugin, "{shown}"),
            LogLevel::Error => tracing::error!(target: "rampart::plugin", plugin, "{shown}"),
        }
        self.logs.push(LogRecord { level, message });
        Ok(self.logs.last())
    }
}
