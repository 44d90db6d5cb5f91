//! Builds `plugin.c` into a rampart plugin component, from source, on every build that needs it.
//!
//! 1. Generate C bindings for the `plugin` world of the current contract
//!    (`sdk/wit/rampart-plugin-0.1.1`) with wit-bindgen's C generator (`plugin.h`, `plugin.c`,
//!    and `plugin_component_type.o`, an object holding the world's component type as a custom
//!    section).
//! 2. Compile them and the plugin for `wasm32-wasi` with clang, and link them against wasi-libc.
//!    The plugin uses only wasi-libc's allocator and string functions, so the core module
//!    imports nothing from WASI; the link has no start files (there is no `main` and no
//!    constructor to run).
//! 3. Turn the core module into a component with `wit-component` (no WASI adapter: a module that
//!    imports WASI is refused here rather than given a filesystem-capable adapter).
//! 4. Append the `rampart:manifest` (from `rampart-plugin.toml`) and `rampart:contract` (the
//!    version of the WIT package the bindings came from) custom sections the host reads before
//!    compiling anything.
//!
//! Without clang (or its wasm32 runtime library, or wasi-libc) the crate still builds, exposes
//! the reason instead of the bytes, and prints a warning; with `CI=true` a missing toolchain fails
//! the build instead, so CI cannot pass without building and testing the C plugin.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasm_encoder::{ComponentSection as _, CustomSection};
use wit_bindgen_core::wit_parser::Resolve;

/// The custom section names the host reads (`rampart_runtime::manifest`).
const MANIFEST_SECTION: &str = "rampart:manifest";
const CONTRACT_SECTION: &str = "rampart:contract";

fn main() {
    let crate_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let wit = crate_dir.join("../../sdk/wit/rampart-plugin-0.1.1");
    for watched in [
        wit.as_path(),
        &crate_dir.join("plugin.c"),
        &crate_dir.join("rampart-plugin.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    for var in ["CI", "CLANG", "WASI_SYSROOT"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let generated = match build(&crate_dir, &wit, &out) {
        Ok(component) => format!(
            "/// The C plugin component.\npub const COMPONENT: Result<&[u8], &str> = Ok(include_bytes!({:?}));\n",
            component.display().to_string()
        ),
        Err(BuildError::Toolchain(reason)) if std::env::var("CI").as_deref() != Ok("true") => {
            println!(
                "cargo:warning=the C example plugin was NOT built, its tests will skip: {reason}"
            );
            format!(
                "/// Why the C plugin component was not built.\npub const COMPONENT: Result<&[u8], &str> = Err({reason:?});\n"
            )
        }
        Err(BuildError::Toolchain(reason) | BuildError::Plugin(reason)) => {
            panic!("building the C example plugin failed: {reason}")
        }
    };
    std::fs::write(out.join("component.rs"), generated).expect("write component.rs");
}

/// Why the component could not be built.
enum BuildError {
    /// The C toolchain is missing or unusable: skippable outside CI.
    Toolchain(String),
    /// Anything else (bad WIT, a compile error in the plugin, a bad manifest): always fatal.
    Plugin(String),
}

fn build(crate_dir: &Path, wit: &Path, out: &Path) -> Result<PathBuf, BuildError> {
    let plugin = |e: String| BuildError::Plugin(e);

    // 1. Bindings.
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(wit)
        .map_err(|e| plugin(format!("cannot parse {}: {e:#}", wit.display())))?;
    let world = resolve
        .select_world(&[package], Some("plugin"))
        .map_err(|e| plugin(format!("no `plugin` world: {e:#}")))?;
    let contract = resolve.packages[package]
        .name
        .version
        .as_ref()
        .ok_or_else(|| plugin("the WIT package has no version".into()))?
        .to_string();
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| plugin(format!("generating C bindings: {e:#}")))?;
    let bindings = out.join("bindings");
    std::fs::create_dir_all(&bindings).map_err(|e| plugin(e.to_string()))?;
    for (name, contents) in files.iter() {
        std::fs::write(bindings.join(name), contents)
            .map_err(|e| plugin(format!("writing {name}: {e}")))?;
    }

    // 2. Compile and link. The plugin's own C is held to stricter warnings than the generated
    //    bindings, which are not valid pedantic C11 (they cast compound literals).
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let sysroot = std::env::var_os("WASI_SYSROOT");
    let own = out.join("plugin.o");
    let generated = out.join("bindings.o");
    let core = out.join("plugin.core.wasm");
    let steps: [(&[&str], Vec<PathBuf>, &Path); 3] = [
        (
            &[
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Wconversion",
                "-Werror",
                "-c",
            ],
            vec![crate_dir.join("plugin.c")],
            &own,
        ),
        (
            &["-Wall", "-Wextra", "-Werror", "-c"],
            vec![bindings.join("plugin.c")],
            &generated,
        ),
        (
            // A library: no `main`, no constructors, hence no start files.
            &["-nostartfiles", "-Wl,--no-entry", "-Wl,--strip-debug"],
            vec![
                own.clone(),
                generated.clone(),
                bindings.join("plugin_component_type.o"),
            ],
            &core,
        ),
    ];
    for (flags, inputs, output) in steps {
        let mut cmd = Command::new(&clang);
        cmd.args(["--target=wasm32-wasi", "-O2", "-std=c11"])
            .args(flags);
        if let Some(sysroot) = &sysroot {
            cmd.arg("--sysroot").arg(sysroot);
        }
        cmd.arg("-I")
            .arg(&bindings)
            .args(inputs)
            .arg("-o")
            .arg(output);
        clang_run(&clang, &mut cmd)?;
    }

    // 3. Component.
    let module = std::fs::read(&core).map_err(|e| plugin(format!("{}: {e}", core.display())))?;
    let mut component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|encoder| encoder.encode())
        .map_err(|e| {
            plugin(format!(
                "turning the core module into a component: {e:#} (the plugin must not use WASI: no stdio, files or clocks from libc)"
            ))
        })?;

    // 4. Sections.
    let manifest_path = crate_dir.join("rampart-plugin.toml");
    let manifest = std::fs::read(&manifest_path)
        .map_err(|e| plugin(format!("{}: {e}", manifest_path.display())))?;
    for (name, data) in [
        (MANIFEST_SECTION, manifest.as_slice()),
        (CONTRACT_SECTION, contract.as_bytes()),
    ] {
        CustomSection {
            name: name.into(),
            data: data.into(),
        }
        .append_to_component(&mut component);
    }
    let path = out.join("c-example.wasm");
    std::fs::write(&path, &component).map_err(|e| plugin(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// Runs one clang step; a missing compiler, sysroot, runtime library or linker is the
/// toolchain's fault (skippable outside CI), anything else the plugin's.
fn clang_run(clang: &str, cmd: &mut Command) -> Result<(), BuildError> {
    const FIX: &str = "install clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 (Debian) or set CLANG and WASI_SYSROOT";
    let output = cmd
        .output()
        .map_err(|e| BuildError::Toolchain(format!("cannot run `{clang}` ({e}); {FIX}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = format!("`{clang}` failed:\n{stderr}");
    let toolchain = [
        "stdlib.h' file not found",
        "string.h' file not found",
        "stdint.h' file not found",
        "libclang_rt.builtins",
        "unable to execute command",
        "invalid linker name",
        "unknown target",
        "unable to find library -lc",
    ]
    .iter()
    .any(|needle| stderr.contains(needle));
    Err(if toolchain {
        BuildError::Toolchain(format!("{message}\n{FIX}"))
    } else {
        BuildError::Plugin(message)
    })
}
