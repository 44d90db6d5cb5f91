//! Graph policy JSON is untrusted input: whatever the bytes, `parse_policy` returns a typed
//! result, and whatever parses flattens and resolves without panicking.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rampart_policy::catalog::Catalog;
use rampart_policy::device::Device;
use rampart_policy::graph::parse_policy;
use rampart_policy::resolve::resolve;
use rampart_policy::settings::flatten;

static CATALOG: LazyLock<Catalog> = LazyLock::new(Catalog::embedded);
static DEVICE: LazyLock<Device> = LazyLock::new(Device::example_windows_client);

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = parse_policy(data, "fuzz.json") {
        let _ = flatten(&doc, &CATALOG);
        let _ = resolve(std::slice::from_ref(&doc), &DEVICE, &CATALOG);
    }
});
