//! Runs the embedding example: two passes of the example antivirus baseline on a simulated
//! Windows 11 client, the second finding everything already in place.

use rampart_example_embedding::{Agent, ServicePolicies};
use rampart_policy::device::Device;
use rampart_policy::status::SettingStatus;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let agent = Agent::new()?;
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
    println!(
        "the agent's own Defender backend answered {} preference reads",
        agent
            .defender
            .reads
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}
