//! Plugin compilation in a child process, within a time and memory budget.
//!
//! Compiling is the one step of loading whose cost a plugin's bytes decide: 20,000 nested
//! components in a 239 KB file make Cranelift's memory grow to many GiB, and two huge functions
//! keep it busy for minutes. So the agent never compiles in its own process. [`ChildCompiler`]
//! (the [`Compiler`] of every engine the agent loads plugins with, see [`isolated`]) runs this
//! very binary again as `rampart __compile` (a hidden subcommand, [`child_main`]):
//!
//! 1. The parent writes the wasm to the child's stdin.
//! 2. The child limits itself before compiling: on Unix `RLIMIT_DATA` (the memory budget:
//!    Linux counts every private writable mapping, so it bounds what the allocator and wasmtime
//!    use without counting address space merely reserved, as `RLIMIT_AS` would) and
//!    `RLIMIT_CPU` (the time budget times the CPU count, a backstop should the parent be gone);
//!    on Linux it also dies with its parent (`PR_SET_PDEATHSIG`). It builds an engine with the
//!    parent's configuration, compiles, and writes wasmtime's serialized component to stdout.
//! 3. The parent kills the child when the wall-clock budget runs out, reads at most
//!    [`MAX_COMPILED_BYTES`] of its answer, and loads the code with `Component::deserialize`
//!    (why that is sound: the SAFETY comment in [`ChildCompiler::compile`]).
//!
//! A child that runs out of memory aborts ("memory allocation of N bytes failed"), one that runs
//! out of time is killed: the parent reports [`CompileBudget`] either way, and nothing a plugin
//! does while compiling can take the agent down. On Windows the child sets no memory limit
//! (that would take a job object), and macOS counts only the heap segment against
//! `RLIMIT_DATA`, not mapped memory: the budget there is the wall-clock timeout only. On every
//! platform the child also ends itself a second after its time budget, should the agent be
//! gone.
//!
//! The budget: [`DEFAULT_TIME`] and [`DEFAULT_MEMORY`], overridden by the environment
//! variables [`TIME_ENV`] (`500ms`, `2m`) and [`MEMORY_ENV`] (`512MiB`, `4GiB`).

use std::ffi::OsString;
use std::io::{Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rampart_runtime::compile::{Component, excerpt};
use rampart_runtime::plugin::MAX_PLUGIN_BYTES;
use rampart_runtime::{CompileBudget, CompileError, Compiler, Engine, EngineConfig};

/// The hidden subcommand the agent runs itself with to compile (not in `--help`).
pub(crate) const SUBCOMMAND: &str = "__compile";

/// Default wall-clock budget of one plugin's compilation. A first-party plugin (300–450 KB)
/// compiles in 0.15–0.25 s, and 27 MB of ordinary code (3,000 functions) in under 4 s (release
/// build, 2 CPUs); 30 s leaves room for slow machines and still keeps a stalled `apply` short,
/// and a swap under `rampart run` never waits longer than this. A 4.8 MB plugin of two huge
/// functions takes Cranelift 88 s: it is stopped at 30 s.
pub(crate) const DEFAULT_TIME: Duration = Duration::from_secs(30);

/// Default memory budget of one plugin's compilation. Compiling a first-party plugin takes the
/// child 35–40 MB, 27 MB of ordinary code about 150 MB, the 88-second plugin above 290 MB;
/// 2 GiB is several times the most that legitimate code needs, and what an endpoint can spare
/// for a moment. The nested-component bomb reaches it in about a second.
pub(crate) const DEFAULT_MEMORY: u64 = 2 << 30;

/// Environment variable overriding [`DEFAULT_TIME`] (a duration: `500ms`, `45s`).
pub(crate) const TIME_ENV: &str = "RAMPART_COMPILE_TIMEOUT";

/// Environment variable overriding [`DEFAULT_MEMORY`] (a size: `512MiB`, `4GiB`).
pub(crate) const MEMORY_ENV: &str = "RAMPART_COMPILE_MEMORY";

/// Most bytes of compiled code the parent reads from the child: a first-party plugin's is
/// 2.5 times its wasm (27 MB of ordinary code gave 14 MB), and 256 MiB covers 8 times the
/// largest plugin accepted.
pub(crate) const MAX_COMPILED_BYTES: u64 = 256 << 20;

/// The allocator's option (mimalloc, see `rampart-alloc`) for how much address space it
/// reserves at a time, and the child's value.
const ARENA_RESERVE_ENV: &str = "MIMALLOC_ARENA_RESERVE";
const CHILD_ARENA_RESERVE: &str = "64MiB";

/// The bytes of the child's stderr kept to explain a crash: this many from its start, and as
/// many from its end.
const STDERR_KEEP: usize = 4 << 10;

/// The first bytes of every answer of the child, then one byte saying what follows.
const REPLY_MAGIC: &[u8; 8] = b"RMPCOMP\x01";
/// What follows is wasmtime's serialized component.
const REPLY_COMPILED: u8 = b'K';
/// What follows is why the bytes do not compile (UTF-8, one line).
const REPLY_INVALID: u8 = b'E';

/// What the child writes on stderr when an allocation fails (Rust's default handler), before
/// it aborts: the memory budget was hit.
const ALLOCATION_FAILED: &str = "memory allocation of ";

/// Compiles plugins in a child process running this binary (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct ChildCompiler {
    exe: PathBuf,
    time: Duration,
    memory: u64,
}

/// `engine` (a clone sharing its wasmtime engine) compiling with a [`ChildCompiler`] under the
/// budget of the environment: what every command that loads plugins uses.
pub(crate) fn isolated(engine: &Engine) -> Engine {
    engine.clone().with_compiler(ChildCompiler::from_env())
}

impl ChildCompiler {
    /// The default budget, overridden by [`TIME_ENV`] and [`MEMORY_ENV`] (an unreadable value
    /// is ignored with a warning).
    pub(crate) fn from_env() -> ChildCompiler {
        let time = match std::env::var(TIME_ENV) {
            Ok(value) => humantime::parse_duration(&value).unwrap_or_else(|e| {
                tracing::warn!(%value, error = %e, "ignoring {TIME_ENV}");
                DEFAULT_TIME
            }),
            Err(_) => DEFAULT_TIME,
        };
        let memory = match std::env::var(MEMORY_ENV) {
            Ok(value) => match value.parse::<bytesize::ByteSize>() {
                Ok(size) => size.as_u64(),
                Err(e) => {
                    tracing::warn!(%value, error = %e, "ignoring {MEMORY_ENV}");
                    DEFAULT_MEMORY
                }
            },
            Err(_) => DEFAULT_MEMORY,
        };
        ChildCompiler {
            exe: own_executable(),
            time,
            memory,
        }
    }

    fn command(&self, engine: &Engine) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .arg(SUBCOMMAND)
            .arg(format!("--time-ms={}", self.time.as_millis()))
            .arg(format!("--memory={}", self.memory))
            .arg(format!(
                "--max-wasm-stack={}",
                engine.config().max_wasm_stack
            ))
            .arg(format!("--parent={}", std::process::id()))
            // mimalloc reserves (and on Linux commits) its arenas 1 GiB at a time, which would
            // count a whole GiB against `RLIMIT_DATA` before anything is compiled; in smaller
            // steps the budget measures what compilation uses.
            .env(ARENA_RESERVE_ENV, CHILD_ARENA_RESERVE)
            // Last words in one line or two (a panic's message, the failed allocation), not
            // a backtrace.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// The file this process runs: on Linux `/proc/self/exe`, which names the image the agent was
/// started from even after an upgrade replaced the file at its path.
fn own_executable() -> PathBuf {
    #[cfg(target_os = "linux")]
    {
        let proc_exe = PathBuf::from("/proc/self/exe");
        if proc_exe.exists() {
            return proc_exe;
        }
    }
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("rampart"))
}

impl Compiler for ChildCompiler {
    fn compile(&self, engine: &Engine, wasm: &[u8]) -> Result<Component, CompileError> {
        let deadline = Instant::now() + self.time;
        let mut child = self.command(engine).spawn().map_err(|e| {
            CompileError::Failed(format!(
                "cannot start the compiler process '{}': {e}",
                self.exe.display()
            ))
        })?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (answered, answer) = mpsc::channel();
        let (reply, status, stderr) = std::thread::scope(|scope| {
            scope.spawn(move || feed(stdin, wasm));
            let stderr = scope.spawn(move || keep_stderr(stderr));
            scope.spawn(move || {
                let _ = answered.send(read_capped(stdout));
            });
            // The child closes stdout when it exits (or when it is killed).
            let reply = match answer.recv_timeout(self.time) {
                Ok(reply) => reply,
                Err(_) => {
                    stop(&mut child);
                    return Err(CompileError::Budget(CompileBudget::Time(self.time)));
                }
            };
            let status = match reply {
                Ok(Some(_)) => wait_until(&mut child, deadline),
                // More than the child may answer, or an unreadable pipe: it is not waited for.
                _ => {
                    stop(&mut child);
                    None
                }
            };
            let stderr = stderr.join().unwrap_or_default();
            Ok((reply, status, stderr))
        })?;
        let reply = match reply {
            Ok(Some(reply)) => reply,
            Ok(None) => {
                return Err(CompileError::Failed(format!(
                    "the compiler process answered more than {} MiB",
                    MAX_COMPILED_BYTES >> 20
                )));
            }
            Err(e) => {
                return Err(CompileError::Failed(format!(
                    "cannot read the compiler process's answer: {e}"
                )));
            }
        };
        let Some(status) = status else {
            return Err(CompileError::Budget(CompileBudget::Time(self.time)));
        };
        if !status.success() {
            return Err(self.crashed(status, &stderr));
        }
        let Some(body) = reply.strip_prefix(REPLY_MAGIC.as_slice()) else {
            return Err(CompileError::Failed(
                "the compiler process's answer is not a compiled component".into(),
            ));
        };
        match body.split_first() {
            Some((&REPLY_COMPILED, code)) => {
                // SAFETY: `code` is what `Engine::precompile_component` returned in a process
                // running this agent's own executable (`/proc/self/exe` on Linux: the very file
                // this process was started from), given `wasm` and an engine built from this
                // engine's configuration. It came over an anonymous pipe only that child holds
                // the other end of, and is loaded at once, never stored as it came (the AOT
                // cache stores what wasmtime re-serializes, under its MAC). So it is the code
                // `Component::new` would have produced here: trusting it is trusting Cranelift
                // with `wasm`, exactly as compiling in-process does (a compiler bug that let
                // `wasm` steer the child's output would steer in-process compilation as well;
                // a MAC would add nothing, since the child would hold its key). wasmtime still
                // checks the header, its version and the engine configuration, and returns
                // `Err` on a mismatch (e.g. a different build of the binary at that path).
                unsafe { Component::deserialize(engine.wasmtime(), code) }.map_err(|e| {
                    CompileError::Failed(format!(
                        "the compiler process's output does not load: {}",
                        excerpt(&format!("{e:#}"))
                    ))
                })
            }
            Some((&REPLY_INVALID, message)) => Err(CompileError::Invalid(excerpt(
                &String::from_utf8_lossy(message),
            ))),
            _ => Err(CompileError::Failed(
                "the compiler process's answer is not a compiled component".into(),
            )),
        }
    }
}

impl ChildCompiler {
    /// Why a child that exited unsuccessfully did: a budget it hit, or its last words.
    fn crashed(&self, status: ExitStatus, stderr: &str) -> CompileError {
        if stderr.contains(ALLOCATION_FAILED) {
            return CompileError::Budget(CompileBudget::Memory(self.memory));
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt as _;
            if status.signal() == Some(libc::SIGXCPU) {
                return CompileError::Budget(CompileBudget::Time(self.time));
            }
        }
        // The last line that says something: a panic's message, not the note after it.
        let last_words = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| {
                !l.is_empty()
                    && !l.starts_with("note:")
                    && !l.starts_with("stack backtrace:")
                    && !l.starts_with("at ")
                    && !l.starts_with(|c: char| c.is_ascii_digit())
            })
            .map(|l| format!(": {}", excerpt(l)))
            .unwrap_or_default();
        CompileError::Failed(format!(
            "the compiler process {}{last_words}",
            describe(status)
        ))
    }
}

/// How a process ended, as a phrase ("exited with code 3", "was killed by signal 11").
fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with code {code} ({code:#x})"),
        None => format!("ended: {status}"),
    }
}

/// Writes the wasm to the child. A child that is gone makes the write fail; never the agent
/// (see [`ignore_sigpipe_in_this_thread`]).
fn feed(stdin: Option<std::process::ChildStdin>, wasm: &[u8]) {
    ignore_sigpipe_in_this_thread();
    if let Some(mut stdin) = stdin {
        let _ = stdin.write_all(wasm);
    }
}

/// Blocks `SIGPIPE` in the calling thread. The agent restores the default action of `SIGPIPE`
/// (it ends the process) so that `rampart ... | head` ends quietly; a write to a child that
/// died must instead fail with `EPIPE`. The signal then stays pending on this thread, and is
/// discarded when the thread ends.
fn ignore_sigpipe_in_this_thread() {
    #[cfg(unix)]
    // SAFETY: `set` is initialised by `sigemptyset` before use, and `pthread_sigmask` only
    // changes the calling thread's signal mask.
    unsafe {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
    }
}

/// Everything the child writes to stdout, or `None` once it is more than
/// [`MAX_COMPILED_BYTES`].
fn read_capped(stdout: Option<std::process::ChildStdout>) -> std::io::Result<Option<Vec<u8>>> {
    let Some(stdout) = stdout else {
        return Ok(Some(Vec::new()));
    };
    let mut reply = Vec::new();
    stdout
        .take(MAX_COMPILED_BYTES + 1)
        .read_to_end(&mut reply)?;
    Ok((reply.len() as u64 <= MAX_COMPILED_BYTES).then_some(reply))
}

/// The first and the last [`STDERR_KEEP`] bytes the child writes to stderr (all of it is read,
/// so the child never blocks on a full pipe).
fn keep_stderr(stderr: Option<std::process::ChildStderr>) -> String {
    let Some(mut stderr) = stderr else {
        return String::new();
    };
    let mut head: Vec<u8> = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut bytes = &buf[..n];
                let room = STDERR_KEEP.saturating_sub(head.len());
                let (first, rest) = bytes.split_at(room.min(bytes.len()));
                head.extend_from_slice(first);
                bytes = rest;
                tail.extend_from_slice(bytes);
                if tail.len() > STDERR_KEEP {
                    tail.drain(..tail.len() - STDERR_KEEP);
                    cut = true;
                }
            }
        }
    }
    let mut kept = String::from_utf8_lossy(&head).into_owned();
    if cut {
        kept.push_str("\n…\n");
    }
    kept.push_str(&String::from_utf8_lossy(&tail));
    kept
}

/// The child's exit status once it exits, or `None` (and the child killed) at `deadline`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            _ => {
                stop(child);
                return None;
            }
        }
    }
}

/// Kills the child and reaps it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

// ---- the child ----

/// The child's settings, from its command line.
#[derive(Debug)]
struct ChildArgs {
    time: Duration,
    #[cfg_attr(
        not(unix),
        expect(dead_code, reason = "no memory limit on this platform")
    )]
    memory: u64,
    max_wasm_stack: usize,
    #[cfg_attr(
        not(target_os = "linux"),
        expect(dead_code, reason = "no parent-death signal on this platform")
    )]
    parent: u32,
}

/// How long after its time budget the child ends itself, should its agent be gone (killed
/// before it could kill the child).
const WATCHDOG_GRACE: Duration = Duration::from_secs(1);

fn parse_child_args(args: &[OsString]) -> Result<ChildArgs, String> {
    let mut time = None;
    let mut memory = None;
    let mut max_wasm_stack = None;
    let mut parent = None;
    for arg in args {
        let arg = arg.to_str().ok_or("an argument is not UTF-8")?;
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("unexpected argument '{arg}'"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{name}: {e}"));
        match name {
            "--time-ms" => time = Some(Duration::from_millis(number(value)?)),
            "--memory" => memory = Some(number(value)?),
            "--max-wasm-stack" => {
                max_wasm_stack =
                    Some(usize::try_from(number(value)?).map_err(|e| format!("{name}: {e}"))?)
            }
            "--parent" => {
                parent = Some(u32::try_from(number(value)?).map_err(|e| format!("{name}: {e}"))?)
            }
            _ => return Err(format!("unexpected argument '{arg}'")),
        }
    }
    Ok(ChildArgs {
        time: time.ok_or("--time-ms is missing")?,
        memory: memory.ok_or("--memory is missing")?,
        max_wasm_stack: max_wasm_stack.ok_or("--max-wasm-stack is missing")?,
        parent: parent.ok_or("--parent is missing")?,
    })
}

/// `rampart __compile ARGS`: limits this process, reads a component from stdin, compiles it and
/// writes the answer to stdout (see the module docs). `args` are the arguments after the
/// subcommand.
pub(crate) fn child_main(args: &[OsString]) -> ExitCode {
    let args = match parse_child_args(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("rampart {SUBCOMMAND}: {e} (an internal command of the agent)");
            return ExitCode::from(crate::exit::FAILURE);
        }
    };
    if let Err(e) = limit_self(&args) {
        eprintln!("rampart {SUBCOMMAND}: cannot limit its resources: {e}");
        return ExitCode::from(crate::exit::FAILURE);
    }
    // The agent kills this process at the time budget; this ends it anyway on every platform
    // (on Windows, the only bound on a child whose agent is gone).
    let time = args.time;
    let watchdog = std::thread::Builder::new()
        .name("rampart-compile-watchdog".into())
        .spawn(move || {
            std::thread::sleep(time.saturating_add(WATCHDOG_GRACE));
            eprintln!("rampart {SUBCOMMAND}: over its time budget; ending");
            std::process::exit(i32::from(crate::exit::FAILURE));
        });
    if let Err(e) = watchdog {
        eprintln!("rampart {SUBCOMMAND}: cannot start its watchdog: {e}");
        return ExitCode::from(crate::exit::FAILURE);
    }
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_PLUGIN_BYTES as u64 + 1)
        .read_to_end(&mut wasm)
    {
        eprintln!("rampart {SUBCOMMAND}: cannot read the plugin: {e}");
        return ExitCode::from(crate::exit::FAILURE);
    }
    // The answer: the magic, one byte saying what follows, and that.
    let (kind, body): (u8, std::borrow::Cow<'_, [u8]>) = if wasm.len() > MAX_PLUGIN_BYTES {
        (
            REPLY_INVALID,
            b"more bytes than a plugin may have".as_slice().into(),
        )
    } else {
        // The parent's configuration, with runs allocated on demand: nothing runs here, and
        // the pool's reservation would only count against the limits.
        let config = EngineConfig {
            max_wasm_stack: args.max_wasm_stack,
            concurrent_runs: None,
            ..EngineConfig::default()
        };
        let engine = match Engine::with_config(&config) {
            Ok(engine) => engine,
            Err(e) => {
                eprintln!("rampart {SUBCOMMAND}: {e}");
                return ExitCode::from(crate::exit::FAILURE);
            }
        };
        match engine.wasmtime().precompile_component(&wasm) {
            Ok(code) => (REPLY_COMPILED, code.into()),
            Err(e) => (
                REPLY_INVALID,
                excerpt(&format!("{e:#}")).into_bytes().into(),
            ),
        }
    };
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(REPLY_MAGIC)
        .and_then(|()| stdout.write_all(&[kind]))
        .and_then(|()| stdout.write_all(&body))
        .and_then(|()| stdout.flush());
    if let Err(e) = written {
        eprintln!("rampart {SUBCOMMAND}: cannot write the answer: {e}");
        return ExitCode::from(crate::exit::FAILURE);
    }
    ExitCode::SUCCESS
}

/// Applies the budget to this process (see the module docs); on Linux, also dies with the
/// parent.
#[cfg(unix)]
fn limit_self(args: &ChildArgs) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls without pointers; `prctl(PR_SET_PDEATHSIG)` only sets the
        // signal this process gets when its parent thread ends.
        let ppid = unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::getppid()
        };
        // The parent may have ended before the death signal was set.
        if u32::try_from(ppid).ok() != Some(args.parent) {
            return Err("the agent that started it is gone".into());
        }
    }
    // Lowers a limit to `soft` (signal or failure) and `hard`, never above a lower limit this
    // process inherited (which it could not raise).
    let set = |resource, soft: u64, hard: u64, name: &str| {
        let mut current = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `current` is a valid, writable `rlimit` for the duration of the call.
        if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
            return Err(format!("{name}: {}", std::io::Error::last_os_error()));
        }
        let max = current.rlim_max;
        let limit = libc::rlimit {
            rlim_cur: (soft as libc::rlim_t).min(max),
            rlim_max: (hard as libc::rlim_t).min(max),
        };
        // SAFETY: `limit` is a valid `rlimit` for the duration of the call.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(format!("{name}: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    };
    // Not RLIMIT_AS: it counts address space merely reserved (the allocator reserves its
    // arenas in GiB steps), so a budget of a few hundred MiB would stop the child before it
    // compiled anything.
    set(libc::RLIMIT_DATA, args.memory, args.memory, "RLIMIT_DATA")?;
    // CPU time counts every thread (wasmtime compiles functions in parallel): the wall-clock
    // budget on every CPU, rounded up, then SIGXCPU; a second later SIGKILL.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let cpu = args
        .time
        .as_secs()
        .saturating_add(1)
        .saturating_mul(threads);
    set(libc::RLIMIT_CPU, cpu, cpu.saturating_add(1), "RLIMIT_CPU")?;
    Ok(())
}

/// No memory or CPU limit off Unix (on Windows that would take a job object): the parent's
/// timeout and the child's watchdog are the budget.
#[cfg(not(unix))]
fn limit_self(_args: &ChildArgs) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_arguments_round_trip() {
        let args: Vec<OsString> = [
            "--time-ms=1500",
            "--memory=1048576",
            "--max-wasm-stack=524288",
            "--parent=42",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let parsed = parse_child_args(&args).unwrap();
        assert_eq!(parsed.time, Duration::from_millis(1500));
        assert_eq!(parsed.memory, 1 << 20);
        assert_eq!(parsed.max_wasm_stack, 512 << 10);
        assert_eq!(parsed.parent, 42);
        assert!(parse_child_args(&args[..3]).is_err());
        assert!(parse_child_args(&[OsString::from("--evil")]).is_err());
    }

    #[test]
    fn an_aborted_allocation_is_the_memory_budget() {
        let compiler = ChildCompiler {
            exe: PathBuf::from("rampart"),
            time: DEFAULT_TIME,
            memory: 1 << 30,
        };
        #[cfg(unix)]
        let aborted = {
            use std::os::unix::process::ExitStatusExt as _;
            ExitStatus::from_raw(libc::SIGABRT)
        };
        #[cfg(windows)]
        let aborted = {
            use std::os::windows::process::ExitStatusExt as _;
            ExitStatus::from_raw(0xC000_0409)
        };
        assert_eq!(
            compiler.crashed(aborted, "memory allocation of 393216 bytes failed\n"),
            CompileError::Budget(CompileBudget::Memory(1 << 30))
        );
        let CompileError::Failed(message) = compiler.crashed(aborted, "\x1b[2Kboom\n\n") else {
            panic!("a crash is not a budget");
        };
        assert!(message.ends_with(": \\u{1b}[2Kboom"), "{message}");
        let CompileError::Failed(message) = compiler.crashed(
            aborted,
            "\nthread 'main' (7) panicked at src/x.rs:1:2:\nindex out of bounds\nnote: run with `RUST_BACKTRACE=1`\n",
        ) else {
            panic!("a panic is not a budget");
        };
        assert!(message.ends_with(": index out of bounds"), "{message}");
    }
}
