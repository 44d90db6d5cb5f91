//! Per-apply cost of the first-party Windows Defender plugin on the example AV policy: a fresh
//! store, instantiation from the pre-linked plugin, `apply` over the 10 settings, drop.
//!
//! Run with `cargo bench -p rampart-tests --bench apply`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use rampart_policy::catalog::Catalog;
use rampart_policy::graph::parse_policy;
use rampart_policy::resolve::{Disposition, resolve};
use rampart_runtime::RunLimits;
use rampart_tests::{backends, permissive_ceiling, windows_client, windows_defender};

/// The agent's global allocator (`host/agent/src/main.rs`), so the runs measured here allocate
/// as they do in the agent.
#[global_allocator]
static ALLOCATOR: rampart_alloc::Allocator = rampart_alloc::Allocator;

fn av_example_settings() -> Vec<rampart_policy::settings::ResolvedSetting> {
    let text = include_str!("../../examples/policies/contoso-defender-antivirus.json");
    let doc =
        parse_policy(text.as_bytes(), "contoso-defender-antivirus.json").expect("example parses");
    let resolved = resolve(&[doc], &windows_client(), &Catalog::embedded());
    resolved[0]
        .entries
        .iter()
        .filter_map(|e| match &e.disposition {
            Disposition::Enforce(s) => Some(s.clone()),
            Disposition::Withheld { .. } => None,
        })
        .collect()
}

fn apply(c: &mut Criterion) {
    let plugin = windows_defender(&permissive_ceiling());
    let settings = av_example_settings();
    assert_eq!(settings.len(), 10);
    let device = windows_client();
    let limits = RunLimits::default();
    let (_, caps) = backends(true);
    // First run remediates; the measured runs see a compliant device (10 reads + 10 Defender
    // verifications each), the steady state of an agent.
    plugin
        .run(&device, &settings, &caps, &limits)
        .expect("first run");
    c.bench_function("av_example/store+instantiate+apply", |b| {
        b.iter(|| {
            let out = plugin
                .run(&device, black_box(&settings), &caps, &limits)
                .expect("run");
            black_box(out)
        })
    });
}

criterion_group!(benches, apply);

fn main() {
    // The allocator as the agent sets it up, before anything allocates much.
    rampart_alloc::tune();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
