//! Writes a registry value, then calls `std::process::exit(0)` (WASI `exit`) in the middle of
//! `apply`: an exit, even a "successful" one, returns no results and must fail the run.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, registry};

struct Exit;

impl Plugin for Exit {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let _ = registry::set(
            r"HKLM\SOFTWARE\Policies\Rampart Test",
            "BeforeExit",
            &registry::RegValue::Dword(1),
        );
        if !settings.is_empty() {
            std::process::exit(0);
        }
        Vec::new()
    }
}

rampart_sdk::export_plugin!(
    Exit,
    manifest = r#"
[plugin]
name = "hostile-exit"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Test'
access = "read-write"
"#
);
