//! The report of one enforcement pass over a device: per policy and per setting, in Intune's
//! vocabulary, plus what each plugin run did. Serialised as the `--json` output of `rampart
//! apply`.

use std::collections::HashMap;

use rampart_policy::resolve::{Disposition, ResolvedPolicy};
use rampart_policy::settings::GroupPosition;
use rampart_policy::status::{PolicyStatus, SettingStatus};
use serde::{Deserialize, Serialize};

use crate::pipeline::route::{Key, key_of};
use crate::sandbox::plugin::Plugin;
use crate::sandbox::run::SettingOutcome;

/// One enforcement pass over a device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceReport {
    /// The device.
    pub device: ReportedDevice,
    /// When the pass finished (RFC 3339, UTC).
    pub generated_at: String,
    /// One entry per policy document, in input order.
    pub policies: Vec<PolicyReport>,
    /// The settings of `policies` counted by status. `unknown` counts the values put in place
    /// that no consumer confirmed ("written; Windows Firewall not queried"), apart from the
    /// confirmed `compliant` and `remediated` ones.
    #[serde(default)]
    pub summary: rampart_policy::status::DeviceSummary,
    /// One entry per plugin run.
    pub plugins: Vec<PluginRunReport>,
    /// Policy documents that could not be read (one line each, naming the file and the JSON
    /// path); the other documents were still enforced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_errors: Vec<String>,
    /// Policy documents that cannot be read now and whose last good version was enforced in
    /// their place (see `input_errors` for the error itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_inputs: Vec<StaleInput>,
    /// Claims on setting ids that were overruled by a claim of higher standing (see
    /// [`crate::PluginSet`]): the plugin named was not run for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overruled_claims: Vec<OverruledClaim>,
    /// Values rampart set that something else changed since the previous pass (then
    /// remediated by this pass; see the settings' statuses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<crate::drift::Drift>,
    /// Unfinished runs found at start-up and rolled back before this pass (crash recovery).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovered: Vec<String>,
    /// True for a what-if report: the changes listed were planned, not made.
    #[serde(default, skip_serializing_if = "is_false")]
    pub what_if: bool,
    /// Serving plugins and refused plugin files, when the caller tracks them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_status: Option<PluginStatus>,
}

/// A plugin's claims that another plugin's claims overruled in a pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverruledClaim {
    /// The plugin whose claims were ignored.
    pub plugin: String,
    /// The plugin that enforced those settings.
    pub owner: String,
    /// The setting ids concerned (sorted, at most [`OverruledClaim::MAX_LISTED`]).
    pub settings: Vec<String>,
    /// How many settings were concerned in all.
    pub count: usize,
}

impl OverruledClaim {
    /// Most setting ids listed per overruled claim.
    pub const MAX_LISTED: usize = 10;
}

/// A policy document enforced from its last good version because the current file cannot be
/// read or parsed: a torn download or a half-written file never withdraws a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaleInput {
    /// The document's path.
    pub path: String,
    /// Why the current file was not used.
    pub reason: String,
    /// Since when it has been unreadable (RFC 3339).
    pub since: String,
    /// When the version enforced in its place was read (RFC 3339).
    pub last_good_at: String,
}

/// Which device a report is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedDevice {
    /// Device id.
    pub id: String,
    /// Device name.
    pub name: String,
    /// Platform (`windows-client`, ...).
    pub platform: String,
    /// Operating-system version.
    pub os_version: String,
}

/// The status of one policy on the device (Intune's per device × policy view).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    /// Policy id.
    pub id: String,
    /// Policy name.
    pub name: String,
    /// Where the document came from.
    pub origin: String,
    /// Aggregate status.
    pub status: PolicyStatus,
    /// Why the policy as a whole is not applicable, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One entry per setting.
    pub settings: Vec<SettingReport>,
}

/// The status of one setting of one policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingReport {
    /// Settings-catalog definition id.
    pub id: String,
    /// Group definition id and item index, for settings inside a repeating group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRef>,
    /// Status.
    pub status: SettingStatus,
    /// Explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Error code from the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The plugin that enforced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// When the device was last seen holding the desired value (compliant or remediated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
}

/// One log record a plugin wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginLog {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
}

/// A group position in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    /// Group definition id.
    pub definition_id: String,
    /// Item index.
    pub index: u32,
}

/// What one plugin run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRunReport {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// `sha256:<hex>` of the plugin binary that ran.
    pub digest: String,
    /// Settings handed to the run.
    pub settings: usize,
    /// Why the run failed as a whole, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Problems with the plugin's answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol_errors: Vec<String>,
    /// Capability calls made.
    pub host_calls: u32,
    /// The log records the plugin wrote in the run, in order, within the run's log budget
    /// (messages cut, secrets redacted, as in the agent's own log).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<PluginLog>,
    /// Log records dropped over the per-run bound.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub logs_dropped: u32,
    /// Wall-clock duration in microseconds.
    pub elapsed_us: u64,
    /// The changes the run made (old → new), in order. In a what-if report, the plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::journal::Change>,
    /// Set when the run's changes were undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<RolledBack>,
    /// Values rampart wrote for settings that left the policy but that something else changed
    /// since: left in place and no longer owned (one line each). Removed values are in
    /// `changes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
}

impl PluginRunReport {
    /// The report of a run of `plugin` over `settings` settings, before it ran.
    pub(crate) fn new(plugin: &Plugin, settings: usize) -> PluginRunReport {
        PluginRunReport {
            name: plugin.name().to_string(),
            version: plugin.version().to_string(),
            digest: plugin.digest().to_string(),
            settings,
            error: None,
            protocol_errors: Vec::new(),
            host_calls: 0,
            logs: Vec::new(),
            logs_dropped: 0,
            elapsed_us: 0,
            changes: Vec::new(),
            rolled_back: None,
            released: Vec::new(),
        }
    }
}

/// The changes of a run that were undone, and any that could not be.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolledBack {
    /// The changes undone (in the order they had been made).
    pub changes: Vec<crate::journal::Change>,
    /// Changes that could not be undone, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl DeviceReport {
    /// Counts settings by status over all policies.
    pub fn count(&self, status: SettingStatus) -> usize {
        self.policies
            .iter()
            .flat_map(|p| &p.settings)
            .filter(|s| s.status == status)
            .count()
    }
}

/// The report of each policy, setting by setting: an enforced setting gets the outcome of its
/// slot in the pass (`index` by setting key, `outcomes` by slot, with the plugin that ran it),
/// a withheld one the status and reason the policy stage gave it.
pub(crate) fn policy_reports(
    policies: &[ResolvedPolicy],
    index: &HashMap<Key, usize>,
    outcomes: &[Option<(SettingOutcome, Option<String>)>],
    now: &str,
) -> Vec<PolicyReport> {
    policies
        .iter()
        .map(|policy| {
            let settings: Vec<SettingReport> = policy
                .entries
                .iter()
                .map(|entry| match &entry.disposition {
                    Disposition::Enforce(setting) => {
                        let slot = index.get(&key_of(&setting.id, &setting.group)).copied();
                        match slot.and_then(|i| outcomes[i].as_ref()) {
                            Some((o, plugin)) => SettingReport {
                                verified_at: matches!(
                                    o.status,
                                    SettingStatus::Compliant | SettingStatus::Remediated
                                )
                                .then(|| now.to_owned()),
                                id: entry.id.clone(),
                                group: group_ref(&entry.group),
                                status: o.status,
                                message: o.message.clone(),
                                code: o.code,
                                plugin: plugin.clone(),
                            },
                            None => SettingReport {
                                verified_at: None,
                                id: entry.id.clone(),
                                group: group_ref(&entry.group),
                                status: SettingStatus::Error,
                                message: Some("internal error: setting was not enforced".into()),
                                code: None,
                                plugin: None,
                            },
                        }
                    }
                    Disposition::Withheld { status, message } => SettingReport {
                        verified_at: None,
                        id: entry.id.clone(),
                        group: group_ref(&entry.group),
                        status: *status,
                        message: Some(message.clone()),
                        code: None,
                        plugin: None,
                    },
                })
                .collect();
            PolicyReport {
                id: policy.id.clone(),
                name: policy.name.clone(),
                origin: policy.origin.clone(),
                status: policy.status(settings.iter().map(|s| s.status)),
                message: policy.reason().map(str::to_string),
                settings,
            }
        })
        .collect()
}

/// A setting's group position as reports show it.
pub(crate) fn group_ref(group: &Option<GroupPosition>) -> Option<GroupRef> {
    group.as_ref().map(|g| GroupRef {
        definition_id: g.definition_id.clone(),
        index: g.index,
    })
}

/// What serves and what was refused: part of every status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginStatus {
    /// Serving plugins, by name.
    pub active: Vec<ActivePlugin>,
    /// Files refused and not superseded by a later good version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejection>,
}

/// One serving plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivePlugin {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// A path or `embedded:<name>`.
    pub source: String,
    /// The signature check's verdict when signatures are checked (`signed by 'key'`, or an
    /// audit finding the plugin loaded despite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A plugin file that was refused; the previous version (if any) kept serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// The file.
    pub file: String,
    /// `sha256:<hex>` of the refused content.
    pub digest: String,
    /// Why it was refused.
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
    /// The plugin name and version that kept serving in its place, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}
