//! Logging into the host's log, attributed to the plugin and the run.
//!
//! The host bounds the log volume per run; records beyond the bound are dropped and counted.
//! Never log secrets (values from [`crate::SettingValue::Secret`]).

pub use crate::bindings::rampart::plugin::log::Level;

/// Writes one record.
pub fn write(level: Level, message: &str) {
    crate::imports::log::log(level, message);
}

/// Whether records of `level` are kept, to skip building messages nobody will read.
pub fn enabled(level: Level) -> bool {
    crate::imports::log::enabled(level)
}

/// Writes a debug record.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Writes an info record.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Writes a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Writes an error record.
pub fn error(message: &str) {
    write(Level::Error, message);
}
