//! Hot swap latency: from the `rename` that deploys a new plugin version to that version
//! serving runs, through the watched directory (debounce included). Also prints p50/p95 over
//! the samples, since the target is stated as percentiles.
//!
//! Run with `cargo bench -p rampart-tests --bench hot_swap`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_runtime::live::{DEFAULT_DEBOUNCE, PluginDirectory};
use rampart_tests::{engine, permissive_ceiling};

fn hot_swap(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let v1 = std::fs::read(rampart_test_artifacts::SWAP_V1).unwrap();
    let v2 = std::fs::read(rampart_test_artifacts::SWAP_V2).unwrap();
    let target = dir.path().join("swap.wasm");
    std::fs::write(&target, &v1).unwrap();
    let directory = Arc::new(PluginDirectory::new(
        dir.path(),
        engine(),
        permissive_ceiling(),
        None,
        vec![],
    ));
    directory.scan();
    let _watch = directory.watch(DEFAULT_DEBOUNCE, |_| {}).unwrap();
    println!(
        "plugin size: {} bytes; debounce {:?}",
        v2.len(),
        DEFAULT_DEBOUNCE
    );

    let mut samples = Vec::new();
    let mut next_is_v2 = true;
    let mut group = c.benchmark_group("hot_swap");
    group.sample_size(20);
    group.bench_function("rename_to_serving", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (bytes, version) = if next_is_v2 {
                    (&v2, "2.0.0")
                } else {
                    (&v1, "1.0.0")
                };
                next_is_v2 = !next_is_v2;
                let tmp = dir.path().join("swap.wasm.tmp");
                std::fs::write(&tmp, bytes).unwrap();
                let start = Instant::now();
                std::fs::rename(&tmp, &target).unwrap();
                loop {
                    let serving = directory.live().snapshot();
                    if serving
                        .get("swap-test")
                        .is_some_and(|p| p.version() == version)
                    {
                        break;
                    }
                    assert!(
                        start.elapsed() < Duration::from_secs(10),
                        "version never served"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                let elapsed = start.elapsed();
                samples.push(elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "rename → serving over {} swaps: p50 {:?}, p95 {:?}",
        samples.len(),
        pct(0.50),
        pct(0.95)
    );
}

criterion_group!(benches, hot_swap);
criterion_main!(benches);
