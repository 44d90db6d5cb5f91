//! Builds the first-party plugins for wasm32-wasip2 and generates `FIRST_PARTY`.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.join("../..");
    let artifacts = rampart_guest_build::GuestBuild::new(&workspace)
        .library(
            "rampart-plugin-windows-defender",
            "plugins/windows-defender",
        )
        .library("rampart-plugin-linux-defender", "plugins/linux-defender")
        .library("rampart-plugin-macos-defender", "plugins/macos-defender")
        .build();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let mut generated = String::from(
        "/// The first-party plugins: (name, component bytes).\npub const FIRST_PARTY: &[(&str, &[u8])] = &[\n",
    );
    for a in &artifacts {
        let short = a.name.trim_start_matches("rampart-plugin-");
        // Copy into OUT_DIR so the embedded bytes cannot change under a finished build.
        let copy = out.join(format!("{short}.wasm"));
        std::fs::copy(&a.path, &copy).expect("copy plugin into OUT_DIR");
        writeln!(
            generated,
            "    ({short:?}, include_bytes!({:?})),",
            copy.display().to_string()
        )
        .unwrap();
    }
    generated.push_str("];\n");
    std::fs::write(out.join("plugins.rs"), generated).expect("write plugins.rs");
}
