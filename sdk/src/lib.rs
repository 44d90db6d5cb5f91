//! Write rampart enforcement plugins in Rust.
//!
//! A rampart plugin is a WebAssembly component (built with
//! `cargo build --target wasm32-wasip2`) that receives one device's resolved Intune settings and
//! returns one [`SettingResult`] per setting. It reaches the device only through the capabilities
//! in this crate — [`registry`], [`defender`], [`files`] and [`log`] — and the host checks every
//! call against the grants the plugin's manifest requested and the operator allowed.
//!
//! # A plugin in three parts
//!
//! 1. `Cargo.toml`: `crate-type = ["cdylib", "rlib"]` and a dependency on `rampart-sdk` only.
//! 2. `rampart-plugin.toml` beside `Cargo.toml`: the manifest (name, version, platforms,
//!    setting-id patterns, requested grants). [`export_plugin!`] embeds it in the `.wasm` as a
//!    custom section so the host reads it *before* running any plugin code.
//! 3. A type implementing [`Plugin`], exported with [`export_plugin!`]:
//!
//! ```ignore
//! use rampart_sdk::{Device, Plugin, Setting, SettingResult, registry};
//!
//! struct Example;
//!
//! impl Plugin for Example {
//!     fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
//!         let key = registry::Key::new(r"HKLM\SOFTWARE\Policies\Example");
//!         settings
//!             .iter()
//!             .map(|s| match s.value.as_integer() {
//!                 Some(v) => match key.ensure_dword("Value", v as u32) {
//!                     Ok(changed) => s.enforced(changed),
//!                     Err(e) => s.error(e.message()),
//!                 },
//!                 None => s.error("expected an integer"),
//!             })
//!             .collect()
//!     }
//! }
//!
//! rampart_sdk::export_plugin!(Example);
//! ```
//!
//! # Testing and tools
//!
//! With the `native` feature (on a non-wasm target), `native::NativeHost` runs a plugin's
//! `apply` in-process through the runtime's own capability gate and backends, so plugin logic is
//! unit-tested with plain `cargo test`. `rampart plugin new NAME` generates a crate with such a
//! test; `rampart plugin inspect` and `rampart plugin test` check a built `.wasm`. The crate's
//! README walks through the whole path from an empty directory to a deployed plugin.
//!
//! # Errors and traps
//!
//! Capability calls return [`CapabilityError`] values for everything a plugin should handle
//! (access denied, bad argument, tamper protection, backend unavailable). The host traps a
//! plugin only for limit violations (deadline, memory cap, call floods) and host bugs; a trap
//! turns every setting of the run into an `error` with the reason.

#![deny(missing_docs)]

// Lets the generated bindings name this crate by its public path, as plugins do.
extern crate self as rampart_sdk;

/// The bindings generated from the current contract (`wit/rampart-plugin-0.1.1`), once, for
/// every plugin. Plugin authors use the re-exports and wrappers in this crate instead.
#[doc(hidden)]
#[allow(missing_docs, clippy::too_many_arguments, reason = "generated code")]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit/rampart-plugin-0.1.1",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "rampart_sdk::bindings",
        runtime_path: "rampart_sdk::__wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub mod arena;
pub mod defender;
pub mod files;
mod imports;
pub mod log;
#[cfg(feature = "managed")]
pub mod managed;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub mod native;
pub mod registry;
mod settings;

pub use bindings::rampart::plugin::types::{
    CapabilityError, Device, GroupPosition, Platform, Setting, SettingStatus, SettingValue,
};
pub use bindings::{__export_plugin_world, SettingResult};
pub use settings::UNCONFIRMED;

/// The version of the WIT contract (`rampart:plugin`) this SDK builds plugins against.
///
/// [`export_plugin!`] embeds it in the plugin so the host can refuse a plugin built against an
/// incompatible contract with a message naming both versions.
pub const CONTRACT_VERSION: &str = "0.1.1";

/// The name of the custom section holding the plugin manifest (TOML).
pub const MANIFEST_SECTION: &str = "rampart:manifest";

/// The name of the custom section holding [`CONTRACT_VERSION`].
pub const CONTRACT_SECTION: &str = "rampart:contract";

/// An enforcement plugin.
///
/// The host calls [`Plugin::apply`] once per run, in a fresh sandbox: no state survives between
/// runs, so a plugin reads the device's current state through its capabilities every time.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a rampart plugin",
    label = "export_plugin! needs a type implementing `rampart_sdk::Plugin`",
    note = "add `impl rampart_sdk::Plugin for {Self} {{ fn apply(device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {{ .. }} }}`"
)]
pub trait Plugin {
    /// Enforces `settings` on `device` and returns exactly one result per setting (in any
    /// order). A setting without a result is reported as an error by the host; results for
    /// settings the plugin was not given are rejected.
    fn apply(device: Device, settings: Vec<Setting>) -> Vec<SettingResult>;
}

/// A [`Plugin`] exported with [`export_plugin!`], which implements this trait: it carries the
/// manifest the macro embeds in the `.wasm`, so native tests (`rampart_sdk::native`, feature
/// `native`) grant the plugin exactly what the built component would request.
pub trait ExportedPlugin: Plugin {
    /// The manifest text (`rampart-plugin.toml`) embedded in the component.
    const MANIFEST: &'static str;
}

/// Copies a string into a fixed-size array at compile time (for custom sections).
#[doc(hidden)]
pub const fn __section_bytes<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Exports a [`Plugin`] implementation as the component's `apply` and embeds the plugin's
/// manifest and contract version as custom sections.
///
/// By default the manifest is read at compile time from `rampart-plugin.toml` in the plugin
/// crate's root (beside its `Cargo.toml`); a missing file is a compile error. A manifest can
/// also be given inline as a string literal, which suits tiny test plugins:
///
/// ```ignore
/// rampart_sdk::export_plugin!(MyPlugin);
/// rampart_sdk::export_plugin!(MyPlugin, manifest = r#"
///     [plugin]
///     name = "my-plugin"
///     version = "0.1.0"
///     platforms = ["linux"]
///     settings = ["my_setting"]
/// "#);
/// ```
///
/// Use it once per plugin crate (or per `cdylib` example).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        $crate::export_plugin!(@export $plugin,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/rampart-plugin.toml")));
    };
    ($plugin:ty, manifest = $toml:literal) => {
        $crate::export_plugin!(@export $plugin, $toml);
    };
    (@export $plugin:ty, $manifest:expr) => {
        impl $crate::ExportedPlugin for $plugin {
            const MANIFEST: &'static str = $manifest;
        }

        const _: () = {
            // The host reads these sections with a wasm parser before compiling the component,
            // so grants are decided without running plugin code. Only wasm has them: native
            // object formats have their own section-name rules (Mach-O needs "segment,section").
            #[cfg_attr(target_arch = "wasm32", unsafe(link_section = "rampart:manifest"))]
            #[used]
            static RAMPART_MANIFEST: [u8; <$plugin as $crate::ExportedPlugin>::MANIFEST.len()] =
                $crate::__section_bytes(<$plugin as $crate::ExportedPlugin>::MANIFEST);

            #[cfg_attr(target_arch = "wasm32", unsafe(link_section = "rampart:contract"))]
            #[used]
            static RAMPART_CONTRACT: [u8; $crate::CONTRACT_VERSION.len()] =
                $crate::__section_bytes($crate::CONTRACT_VERSION);

            #[cfg_attr(
                not(target_arch = "wasm32"),
                allow(dead_code, reason = "only a wasm build exports the component")
            )]
            struct RampartExport;

            impl $crate::bindings::Guest for RampartExport {
                fn apply(
                    device: $crate::Device,
                    settings: ::std::vec::Vec<$crate::Setting>,
                ) -> ::std::vec::Vec<$crate::SettingResult> {
                    <$plugin as $crate::Plugin>::apply(device, settings)
                }
            }

            // Native builds (unit tests, benchmarks) call `Plugin::apply` through
            // `rampart_sdk::native` instead of a component export.
            #[cfg(target_arch = "wasm32")]
            $crate::__export_plugin_world!(RampartExport with_types_in $crate::bindings);
        };
    };
}
