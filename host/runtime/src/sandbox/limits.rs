//! The limiter that holds one store to its memory and table caps ([`RunLimits`] holds the
//! numbers; the capability gate enforces the rest of them).

pub use rampart_gate::limits::*;

/// Table elements allowed per run (function references); Rust plugins use a few hundred.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The error a run traps with when it tries to grow memory past its cap; found again with
/// `downcast_ref` so the run reports a typed memory error rather than a generic trap.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (tried to grow to {desired} bytes)")]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) limit: usize,
    pub(crate) desired: usize,
}

/// Enforces the memory and table caps of one store.
#[derive(Debug)]
pub(crate) struct RunLimiter {
    memory_limit: usize,
}

impl RunLimiter {
    pub(crate) fn new(memory_limit: usize) -> Self {
        RunLimiter { memory_limit }
    }
}

impl wasmtime::ResourceLimiter for RunLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            // Trapping (rather than returning `false`) stops the run at once: a plugin that
            // wants more memory than its cap is over budget, not something to retry.
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.memory_limit,
                desired,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        // A wasip2 Rust component instantiates a handful of core instances.
        64
    }

    fn memories(&self) -> usize {
        8
    }

    fn tables(&self) -> usize {
        16
    }
}
