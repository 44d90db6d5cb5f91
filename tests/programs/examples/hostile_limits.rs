//! Limit violations the `limits_*` programs do not cover, chosen by the first setting's id:
//!
//! - `test_grow_huge`: asks for 1.5 GiB in a single allocation (one huge `memory.grow`, not many
//!   small ones);
//! - `test_write_then_spin`: writes a value inside its grant, then spins forever;
//! - `test_calls_then_spin`: makes capability calls in a tight loop that never ends (each call
//!   denied), so either the call cap or the deadline must stop it.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, registry};

struct Limits;

impl Plugin for Limits {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        match settings.first().map(|s| s.id.as_str()) {
            Some("test_grow_huge") => {
                let v: Vec<u8> = Vec::with_capacity(3 << 29);
                std::hint::black_box(&v);
            }
            Some("test_write_then_spin") => {
                let _ = registry::set(
                    r"HKLM\SOFTWARE\Policies\Rampart Test",
                    "BeforeSpin",
                    &registry::RegValue::Dword(1),
                );
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("test_calls_then_spin") => loop {
                let _ = std::hint::black_box(registry::set(
                    r"HKLM\SYSTEM\CurrentControlSet",
                    "Flood",
                    &registry::RegValue::Dword(1),
                ));
            },
            _ => {}
        }
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    Limits,
    manifest = r#"
[plugin]
name = "hostile-limits"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"
"#
);
