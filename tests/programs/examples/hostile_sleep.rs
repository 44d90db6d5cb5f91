//! Waits in WASI calls, where epoch interruption cannot reach it, for far longer than any
//! deadline. How, by the first setting's id:
//!
//! - `test_thread_sleep`: `std::thread::sleep` for 100 s, again and again (Rust's std sleeps
//!   with `wasi:clocks/monotonic-clock` `subscribe-duration` and `[method]pollable.block`);
//! - `test_poll_list`: `wasi:io/poll` `poll` on a list of clock pollables (100 s, 200 s, and an
//!   instant that never comes), again and again;
//! - anything else (the agent's Linux settings): writes `mdatp_managed.json` in the
//!   `mdatp-managed` root, so a test can see the run is in flight, then sleeps as
//!   `test_thread_sleep`.
//!
//! It is named `linux-defender` so that an agent test can deploy it, signed, as the documented
//! same-named override of the first-party plugin.

use std::time::Duration;

use rampart_sdk::{Device, Plugin, Setting, SettingResult, files};

struct Sleep;

/// The wait in each call: far past any deadline a test sets.
const LONG: Duration = Duration::from_secs(100);

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(LONG);
    }
}

/// The raw `wasi:io/poll` and `wasi:clocks/monotonic-clock` imports (Rust's std has no API for
/// polling a list), in the version the guest's std links.
#[cfg(target_arch = "wasm32")]
mod wasi {
    #[link(wasm_import_module = "wasi:clocks/monotonic-clock@0.2.6")]
    unsafe extern "C" {
        #[link_name = "subscribe-duration"]
        pub(super) fn subscribe_duration(nanos: u64) -> u32;
        #[link_name = "subscribe-instant"]
        pub(super) fn subscribe_instant(when: u64) -> u32;
    }

    #[link(wasm_import_module = "wasi:io/poll@0.2.6")]
    unsafe extern "C" {
        /// `poll: func(in: list<borrow<pollable>>) -> list<u32>`: the result list's pointer and
        /// length are written to `ret`.
        #[link_name = "poll"]
        pub(super) fn poll(pollables: *const u32, len: usize, ret: *mut [usize; 2]);
        #[link_name = "[resource-drop]pollable"]
        pub(super) fn drop_pollable(pollable: u32);
    }
}

#[cfg(target_arch = "wasm32")]
fn poll_forever() -> ! {
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    loop {
        // SAFETY: the imports are the canonical ABI lowering of the WASI functions; `poll`
        // borrows the handles and writes two words to `ret`.
        unsafe {
            let pollables = [
                wasi::subscribe_duration(nanos(LONG)),
                wasi::subscribe_duration(nanos(2 * LONG)),
                wasi::subscribe_instant(u64::MAX),
            ];
            let mut ret = [0usize; 2];
            wasi::poll(pollables.as_ptr(), pollables.len(), &mut ret);
            for p in pollables {
                wasi::drop_pollable(p);
            }
        }
    }
}

/// Outside wasm (a host build of the examples) there is no WASI to poll.
#[cfg(not(target_arch = "wasm32"))]
fn poll_forever() -> ! {
    sleep_forever()
}

impl Plugin for Sleep {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        match settings.first().map(|s| s.id.as_str()) {
            Some("test_thread_sleep") => sleep_forever(),
            Some("test_poll_list") => poll_forever(),
            Some(_) => {
                let _ = files::write(
                    "mdatp-managed",
                    "mdatp_managed.json",
                    br#"{"antivirusEngine": {"enforcementLevel": "passive"}}"#,
                );
                sleep_forever()
            }
            None => settings.iter().map(Setting::compliant).collect(),
        }
    }
}

rampart_sdk::export_plugin!(
    Sleep,
    manifest = r#"
[plugin]
name = "linux-defender"
version = "0.0.1"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*", "linux_mdatp_managed_*"]

[[grants.files]]
root = "mdatp-managed"
access = "read-write"
"#
);
