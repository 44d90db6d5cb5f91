//! Benchmark guest: reads one registry value `n` times, where `n` is the integer value of its
//! one setting. Timing runs with different `n` isolates the cost of one host call round trip
//! (guest → host → emulated registry → guest) from the cost of the run around it.

use rampart_sdk::registry::Key;
use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct RegistryReads;

impl Plugin for RegistryReads {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let key = Key::new(r"HKLM\SOFTWARE\Policies\Rampart Bench");
        settings
            .iter()
            .map(|s| {
                let n = s.value.as_integer().unwrap_or(0);
                let mut found = 0u32;
                for _ in 0..n {
                    match key.dword("Value") {
                        Ok(Some(_)) => found += 1,
                        Ok(None) => {}
                        Err(e) => return s.error(e.message()),
                    }
                }
                // The count goes into the result so the reads cannot be optimised away.
                s.enforced(std::hint::black_box(found) > u32::MAX / 2)
            })
            .collect()
    }
}

rampart_sdk::export_plugin!(
    RegistryReads,
    manifest = r#"
[plugin]
name = "bench-registry-reads"
version = "0.1.0"
platforms = ["windows-client", "windows-server"]
settings = ["bench_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Bench'
access = "read"
"#
);
