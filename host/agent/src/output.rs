//! The human-readable status table of `rampart apply`.

use std::path::Path;

use rampart_policy::status::SettingStatus;
use rampart_runtime::DeviceReport;

/// Well-known id prefixes shortened in the table (the JSON report keeps full ids).
const PREFIXES: &[(&str, &str)] = &[
    (
        "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_",
        "asr/",
    ),
    ("device_vendor_msft_policy_config_defender_", "defender/"),
    (
        "device_vendor_msft_defender_configuration_",
        "defender-csp/",
    ),
    ("vendor_msft_firewall_mdmstore_", "firewall/"),
];

fn short(id: &str) -> String {
    for (prefix, replacement) in PREFIXES {
        if let Some(rest) = id.strip_prefix(prefix) {
            return format!("{replacement}{rest}");
        }
    }
    id.to_string()
}

pub(crate) fn print_table(report: &DeviceReport, state: &Path) {
    println!(
        "Device {} ({}, {}) — state in {}",
        report.device.name,
        report.device.platform,
        report.device.os_version,
        state.display()
    );
    for e in &report.input_errors {
        println!("Unreadable: {e}");
    }
    for s in &report.stale_inputs {
        println!(
            "Kept: {} has been unreadable since {}; its last good version (read {}) stays enforced",
            s.path, s.since, s.last_good_at
        );
    }
    for r in &report.recovered {
        println!("Recovered: {r}");
    }
    for d in &report.drift {
        println!(
            "Drift: {} was {} (set by {} at {}), found {} — remediated below",
            d.target, d.expected, d.plugin, d.set_at, d.found
        );
    }
    for policy in &report.policies {
        println!();
        println!("Policy  {}  [{}]", policy.name, policy.status);
        println!("        {}", policy.origin);
        if let Some(m) = &policy.message {
            println!("        {m}");
        }
        let width = policy
            .settings
            .iter()
            .map(|s| short(&s.id).len())
            .max()
            .unwrap_or(0)
            .min(72);
        for s in &policy.settings {
            let message = s
                .message
                .as_deref()
                .map(|m| format!("  {m}"))
                .unwrap_or_default();
            let line = format!(
                "  {:<width$}  {:<13}{message}",
                short(&s.id),
                s.status.to_string()
            );
            println!("{}", line.trim_end());
        }
    }
    for plugin in &report.plugins {
        println!();
        print!(
            "Plugin  {} {} ({}…): {} settings, {} capability calls, {} µs",
            plugin.name,
            plugin.version,
            &plugin.digest[..plugin.digest.len().min(19)],
            plugin.settings,
            plugin.host_calls,
            plugin.elapsed_us
        );
        match &plugin.error {
            Some(e) => println!(" — FAILED: {e}"),
            None => println!(),
        }
        for p in &plugin.protocol_errors {
            println!("        {p}");
        }
    }
    let total: usize = report.policies.iter().map(|p| p.settings.len()).sum();
    let counts: Vec<String> = [
        SettingStatus::Compliant,
        SettingStatus::Remediated,
        SettingStatus::NotApplicable,
        SettingStatus::Conflict,
        SettingStatus::Error,
    ]
    .iter()
    .filter_map(|s| {
        let n = report.count(*s);
        (n > 0).then(|| format!("{n} {s}"))
    })
    .collect();
    println!();
    println!("Summary: {total} settings: {}", counts.join(", "));
}

/// Prints a what-if plan: the statuses the pass would report and every change it would make.
pub(crate) fn print_plan(report: &DeviceReport, state: &Path) {
    println!("What-if plan — nothing was changed.");
    print_table(report, state);
    println!();
    let changes: Vec<String> = report
        .plugins
        .iter()
        .flat_map(|p| p.changes.iter().map(move |c| format!("  [{}] {c}", p.name)))
        .collect();
    if changes.is_empty() {
        println!("Planned changes: none");
    } else {
        println!("Planned changes ({}):", changes.len());
        for c in changes {
            println!("{c}");
        }
    }
}
