//! Paths of the test guest programs, built from source by this crate's build script. Each
//! program under `tests/programs/examples/` exercises one host behaviour.

include!(concat!(env!("OUT_DIR"), "/programs.rs"));
