//! rampart's integration tests: one binary, one module per area.

mod architecture; // the host crates' rooms import each other without a circle
mod c_plugin; // the example plugin written in C: built with clang, loaded, audited, enforced
mod contracts; // the contract versions in sdk/wit: released files frozen, a plugin per version runs
mod firewall; // Windows Firewall settings, checked against a model of what the firewall reads
mod hostile; // hostile plugins: escapes, forbidden imports, malformed binaries, forged results
mod linux; // the Linux Defender plugin: mdeattach_managed.json, mdatp health, escapes
mod live; // hot swap, keep-last-good, AOT cache, swaps under load
mod load; // plugin loading: forbidden imports, manifests, corrupt files
mod macos; // the macOS Defender plugin: the mdeattach plist, the MDM channel, escapes
mod pipeline; // real Intune exports through parse, resolve and enforce
mod prebuilt; // the first-party plugins embedded from prebuilt files, without a guest build
mod programs; // one test per guest program in tests/programs (limits, traps, capabilities)
mod transactions; // rollback, crash recovery, what-if, drift
mod windows_defender; // the first-party plugin against the emulated registry and Defender
mod windows_settings; // the ADMX-defined antivirus and Windows Security experience settings
