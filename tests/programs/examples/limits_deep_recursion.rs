//! Recurses without bound: the run must end in a stack-overflow error.

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Deep;

/// Scalars only, so every frame lives on the wasm stack (the host's stack limit) rather than in
/// Rust's shadow stack in linear memory; two operations after the call keep LLVM from turning
/// the recursion into a loop.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    descend(depth + 1).wrapping_mul(3) ^ depth
}

impl Plugin for Deep {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let _ = std::hint::black_box(descend(std::hint::black_box(0)));
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    Deep,
    manifest = r#"[plugin]
name = "limits-deep-recursion"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
