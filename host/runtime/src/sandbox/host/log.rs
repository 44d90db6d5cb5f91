//! `rampart:plugin/log` for a sandboxed plugin.

use rampart_gate::LogLevel;

use crate::sandbox::bindings::log::{Host, Level};

use super::RunState;

fn level(l: Level) -> LogLevel {
    match l {
        Level::Trace => LogLevel::Trace,
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    }
}

impl Host for RunState {
    fn enabled(&mut self, l: Level) -> wasmtime::Result<bool> {
        self.gate
            .log_enabled(level(l))
            .map_err(wasmtime::Error::new)
    }

    fn log(&mut self, l: Level, message: String) -> wasmtime::Result<()> {
        self.gate
            .log(level(l), message)
            .map(|_| ())
            .map_err(wasmtime::Error::new)
    }
}
