//! Whether a policy, and each of its settings, applies to a device.
//!
//! [`check`] decides for a whole policy. The rules, in the order they are checked (the first
//! failure is the reason reported):
//!
//! 1. **Channel**: the policy's `technologies` include one of the device's channels (for
//!    Defender for Endpoint security settings management, `microsoftSense`). Plain MDM
//!    settings-catalog policies (`mdm` only) never reach these devices.
//! 2. **Platform**: the policy's `platforms` is the device's Graph platform (`windows10` for
//!    Windows clients and servers alike, `linux`, `macOS`).
//! 3. **Template**: the policy was made from an endpoint-security template that security
//!    settings management supports, for the device's platform ([`TEMPLATES`], taken from the
//!    shared `endpoint-security-templates.csv`, plus the Linux Global Exclusions (AV+EDR)
//!    profile whose template id that table lacks). Device Control is listed there and explicitly
//!    unsupported; any other template (App control, Exploit protection, Disk encryption, the
//!    old "Windows 10 and later" profiles, ...) is unknown and does not apply either. A policy
//!    with no template is not an endpoint-security profile and does not apply.
//! 4. **Domain controllers** get no firewall policy (Windows Firewall and Firewall Rules).
//!
//! [`check_setting`] decides for one setting of a policy that applies; a setting that fails is
//! withheld as `notApplicable` with the reason while the rest of the policy is enforced:
//!
//! - Settings security settings management does not support even inside a supported profile:
//!   `AllowIntrusionPreventionSystem` (antivirus), `AllowLocalPolicyMerge` (firewall, any
//!   profile) and the EDR *expedite telemetry reporting frequency*.
//! - Server versus client ASR rules (from the shared `asr-rules.csv` notes): "Block Webshell
//!   creation for Servers" applies to the Exchange Server role only, so not to clients; "Block
//!   Win32 API calls from Office macros" is not supported on Windows Server. Each rule's
//!   per-rule exclusions follow the rule.
//! - A setting whose catalog definition lists delivery channels none of which is the
//!   device's (for example `mdm,configManager` only) cannot be delivered through them.
//!
//! Names are compared ignoring ASCII case (Graph spells them in camelCase: `microsoftSense`,
//! `macOS`), so hand-written policies and device files need not match it exactly.

use crate::catalog::Definition;
use crate::device::Device;
use crate::graph::PolicyDocument;

/// Why a policy or setting does not apply to a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NotApplicable {
    /// A one-line explanation naming the values compared.
    pub reason: String,
}

impl NotApplicable {
    fn new(reason: impl Into<String>) -> Self {
        NotApplicable {
            reason: reason.into(),
        }
    }
}

/// An endpoint-security template security settings management knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The template GUID, without the `_<version>` suffix Graph appends (`templateId` is
    /// `<guid>_1`); support is per profile, not per template revision.
    pub guid: &'static str,
    /// The Graph platform the template belongs to: `windows10`, `linux` or `macOS`.
    pub platform: &'static str,
    /// The profile's name, as the Intune admin center shows it.
    pub name: &'static str,
    /// Whether security settings management delivers policies made from it.
    pub supported: bool,
    /// Whether it is a firewall profile (domain controllers get none).
    pub firewall: bool,
}

const fn template(
    guid: &'static str,
    platform: &'static str,
    name: &'static str,
    supported: bool,
    firewall: bool,
) -> Template {
    Template {
        guid,
        platform,
        name,
        supported,
        firewall,
    }
}

/// The endpoint-security templates of the shared `endpoint-security-templates.csv`, with the
/// facts this module needs. Every Windows profile here applies to clients and servers alike.
/// The CSV lists the Linux "Microsoft Defender Global Exclusions (AV+EDR)" profile without a
/// template id; its entry here takes the id from Microsoft365DSC.
pub const TEMPLATES: &[Template] = &[
    template(
        "804339ad-1553-4478-a742-138fb5807418",
        "windows10",
        "Microsoft Defender Antivirus",
        true,
        false,
    ),
    template(
        "45fea5e9-280d-4da1-9792-fb5736da0ca9",
        "windows10",
        "Microsoft Defender Antivirus exclusions",
        true,
        false,
    ),
    template(
        "d948ff9b-99cb-4ee0-8012-1fbc09685377",
        "windows10",
        "Windows Security Experience",
        true,
        false,
    ),
    template(
        "e3f74c5a-a6de-411d-aef6-eb15628f3a0a",
        "windows10",
        "Defender Update controls",
        true,
        false,
    ),
    template(
        "e8c053d6-9f95-42b1-a7f1-ebfd71c67a4b",
        "windows10",
        "Attack Surface Reduction Rules",
        true,
        false,
    ),
    template(
        "0f2034c6-3cd6-4ee1-bd37-f3c0693e9548",
        "windows10",
        "Device Control",
        false,
        false,
    ),
    template(
        "0385b795-0f2f-44ac-8602-9f65bf6adede",
        "windows10",
        "Endpoint detection and response",
        true,
        false,
    ),
    template(
        "6078910e-d808-4a9f-a51d-1b8a7bacb7c0",
        "windows10",
        "Windows Firewall",
        true,
        true,
    ),
    template(
        "19c8aa67-f286-4861-9aa0-f23541d31680",
        "windows10",
        "Microsoft Defender Firewall Rules",
        true,
        true,
    ),
    template(
        "4cfd164c-5e8a-4ea9-b15d-9aa71e4ffff4",
        "linux",
        "Microsoft Defender Antivirus",
        true,
        false,
    ),
    template(
        "8a17a1e5-3df4-4e07-9d20-3878267a79b8",
        "linux",
        "Microsoft Defender Antivirus exclusions",
        true,
        false,
    ),
    template(
        "3514388a-d4d1-4aa8-bd64-c317776008f5",
        "linux",
        "Endpoint detection and response",
        true,
        false,
    ),
    // Supported for security settings management on Linux per memdocs
    // `mde-security-integration.md` (2025), as the shared CSV records without an id. The id is
    // the `$templateReferenceId` ('dfa57610-d11d-4bf8-89d6-1f5cb1679506_1', platforms `linux`,
    // technologies `microsoftSense`) with which Microsoft365DSC's
    // `MSFT_IntuneDefenderGlobalExclusionsPolicyLinux` creates these policies (community, not
    // Microsoft documentation; see the linux-defender plugin's README, "Assumptions").
    template(
        "dfa57610-d11d-4bf8-89d6-1f5cb1679506",
        "linux",
        "Microsoft Defender Global Exclusions (AV+EDR)",
        true,
        false,
    ),
    template(
        "2d345ec2-c817-49e5-9156-3ed416dc972a",
        "macOS",
        "Microsoft Defender Antivirus",
        true,
        false,
    ),
    template(
        "43397174-2244-4006-b5ad-421b369e90d4",
        "macOS",
        "Microsoft Defender Antivirus exclusions",
        true,
        false,
    ),
    template(
        "a6ff37f6-c841-4264-9249-1ecf793d94ef",
        "macOS",
        "Endpoint detection and response",
        true,
        false,
    ),
];

/// The known template for a Graph `templateId` (`<guid>` or `<guid>_<version>`, any case).
pub fn find_template(template_id: &str) -> Option<&'static Template> {
    let guid = template_id
        .trim()
        .split_once('_')
        .map_or(template_id.trim(), |(guid, _)| guid);
    TEMPLATES
        .iter()
        .find(|template| template.guid.eq_ignore_ascii_case(guid))
}

/// The channel of security settings management (MDE attach).
const SENSE_CHANNEL: &str = "microsoftSense";

/// Checks that `doc` can apply to `device` (see the [module documentation](self)).
///
/// # Errors
///
/// [`NotApplicable`] with the reason of the first rule that fails.
pub fn check(doc: &PolicyDocument, device: &Device) -> Result<(), NotApplicable> {
    let delivered = doc.technologies.iter().any(|technology| {
        device
            .channels
            .iter()
            .any(|channel| channel.eq_ignore_ascii_case(technology))
    });
    if !delivered {
        return Err(NotApplicable::new(format!(
            "technologies '{}' include none of the device's channels '{}'",
            doc.technologies.join(","),
            device.channels.join(",")
        )));
    }
    let platform = device.platform.graph_platform();
    if !doc.platforms.eq_ignore_ascii_case(platform) {
        return Err(NotApplicable::new(format!(
            "policy platform '{}' does not match the device platform '{platform}' ({})",
            doc.platforms, device.platform
        )));
    }

    // The template rules are security settings management's: a policy that reaches the device
    // through another channel it accepts (an MDM channel, say) is not bound by them.
    let sense = |list: &[String]| list.iter().any(|t| t.eq_ignore_ascii_case(SENSE_CHANNEL));
    if !(sense(&doc.technologies) && sense(&device.channels)) {
        return Ok(());
    }
    let Some(reference) = &doc.template else {
        return Err(NotApplicable::new(
            "the policy was not made from an endpoint-security template; security settings \
             management delivers only endpoint-security profiles",
        ));
    };
    let id = &reference.template_id;
    let Some(template) = find_template(id) else {
        let name = reference
            .display_name
            .as_deref()
            .map(|name| format!(" ('{name}')"))
            .unwrap_or_default();
        return Err(NotApplicable::new(format!(
            "template '{id}'{name} is not an endpoint-security profile that security settings \
             management delivers"
        )));
    };
    if !template.supported {
        return Err(NotApplicable::new(format!(
            "the '{}' profile (template '{id}') is not supported by security settings management",
            template.name
        )));
    }
    if !template.platform.eq_ignore_ascii_case(platform) {
        return Err(NotApplicable::new(format!(
            "template '{id}' is the {} '{}' profile; the device platform is '{platform}' ({})",
            template.platform, template.name, device.platform
        )));
    }
    if template.firewall && device.domain_controller {
        return Err(NotApplicable::new(format!(
            "the '{}' profile does not apply to domain controllers",
            template.name
        )));
    }
    Ok(())
}

/// Settings security settings management does not support even inside a supported profile, by
/// definition id, with the reason reported.
const UNSUPPORTED_SETTINGS: [(&str, &str); 5] = [
    (
        "device_vendor_msft_policy_config_defender_allowintrusionpreventionsystem",
        "AllowIntrusionPreventionSystem is not supported by security settings management",
    ),
    (
        "vendor_msft_firewall_mdmstore_domainprofile_allowlocalpolicymerge",
        "AllowLocalPolicyMerge is not supported by security settings management",
    ),
    (
        "vendor_msft_firewall_mdmstore_privateprofile_allowlocalpolicymerge",
        "AllowLocalPolicyMerge is not supported by security settings management",
    ),
    (
        "vendor_msft_firewall_mdmstore_publicprofile_allowlocalpolicymerge",
        "AllowLocalPolicyMerge is not supported by security settings management",
    ),
    (
        "device_vendor_msft_windowsadvancedthreatprotection_configuration_telemetryreportingfrequency",
        "expedite telemetry reporting frequency is not supported by security settings management",
    ),
];

/// The id prefix of the ASR rule settings (`<prefix><rule>` and `<prefix><rule>_perruleexclusions`).
const ASR_RULE_PREFIX: &str =
    "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_";

/// ASR rules that apply to one kind of Windows only: rule id suffix, GUID, whether the rule
/// needs a server (else it needs a client), and the reason reported elsewhere.
const ROLE_BOUND_ASR_RULES: [(&str, &str, bool, &str); 2] = [
    (
        "blockwebshellcreationforservers",
        "a8f5898e-1dc8-49a9-9878-85004b8a61e6",
        true,
        "(Block Webshell creation for Servers) applies only to Windows Server",
    ),
    (
        "blockwin32apicallsfromofficemacros",
        "92e97fa1-2edf-4476-bdd6-9dd0b4dddc7b",
        false,
        "(Block Win32 API calls from Office macros) is not supported on Windows Server",
    ),
];

/// Checks that one setting of an applicable policy applies to `device` (see the
/// [module documentation](self)). `definition` is the setting's catalog definition, when the
/// catalog has one; the rules that need only the id apply without it, so a setting that does
/// not apply is reported as such even when the catalog does not know it.
///
/// # Errors
///
/// [`NotApplicable`] with the reason.
pub fn check_setting(
    setting_id: &str,
    device: &Device,
    definition: Option<&Definition>,
) -> Result<(), NotApplicable> {
    if let Some((_, reason)) = UNSUPPORTED_SETTINGS
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(setting_id))
    {
        return Err(NotApplicable::new(*reason));
    }
    if device.platform.is_windows()
        && let Some(rule) = asr_rule(setting_id)
        && let Some((_, guid, needs_server, reason)) =
            ROLE_BOUND_ASR_RULES.iter().find(|(name, ..)| *name == rule)
        && *needs_server != device.platform.is_server()
    {
        return Err(NotApplicable::new(format!("ASR rule {guid} {reason}")));
    }
    if let Some(definition) = definition {
        // A definition that names no channel at all says nothing; only a list without the
        // device's channel rules the setting out.
        let delivered = definition.technologies.is_empty()
            || definition.technologies.iter().any(|technology| {
                device
                    .channels
                    .iter()
                    .any(|channel| channel.eq_ignore_ascii_case(technology))
            });
        if !delivered {
            return Err(NotApplicable::new(format!(
                "the setting's technologies '{}' include none of the device's channels '{}'",
                definition.technologies.join(","),
                device.channels.join(",")
            )));
        }
    }
    Ok(())
}

/// The rule name of an ASR rule setting or of its per-rule exclusions, e.g.
/// `blockwin32apicallsfromofficemacros`.
fn asr_rule(setting_id: &str) -> Option<&str> {
    let rest = setting_id.strip_prefix(ASR_RULE_PREFIX)?;
    Some(rest.strip_suffix("_perruleexclusions").unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::device::Platform;
    use crate::graph::TemplateReference;

    const AV: &str = "804339ad-1553-4478-a742-138fb5807418_1";
    const FIREWALL: &str = "6078910e-d808-4a9f-a51d-1b8a7bacb7c0_1";
    const FIREWALL_RULES: &str = "19c8aa67-f286-4861-9aa0-f23541d31680_1";

    fn policy(platforms: &str, technologies: &[&str], template: Option<&str>) -> PolicyDocument {
        PolicyDocument {
            id: "p".into(),
            name: "p".into(),
            description: String::new(),
            platforms: platforms.into(),
            technologies: technologies.iter().map(|t| (*t).to_owned()).collect(),
            template: template.map(|id| TemplateReference {
                template_id: id.into(),
                template_family: None,
                display_name: None,
            }),
            settings: Vec::new(),
            assignments: None,
            last_modified: None,
            origin: "test".into(),
        }
    }

    fn reason(doc: &PolicyDocument, device: &Device) -> Result<(), String> {
        check(doc, device).map_err(|n| n.reason)
    }

    fn server() -> Device {
        Device {
            platform: Platform::WindowsServer,
            os_version: "10.0.20348".into(),
            ..Device::example_windows_client()
        }
    }

    fn domain_controller() -> Device {
        Device {
            domain_controller: true,
            ..server()
        }
    }

    fn linux() -> Device {
        Device {
            platform: Platform::Linux,
            os_version: "22.04".into(),
            ..Device::example_windows_client()
        }
    }

    #[test]
    fn windows_policies_apply_to_clients_and_servers() {
        let doc = policy("windows10", &["mdm", "microsoftSense"], Some(AV));
        assert_eq!(reason(&doc, &Device::example_windows_client()), Ok(()));
        assert_eq!(reason(&doc, &server()), Ok(()));
        assert_eq!(reason(&doc, &domain_controller()), Ok(()));
    }

    #[test]
    fn a_policy_without_the_device_channel_does_not_apply() {
        let doc = policy("windows10", &["mdm"], Some(AV));
        assert_eq!(
            reason(&doc, &Device::example_windows_client()),
            Err("technologies 'mdm' include none of the device's channels 'microsoftSense'".into())
        );
    }

    #[test]
    fn a_policy_for_another_platform_does_not_apply() {
        let doc = policy("macOS", &["mdm", "microsoftSense"], Some(AV));
        assert_eq!(
            reason(&doc, &Device::example_windows_client()),
            Err("policy platform 'macOS' does not match the device platform 'windows10' (windows-client)".into())
        );
    }

    #[test]
    fn templates_decide_support() {
        let client = Device::example_windows_client();
        assert_eq!(
            reason(&policy("windows10", &["microsoftSense"], None), &client),
            Err("the policy was not made from an endpoint-security template; security settings management delivers only endpoint-security profiles".into())
        );
        assert_eq!(
            reason(
                &policy("windows10", &["microsoftSense"], Some("0f2034c6-3cd6-4ee1-bd37-f3c0693e9548_1")),
                &client
            ),
            Err("the 'Device Control' profile (template '0f2034c6-3cd6-4ee1-bd37-f3c0693e9548_1') is not supported by security settings management".into())
        );
        let mut exploit = policy(
            "windows10",
            &["microsoftSense"],
            Some("d02f2162-fcac-48db-9b7b-b0a3f160d2c2_1"),
        );
        if let Some(template) = &mut exploit.template {
            template.display_name = Some("Exploit Protection".into());
        }
        assert_eq!(
            reason(&exploit, &client),
            Err("template 'd02f2162-fcac-48db-9b7b-b0a3f160d2c2_1' ('Exploit Protection') is not an endpoint-security profile that security settings management delivers".into())
        );
        // A Linux template in a policy that claims windows10 is caught too.
        assert_eq!(
            reason(
                &policy("windows10", &["microsoftSense"], Some("4cfd164c-5e8a-4ea9-b15d-9aa71e4ffff4_1")),
                &client
            ),
            Err("template '4cfd164c-5e8a-4ea9-b15d-9aa71e4ffff4_1' is the linux 'Microsoft Defender Antivirus' profile; the device platform is 'windows10' (windows-client)".into())
        );
        assert_eq!(
            reason(
                &policy(
                    "linux",
                    &["microsoftSense"],
                    Some("4CFD164C-5E8A-4EA9-B15D-9AA71E4FFFF4_2")
                ),
                &linux()
            ),
            Ok(()),
            "template ids match ignoring case and version"
        );
    }

    #[test]
    fn the_linux_global_exclusions_profile_applies_to_linux_only() {
        let global = "dfa57610-d11d-4bf8-89d6-1f5cb1679506_1";
        let doc = policy("linux", &["microsoftSense"], Some(global));
        assert_eq!(reason(&doc, &linux()), Ok(()));
        assert_eq!(
            reason(
                &policy("windows10", &["microsoftSense"], Some(global)),
                &Device::example_windows_client()
            ),
            Err(format!(
                "template '{global}' is the linux 'Microsoft Defender Global Exclusions (AV+EDR)' profile; the device platform is 'windows10' (windows-client)"
            ))
        );
    }

    #[test]
    fn domain_controllers_get_no_firewall_policy() {
        for (id, name) in [
            (FIREWALL, "Windows Firewall"),
            (FIREWALL_RULES, "Microsoft Defender Firewall Rules"),
        ] {
            let doc = policy("windows10", &["mdm", "microsoftSense"], Some(id));
            assert_eq!(reason(&doc, &server()), Ok(()));
            assert_eq!(
                reason(&doc, &domain_controller()),
                Err(format!(
                    "the '{name}' profile does not apply to domain controllers"
                ))
            );
        }
    }

    #[test]
    fn unsupported_settings_and_server_client_asr_rules_are_not_applicable() {
        let client = Device::example_windows_client();
        let catalog = Catalog::embedded();
        let check = |id: &str, device: &Device| {
            check_setting(id, device, catalog.get(id)).map_err(|n| n.reason)
        };
        assert_eq!(
            check(
                "device_vendor_msft_policy_config_defender_allowintrusionpreventionsystem",
                &client
            ),
            Err(
                "AllowIntrusionPreventionSystem is not supported by security settings management"
                    .into()
            )
        );
        for profile in ["domain", "private", "public"] {
            assert_eq!(
                check(
                    &format!(
                        "vendor_msft_firewall_mdmstore_{profile}profile_allowlocalpolicymerge"
                    ),
                    &server()
                ),
                Err(
                    "AllowLocalPolicyMerge is not supported by security settings management".into()
                )
            );
        }
        assert_eq!(
            check("device_vendor_msft_windowsadvancedthreatprotection_configuration_telemetryreportingfrequency", &client),
            Err("expedite telemetry reporting frequency is not supported by security settings management".into())
        );

        let webshell = format!("{ASR_RULE_PREFIX}blockwebshellcreationforservers");
        let win32 = format!("{ASR_RULE_PREFIX}blockwin32apicallsfromofficemacros");
        let webshell_reason = "ASR rule a8f5898e-1dc8-49a9-9878-85004b8a61e6 (Block Webshell creation for Servers) applies only to Windows Server";
        let win32_reason = "ASR rule 92e97fa1-2edf-4476-bdd6-9dd0b4dddc7b (Block Win32 API calls from Office macros) is not supported on Windows Server";
        assert_eq!(check(&webshell, &client), Err(webshell_reason.into()));
        assert_eq!(
            check(&format!("{webshell}_perruleexclusions"), &client),
            Err(webshell_reason.into())
        );
        assert_eq!(check(&webshell, &server()), Ok(()));
        assert_eq!(check(&win32, &client), Ok(()));
        assert_eq!(check(&win32, &server()), Err(win32_reason.into()));
        assert_eq!(
            check(&format!("{win32}_perruleexclusions"), &domain_controller()),
            Err(win32_reason.into())
        );

        // Definitions the MDE channel cannot deliver.
        assert_eq!(
            check("device_vendor_msft_policy_config_windowsdefendersecuritycenter_disallowexploitprotectionoverride", &client),
            Err("the setting's technologies 'mdm,configManager' include none of the device's channels 'microsoftSense'".into())
        );
        assert_eq!(
            check(
                "device_vendor_msft_policy_config_defender_allowrealtimemonitoring",
                &client
            ),
            Ok(())
        );
        assert_eq!(check("not_in_any_catalog", &client), Ok(()));
    }
}
