//! An example rampart plugin written in C (`plugin.c`) against the WIT contract in
//! `sdk/wit/rampart-plugin-0.1.1`.
//!
//! The build script compiles it into a component; this crate only exposes the bytes, for the
//! integration tests and anyone who wants to load it. See the README for building it by hand.

include!(concat!(env!("OUT_DIR"), "/component.rs"));
