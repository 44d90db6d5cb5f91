//! The human-readable status table of `rampart apply` and `rampart status`.
//!
//! Every text that comes from a plugin, a policy file or the device (messages, names, values)
//! is printed through [`safe`]: control characters are escaped, so a plugin cannot draw over
//! the operator's terminal (a carriage return, an erase-line or an OSC sequence would let an
//! error be drawn as "compliant").

use std::borrow::Cow;
use std::path::Path;

use rampart_policy::status::SettingStatus;
use rampart_runtime::DeviceReport;
use rampart_runtime::text::escape_control;

/// `text`, control characters escaped.
pub(crate) fn safe(text: &str) -> Cow<'_, str> {
    escape_control(text)
}

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
    (
        "device_vendor_msft_policy_config_windowsdefendersecuritycenter_",
        "windows-security/",
    ),
    (
        "device_vendor_msft_windowsadvancedthreatprotection_",
        "edr/",
    ),
    ("vendor_msft_defender_configuration_", "defender-csp/"),
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
        safe(&report.device.name),
        report.device.platform,
        safe(&report.device.os_version),
        state.display()
    );
    for e in &report.input_errors {
        println!("Unreadable: {}", safe(e));
    }
    for s in &report.stale_inputs {
        println!(
            "Kept: {} has been unreadable since {}; its last good version (read {}) stays enforced",
            safe(&s.path),
            s.since,
            s.last_good_at
        );
    }
    for r in &report.recovered {
        println!("Recovered: {}", safe(r));
    }
    for d in &report.drift {
        println!(
            "Drift: {} was {} (set by {} at {}), found {} — remediated below",
            safe(&d.target),
            safe(&d.expected.to_string()),
            safe(&d.plugin),
            d.set_at,
            safe(&d.found.to_string())
        );
    }
    for c in &report.overruled_claims {
        let more = c.count.saturating_sub(c.settings.len());
        println!(
            "Overruled: plugin '{}' claims {} setting(s) that '{}' enforces ({}{}); its claims on them are ignored",
            safe(&c.plugin),
            c.count,
            safe(&c.owner),
            c.settings
                .iter()
                .map(|id| short(id))
                .collect::<Vec<_>>()
                .join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        );
    }
    if let Some(status) = &report.plugin_status {
        for r in &status.rejected {
            println!(
                "Rejected: {} — {}{}",
                safe(&r.file),
                safe(&r.reason),
                r.kept
                    .as_deref()
                    .map(|k| format!(" ({} keeps serving)", safe(k)))
                    .unwrap_or_default()
            );
        }
    }
    for policy in &report.policies {
        println!();
        println!("Policy  {}  [{}]", safe(&policy.name), policy.status);
        println!("        {}", safe(&policy.origin));
        if let Some(m) = &policy.message {
            println!("        {}", safe(m));
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
                .map(|m| format!("  {}", safe(m)))
                .unwrap_or_default();
            let line = format!(
                "  {:<width$}  {:<13}{message}",
                safe(&short(&s.id)),
                s.status.to_string()
            );
            println!("{}", line.trim_end());
        }
    }
    for plugin in &report.plugins {
        println!();
        print!(
            "Plugin  {} {} ({}…): {} settings, {} capability calls, {} µs",
            safe(&plugin.name),
            safe(&plugin.version),
            safe(plugin.digest.get(..19).unwrap_or(&plugin.digest)),
            plugin.settings,
            plugin.host_calls,
            plugin.elapsed_us
        );
        match &plugin.error {
            Some(e) => println!(" — FAILED: {}", safe(e)),
            None => println!(),
        }
        for p in &plugin.protocol_errors {
            println!("        {}", safe(p));
        }
        for r in &plugin.released {
            println!("        {}", safe(r));
        }
    }
    let total: usize = report.policies.iter().map(|p| p.settings.len()).sum();
    let counts: Vec<String> = [
        SettingStatus::Compliant,
        SettingStatus::Remediated,
        SettingStatus::Unknown,
        SettingStatus::NotApplicable,
        SettingStatus::Conflict,
        SettingStatus::Error,
    ]
    .iter()
    .filter_map(|s| {
        let n = report.count(*s);
        // `unknown` from a pass is a value in place that no consumer confirmed.
        let label = match s {
            SettingStatus::Unknown => "unknown (in place, not confirmed)".to_owned(),
            other => other.to_string(),
        };
        (n > 0).then(|| format!("{n} {label}"))
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
        .flat_map(|p| {
            p.changes
                .iter()
                .map(move |c| format!("  [{}] {}", safe(&p.name), safe(&c.to_string())))
        })
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
