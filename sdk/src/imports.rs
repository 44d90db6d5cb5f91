//! Where the capability wrappers send their calls.
//!
//! Compiled for `wasm32`, each function below is the generated WIT import: the call leaves the
//! component and the host checks it. Compiled for the build machine (unit tests, benchmarks,
//! tools), the same functions go to the `crate::native::NativeHost` that is running the plugin
//! on this thread, which passes them through the runtime's own capability gate to its backends.
//! Outside a native run (or without the `native` feature) every call answers `unavailable`, so
//! plugin code behaves like a plugin on a host that offers nothing, instead of panicking.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::bindings::rampart::plugin::{defender, files, log, registry};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native_imports::{defender, files, log, registry};

#[cfg(not(target_arch = "wasm32"))]
mod native_imports {
    use crate::CapabilityError;
    use crate::bindings::rampart::plugin::defender::{
        AsrAction, ComputerStatus, ExclusionKind, PreferenceValue,
    };
    use crate::bindings::rampart::plugin::files::DirEntry;
    use crate::bindings::rampart::plugin::log::Level;
    use crate::bindings::rampart::plugin::registry::{NamedValue, RegValue};

    /// The capability calls of the contract, one method per WIT import, as the native host
    /// answers them.
    pub(crate) trait Host {
        fn get_value(&self, key: &str, name: &str) -> Result<Option<RegValue>, CapabilityError>;
        fn set_value(&self, key: &str, name: &str, value: &RegValue)
        -> Result<(), CapabilityError>;
        fn delete_value(&self, key: &str, name: &str) -> Result<bool, CapabilityError>;
        fn create_key(&self, key: &str) -> Result<(), CapabilityError>;
        fn delete_key(&self, key: &str) -> Result<bool, CapabilityError>;
        fn list_values(&self, key: &str) -> Result<Vec<NamedValue>, CapabilityError>;
        fn list_subkeys(&self, key: &str) -> Result<Vec<String>, CapabilityError>;

        fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, CapabilityError>;
        fn set_preference(
            &self,
            name: &str,
            value: &PreferenceValue,
        ) -> Result<(), CapabilityError>;
        fn list_exclusions(&self, kind: ExclusionKind) -> Result<Vec<String>, CapabilityError>;
        fn add_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<(), CapabilityError>;
        fn remove_exclusion(
            &self,
            kind: ExclusionKind,
            value: &str,
        ) -> Result<bool, CapabilityError>;
        fn get_asr_rule(&self, id: &str) -> Result<Option<AsrAction>, CapabilityError>;
        fn set_asr_rule(&self, id: &str, action: AsrAction) -> Result<(), CapabilityError>;
        fn get_computer_status(&self) -> Result<ComputerStatus, CapabilityError>;

        fn read(&self, root: &str, path: &str) -> Result<Vec<u8>, CapabilityError>;
        fn write(&self, root: &str, path: &str, contents: &[u8]) -> Result<(), CapabilityError>;
        fn remove(&self, root: &str, path: &str) -> Result<bool, CapabilityError>;
        fn list_dir(&self, root: &str, path: &str) -> Result<Vec<DirEntry>, CapabilityError>;

        fn log(&self, level: Level, message: &str);
        fn enabled(&self, level: Level) -> bool;
    }

    #[cfg(feature = "native")]
    pub(crate) use current::install;

    #[cfg(feature = "native")]
    mod current {
        use std::cell::RefCell;
        use std::rc::Rc;

        use super::Host;

        thread_local! {
            /// The host running a plugin on this thread. Per thread and scoped to one `apply`
            /// call, so concurrent tests (each on its own thread) never see each other's host.
            static CURRENT: RefCell<Option<Rc<dyn Host>>> = const { RefCell::new(None) };
        }

        /// Restores the previous host when the run ends, even if the plugin panicked.
        pub(crate) struct Installed {
            previous: Option<Rc<dyn Host>>,
        }

        impl Drop for Installed {
            fn drop(&mut self) {
                let previous = self.previous.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }

        /// Makes `host` answer this thread's capability calls until the guard drops.
        pub(crate) fn install(host: Rc<dyn Host>) -> Installed {
            let previous = CURRENT.with(|c| c.borrow_mut().replace(host));
            Installed { previous }
        }

        pub(super) fn current() -> Option<Rc<dyn Host>> {
            // Cloned out of the cell so a host method may itself reach capabilities.
            CURRENT.with(|c| c.borrow().clone())
        }
    }

    #[cfg(feature = "native")]
    fn current() -> Option<std::rc::Rc<dyn Host>> {
        current::current()
    }

    #[cfg(not(feature = "native"))]
    fn current() -> Option<std::rc::Rc<dyn Host>> {
        None
    }

    const NO_HOST: &str = "no rampart host: outside a plugin run, capabilities are available only \
                           through rampart_sdk::native::NativeHost (feature \"native\")";

    fn call<T>(
        f: impl FnOnce(&dyn Host) -> Result<T, CapabilityError>,
    ) -> Result<T, CapabilityError> {
        match current() {
            Some(host) => f(&*host),
            None => Err(CapabilityError::Unavailable(NO_HOST.into())),
        }
    }

    pub(crate) mod registry {
        use super::{CapabilityError, NamedValue, RegValue, call};

        pub(crate) fn get_value(
            key: &str,
            name: &str,
        ) -> Result<Option<RegValue>, CapabilityError> {
            call(|h| h.get_value(key, name))
        }
        pub(crate) fn set_value(
            key: &str,
            name: &str,
            value: &RegValue,
        ) -> Result<(), CapabilityError> {
            call(|h| h.set_value(key, name, value))
        }
        pub(crate) fn delete_value(key: &str, name: &str) -> Result<bool, CapabilityError> {
            call(|h| h.delete_value(key, name))
        }
        pub(crate) fn create_key(key: &str) -> Result<(), CapabilityError> {
            call(|h| h.create_key(key))
        }
        pub(crate) fn delete_key(key: &str) -> Result<bool, CapabilityError> {
            call(|h| h.delete_key(key))
        }
        pub(crate) fn list_values(key: &str) -> Result<Vec<NamedValue>, CapabilityError> {
            call(|h| h.list_values(key))
        }
        pub(crate) fn list_subkeys(key: &str) -> Result<Vec<String>, CapabilityError> {
            call(|h| h.list_subkeys(key))
        }
    }

    pub(crate) mod defender {
        use super::{
            AsrAction, CapabilityError, ComputerStatus, ExclusionKind, PreferenceValue, call,
        };

        pub(crate) fn get_preference(
            name: &str,
        ) -> Result<Option<PreferenceValue>, CapabilityError> {
            call(|h| h.get_preference(name))
        }
        pub(crate) fn set_preference(
            name: &str,
            value: &PreferenceValue,
        ) -> Result<(), CapabilityError> {
            call(|h| h.set_preference(name, value))
        }
        pub(crate) fn list_exclusions(kind: ExclusionKind) -> Result<Vec<String>, CapabilityError> {
            call(|h| h.list_exclusions(kind))
        }
        pub(crate) fn add_exclusion(
            kind: ExclusionKind,
            value: &str,
        ) -> Result<(), CapabilityError> {
            call(|h| h.add_exclusion(kind, value))
        }
        pub(crate) fn remove_exclusion(
            kind: ExclusionKind,
            value: &str,
        ) -> Result<bool, CapabilityError> {
            call(|h| h.remove_exclusion(kind, value))
        }
        pub(crate) fn get_asr_rule(id: &str) -> Result<Option<AsrAction>, CapabilityError> {
            call(|h| h.get_asr_rule(id))
        }
        pub(crate) fn set_asr_rule(id: &str, action: AsrAction) -> Result<(), CapabilityError> {
            call(|h| h.set_asr_rule(id, action))
        }
        pub(crate) fn get_computer_status() -> Result<ComputerStatus, CapabilityError> {
            call(|h| h.get_computer_status())
        }
    }

    pub(crate) mod files {
        use super::{CapabilityError, DirEntry, call};

        pub(crate) fn read(root: &str, path: &str) -> Result<Vec<u8>, CapabilityError> {
            call(|h| h.read(root, path))
        }
        pub(crate) fn write(
            root: &str,
            path: &str,
            contents: &[u8],
        ) -> Result<(), CapabilityError> {
            call(|h| h.write(root, path, contents))
        }
        pub(crate) fn remove(root: &str, path: &str) -> Result<bool, CapabilityError> {
            call(|h| h.remove(root, path))
        }
        pub(crate) fn list_dir(root: &str, path: &str) -> Result<Vec<DirEntry>, CapabilityError> {
            call(|h| h.list_dir(root, path))
        }
    }

    pub(crate) mod log {
        use super::{Level, current};

        pub(crate) fn log(level: Level, message: &str) {
            if let Some(host) = current() {
                host.log(level, message);
            }
        }
        pub(crate) fn enabled(level: Level) -> bool {
            current().is_some_and(|h| h.enabled(level))
        }
    }

    #[cfg(feature = "native")]
    pub(crate) use Host as NativeCalls;
}

#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub(crate) use native_imports::{NativeCalls, install};
