//! Integration tests for rampart-policy, run against the real Intune exports and catalog seed in
//! `../shared/data` (next to the workspace; never copied into the repository) and the
//! repository's example devices.

mod device_files;
mod exports;
mod golden;
mod layouts;
mod malformed;
mod properties;
mod resolve;
mod seed_catalog;
mod support;
mod templates;
