//! What rampart's capabilities reach.
//!
//! The runtime (`rampart-runtime`) checks a plugin's grants and then calls one of the backends
//! defined here. Each capability is a trait so an embedder can plug in its own implementation
//! (for example its own Defender backend):
//!
//! - [`registry`]: the Windows registry. [`registry::EmulatedRegistry`] is a persistent emulation
//!   with Windows semantics that imports and exports `.reg` text; on Windows,
//!   `registry::WindowsRegistry` is the real registry.
//! - [`defender`]: Microsoft Defender's preferences, exclusions, ASR rules and status.
//!   [`defender::SimulatedDefender`] derives its effective preferences from the policy registry
//!   keys, the way Defender does, and enforces tamper protection; [`defender::MdatpDefender`]
//!   reads the real Defender for Endpoint on Linux and macOS through `mdatp health`; on Windows,
//!   `defender::WmiDefender` is the real Defender through its WMI provider.
//! - [`files`]: directory roots held as `cap_std::fs::Dir` handles.
//! - [`firewall`]: a model of what Windows Firewall reads from a policy store in the registry
//!   ([`firewall::FirewallPolicyReader`]), for tests that check where a plugin writes.
//!
//! Backends are shared by concurrent runs, so their methods take `&self` and synchronise
//! internally.

#![deny(missing_docs)]

pub mod defender;
pub mod files;
pub mod firewall;
mod quote;
pub mod registry;

pub use files::{DirEntryInfo, FileAccess, FileError, FileRoots};
#[cfg(windows)]
pub use registry::WindowsRegistry;
pub use registry::{
    EmulatedRegistry, Hive, ImportSummary, KeyPathError, RegEntry, RegFileError, RegValue,
    RegistryBackend, RegistryError, RegistryPath,
};
