//! Undoing a run's changes, newest first: each change gets back what it replaced (see the
//! rollback semantics per backend in [`crate::txn::journal`]).

use base64::Engine as _;
use rampart_backends::defender::AsrAction;
use rampart_backends::registry::RegistryPath;

use crate::capabilities::Capabilities;
use crate::txn::change::{Change, asr_action, exclusion_kind};

/// Undoes `changes` newest first; returns a line for each change that could not be undone.
pub(crate) fn rollback(changes: &[Change], caps: &Capabilities) -> Vec<String> {
    let mut failures = Vec::new();
    for change in changes.iter().rev() {
        if let Err(e) = undo(change, caps) {
            tracing::error!(%change, error = %e, "cannot roll back a change");
            failures.push(format!("could not roll back {change}: {e}"));
        }
    }
    failures
}

fn undo(change: &Change, caps: &Capabilities) -> Result<(), String> {
    let registry = || {
        caps.registry
            .as_deref()
            .ok_or_else(|| "no registry backend".to_string())
    };
    let path = |k: &str| RegistryPath::parse(k).map_err(|e| e.to_string());
    match change {
        Change::RegistryValue {
            key, name, before, ..
        } => {
            let reg = registry()?;
            let key = path(key)?;
            match before {
                Some(v) => reg
                    .set_value(&key, name, v.to_reg()?)
                    .map_err(|e| e.to_string()),
                None => reg
                    .delete_value(&key, name)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            }
        }
        Change::RegistryKeyCreated { key } => registry()?
            .delete_key(&path(key)?)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Change::RegistryKeyDeleted { subtree, .. } => {
            let reg = registry()?;
            for snapshot in subtree {
                let key = path(&snapshot.key)?;
                reg.create_key(&key).map_err(|e| e.to_string())?;
                for (name, value) in &snapshot.values {
                    reg.set_value(&key, name, value.to_reg()?)
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        }
        Change::File {
            root, path, before, ..
        } => {
            let files = caps.files.as_deref().ok_or("no file backend")?;
            match before {
                Some(b64) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|e| format!("bad base64 in journal: {e}"))?;
                    files
                        .write_atomic(root, path, &bytes)
                        .map_err(|e| e.to_string())
                }
                None => files
                    .remove(root, path)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            }
        }
        Change::DefenderPreference { name, before, .. } => {
            let defender = caps.defender.as_deref().ok_or("no defender backend")?;
            match before {
                Some(v) => defender
                    .set_preference(name, v.into())
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            }
        }
        Change::DefenderExclusion { kind, value, added } => {
            let defender = caps.defender.as_deref().ok_or("no defender backend")?;
            let kind = exclusion_kind(kind)?;
            if *added {
                defender
                    .remove_exclusion(kind, value)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            } else {
                defender
                    .add_exclusion(kind, value)
                    .map_err(|e| e.to_string())
            }
        }
        Change::AsrRule { id, before, .. } => {
            let defender = caps.defender.as_deref().ok_or("no defender backend")?;
            let action = before.as_deref().map_or(Ok(AsrAction::Off), asr_action)?;
            defender.set_asr_rule(id, action).map_err(|e| e.to_string())
        }
    }
}
