//! Whether a policy applies to a device at all, before any setting is looked at.
//!
//! This is the minimal rule set: a policy applies when its `technologies` include one of the
//! channels the device receives policy through (for Defender for Endpoint security settings
//! management, `microsoftSense`), and its `platforms` is the device's Graph platform (`windows10`
//! for Windows clients and servers alike, `linux`, `macOS`). Template support per OS version,
//! server-versus-client templates and the domain-controller firewall rule come with the resolve
//! stage.

use crate::device::Device;
use crate::graph::PolicyDocument;

/// Why a policy does not apply to a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NotApplicable {
    /// A one-line explanation naming the values compared.
    pub reason: String,
}

/// Checks that `doc` can apply to `device`.
///
/// Graph spells flags and platforms in camelCase (`microsoftSense`, `macOS`); the comparison
/// ignores ASCII case so hand-written policies and device files need not match it exactly.
///
/// # Errors
///
/// [`NotApplicable`] with the reason when the technologies share no channel with the device or
/// the platform differs.
pub fn check(doc: &PolicyDocument, device: &Device) -> Result<(), NotApplicable> {
    let delivered = doc.technologies.iter().any(|technology| {
        device
            .channels
            .iter()
            .any(|channel| channel.eq_ignore_ascii_case(technology))
    });
    if !delivered {
        return Err(NotApplicable {
            reason: format!(
                "technologies '{}' include none of the device's channels '{}'",
                doc.technologies.join(","),
                device.channels.join(",")
            ),
        });
    }
    let platform = device.platform.graph_platform();
    if !doc.platforms.eq_ignore_ascii_case(platform) {
        return Err(NotApplicable {
            reason: format!(
                "policy platform '{}' does not match the device platform '{platform}' ({})",
                doc.platforms, device.platform
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Platform;

    fn policy(platforms: &str, technologies: &[&str]) -> PolicyDocument {
        PolicyDocument {
            id: "p".into(),
            name: "p".into(),
            description: String::new(),
            platforms: platforms.into(),
            technologies: technologies.iter().map(|t| (*t).to_owned()).collect(),
            template: None,
            settings: Vec::new(),
            assignments: None,
            last_modified: None,
            origin: "test".into(),
        }
    }

    #[test]
    fn windows_policies_apply_to_clients_and_servers() {
        let mut device = Device::example_windows_client();
        let doc = policy("windows10", &["mdm", "microsoftSense"]);
        assert_eq!(check(&doc, &device), Ok(()));
        device.platform = Platform::WindowsServer;
        assert_eq!(check(&doc, &device), Ok(()));
    }

    #[test]
    fn a_policy_without_the_device_channel_does_not_apply() {
        let device = Device::example_windows_client();
        let doc = policy("windows10", &["mdm"]);
        assert_eq!(
            check(&doc, &device).map_err(|n| n.reason),
            Err("technologies 'mdm' include none of the device's channels 'microsoftSense'".into())
        );
    }

    #[test]
    fn a_policy_for_another_platform_does_not_apply() {
        let device = Device::example_windows_client();
        let doc = policy("macOS", &["mdm", "microsoftSense"]);
        assert_eq!(
            check(&doc, &device).map_err(|n| n.to_string()),
            Err("policy platform 'macOS' does not match the device platform 'windows10' (windows-client)".into())
        );
    }
}
