//! Looks at what the WASI imports a Rust guest always has (`wasi:cli/*`, clocks, random) give
//! away. One setting per probe; the finding is the result's code:
//!
//! - `test_env`: the number of environment variables the plugin sees;
//! - `test_args`: the number of command-line arguments;
//! - `test_stdin`: the number of bytes it can read from stdin (or -1 when reading fails);
//! - `test_stdout`: 0 when writing 64 KiB to stdout and stderr did not fail;
//! - `test_clock`: 1 when the wall clock reads after 2020 and the monotonic clock advances;
//! - `test_random`: 1 when two randomly seeded hashers disagree (randomness works).

use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct WasiProbe;

fn probe(id: &str) -> i32 {
    match id {
        "test_env" => std::env::vars_os().count() as i32,
        "test_args" => std::env::args_os().count() as i32,
        "test_stdin" => {
            let mut buf = Vec::new();
            match std::io::stdin().read_to_end(&mut buf) {
                Ok(n) => n as i32,
                Err(_) => -1,
            }
        }
        "test_stdout" => {
            let chunk = [b'x'; 1024];
            let mut failures = 0;
            for _ in 0..64 {
                failures += i32::from(std::io::stdout().write_all(&chunk).is_err());
            }
            failures
        }
        "test_clock" => {
            let after_2020 = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .is_ok_and(|d| d.as_secs() > 1_577_836_800);
            let start = std::time::Instant::now();
            let mut spins = 0u64;
            while start.elapsed().is_zero() && spins < 10_000_000 {
                spins += 1;
            }
            i32::from(after_2020 && !start.elapsed().is_zero())
        }
        "test_random" => {
            let hash = |s: std::collections::hash_map::RandomState| {
                let mut h = s.build_hasher();
                h.write_u64(42);
                h.finish()
            };
            let a = hash(std::collections::hash_map::RandomState::new());
            let b = hash(std::collections::hash_map::RandomState::new());
            i32::from(a != b)
        }
        _ => -2,
    }
}

impl Plugin for WasiProbe {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        settings
            .iter()
            .map(|s| SettingResult {
                code: Some(probe(&s.id)),
                ..s.compliant()
            })
            .collect()
    }
}

rampart_sdk::export_plugin!(
    WasiProbe,
    manifest = r#"[plugin]
name = "hostile-wasi-probe"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
