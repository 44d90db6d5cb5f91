//! Intune's status vocabulary: per-setting states and the per-policy state derived from them.
//!
//! [`SettingStatus`] mirrors Graph's `complianceStatus` enum (codes 0 to 7), so a report can be
//! fed back to Intune's own vocabulary unchanged. [`PolicyStatus`] is what the Intune portal
//! shows for one device × policy, and [`aggregate`] derives it from the settings' states.

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
}

impl PolicyStatus {
    /// The portal's wording: "Succeeded", "Error", "Conflict", "Pending", "Not applicable".
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyStatus::Succeeded => "Succeeded",
            PolicyStatus::Error => "Error",
            PolicyStatus::Conflict => "Conflict",
            PolicyStatus::Pending => "Pending",
            PolicyStatus::NotApplicable => "Not applicable",
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
/// 3. no settings, or only `notApplicable` / `notAssigned` ones → [`PolicyStatus::NotApplicable`];
/// 4. any `unknown` → [`PolicyStatus::Pending`];
/// 5. otherwise (every applicable setting compliant or remediated) → [`PolicyStatus::Succeeded`].
///
/// ```
/// use rampart_policy::status::{aggregate, PolicyStatus, SettingStatus::*};
///
/// assert_eq!(aggregate([Compliant, Remediated, NotApplicable]), PolicyStatus::Succeeded);
/// assert_eq!(aggregate([Compliant, Conflict, Unknown]), PolicyStatus::Conflict);
/// assert_eq!(aggregate([]), PolicyStatus::NotApplicable);
/// ```
pub fn aggregate(statuses: impl IntoIterator<Item = SettingStatus>) -> PolicyStatus {
    let (mut error, mut conflict, mut unknown, mut applicable) = (false, false, false, false);
    for status in statuses {
        match status {
            SettingStatus::Error | SettingStatus::NonCompliant => error = true,
            SettingStatus::Conflict => conflict = true,
            SettingStatus::Unknown => unknown = true,
            SettingStatus::Compliant | SettingStatus::Remediated => {}
            SettingStatus::NotApplicable | SettingStatus::NotAssigned => continue,
        }
        applicable = true;
    }
    if error {
        PolicyStatus::Error
    } else if conflict {
        PolicyStatus::Conflict
    } else if !applicable {
        PolicyStatus::NotApplicable
    } else if unknown {
        PolicyStatus::Pending
    } else {
        PolicyStatus::Succeeded
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
        assert_eq!(aggregate([]), PolicyStatus::NotApplicable);
        assert_eq!(aggregate([Unknown, Compliant]), PolicyStatus::Pending);
        assert_eq!(aggregate([Unknown, NotApplicable]), PolicyStatus::Pending);
        assert_eq!(
            aggregate([Compliant, Remediated, NotApplicable]),
            PolicyStatus::Succeeded
        );
    }
}
