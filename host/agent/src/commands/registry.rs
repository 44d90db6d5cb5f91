//! `rampart registry export|import`: the emulated registry of a state directory as `.reg` text.

use anyhow::Context;
use rampart_backends::registry::EmulatedRegistry;

use crate::cli::RegistryCommand;
use crate::state::StateDir;
use crate::{BadInput, exit};

pub(crate) fn run(cmd: RegistryCommand) -> anyhow::Result<u8> {
    match cmd {
        RegistryCommand::Export { state } => {
            let state = StateDir::resolve(state.as_deref());
            if !state.root().is_dir() {
                return Err(BadInput(format!(
                    "state directory '{}' does not exist; name an existing one with --state",
                    state.root().display()
                ))
                .into());
            }
            let registry = EmulatedRegistry::open(&state.registry_file())
                .with_context(|| format!("cannot read '{}'", state.registry_file().display()))?;
            print!("{}", registry.export_reg());
            Ok(exit::OK)
        }
        RegistryCommand::Import { file, state } => {
            let bytes =
                std::fs::read(&file).map_err(|e| BadInput(format!("'{}': {e}", file.display())))?;
            let text = rampart_backends::registry::decode_reg_bytes(&bytes)
                .map_err(|e| BadInput(format!("'{}': {e}", file.display())))?;
            // Parse before touching the state so a bad file changes nothing.
            rampart_backends::registry::parse_reg(&text)
                .map_err(|e| BadInput(format!("'{}': {e}", file.display())))?;
            let state = StateDir::resolve(state.as_deref());
            let _lock = state.create_locked("rampart registry import")?;
            let registry = EmulatedRegistry::open(&state.registry_file())
                .with_context(|| format!("cannot read '{}'", state.registry_file().display()))?;
            let summary = registry
                .import_reg(&text)
                .map_err(|e| BadInput(format!("'{}': {e}", file.display())))?;
            registry
                .save()
                .with_context(|| format!("cannot write '{}'", state.registry_file().display()))?;
            eprintln!(
                "imported '{}' into '{}': {} value(s) set, {} deleted; {} key(s) created, {} deleted",
                file.display(),
                state.registry_file().display(),
                summary.values_set,
                summary.values_deleted,
                summary.keys_created,
                summary.keys_deleted,
            );
            Ok(exit::OK)
        }
    }
}
