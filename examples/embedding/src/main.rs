//! Runs the vendor's agent: two passes of the example antivirus baseline on a simulated
//! Windows 11 client (the second finds everything in place), then a plugin version published
//! from bytes and a torn one rejected while the good one keeps serving.
//!
//! The state directory is the first argument (default: a fresh one under the system's
//! temporary directory, removed at the end).

use rampart_example_embedding::{
    BUILT_IN, ServicePolicies, VendorAgent, signed_release, windows_defender_plugin,
};
use rampart_runtime::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (state, temporary) = match std::env::args_os().nth(1) {
        Some(dir) => (std::path::PathBuf::from(dir), false),
        None => (
            std::env::temp_dir().join(format!("rampart-embedding-{}", std::process::id())),
            true,
        ),
    };
    let agent = VendorAgent::start(&state)?;
    let device = Device::example_windows_client();
    let mut source = ServicePolicies::example();
    for pass in 1..=2 {
        let report = agent.pass(&device, &mut source).await?;
        println!(
            "pass {pass}: {} remediated, {} compliant, {} error, {} not applicable",
            report.count(SettingStatus::Remediated),
            report.count(SettingStatus::Compliant),
            report.count(SettingStatus::Error),
            report.count(SettingStatus::NotApplicable),
        );
    }

    // A new version downloaded by the agent, then a torn download of the next one.
    let bytes = windows_defender_plugin().ok_or("no windows-defender plugin in this build")?;
    let published = agent.publish(BUILT_IN, &signed_release(bytes)?);
    println!("published: {published:?}");
    let torn = agent.publish(BUILT_IN, &bytes[..bytes.len() / 2]);
    println!("torn download: {torn:?}");
    for rejected in agent.plugins.live().status().rejected {
        println!(
            "  rejected {}: {} (kept: {:?})",
            rejected.file, rejected.reason, rejected.kept
        );
    }
    println!(
        "the agent's own backends: {} Defender preference reads, {} registry writes, {} flushes",
        agent
            .defender
            .reads
            .load(std::sync::atomic::Ordering::Relaxed),
        agent
            .registry
            .writes
            .load(std::sync::atomic::Ordering::Relaxed),
        agent
            .registry
            .flushes
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    drop(agent);
    if temporary {
        std::fs::remove_dir_all(&state)?;
    }
    Ok(())
}
