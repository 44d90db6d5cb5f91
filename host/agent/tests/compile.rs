//! Plugin compilation is bounded and cannot take the agent down: plugin files compile in a
//! child process with a time and memory budget, and oversized files are refused unread.
//!
//! The hostile inputs are generated here, byte by byte: a component nesting 20,000 empty
//! components (239 KB, many GiB to compile), a component whose one function takes Cranelift
//! far longer than the budget, a 3 GiB sparse file and a FIFO.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn rampart() -> Command {
    let mut cmd = Command::cargo_bin("rampart").expect("binary built");
    cmd.env_remove("RAMPART_LOG")
        .env_remove("RAMPART_COMPILE_TIMEOUT")
        .env_remove("RAMPART_COMPILE_MEMORY");
    cmd
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one line of a refusal; fails unless stderr is exactly one short line.
fn one_line(out: &Output) -> String {
    let stderr = stderr_of(out);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].len() < 240, "short: {stderr}");
    lines[0].to_string()
}

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn leb_len(n: usize) -> usize {
    let mut v = Vec::new();
    leb(n, &mut v);
    v.len()
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len(), out);
    out.extend_from_slice(body);
}

const COMPONENT_HEADER: &[u8] = b"\0asm\x0d\0\x01\0";

/// The rampart sections of a plugin named `name` (contract 0.1.1, no grants).
fn rampart_sections(name: &str, out: &mut Vec<u8>) {
    let manifest = format!(
        "[plugin]\nname = \"{name}\"\nversion = \"0.1.0\"\nplatforms = [\"windows-client\"]\nsettings = [\"{name}_*\"]\n"
    );
    for (section_name, data) in [
        ("rampart:manifest", manifest.as_bytes()),
        ("rampart:contract", b"0.1.1".as_slice()),
    ] {
        let mut body = Vec::new();
        leb(section_name.len(), &mut body);
        body.extend_from_slice(section_name.as_bytes());
        body.extend_from_slice(data);
        section(0, &body, out);
    }
}

/// A plugin whose component nests `depth` empty components, one in the other: small, valid,
/// and compiling it takes memory quadratic in `depth` (GiBs at 20,000).
fn nested_component_bomb(depth: usize) -> Vec<u8> {
    // Sizes from the innermost component out; then each level's prefix, outermost first.
    let mut sizes = vec![COMPONENT_HEADER.len()];
    for k in 0..depth {
        let inner = sizes[k];
        sizes.push(COMPONENT_HEADER.len() + 1 + leb_len(inner) + inner);
    }
    let mut wasm = Vec::with_capacity(sizes[depth] + 256);
    for k in (0..depth).rev() {
        wasm.extend_from_slice(COMPONENT_HEADER);
        wasm.push(4); // a nested component section
        leb(sizes[k], &mut wasm);
    }
    wasm.extend_from_slice(COMPONENT_HEADER);
    rampart_sections("bomb", &mut wasm);
    wasm
}

/// A plugin with `functions` core functions, each of `ops` multiplications among `locals`
/// `i64` locals whose products go to a global: a few bytes per operation, and far more live
/// values than registers, which Cranelift's register allocator pays for superlinearly. The
/// locals start from the (mutable, so unknown) global, so nothing folds away, and the module
/// is instantiated, so it is compiled, not only validated.
fn huge_functions(functions: usize, ops: usize, locals: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut local = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state).unwrap() % locals
    };
    let mut body = Vec::new();
    leb(1, &mut body); // one group of locals
    leb(locals, &mut body);
    body.push(0x7e); // i64
    for i in 0..locals {
        body.extend_from_slice(&[0x23, 0]); // global.get 0
        body.extend_from_slice(&[0x42, 1]); // i64.const 1
        body.push(0x7c); // i64.add
        body.push(0x21); // local.set
        leb(i, &mut body);
    }
    for _ in 0..ops {
        body.push(0x20); // local.get
        leb(local(), &mut body);
        body.push(0x20);
        leb(local(), &mut body);
        body.push(0x7e); // i64.mul
        body.push(0x22); // local.tee
        leb(local(), &mut body);
        body.extend_from_slice(&[0x24, 0]); // global.set 0
    }
    body.push(0x0b); // end
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut module); // type: () -> ()
    let mut declarations = Vec::new();
    leb(functions, &mut declarations);
    declarations.extend(std::iter::repeat_n(0, functions)); // each of that type
    section(3, &declarations, &mut module);
    section(6, &[1, 0x7e, 1, 0x42, 0, 0x0b], &mut module); // (global (mut i64) (i64.const 0))
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        leb(body.len(), &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);
    let mut wasm = COMPONENT_HEADER.to_vec();
    section(1, &module, &mut wasm); // the core module
    section(2, &[1, 0, 0, 0], &mut wasm); // one core instance of it (no imports)
    rampart_sections("slow", &mut wasm);
    wasm
}

fn plugin_dir(root: &Path, file: &str, wasm: &[u8]) -> PathBuf {
    let dir = root.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), wasm).unwrap();
    dir
}

/// `apply` with the embedded plugins only succeeds: the agent is unharmed.
fn built_in_plugins_enforce(state: &Path) {
    let out = rampart()
        .args(["apply", "--json", "--state"])
        .arg(state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let enforced = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["settings"].as_array().unwrap())
        .filter(|s| s["status"] == "compliant" || s["status"] == "remediated")
        .count();
    assert_eq!(enforced, 15, "{report}");
}

#[test]
fn a_nested_component_bomb_is_refused_within_the_memory_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = nested_component_bomb(20_000);
    assert!(bomb.len() < 240_000, "{} bytes", bomb.len());
    let dir = plugin_dir(tmp.path(), "bomb.wasm", &bomb);
    let state = tmp.path().join("state");

    // A budget below the default keeps the test light; the mechanism is the same.
    let out = rampart()
        .env("RAMPART_COMPILE_MEMORY", "512MiB")
        .args(["apply", "--plugins"])
        .arg(&dir)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "bad input: {}", stderr_of(&out));
    let line = one_line(&out);
    assert!(
        line.contains("bomb.wasm': compilation exceeded its memory budget of 512 MiB"),
        "{line}"
    );
    assert!(!state.exists(), "nothing written");

    // `plugin inspect` compiles it the same way, and says why it does not load.
    let out = rampart()
        .env("RAMPART_COMPILE_MEMORY", "512MiB")
        .args(["plugin", "inspect"])
        .arg(dir.join("bomb.wasm"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Loads        NO: compilation exceeded its memory budget of 512 MiB"),
        "{stdout}{}",
        stderr_of(&out)
    );

    built_in_plugins_enforce(&state);
}

#[test]
fn a_plugin_that_compiles_too_long_is_stopped_at_the_time_budget() {
    let tmp = tempfile::tempdir().unwrap();
    // 4.8 MB in two functions: over a minute of Cranelift in a release build, like the 6.3 MB
    // plugin that stalled `apply`.
    let slow = huge_functions(2, 200_000, 3_000);
    assert!(slow.len() < 32 << 20);
    let dir = plugin_dir(tmp.path(), "slow.wasm", &slow);
    let state = tmp.path().join("state");

    let started = Instant::now();
    let out = rampart()
        .env("RAMPART_COMPILE_TIMEOUT", "1s")
        .args(["apply", "--plugins"])
        .arg(&dir)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(2), "bad input: {}", stderr_of(&out));
    let line = one_line(&out);
    assert!(
        line.contains("slow.wasm': compilation exceeded its time budget of 1s"),
        "{line}"
    );
    // The embedded plugins' own compilation (in-process, seconds in a debug build) plus the
    // budget, with room for a loaded machine.
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert!(!state.exists(), "nothing written");

    built_in_plugins_enforce(&state);
}

#[test]
fn oversized_and_special_plugin_files_are_refused_without_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    let huge = dir.join("huge.wasm");
    // Sparse: 3 GiB long, nothing on disk. Reading it whole would need 3 GiB of memory.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let state = tmp.path().join("state");

    let mut apply = std::process::Command::new(assert_cmd::cargo::cargo_bin("rampart"));
    apply
        // Quiet: the engine warns that it cannot reserve its instance pool in 1 GiB.
        .env("RAMPART_LOG", "error")
        .args(["apply", "--plugins"])
        .arg(&dir)
        .arg("--state")
        .arg(&state);
    // The agent gets 1 GiB of address space: reading the file whole would abort it.
    #[cfg(target_os = "linux")]
    limit_address_space(&mut apply, 1 << 30);
    let started = Instant::now();
    let out = apply.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "bad input: {}", stderr_of(&out));
    let line = one_line(&out);
    assert!(
        line.contains("huge.wasm': the file is 3221225472 bytes, more than the 33554432 allowed"),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!state.exists(), "nothing written");

    // The plugin subcommands read it the same way.
    for args in [
        &["plugin", "inspect"][..],
        &["plugin", "test"],
        &["plugin", "sign", "--key", "unused.pem"],
    ] {
        let out = rampart().args(args).arg(&huge).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            one_line(&out).contains("more than the 33554432 allowed"),
            "{args:?}: {}",
            stderr_of(&out)
        );
    }

    // A FIFO named like a plugin is refused at once, not waited on.
    #[cfg(unix)]
    {
        std::fs::remove_file(&huge).unwrap();
        let fifo = dir.join("fifo.wasm");
        let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let out = rampart()
            .args(["apply", "--plugins"])
            .arg(&dir)
            .arg("--state")
            .arg(&state)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
        assert!(
            one_line(&out).contains("fifo.wasm': not a regular file"),
            "{}",
            stderr_of(&out)
        );
    }
}

/// Runs the command with its address space limited to `bytes` (`RLIMIT_AS`).
#[cfg(target_os = "linux")]
fn limit_address_space(cmd: &mut std::process::Command, bytes: u64) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the child between fork and exec, and only calls
    // `setrlimit`, which is async-signal-safe, on a value it owns.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `rampart run`: a bomb renamed into the watched directory is rejected (the reason in the
/// status report), and the agent goes on serving the embedded plugins.
#[cfg(unix)]
#[test]
fn the_running_agent_rejects_a_bomb_and_keeps_serving() {
    use std::process::{Command as StdCommand, Stdio};

    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let bin = assert_cmd::cargo::cargo_bin("rampart");
    let mut agent = StdCommand::new(&bin)
        .args(["run", "--interval", "1h", "--state"])
        .arg(&state)
        .env("RAMPART_COMPILE_MEMORY", "512MiB")
        .env_remove("RAMPART_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = StdCommand::new(&bin)
            .args(args)
            .arg("--json")
            .arg("--state")
            .arg(&state)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    let wait_for = |what: &str, ready: &mut dyn FnMut() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ready() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("the agent socket", &mut || {
        state.join("agent.sock").exists()
    });
    let enforced = |report: &serde_json::Value| {
        let count = |s: &str| report["counts"][s].as_u64().unwrap_or(0);
        count("compliant") + count("remediated")
    };
    let first = json(&["sync"]);
    assert_eq!(first["exitCode"], 0, "{first}");
    assert_eq!(enforced(&first), 15, "{first}");

    let plugins = state.join("plugins");
    std::fs::write(plugins.join("bomb.wasm.tmp"), nested_component_bomb(20_000)).unwrap();
    std::fs::rename(plugins.join("bomb.wasm.tmp"), plugins.join("bomb.wasm")).unwrap();
    let mut rejection = serde_json::Value::Null;
    wait_for("the rejection in the report", &mut || {
        json(&["sync"]);
        rejection = json(&["status"])["pluginStatus"]["rejected"][0].clone();
        !rejection.is_null()
    });
    assert!(
        rejection["file"].as_str().unwrap().ends_with("bomb.wasm"),
        "{rejection}"
    );
    let reason = rejection["reason"].as_str().unwrap();
    assert_eq!(
        reason, "compilation exceeded its memory budget of 512 MiB",
        "{rejection}"
    );

    assert!(agent.try_wait().unwrap().is_none(), "the agent is running");
    let after = json(&["sync"]);
    assert_eq!(after["exitCode"], 0, "{after}");
    assert_eq!(enforced(&after), 15, "{after}");
    let status = json(&["status"]);
    assert_eq!(
        status["pluginStatus"]["active"][0]["source"], "embedded:windows-defender",
        "{status}"
    );

    let pid = agent.id().to_string();
    assert!(
        StdCommand::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(agent.wait().unwrap().success());
}
