//! The recommended ceiling: the most a plugin should be granted, per platform, so that the
//! first-party plugins can enforce every setting they claim and nothing else.
//!
//! A plugin's effective grants are what its manifest requests, narrowed by the ceiling; with
//! [`Grants::none`] as the ceiling every capability call is denied. The `rampart` agent uses
//! [`recommended`] (every platform at once); an embedder whose device platform is known can
//! use [`recommended_for`].

use rampart_backends::registry::RegistryPath;
use rampart_policy::device::Platform;

use crate::grants::{Access, DefenderGrant, FileGrant, Grants, RegistryGrant};

/// The registry keys of the first-party Windows plugin's table: the Defender, Windows Security
/// (Security Center) and Defender for Endpoint (`Windows Advanced Threat Protection`) policy
/// keys and the firewall's MDM store (`...\FirewallPolicy\Mdm`: profiles, and one value per
/// rule under `FirewallRules`) read-write; Defender's local configuration and the onboarding
/// status read-only.
const WINDOWS_KEYS: [(&str, Access); 6] = [
    (
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender",
        Access::ReadWrite,
    ),
    (r"HKLM\SOFTWARE\Microsoft\Windows Defender", Access::Read),
    (
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender Security Center",
        Access::ReadWrite,
    ),
    (
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection",
        Access::ReadWrite,
    ),
    (
        r"HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status",
        Access::Read,
    ),
    (
        r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\Mdm",
        Access::ReadWrite,
    ),
];

/// The file root of security settings management's `mdeattach_managed.json` on Linux.
pub const LINUX_FILE_ROOT: &str = "mdatp-managed";

/// The file root of security settings management's `com.microsoft.mdeattach.plist` on macOS.
pub const MACOS_FILE_ROOT: &str = "library-preferences";

/// File roots that live in a directory the system shares, and the only paths a plugin should
/// reach in them: `/Library/Preferences` holds every system preference file, and rampart owns
/// exactly one of them (see `FileRoots::limit_to`).
pub const FILE_ROOT_LIMITS: &[(&str, &[&str])] =
    &[(MACOS_FILE_ROOT, &["com.microsoft.mdeattach.plist"])];

/// The recommended ceiling on `platform`.
///
/// - Windows client and server: the registry keys of the first-party Windows plugin and
///   Defender's own API (read: preferences, exclusions, ASR rules, computer status).
/// - Linux: Defender's API (read) and the `mdatp-managed` file root (read-write).
/// - macOS: Defender's API (read) and the `library-preferences` file root (read-write; limit
///   it with [`FILE_ROOT_LIMITS`]).
pub fn recommended_for(platform: Platform) -> Grants {
    let (registry, files) = match platform {
        Platform::WindowsClient | Platform::WindowsServer => (windows_keys(), Vec::new()),
        Platform::Linux => (Vec::new(), vec![file_root(LINUX_FILE_ROOT)]),
        Platform::Macos => (Vec::new(), vec![file_root(MACOS_FILE_ROOT)]),
    };
    Grants {
        registry,
        defender: Some(defender_read()),
        files,
    }
}

/// The recommended ceiling for an agent that serves every platform: what
/// [`recommended_for`] allows on any of them.
pub fn recommended() -> Grants {
    Grants {
        registry: windows_keys(),
        defender: Some(defender_read()),
        files: vec![file_root(LINUX_FILE_ROOT), file_root(MACOS_FILE_ROOT)],
    }
}

fn windows_keys() -> Vec<RegistryGrant> {
    WINDOWS_KEYS
        .iter()
        .map(|&(key, access)| RegistryGrant {
            key: RegistryPath::parse(key).expect("constant registry path is valid"),
            access,
        })
        .collect()
}

fn defender_read() -> DefenderGrant {
    DefenderGrant {
        read: vec!["*".into()],
        write: vec![],
        exclusions: Some(Access::Read),
        asr_rules: Some(Access::Read),
        status: true,
    }
}

fn file_root(root: &str) -> FileGrant {
    FileGrant {
        root: root.into(),
        access: Access::ReadWrite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_ceiling_is_every_platforms_at_once() {
        let all = recommended();
        for platform in [
            Platform::WindowsClient,
            Platform::WindowsServer,
            Platform::Linux,
            Platform::Macos,
        ] {
            let one = recommended_for(platform);
            assert!(!one.is_empty(), "{platform:?}");
            assert_eq!(one.intersect(&all), one, "{platform:?} within the union");
        }
        assert_eq!(all.registry.len(), WINDOWS_KEYS.len());
        assert!(recommended_for(Platform::Linux).registry.is_empty());
    }
}
