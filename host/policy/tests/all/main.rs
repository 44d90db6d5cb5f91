//! Integration tests for rampart-policy, run against the real Intune exports and catalog seed in
//! `../shared/data` (next to the workspace; never copied into the repository).

mod device_files;
mod exports;
mod malformed;
mod seed_catalog;
mod support;
