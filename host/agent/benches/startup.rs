//! Agent start → first report: `rampart apply` on the embedded default, as a fresh process,
//! with a warm AOT cache (compiled plugins on disk) and with a cold one (first start).
//!
//! Run with `cargo bench -p rampart --bench startup`.

use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

fn apply(state: &std::path::Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["apply", "--json", "--state"])
        .arg(state)
        .output()
        .expect("rampart runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn startup(c: &mut Criterion) {
    let mut group = c.benchmark_group("start_to_first_report");
    group.sample_size(20);

    let warm = tempfile::tempdir().unwrap();
    // Two runs: the first creates the state, the second fills the AOT cache.
    apply(warm.path());
    apply(warm.path());
    group.bench_function("warm_aot_cache", |b| b.iter(|| apply(warm.path())));

    group.bench_function("cold", |b| {
        b.iter_batched(
            || {
                // An existing, empty state: the cache is used but empty, so every plugin compiles.
                let dir = tempfile::tempdir().unwrap();
                std::fs::create_dir_all(dir.path()).unwrap();
                dir
            },
            |dir| apply(dir.path()),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
