//! Intune's status vocabulary: per-setting states, the per-policy state derived from them, and a
//! per-device summary.
//!
//! [`SettingStatus`] mirrors Graph's `complianceStatus` enum (codes 0 to 7), so a report can be
//! fed back to Intune's own vocabulary unchanged. [`PolicyStatus`] is what the Intune portal
//! shows for one device × policy, and [`aggregate`] derives it from the settings' states.
//! [`DeviceSummary`] counts one device's settings by state, in the spirit of Graph's
//! `settingStateDeviceSummary`.
//!
//! A policy that is not assigned to the device (see [`crate::targeting`]) has its own state,
//! [`PolicyStatus::NotAssigned`], serialised `notAssigned` with `complianceStatus` code 7, so
//! reports and Graph-facing output can tell it from a policy that reached the device and did not
//! apply. Intune's portal has no such column: it shows the pair as *Not applicable*, and that is
//! what [`PolicyStatus::as_str`] (and `Display`) print for it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The state of one setting on one device (Graph `complianceStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SettingStatus {
    /// Not yet known (no report yet).
    Unknown,
    /// The setting does not apply to this device.
    NotApplicable,
    /// The device already had the desired value (Intune shows *Succeeded*).
    Compliant,
    /// The device was changed to the desired value.
    Remediated,
    /// The device does not have the desired value and was not changed.
    NonCompliant,
    /// Enforcing the setting failed.
    Error,
    /// Two policies set different values; the setting was withheld.
    Conflict,
    /// The setting is not assigned to this device.
    NotAssigned,
}

impl SettingStatus {
    /// Graph's `complianceStatus` code: 0 unknown, 1 notApplicable, 2 compliant, 3 remediated,
    /// 4 nonCompliant, 5 error, 6 conflict, 7 notAssigned.
    pub fn compliance_status_code(self) -> u8 {
        match self {
            SettingStatus::Unknown => 0,
            SettingStatus::NotApplicable => 1,
            SettingStatus::Compliant => 2,
            SettingStatus::Remediated => 3,
            SettingStatus::NonCompliant => 4,
            SettingStatus::Error => 5,
            SettingStatus::Conflict => 6,
            SettingStatus::NotAssigned => 7,
        }
    }

    /// The status for a Graph `complianceStatus` code, if it is one.
    pub fn from_compliance_status_code(code: u8) -> Option<SettingStatus> {
        Some(match code {
            0 => SettingStatus::Unknown,
            1 => SettingStatus::NotApplicable,
            2 => SettingStatus::Compliant,
            3 => SettingStatus::Remediated,
            4 => SettingStatus::NonCompliant,
            5 => SettingStatus::Error,
            6 => SettingStatus::Conflict,
            7 => SettingStatus::NotAssigned,
            _ => return None,
        })
    }

    /// Graph's camelCase name, e.g. `notApplicable`.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingStatus::Unknown => "unknown",
            SettingStatus::NotApplicable => "notApplicable",
            SettingStatus::Compliant => "compliant",
            SettingStatus::Remediated => "remediated",
            SettingStatus::NonCompliant => "nonCompliant",
            SettingStatus::Error => "error",
            SettingStatus::Conflict => "conflict",
            SettingStatus::NotAssigned => "notAssigned",
        }
    }
}

impl fmt::Display for SettingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one policy on one device, as the Intune portal shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyStatus {
    /// Every applicable setting is compliant or remediated.
    Succeeded,
    /// At least one setting failed.
    Error,
    /// At least one setting conflicts with another policy.
    Conflict,
    /// Some settings have not reported yet.
    Pending,
    /// Nothing in the policy applies to the device.
    NotApplicable,
    /// The policy is not assigned to the device (its assignments do not target it). The portal
    /// shows this as *Not applicable*; see the [module documentation](self).
    NotAssigned,
}

impl PolicyStatus {
    /// The portal's wording: "Succeeded", "Error", "Conflict", "Pending", "Not applicable"
    /// (also for [`PolicyStatus::NotAssigned`], which the portal does not distinguish).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyStatus::Succeeded => "Succeeded",
            PolicyStatus::Error => "Error",
            PolicyStatus::Conflict => "Conflict",
            PolicyStatus::Pending => "Pending",
            PolicyStatus::NotApplicable | PolicyStatus::NotAssigned => "Not applicable",
        }
    }

    /// Graph's `complianceStatus` code for this policy state: Succeeded → 2 (compliant),
    /// Error → 5, Conflict → 6, Pending → 0 (unknown: the enum has no pending state, and a
    /// pending policy's outcome is not known yet), Not applicable → 1, not assigned → 7.
    pub fn compliance_status_code(self) -> u8 {
        match self {
            PolicyStatus::Succeeded => SettingStatus::Compliant.compliance_status_code(),
            PolicyStatus::Error => SettingStatus::Error.compliance_status_code(),
            PolicyStatus::Conflict => SettingStatus::Conflict.compliance_status_code(),
            PolicyStatus::Pending => SettingStatus::Unknown.compliance_status_code(),
            PolicyStatus::NotApplicable => SettingStatus::NotApplicable.compliance_status_code(),
            PolicyStatus::NotAssigned => SettingStatus::NotAssigned.compliance_status_code(),
        }
    }
}

impl fmt::Display for PolicyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Derives a policy's state from its settings' states. The first rule that matches wins:
///
/// 1. any `error` or `nonCompliant` setting → [`PolicyStatus::Error`] (a setting that is not in
///    the desired state after enforcement has failed, whatever the reason);
/// 2. any `conflict` → [`PolicyStatus::Conflict`];
/// 3. at least one setting, every one `notAssigned` → [`PolicyStatus::NotAssigned`];
/// 4. no settings, or only `notApplicable` / `notAssigned` ones → [`PolicyStatus::NotApplicable`];
/// 5. any `unknown` → [`PolicyStatus::Pending`];
/// 6. otherwise (every applicable setting compliant or remediated) → [`PolicyStatus::Succeeded`].
///
/// A caller holding a [`crate::resolve::ResolvedPolicy`] should prefer
/// [`crate::resolve::ResolvedPolicy::status`], which also honours a policy-level verdict for a
/// policy without settings.
///
/// ```
/// use rampart_policy::status::{aggregate, PolicyStatus, SettingStatus::*};
///
/// assert_eq!(aggregate([Compliant, Remediated, NotApplicable]), PolicyStatus::Succeeded);
/// assert_eq!(aggregate([Compliant, Conflict, Unknown]), PolicyStatus::Conflict);
/// assert_eq!(aggregate([NotAssigned, NotAssigned]), PolicyStatus::NotAssigned);
/// assert_eq!(aggregate([]), PolicyStatus::NotApplicable);
/// ```
pub fn aggregate(statuses: impl IntoIterator<Item = SettingStatus>) -> PolicyStatus {
    let (mut error, mut conflict, mut unknown, mut applicable) = (false, false, false, false);
    let (mut not_assigned, mut not_applicable) = (false, false);
    for status in statuses {
        match status {
            SettingStatus::Error | SettingStatus::NonCompliant => error = true,
            SettingStatus::Conflict => conflict = true,
            SettingStatus::Unknown => unknown = true,
            SettingStatus::Compliant | SettingStatus::Remediated => {}
            SettingStatus::NotApplicable => {
                not_applicable = true;
                continue;
            }
            SettingStatus::NotAssigned => {
                not_assigned = true;
                continue;
            }
        }
        applicable = true;
    }
    if error {
        PolicyStatus::Error
    } else if conflict {
        PolicyStatus::Conflict
    } else if !applicable && not_assigned && !not_applicable {
        PolicyStatus::NotAssigned
    } else if !applicable {
        PolicyStatus::NotApplicable
    } else if unknown {
        PolicyStatus::Pending
    } else {
        PolicyStatus::Succeeded
    }
}

/// How many of one device's settings are in each state: the per-device counterpart of Graph's
/// `settingStateDeviceSummary` (whose counts are of devices per setting; these are of settings
/// on one device, over all its policies). Serialised in camelCase, e.g.
/// `{"unknown":0,"notApplicable":3,"compliant":20,...}`.
///
/// ```
/// use rampart_policy::status::{DeviceSummary, SettingStatus::*};
///
/// let summary = DeviceSummary::from_statuses([Compliant, Compliant, Conflict, NotAssigned]);
/// assert_eq!((summary.compliant, summary.conflict, summary.not_assigned), (2, 1, 1));
/// assert_eq!(summary.total(), 4);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSummary {
    /// Settings whose state is not known yet.
    pub unknown: u32,
    /// Settings that do not apply to the device.
    pub not_applicable: u32,
    /// Settings already in the desired state.
    pub compliant: u32,
    /// Settings changed to the desired state.
    pub remediated: u32,
    /// Settings not in the desired state and not changed.
    pub non_compliant: u32,
    /// Settings whose enforcement failed.
    pub error: u32,
    /// Settings withheld because policies conflict.
    pub conflict: u32,
    /// Settings of policies not assigned to the device.
    pub not_assigned: u32,
}

impl DeviceSummary {
    /// Counts `statuses` (each counter saturates at `u32::MAX`).
    pub fn from_statuses(statuses: impl IntoIterator<Item = SettingStatus>) -> DeviceSummary {
        let mut summary = DeviceSummary::default();
        for status in statuses {
            summary.add(status);
        }
        summary
    }

    /// Counts one more setting in `status`.
    pub fn add(&mut self, status: SettingStatus) {
        let counter = match status {
            SettingStatus::Unknown => &mut self.unknown,
            SettingStatus::NotApplicable => &mut self.not_applicable,
            SettingStatus::Compliant => &mut self.compliant,
            SettingStatus::Remediated => &mut self.remediated,
            SettingStatus::NonCompliant => &mut self.non_compliant,
            SettingStatus::Error => &mut self.error,
            SettingStatus::Conflict => &mut self.conflict,
            SettingStatus::NotAssigned => &mut self.not_assigned,
        };
        *counter = counter.saturating_add(1);
    }

    /// The number of settings in `status`.
    pub fn count(&self, status: SettingStatus) -> u32 {
        match status {
            SettingStatus::Unknown => self.unknown,
            SettingStatus::NotApplicable => self.not_applicable,
            SettingStatus::Compliant => self.compliant,
            SettingStatus::Remediated => self.remediated,
            SettingStatus::NonCompliant => self.non_compliant,
            SettingStatus::Error => self.error,
            SettingStatus::Conflict => self.conflict,
            SettingStatus::NotAssigned => self.not_assigned,
        }
    }

    /// The number of settings counted, in every state (saturating).
    pub fn total(&self) -> u32 {
        [
            self.unknown,
            self.not_applicable,
            self.compliant,
            self.remediated,
            self.non_compliant,
            self.error,
            self.conflict,
            self.not_assigned,
        ]
        .into_iter()
        .fold(0, u32::saturating_add)
    }
}

impl FromIterator<SettingStatus> for DeviceSummary {
    fn from_iter<I: IntoIterator<Item = SettingStatus>>(statuses: I) -> Self {
        DeviceSummary::from_statuses(statuses)
    }
}

#[cfg(test)]
mod tests {
    use super::SettingStatus::*;
    use super::*;

    const ALL: [SettingStatus; 8] = [
        Unknown,
        NotApplicable,
        Compliant,
        Remediated,
        NonCompliant,
        Error,
        Conflict,
        NotAssigned,
    ];

    #[test]
    fn codes_follow_graph_compliance_status() {
        for (code, status) in ALL.into_iter().enumerate() {
            let code = u8::try_from(code).expect("small");
            assert_eq!(status.compliance_status_code(), code);
            assert_eq!(
                SettingStatus::from_compliance_status_code(code),
                Some(status)
            );
        }
        assert_eq!(SettingStatus::from_compliance_status_code(8), None);
    }

    #[test]
    fn names_are_camel_case_in_serde_and_display() {
        for status in ALL {
            let json = serde_json::to_string(&status).expect("serializable");
            assert_eq!(json, format!("\"{status}\""));
        }
        assert_eq!(NotApplicable.to_string(), "notApplicable");
        assert_eq!(
            serde_json::to_string(&PolicyStatus::NotApplicable).expect("serializable"),
            "\"notApplicable\""
        );
        assert_eq!(PolicyStatus::NotApplicable.to_string(), "Not applicable");
    }

    #[test]
    fn aggregate_applies_the_rules_in_order() {
        assert_eq!(aggregate([Compliant, Error, Conflict]), PolicyStatus::Error);
        assert_eq!(aggregate([Compliant, NonCompliant]), PolicyStatus::Error);
        assert_eq!(
            aggregate([Conflict, Unknown, Compliant]),
            PolicyStatus::Conflict
        );
        assert_eq!(
            aggregate([NotApplicable, NotAssigned]),
            PolicyStatus::NotApplicable
        );
        assert_eq!(aggregate([NotAssigned]), PolicyStatus::NotAssigned);
        assert_eq!(
            aggregate([NotAssigned, Conflict]),
            PolicyStatus::Conflict,
            "a setting that reached the device outranks not-assigned ones"
        );
        assert_eq!(aggregate([]), PolicyStatus::NotApplicable);
        assert_eq!(aggregate([Unknown, Compliant]), PolicyStatus::Pending);
        assert_eq!(aggregate([Unknown, NotApplicable]), PolicyStatus::Pending);
        assert_eq!(
            aggregate([Compliant, Remediated, NotApplicable]),
            PolicyStatus::Succeeded
        );
    }

    #[test]
    fn policy_states_have_graph_codes_and_portal_wording() {
        let all = [
            (PolicyStatus::Succeeded, 2, "Succeeded", "succeeded"),
            (PolicyStatus::Error, 5, "Error", "error"),
            (PolicyStatus::Conflict, 6, "Conflict", "conflict"),
            (PolicyStatus::Pending, 0, "Pending", "pending"),
            (
                PolicyStatus::NotApplicable,
                1,
                "Not applicable",
                "notApplicable",
            ),
            (
                PolicyStatus::NotAssigned,
                7,
                "Not applicable",
                "notAssigned",
            ),
        ];
        for (status, code, portal, serde_name) in all {
            assert_eq!(status.compliance_status_code(), code, "{status:?}");
            assert_eq!(status.to_string(), portal, "{status:?}");
            assert_eq!(
                serde_json::to_string(&status).expect("serializable"),
                format!("\"{serde_name}\"")
            );
        }
    }

    #[test]
    fn the_device_summary_counts_every_state_and_serialises_in_camel_case() {
        let summary: DeviceSummary = ALL
            .into_iter()
            .chain([Compliant, Compliant, Conflict])
            .collect();
        for status in ALL {
            let expected = match status {
                Compliant => 3,
                Conflict => 2,
                _ => 1,
            };
            assert_eq!(summary.count(status), expected, "{status}");
        }
        assert_eq!(summary.total(), 11);
        assert_eq!(
            serde_json::to_value(summary).expect("serializable"),
            serde_json::json!({
                "unknown": 1, "notApplicable": 1, "compliant": 3, "remediated": 1,
                "nonCompliant": 1, "error": 1, "conflict": 2, "notAssigned": 1
            })
        );
        assert_eq!(DeviceSummary::from_statuses([]), DeviceSummary::default());
    }
}
