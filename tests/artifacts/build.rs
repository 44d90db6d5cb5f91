//! Builds the test guest programs (examples of `rampart-test-programs`) for wasm32-wasip2 and
//! generates a path constant per program plus `foreach_program!`.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.join("../..");
    let artifacts = rampart_guest_build::GuestBuild::new(&workspace)
        .library("rampart-test-contract-0-1-0", "tests/contract-0.1.0")
        .examples("rampart-test-programs", "tests/programs")
        .build();
    let mut generated = String::new();
    let mut each = String::new();
    for a in &artifacts {
        if a.name == "rampart-test-contract-0-1-0" {
            writeln!(
                generated,
                "/// Path of the plugin built against the frozen 0.1.0 contract.\npub const CONTRACT_0_1_0_PLUGIN: &str = {:?};",
                a.path.display().to_string()
            )
            .unwrap();
            continue;
        }
        writeln!(
            generated,
            "/// Path of the `{}` test program.\npub const {}: &str = {:?};",
            a.name,
            rampart_guest_build::const_name(&a.name),
            a.path.display().to_string()
        )
        .unwrap();
        // Benchmark guests (`bench_*`) are exercised by the benchmark suite, not by a test each.
        if !a.name.starts_with("bench_") {
            writeln!(each, "        $mac!({});", a.name).unwrap();
        }
    }
    writeln!(
        generated,
        "/// Calls `$mac!(name)` for every test program, so a suite can require a test per program.\n#[macro_export]\nmacro_rules! foreach_program {{\n    ($mac:ident) => {{\n{each}    }};\n}}"
    )
    .unwrap();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("programs.rs"), generated).expect("write programs.rs");
}
