//! rampart's integration tests: one binary, one module per area.

mod load; // plugin loading: forbidden imports, manifests, corrupt files
mod pipeline; // real Intune exports through parse, resolve and enforce
mod programs; // one test per guest program in tests/programs (limits, traps, capabilities)
mod windows_defender; // the first-party plugin against the emulated registry and Defender
