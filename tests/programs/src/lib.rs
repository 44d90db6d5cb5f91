//! Tiny guest programs for rampart's integration tests.
//!
//! Each example under `examples/` is one `cdylib` component named `<suite>_<case>` that exercises
//! one host behaviour: a limit (`limits_*`), a trap (`trap_*`), a capability check (`caps_*`) or
//! result checking (`results_*`). `rampart-test-artifacts` builds them for `wasm32-wasip2`; every
//! program must have a test of the same name (enforced with `foreach_program!`).
