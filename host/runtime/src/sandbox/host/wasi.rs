//! The WASI calls that can wait, bounded by the run's deadline and by the engine's stop.
//!
//! Epoch interruption (`crate::sandbox::engine`) ends a run while it executes plugin code, never while
//! the host serves one of its calls. Of the WASI interfaces a plugin may import
//! (`ALLOWED_WASI` in `crate::sandbox::plugin`), these calls can wait, and each is bounded:
//!
//! - `wasi:io/poll` `poll` and `[method]pollable.block` wait for pollables, and
//!   `wasi:clocks/monotonic-clock` `subscribe-duration` / `subscribe-instant` make a pollable
//!   for any time (Rust's `std::thread::sleep` is `subscribe-duration` then `block`). Both
//!   calls are shadowed here ([`bound_waits`]) by the same wait with two more ways to end: the
//!   run's deadline, which ends the run as timed out ([`DeadlineExceeded`]), and
//!   [`crate::Engine::stop`] ([`Stopped`]). Bounding the waits rather than the clocks covers
//!   every pollable, whatever made it.
//! - `wasi:io/streams` `blocking-read`, `blocking-skip`, `blocking-write-and-flush`,
//!   `blocking-write-zeroes-and-flush`, `blocking-flush` and `blocking-splice` wait until a
//!   stream is ready. A plugin's only streams are its stdin, stdout and stderr (filesystem and
//!   sockets are never granted), and none of them ever waits: stdin is closed (a read ends at
//!   once), stdout discards everything and is always ready, stderr is the run's in-memory tail
//!   (`StderrTail` in `crate::sandbox::run`), always ready. They stay as wasmtime-wasi links them.
//! - `[method]pollable.ready` only looks. The other allowed calls (clock readings, random
//!   bytes, environment, exit, terminals) answer at once.
//!
//! The run's deadline is read from the guest's monotonic clock, which is the run's own
//! ([`RunClock`]: it counts from the start of the run), against the run's limits.

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::clocks::{HostMonotonicClock, MonotonicClock, WasiClocksView as _};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::io::poll;
use wasmtime_wasi::runtime::in_tokio;

use super::RunState;
use crate::sandbox::engine::{DeadlineExceeded, Engine, StopSignal, Stopped};

/// The name wasmtime-wasi links `wasi:io/poll` under (plugins import an older `0.2.x`, matched
/// by semver). A unit test checks that `add_to_linker_sync` defines these very functions, so
/// the shadows below replace them rather than sit beside them.
const POLL: &str = "wasi:io/poll@0.2.12";
const POLL_FN: &str = "poll";
const BLOCK_FN: &str = "[method]pollable.block";

/// Shadows `wasi:io/poll`'s waits in `linker` (which must already hold wasmtime-wasi's) with
/// waits that end at the run's deadline or when `engine` is stopped.
pub(crate) fn bound_waits(linker: &mut Linker<RunState>, engine: &Engine) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut instance = linker.instance(POLL)?;
    let stop = engine.stop_signal().clone();
    instance.func_wrap(
        POLL_FN,
        move |mut store: StoreContextMut<'_, RunState>,
              (pollables,): (Vec<Resource<DynPollable>>,)| {
            let state = store.data_mut();
            let remaining = remaining(state);
            let ready = in_tokio(bounded(
                poll::Host::poll(&mut state.table, pollables),
                remaining,
                &stop,
            ))?;
            Ok((ready,))
        },
    )?;
    let stop = engine.stop_signal().clone();
    instance.func_wrap(
        BLOCK_FN,
        move |mut store: StoreContextMut<'_, RunState>, (pollable,): (Resource<DynPollable>,)| {
            let state = store.data_mut();
            let remaining = remaining(state);
            in_tokio(bounded(
                poll::HostPollable::block(&mut state.table, pollable),
                remaining,
                &stop,
            ))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// `wait`, ended early with a trap when `remaining` runs out or the engine is stopped.
async fn bounded<T>(
    wait: impl Future<Output = wasmtime::Result<T>>,
    remaining: Duration,
    stop: &StopSignal,
) -> wasmtime::Result<T> {
    if remaining.is_zero() {
        return Err(wasmtime::Error::new(DeadlineExceeded));
    }
    tokio::select! {
        biased;
        () = stop.stopped() => Err(wasmtime::Error::new(Stopped)),
        result = wait => result,
        () = tokio::time::sleep(remaining) => Err(wasmtime::Error::new(DeadlineExceeded)),
    }
}

/// What is left of the run's deadline: its limit less the run's clock.
fn remaining(state: &mut RunState) -> Duration {
    let deadline = state.limits.deadline;
    let mut clocks = state.clocks();
    // The run's clock cannot fail; were it to, the run has no time left.
    let elapsed = monotonic_clock::Host::now(&mut clocks).unwrap_or(u64::MAX);
    deadline.saturating_sub(Duration::from_nanos(elapsed))
}

/// The guest's `wasi:clocks/monotonic-clock`: nanoseconds since the run started. It reveals
/// nothing of the host's uptime, and it is the clock [`bound_waits`] measures the run's
/// deadline with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunClock {
    started: Instant,
}

impl RunClock {
    /// A clock that reads 0 at `started`.
    pub(crate) fn new(started: Instant) -> RunClock {
        RunClock { started }
    }
}

impl HostMonotonicClock for RunClock {
    fn resolution(&self) -> u64 {
        MonotonicClock::new().resolution()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shadowed_waits_are_the_ones_wasmtime_wasi_links() {
        let engine = wasmtime::Engine::default();
        let mut linker: Linker<RunState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        // Without shadowing, defining a name that is already linked fails: these are.
        let mut instance = linker.instance(POLL).unwrap();
        let poll = instance.func_wrap(
            POLL_FN,
            |_: StoreContextMut<'_, RunState>, (_,): (Vec<Resource<DynPollable>>,)| {
                Ok((Vec::<u32>::new(),))
            },
        );
        assert!(
            poll.is_err(),
            "wasmtime-wasi does not link {POLL} {POLL_FN}"
        );
        let block = instance.func_wrap(
            BLOCK_FN,
            |_: StoreContextMut<'_, RunState>, (_,): (Resource<DynPollable>,)| Ok(()),
        );
        assert!(
            block.is_err(),
            "wasmtime-wasi does not link {POLL} {BLOCK_FN}"
        );
    }

    #[test]
    fn the_run_clock_counts_from_the_start_of_the_run() {
        let started = Instant::now() - Duration::from_secs(3);
        let clock = RunClock::new(started);
        let now = Duration::from_nanos(clock.now());
        assert!(now >= Duration::from_secs(3), "{now:?}");
        assert!(now < Duration::from_secs(60), "{now:?}");
        assert!(clock.resolution() > 0);
    }

    #[test]
    fn a_bounded_wait_ends_at_its_deadline_or_at_the_stop() {
        let stop = StopSignal::default();
        let started = Instant::now();
        let never = in_tokio(bounded(
            std::future::pending::<wasmtime::Result<()>>(),
            Duration::from_millis(50),
            &stop,
        ));
        assert!(never.unwrap_err().is::<DeadlineExceeded>());
        assert!(started.elapsed() < Duration::from_secs(30));
        let done = in_tokio(bounded(async { Ok(7) }, Duration::from_secs(60), &stop));
        assert_eq!(done.unwrap(), 7);
        let over = in_tokio(bounded(async { Ok(7) }, Duration::ZERO, &stop));
        assert!(over.unwrap_err().is::<DeadlineExceeded>());

        let stop = std::sync::Arc::new(StopSignal::default());
        let stopper = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                stop.stop();
            })
        };
        let started = Instant::now();
        let stopped = in_tokio(bounded(
            std::future::pending::<wasmtime::Result<()>>(),
            Duration::from_secs(100),
            &stop,
        ));
        assert!(stopped.unwrap_err().is::<Stopped>());
        assert!(started.elapsed() < Duration::from_secs(30));
        stopper.join().unwrap();
        // Once stopped, a wait ends at once.
        let later = in_tokio(bounded(
            std::future::pending::<wasmtime::Result<()>>(),
            Duration::from_secs(100),
            &stop,
        ));
        assert!(later.unwrap_err().is::<Stopped>());
    }
}
