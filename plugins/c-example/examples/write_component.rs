//! Writes the C plugin component to a file, e.g. into a `rampart apply --plugins DIR` directory:
//!
//! ```text
//! cargo run -p rampart-plugin-c-example --example write_component -- plugins/c-realtime-protection.wasm
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: write_component OUTPUT.wasm");
        return ExitCode::from(2);
    };
    let bytes = match rampart_plugin_c_example::COMPONENT {
        Ok(bytes) => bytes,
        Err(reason) => {
            eprintln!("the C plugin was not built: {reason}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&path, bytes) {
        eprintln!("cannot write {}: {e}", path.to_string_lossy());
        return ExitCode::FAILURE;
    }
    println!("wrote {} ({} bytes)", path.to_string_lossy(), bytes.len());
    ExitCode::SUCCESS
}
