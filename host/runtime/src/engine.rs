//! The one wasmtime engine of a process, with epoch interruption driven by a ticker thread.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How often the ticker advances the engine's epoch. Deadlines are counted in ticks, so this is
/// the resolution of run deadlines; 10 ms keeps the ticker's cost negligible.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest WebAssembly stack a plugin may use. Deep recursion ends in a stack-overflow trap.
pub const DEFAULT_MAX_WASM_STACK: usize = 512 << 10;

/// Options for [`Engine::new`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Epoch tick interval (deadline resolution).
    pub epoch_tick: Duration,
    /// Maximum wasm stack per run.
    pub max_wasm_stack: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            epoch_tick: DEFAULT_EPOCH_TICK,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
        }
    }
}

/// A compilation and execution engine shared by every plugin of a process.
///
/// Cloning is cheap (it is reference-counted). A background thread advances the epoch every
/// [`EngineConfig::epoch_tick`]; it holds only a weak reference and stops once the last clone of
/// the engine is dropped. Fuel is off: epochs bound wall-clock time at a fraction of the cost.
#[derive(Clone)]
pub struct Engine {
    inner: wasmtime::Engine,
    tick: Duration,
    _ticker: Arc<TickerGuard>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct TickerGuard;

impl Engine {
    /// Creates an engine with the default configuration.
    ///
    /// # Errors
    ///
    /// Fails if wasmtime cannot build an engine for this CPU.
    pub fn new() -> Result<Self, crate::Error> {
        Self::with_config(&EngineConfig::default())
    }

    /// Creates an engine.
    ///
    /// # Errors
    ///
    /// Fails if wasmtime cannot build an engine for this CPU or configuration.
    pub fn with_config(config: &EngineConfig) -> Result<Self, crate::Error> {
        let mut wasm = wasmtime::Config::new();
        wasm.epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .wasm_component_model(true);
        let inner =
            wasmtime::Engine::new(&wasm).map_err(|e| crate::Error::Engine(format!("{e:#}")))?;
        let ticker = Arc::new(TickerGuard);
        let weak_engine = inner.weak();
        let weak_guard = Arc::downgrade(&ticker);
        let tick = config.epoch_tick;
        thread::Builder::new()
            .name("rampart-epoch".into())
            .spawn(move || {
                // Stop when every `Engine` clone is gone (the guard) or wasmtime dropped the
                // engine itself.
                while weak_guard.strong_count() > 0 {
                    thread::sleep(tick);
                    match weak_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| crate::Error::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Engine {
            inner,
            tick,
            _ticker: ticker,
        })
    }

    /// The wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner
    }

    /// The epoch tick interval.
    pub fn epoch_tick(&self) -> Duration {
        self.tick
    }

    /// The number of ticks that covers `deadline` (at least one).
    pub(crate) fn ticks_for(&self, deadline: Duration) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        let ticks = deadline.as_nanos().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}
