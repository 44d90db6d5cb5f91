//! Tries to make the host buffer and store huge registry values under its own granted key: an
//! 8 MiB REG_SZ, a REG_MULTI_SZ of 100 000 entries, a 6 MiB REG_BINARY, then a small DWORD.
//! Each setting reports `remediated` or `error` with the capability error, in that order.

use rampart_sdk::registry::{self, RegValue};
use rampart_sdk::{Device, Plugin, Setting, SettingResult};

const KEY: &str = r"HKLM\SOFTWARE\Policies\Rampart Huge";

struct HugeValue;

impl Plugin for HugeValue {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let attempts = [
            ("Sz", RegValue::Sz("s".repeat(8 << 20))),
            (
                "Multi",
                RegValue::MultiSz((0..100_000).map(|i| format!("entry {i:08}")).collect()),
            ),
            ("Binary", RegValue::Binary(vec![0xAB; 6 << 20])),
            ("Small", RegValue::Dword(1)),
        ];
        settings
            .iter()
            .zip(attempts)
            .map(
                |(s, (name, value))| match registry::set(KEY, name, &value) {
                    Ok(()) => s.remediated(),
                    Err(e) => s.error(e.message()),
                },
            )
            .collect()
    }
}

rampart_sdk::export_plugin!(
    HugeValue,
    manifest = r#"
[plugin]
name = "limits-huge-value"
version = "0.1.0"
platforms = ["windows-client", "windows-server"]
settings = ["test_*"]

[[grants.registry]]
key = 'HKLM\SOFTWARE\Policies\Rampart Huge'
access = "read-write"
"#
);
