//! Breaks the component calling convention: calls the `log` import directly with a string
//! whose pointer and length run past the end of its memory, as a plugin with hand-written
//! bindings (or a corrupted one) could. wasmtime refuses to lift the string; the run must end
//! with a typed reason naming what was wrong, not a backtrace.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, log};

#[link(wasm_import_module = "rampart:plugin/log@0.1.1")]
unsafe extern "C" {
    #[link_name = "log"]
    fn raw_log(level: i32, ptr: i32, len: i32);
}

struct Abi;

impl Plugin for Abi {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        // A genuine call first, so the import is the one the SDK declares.
        log::info("calling log with an out-of-bounds string");
        // SAFETY: none; the call is the attack. The host checks the bounds before reading.
        unsafe { raw_log(2, i32::MAX - 16, 1 << 20) };
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    Abi,
    manifest = r#"
[plugin]
name = "hostile-abi"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]
"#
);
