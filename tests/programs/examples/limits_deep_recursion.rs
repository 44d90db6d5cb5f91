//! Recurses without bound: the run must end in a stack-overflow error.

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Deep;

fn descend(depth: u64, pad: [u64; 16]) -> u64 {
    let next = std::hint::black_box(pad);
    // The condition is never true at run time; it keeps the compiler from seeing (and warning
    // about) unconditional recursion.
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    descend(depth + 1, next) + next[0]
}

impl Plugin for Deep {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let _ = std::hint::black_box(descend(0, [1; 16]));
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(Deep, manifest = r#"[plugin]
name = "limits-deep-recursion"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#);
