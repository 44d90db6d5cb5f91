//! Whether a policy is assigned to a device: Intune's assignment rules as they apply to devices
//! managed by Defender for Endpoint.
//!
//! - A document without assignments (no `assignments` member, or an empty list) counts as
//!   delivered to this device: exports and hand-written policies often omit them, and whoever
//!   handed the document to the device has already targeted it.
//! - Otherwise the policy reaches the device when an *include* target matches it
//!   (`groupAssignmentTarget` with one of the device's Entra groups, or
//!   `allDevicesAssignmentTarget`) and no *exclude* target does
//!   (`exclusionGroupAssignmentTarget` with one of its groups). Exclusion wins over inclusion,
//!   including over all devices.
//! - `allLicensedUsersAssignmentTarget` does not reach a device: Defender for Endpoint security
//!   settings management targets device objects only.
//! - Assignment filters are ignored (the parser already drops them): Intune does not evaluate
//!   them for devices managed by Defender for Endpoint. Unknown target types are ignored too.
//!
//! Group ids are compared ignoring ASCII case, since they are GUIDs and tools differ in case.

use crate::device::Device;
use crate::graph::{AssignmentTarget, PolicyDocument};

/// Why a policy is not assigned to a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NotAssigned {
    /// A one-line explanation naming the groups compared.
    pub reason: String,
}

/// Checks that `doc` is assigned to `device` (see the [module documentation](self)).
///
/// # Errors
///
/// [`NotAssigned`] with the reason when an exclusion group holds the device, or no include
/// target matches it.
pub fn check(doc: &PolicyDocument, device: &Device) -> Result<(), NotAssigned> {
    let assignments = match &doc.assignments {
        None => return Ok(()),
        Some(list) if list.is_empty() => return Ok(()),
        Some(list) => list,
    };
    let member = |group: &str| {
        device
            .groups
            .iter()
            .any(|mine| mine.trim().eq_ignore_ascii_case(group.trim()))
    };

    // Exclusion wins: look for it first.
    if let Some(group) = assignments.iter().find_map(|a| match &a.target {
        AssignmentTarget::ExclusionGroup(group) if member(group) => Some(group),
        _ => None,
    }) {
        return Err(NotAssigned {
            reason: format!("not assigned: the device is in excluded group '{group}'"),
        });
    }

    let mut groups = Vec::new();
    let mut users = false;
    for assignment in assignments {
        match &assignment.target {
            AssignmentTarget::AllDevices => return Ok(()),
            AssignmentTarget::Group(group) if member(group) => return Ok(()),
            AssignmentTarget::Group(group) => groups.push(format!("'{group}'")),
            AssignmentTarget::AllLicensedUsers => users = true,
            AssignmentTarget::ExclusionGroup(_) | AssignmentTarget::Other(_) => {}
        }
    }

    let users_note = "user targeting (all licensed users) does not reach devices managed by \
                      Defender for Endpoint";
    let reason = match (groups.is_empty(), users) {
        (false, false) => format!(
            "not assigned: the policy targets group{} {} and the device is in none of them",
            if groups.len() == 1 { "" } else { "s" },
            groups.join(", ")
        ),
        (false, true) => format!(
            "not assigned: the device is in none of the targeted groups {} and {users_note}",
            groups.join(", ")
        ),
        (true, true) => format!("not assigned: the policy targets only users; {users_note}"),
        (true, false) => {
            "not assigned: the policy has only exclusions or unknown targets, none including \
             this device"
                .to_owned()
        }
    };
    Err(NotAssigned { reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Assignment;

    fn policy(targets: Option<Vec<AssignmentTarget>>) -> PolicyDocument {
        PolicyDocument {
            id: "p".into(),
            name: "p".into(),
            description: String::new(),
            platforms: "windows10".into(),
            technologies: vec!["microsoftSense".into()],
            template: None,
            settings: Vec::new(),
            assignments: targets.map(|targets| {
                targets
                    .into_iter()
                    .map(|target| Assignment { target })
                    .collect()
            }),
            last_modified: None,
            origin: "test".into(),
        }
    }

    fn device() -> Device {
        Device {
            groups: vec!["AAAA".into(), "bbbb".into()],
            ..Device::example_windows_client()
        }
    }

    fn check_targets(targets: Vec<AssignmentTarget>) -> Result<(), String> {
        check(&policy(Some(targets)), &device()).map_err(|n| n.to_string())
    }

    use AssignmentTarget::{AllDevices, AllLicensedUsers, ExclusionGroup, Group, Other};

    #[test]
    fn absent_or_empty_assignments_deliver_the_policy() {
        assert_eq!(check(&policy(None), &device()), Ok(()));
        assert_eq!(check(&policy(Some(vec![])), &device()), Ok(()));
    }

    #[test]
    fn an_included_group_or_all_devices_targets_the_device() {
        assert_eq!(
            check_targets(vec![Group("x".into()), Group("aaaa".into())]),
            Ok(())
        );
        assert_eq!(check_targets(vec![AllDevices]), Ok(()));
    }

    #[test]
    fn exclusion_wins_over_inclusion_and_all_devices() {
        let expected = Err("not assigned: the device is in excluded group 'BBBB'".to_owned());
        assert_eq!(
            check_targets(vec![Group("aaaa".into()), ExclusionGroup("BBBB".into())]),
            expected
        );
        assert_eq!(
            check_targets(vec![AllDevices, ExclusionGroup("BBBB".into())]),
            expected
        );
        // An exclusion of a group the device is not in changes nothing.
        assert_eq!(
            check_targets(vec![AllDevices, ExclusionGroup("cccc".into())]),
            Ok(())
        );
    }

    #[test]
    fn other_groups_and_users_do_not_target_the_device() {
        assert_eq!(
            check_targets(vec![Group("x".into())]),
            Err(
                "not assigned: the policy targets group 'x' and the device is in none of them"
                    .into()
            )
        );
        assert_eq!(
            check_targets(vec![Group("x".into()), Group("y".into())]),
            Err("not assigned: the policy targets groups 'x', 'y' and the device is in none of them".into())
        );
        assert_eq!(
            check_targets(vec![AllLicensedUsers]),
            Err("not assigned: the policy targets only users; user targeting (all licensed users) does not reach devices managed by Defender for Endpoint".into())
        );
        assert_eq!(
            check_targets(vec![Group("x".into()), AllLicensedUsers]),
            Err("not assigned: the device is in none of the targeted groups 'x' and user targeting (all licensed users) does not reach devices managed by Defender for Endpoint".into())
        );
        assert_eq!(
            check_targets(vec![ExclusionGroup("x".into()), Other("#microsoft.graph.new".into())]),
            Err("not assigned: the policy has only exclusions or unknown targets, none including this device".into())
        );
    }
}
