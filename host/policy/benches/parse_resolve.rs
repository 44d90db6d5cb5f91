//! Parse + resolve of every shared Intune export (`../shared/data/intune-exports`) for one
//! device: the whole policy stage an agent runs at each check-in. Target: at most 5 ms.
//!
//! Run with `cargo bench -p rampart-policy --bench parse_resolve`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_policy::catalog::Catalog;
use rampart_policy::device::load_device_file;
use rampart_policy::graph::parse_policy;
use rampart_policy::resolve::resolve;

/// Every export's (name, bytes); fails loudly when the shared data is missing.
fn exports() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/intune-exports");
    let listing = std::fs::read_dir(&dir).unwrap_or_else(|error| {
        panic!(
            "shared test data is missing: cannot list {} ({error}); the benchmark reads the real \
             Intune exports from the workspace's sibling shared/data",
            dir.display()
        )
    });
    let mut paths: Vec<PathBuf> = listing
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no exports in {}", dir.display());
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), bytes)
        })
        .collect()
}

fn parse_resolve(c: &mut Criterion) {
    let exports = exports();
    let device_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/devices/windows-11.toml");
    let device = load_device_file(&device_file).unwrap_or_else(|error| panic!("{error}"));
    let catalog = Catalog::embedded();
    c.bench_function("all_exports/parse+resolve", |b| {
        b.iter(|| {
            let documents: Vec<_> = exports
                .iter()
                .map(|(name, bytes)| {
                    parse_policy(black_box(bytes), name).unwrap_or_else(|error| panic!("{error}"))
                })
                .collect();
            black_box(resolve(&documents, &device, &catalog))
        })
    });
}

criterion_group!(benches, parse_resolve);
criterion_main!(benches);
