//! Build rampart plugins for `wasm32-wasip2` from a build script.
//!
//! rampart never commits `.wasm` files: the agent embeds its first-party plugins and the tests
//! load their guest programs by building them from source at build time. This crate is the one
//! place that knows how (the pattern of wasmtime's `test-programs/artifacts`):
//!
//! - it runs a nested `cargo build --release --target wasm32-wasip2` on the requested packages,
//!   in a target directory of its own (`<target>/guests`) so it never waits on the outer build's
//!   lock, and so every build script that needs guests shares one guest build;
//! - it strips the outer build's flags (`RUSTFLAGS`, the clippy wrapper) that are meant for the
//!   host, not the guests;
//! - it tells cargo to rerun when the guest sources, the SDK or the WIT contract change;
//! - it fails with a fix-it message when the `wasm32-wasip2` target is not installed.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest target.
pub const TARGET: &str = "wasm32-wasip2";

/// What to build: packages (their library, a `cdylib`) and examples (`cdylib` examples of one
/// package, used for small test programs).
#[derive(Debug, Default, Clone)]
pub struct GuestBuild {
    workspace: PathBuf,
    libraries: Vec<String>,
    examples: Vec<(String, Vec<String>)>,
    watch: Vec<PathBuf>,
}

/// One built component.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The library package name or the example name.
    pub name: String,
    /// Absolute path of the `.wasm` component.
    pub path: PathBuf,
}

impl GuestBuild {
    /// A build in the workspace at `workspace` (the directory holding the root `Cargo.toml`).
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        let workspace = workspace.into();
        GuestBuild {
            watch: vec![
                workspace.join("sdk/src"),
                workspace.join("sdk/wit"),
                workspace.join("sdk/Cargo.toml"),
                workspace.join("Cargo.lock"),
            ],
            workspace,
            ..GuestBuild::default()
        }
    }

    /// Builds the library (cdylib) of `package`, whose sources live in `dir` (relative to the
    /// workspace).
    pub fn library(mut self, package: &str, dir: &str) -> Self {
        self.libraries.push(package.to_string());
        self.watch.push(self.workspace.join(dir));
        self
    }

    /// Builds every example of `package` (each a `cdylib`), whose sources live in `dir`.
    pub fn examples(mut self, package: &str, dir: &str) -> Self {
        let examples_dir = self.workspace.join(dir).join("examples");
        let mut names: Vec<String> = std::fs::read_dir(&examples_dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", examples_dir.display()))
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                (path.extension()? == "rs")
                    .then(|| path.file_stem()?.to_str().map(str::to_string))?
            })
            .collect();
        names.sort();
        self.examples.push((package.to_string(), names));
        self.watch.push(self.workspace.join(dir));
        self
    }

    /// Runs the build and returns the artifacts (libraries first, then examples, sorted).
    ///
    /// # Panics
    ///
    /// Panics (this runs in a build script, where a panic is the error report) when cargo
    /// fails, with its output and a hint when the target is missing.
    pub fn build(self) -> Vec<Artifact> {
        for path in &self.watch {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let target_dir = guest_target_dir(&self.workspace);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&self.workspace)
            .args(["build", "--release", "--target", TARGET])
            .env("CARGO_TARGET_DIR", &target_dir)
            // Host flags and wrappers (clippy, coverage) are not meant for the guests.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CARGO_BUILD_TARGET");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            // CI treats guest warnings as errors, like host warnings.
            cmd.env("RUSTFLAGS", "-D warnings");
        }
        for p in &self.libraries {
            cmd.args(["-p", p]);
        }
        if !self.libraries.is_empty() {
            cmd.arg("--lib");
        }
        for (p, names) in &self.examples {
            cmd.args(["-p", p]);
            for n in names {
                cmd.args(["--example", n]);
            }
        }
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo for the guest build: {e}"));
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let hint = if stderr.contains("target may not be installed")
                || stderr.contains("can't find crate for `core`")
                || stderr.contains("can't find crate for `std`")
            {
                format!("\nhint: run `rustup target add {TARGET}`")
            } else {
                String::new()
            };
            panic!("building the wasm guests failed:\n{stderr}{hint}");
        }
        let out = target_dir.join(TARGET).join("release");
        let mut artifacts: Vec<Artifact> = self
            .libraries
            .iter()
            .map(|p| Artifact {
                name: p.clone(),
                path: out.join(format!("{}.wasm", p.replace('-', "_"))),
            })
            .collect();
        for (_, names) in &self.examples {
            for n in names {
                artifacts.push(Artifact {
                    name: n.clone(),
                    path: out.join("examples").join(format!("{n}.wasm")),
                });
            }
        }
        for a in &artifacts {
            assert!(
                a.path.exists(),
                "cargo succeeded but {} is missing",
                a.path.display()
            );
        }
        artifacts
    }
}

/// `<target>/guests`, where `<target>` is `CARGO_TARGET_DIR` or the workspace's `target`.
fn guest_target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| {
            if d.is_absolute() {
                d
            } else {
                workspace.join(d)
            }
        })
        .unwrap_or_else(|| workspace.join("target"))
        .join("guests")
}

/// The Rust identifier for an artifact name: `windows-defender` → `WINDOWS_DEFENDER`.
pub fn const_name(name: &str) -> String {
    name.replace('-', "_").to_ascii_uppercase()
}
