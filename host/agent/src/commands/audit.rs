//! `rampart audit verify`: check the hash chain of a state directory's audit trail.

use std::path::Path;

use crate::exit;
use crate::state::StateDir;

pub(crate) fn verify(state: Option<&Path>) -> anyhow::Result<u8> {
    let state = StateDir::resolve(state);
    let dir = state.audit_dir();
    if !dir.is_dir() {
        return Err(crate::BadInput(format!(
            "no audit trail at '{}' (nothing has been enforced with this state directory)",
            dir.display()
        ))
        .into());
    }
    match rampart_runtime::audit::verify(&dir) {
        Ok(s) => {
            println!(
                "audit trail intact: {} records in {} file(s), from record {}; last hash {}",
                s.records, s.files, s.first_seq, s.last_hash
            );
            for r in &s.repairs {
                println!("repaired: {r}");
            }
            for t in &s.tamper_events {
                println!("tamper: {t}");
            }
            if s.tamper_events.is_empty() {
                Ok(exit::OK)
            } else {
                eprintln!(
                    "rampart: the trail records {} tamper event(s): records were removed or changed before they were found",
                    s.tamper_events.len()
                );
                Ok(exit::FAILURE)
            }
        }
        Err(e) => {
            eprintln!("rampart: {e}");
            Ok(exit::FAILURE)
        }
    }
}
