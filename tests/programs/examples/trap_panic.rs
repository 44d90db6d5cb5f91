//! Panics: the run must end in a trap error that carries the panic message.

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Panics;

impl Plugin for Panics {
    fn apply(_device: Device, _settings: Vec<Setting>) -> Vec<SettingResult> {
        panic!("deliberate panic from trap_panic");
    }
}

rampart_sdk::export_plugin!(
    Panics,
    manifest = r#"[plugin]
name = "trap-panic"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
