//! Builds the first-party plugins for wasm32-wasip2 and generates `FIRST_PARTY`.
//!
//! With `RAMPART_PREBUILT_PLUGINS=DIR` set, nothing is built: the components are taken from
//! `DIR/windows-defender.wasm`, `DIR/linux-defender.wasm` and `DIR/macos-defender.wasm`
//! (for an embedder that builds or downloads them once, or has no wasm32-wasip2 target).

use std::fmt::Write as _;
use std::path::PathBuf;

/// The first-party plugins: (package, directory in the workspace).
const PLUGINS: [(&str, &str); 3] = [
    (
        "rampart-plugin-windows-defender",
        "plugins/windows-defender",
    ),
    ("rampart-plugin-linux-defender", "plugins/linux-defender"),
    ("rampart-plugin-macos-defender", "plugins/macos-defender"),
];

const PREBUILT: &str = "RAMPART_PREBUILT_PLUGINS";

fn main() {
    println!("cargo:rerun-if-env-changed={PREBUILT}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let components: Vec<(String, PathBuf)> = match std::env::var_os(PREBUILT) {
        Some(dir) => PLUGINS
            .iter()
            .map(|(package, _)| {
                let short = package.trim_start_matches("rampart-plugin-");
                let path = PathBuf::from(&dir).join(format!("{short}.wasm"));
                println!("cargo:rerun-if-changed={}", path.display());
                assert!(
                    path.is_file(),
                    "{PREBUILT} is set, but '{}' is not a file: put the prebuilt {short} component there, or unset {PREBUILT} to build it from source",
                    path.display()
                );
                (short.to_string(), path)
            })
            .collect(),
        None => {
            let manifest_dir =
                PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
            let mut build = rampart_guest_build::GuestBuild::new(manifest_dir.join("../.."));
            for (package, dir) in PLUGINS {
                build = build.library(package, dir);
            }
            build
                .build()
                .into_iter()
                .map(|a| (a.name.trim_start_matches("rampart-plugin-").to_string(), a.path))
                .collect()
        }
    };
    let mut generated = String::from(
        "/// The first-party plugins: (name, component bytes).\npub const FIRST_PARTY: &[(&str, &[u8])] = &[\n",
    );
    for (short, path) in &components {
        // Copy into OUT_DIR so the embedded bytes cannot change under a finished build.
        let copy = out.join(format!("{short}.wasm"));
        std::fs::copy(path, &copy).expect("copy plugin into OUT_DIR");
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
