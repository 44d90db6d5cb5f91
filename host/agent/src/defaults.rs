//! What `rampart apply` uses when it is not told otherwise: the embedded main job.

use rampart_backends::registry::RegistryPath;
use rampart_runtime::Grants;
use rampart_runtime::grants::{Access, DefenderGrant, FileGrant, RegistryGrant};

/// The example device: a simulated Windows 11 workstation.
pub(crate) const DEVICE: (&str, &str) = (
    "embedded:examples/devices/windows-11.toml",
    include_str!("../../../examples/devices/windows-11.toml"),
);

/// The example policies, written for rampart in Microsoft Graph format.
pub(crate) const POLICIES: &[(&str, &str)] = &[
    (
        "embedded:examples/policies/contoso-defender-antivirus.json",
        include_str!("../../../examples/policies/contoso-defender-antivirus.json"),
    ),
    (
        "embedded:examples/policies/contoso-asr-rules.json",
        include_str!("../../../examples/policies/contoso-asr-rules.json"),
    ),
];

/// The most any plugin may be granted by this agent, exactly the keys the first-party Windows
/// plugin's table names: the Defender, Windows Security (Security Center) and Defender for
/// Endpoint (`Windows Advanced Threat Protection`) policy keys and the firewall's MDM store
/// (`...\FirewallPolicy\Mdm`: profiles, and one value per rule under `FirewallRules`)
/// read-write; Defender's local configuration and the onboarding status read-only; Defender's
/// own API (read); and the directories of security settings management's files on Linux
/// (`mdatp-managed`: `mdeattach_managed.json`) and macOS (`library-preferences`:
/// `com.microsoft.mdeattach.plist`). A plugin's manifest can ask for less; anything it asks
/// beyond this is cut off (deny by default).
/// File roots that live in a directory the system shares, and the only paths the agent lets any
/// plugin reach in them: `/Library/Preferences` holds every system preference file, and rampart
/// owns exactly one of them. A grant on the root reaches that file and nothing beside it,
/// whatever directory `--file-root` maps the root to.
pub(crate) const FILE_ROOT_LIMITS: &[(&str, &[&str])] =
    &[("library-preferences", &["com.microsoft.mdeattach.plist"])];

pub(crate) fn grant_ceiling() -> Grants {
    let key = |k: &str| RegistryPath::parse(k).expect("constant registry path is valid");
    Grants {
        registry: vec![
            RegistryGrant {
                key: key(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender"),
                access: Access::ReadWrite,
            },
            RegistryGrant {
                key: key(r"HKLM\SOFTWARE\Microsoft\Windows Defender"),
                access: Access::Read,
            },
            RegistryGrant {
                key: key(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender Security Center"),
                access: Access::ReadWrite,
            },
            RegistryGrant {
                key: key(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection"),
                access: Access::ReadWrite,
            },
            RegistryGrant {
                key: key(r"HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status"),
                access: Access::Read,
            },
            RegistryGrant {
                key: key(
                    r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\Mdm",
                ),
                access: Access::ReadWrite,
            },
        ],
        defender: Some(DefenderGrant {
            read: vec!["*".into()],
            write: vec![],
            exclusions: Some(Access::Read),
            asr_rules: Some(Access::Read),
            status: true,
        }),
        files: vec![
            FileGrant {
                root: "mdatp-managed".into(),
                access: Access::ReadWrite,
            },
            FileGrant {
                root: "library-preferences".into(),
                access: Access::ReadWrite,
            },
        ],
    }
}
