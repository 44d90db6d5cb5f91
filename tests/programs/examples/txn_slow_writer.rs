//! A stand-in for the `windows-defender` plugin (same name, so a plugin directory holding it
//! overrides the embedded one) that writes 60 values slowly under
//! `...\Windows Defender\RampartKillTest`, logging `rampart-test: writing` first. Tests kill the
//! agent at random points while it writes and check that recovery leaves all or nothing.

use rampart_sdk::{Device, Plugin, Setting, SettingResult, log, registry};

struct SlowWriter;

const KEY: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\RampartKillTest";

impl Plugin for SlowWriter {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        log::info("rampart-test: writing");
        for i in 0..60u32 {
            if let Err(e) = registry::set(KEY, &format!("v{i:02}"), &registry::RegValue::Dword(i)) {
                return settings.iter().map(|s| s.error(e.message())).collect();
            }
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_millis(4) {
                std::hint::spin_loop();
            }
        }
        settings.iter().map(Setting::compliant).collect()
    }
}

rampart_sdk::export_plugin!(
    SlowWriter,
    manifest = r#"
[plugin]
name = "windows-defender"
version = "0.0.1"
platforms = ["windows-client"]
settings = ["device_vendor_msft_policy_config_defender_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Microsoft\Windows Defender'
access = "read-write"
"#
);
