//! rampart's first-party plugins, built from source for `wasm32-wasip2` by this crate's build
//! script and embedded as bytes, so a fresh clone's `rampart apply` needs no prebuilt files.
//! With `RAMPART_PREBUILT_PLUGINS=DIR` set at build time, the components in `DIR`
//! (`windows-defender.wasm`, `linux-defender.wasm`, `macos-defender.wasm`) are embedded instead
//! and no guest is built.

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// The component bytes of a first-party plugin by name (e.g. `windows-defender`).
pub fn get(name: &str) -> Option<&'static [u8]> {
    FIRST_PARTY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
}
