//! Plugin manifests: what a plugin says it is and what it asks for, read from its `.wasm`
//! without running any of its code.
//!
//! The SDK's `export_plugin!` embeds two custom sections in the component: `rampart:manifest`
//! (the TOML file below) and `rampart:contract` (the WIT contract version the plugin was built
//! against). The host parses the binary with `wasmparser`, so a hostile plugin gets no chance to
//! execute before its grants are decided.
//!
//! ```toml
//! [plugin]
//! name = "windows-defender"
//! version = "0.1.0"
//! description = "..."
//! platforms = ["windows-client", "windows-server"]
//! settings = ["device_vendor_msft_policy_config_defender_*"]
//!
//! [[grants.registry]]
//! key = 'HKLM\SOFTWARE\Policies\Microsoft\Windows Defender'
//! access = "read-write"          # or "read"
//!
//! [grants.defender]
//! read = ["*"]                   # preference names get-preference may read ("*" = all)
//! write = []                     # preference names set-preference may change
//! exclusions = "read"            # read | read-write (absent: no access)
//! asr-rules = "read"             # read | read-write (absent: no access)
//! status = true                  # get-computer-status
//!
//! [[grants.files]]
//! root = "mdatp-managed"         # a root the host maps to a directory
//! access = "read-write"
//! ```
//!
//! Unknown keys are errors: a typo in a grant must not silently widen or narrow it.

use rampart_policy::device::Platform;
use serde::Deserialize;

use crate::grants::{Access, DefenderGrant, FileGrant, Grants, RegistryGrant};
pub use crate::pattern::{MIN_PATTERN_PREFIX, check_setting_pattern, glob_match};

/// The custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "rampart:manifest";
/// The custom section holding the contract version.
pub const CONTRACT_SECTION: &str = "rampart:contract";
/// The largest manifest accepted; real ones are a few hundred bytes.
const MAX_MANIFEST_BYTES: usize = 64 << 10;

/// A validated plugin manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Plugin name: lowercase letters, digits and `-`, unique per host.
    pub name: String,
    /// Plugin version (semver).
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Platforms the plugin enforces on.
    pub platforms: Vec<Platform>,
    /// Setting-id patterns the plugin enforces (`*` matches any run of characters).
    pub settings: Vec<String>,
    /// The grants the plugin requests.
    pub grants: Grants,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The binary is not a readable WebAssembly component.
    #[error("not a valid WebAssembly binary: {0}")]
    NotWasm(String),
    /// The component has no manifest section.
    #[error(
        "no '{MANIFEST_SECTION}' section: not a rampart plugin (export it with rampart_sdk::export_plugin!)"
    )]
    Missing,
    /// The component has no contract section.
    #[error("no '{CONTRACT_SECTION}' section: not built with rampart-sdk")]
    MissingContract,
    /// A section appears twice.
    #[error("the '{0}' section appears more than once")]
    Duplicate(&'static str),
    /// The manifest is too large.
    #[error("the manifest is {0} bytes, more than the {MAX_MANIFEST_BYTES} allowed")]
    TooLarge(usize),
    /// The manifest is not valid TOML of the expected shape.
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

/// The raw sections read from a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSections {
    /// The manifest text.
    pub manifest: String,
    /// The contract version text.
    pub contract: String,
}

/// Reads the manifest and contract sections from a component binary.
///
/// # Errors
///
/// Fails when the binary is not WebAssembly or a section is missing, duplicated or not UTF-8.
pub fn read_sections(wasm: &[u8]) -> Result<EmbeddedSections, ManifestError> {
    let mut manifest: Option<String> = None;
    let mut contract: Option<String> = None;
    // `parse_all` walks nested core modules too: the sections live in the plugin's core module,
    // which the component embeds.
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| ManifestError::NotWasm(e.to_string()))?;
        if let wasmparser::Payload::CustomSection(section) = payload {
            let (slot, name) = match section.name() {
                MANIFEST_SECTION => (&mut manifest, MANIFEST_SECTION),
                CONTRACT_SECTION => (&mut contract, CONTRACT_SECTION),
                _ => continue,
            };
            if slot.is_some() {
                return Err(ManifestError::Duplicate(name));
            }
            if section.data().len() > MAX_MANIFEST_BYTES {
                return Err(ManifestError::TooLarge(section.data().len()));
            }
            let text = std::str::from_utf8(section.data()).map_err(|_| {
                ManifestError::Invalid(format!("the '{name}' section is not UTF-8"))
            })?;
            *slot = Some(text.to_string());
        }
    }
    Ok(EmbeddedSections {
        manifest: manifest.ok_or(ManifestError::Missing)?,
        contract: contract.ok_or(ManifestError::MissingContract)?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    plugin: RawPlugin,
    #[serde(default)]
    grants: RawGrants,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    platforms: Vec<Platform>,
    settings: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    registry: Vec<RawRegistryGrant>,
    defender: Option<RawDefenderGrant>,
    #[serde(default)]
    files: Vec<RawFileGrant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistryGrant {
    key: String,
    access: Access,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefenderGrant {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    exclusions: Option<Access>,
    #[serde(default)]
    asr_rules: Option<Access>,
    #[serde(default)]
    status: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileGrant {
    root: String,
    access: Access,
}

impl Manifest {
    /// Parses and validates manifest TOML.
    ///
    /// # Errors
    ///
    /// Fails on unknown keys, a bad name or version, no platforms, an empty setting pattern,
    /// or a grant whose registry key does not canonicalise.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = toml::from_str(text)
            .map_err(|e| ManifestError::Invalid(crate::text::toml_message(&e, text)))?;
        let name = raw.plugin.name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ManifestError::Invalid(format!(
                "plugin name '{}' must be 1-64 characters of a-z, 0-9 and '-'",
                crate::text::excerpt(&name, 80)
            )));
        }
        if !is_semver(&raw.plugin.version) {
            return Err(ManifestError::Invalid(format!(
                "version '{}' is not semver (MAJOR.MINOR.PATCH)",
                crate::text::excerpt(&raw.plugin.version, 80)
            )));
        }
        if raw.plugin.platforms.is_empty() {
            return Err(ManifestError::Invalid("'platforms' is empty".into()));
        }
        for pattern in &raw.plugin.settings {
            check_setting_pattern(pattern).map_err(ManifestError::Invalid)?;
        }
        let mut registry = Vec::new();
        for g in raw.grants.registry {
            let key = rampart_backends::registry::RegistryPath::parse(&g.key).map_err(|e| {
                ManifestError::Invalid(format!(
                    "registry grant '{}': {}",
                    crate::text::excerpt(&g.key, 120),
                    crate::text::excerpt(&e.to_string(), 200)
                ))
            })?;
            registry.push(RegistryGrant {
                key,
                access: g.access,
            });
        }
        let defender = raw.grants.defender.map(|d| DefenderGrant {
            read: d.read,
            write: d.write,
            exclusions: d.exclusions,
            asr_rules: d.asr_rules,
            status: d.status,
        });
        let files = raw
            .grants
            .files
            .into_iter()
            .map(|f| FileGrant {
                root: f.root,
                access: f.access,
            })
            .collect();
        Ok(Manifest {
            name,
            version: raw.plugin.version,
            description: raw.plugin.description,
            platforms: raw.plugin.platforms,
            settings: raw.plugin.settings,
            grants: Grants {
                registry,
                defender,
                files,
            },
        })
    }

    /// Whether the plugin claims a setting id.
    pub fn claims(&self, setting_id: &str) -> bool {
        self.settings.iter().any(|p| glob_match(p, setting_id))
    }
}

/// `MAJOR.MINOR.PATCH`, then optionally a pre-release and build of semver's characters
/// (ASCII letters, digits, `-`, `.`, `+`): a version is printed in logs and status, so it
/// carries nothing else.
fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_patterns_without_a_literal_prefix_are_refused() {
        for pattern in ["**", "*", "*defender*", "dev*", "  "] {
            let text = format!(
                "[plugin]\nname = \"x\"\nversion = \"1.0.0\"\nplatforms = [\"linux\"]\nsettings = [\"{pattern}\"]"
            );
            let err = Manifest::parse(&text).unwrap_err().to_string();
            assert!(err.contains("too broad"), "{pattern}: {err}");
        }
        let ok = "[plugin]\nname = \"x\"\nversion = \"1.0.0\"\nplatforms = [\"linux\"]\nsettings = [\"test_*\"]";
        assert!(Manifest::parse(ok).is_ok());
    }

    #[test]
    fn a_refused_manifest_quotes_only_a_short_escaped_excerpt() {
        let bomb = format!(
            "[plugin]\nname = \"{}\u{1b}\"\nversion = \"1.0.0\"\nplatforms = [\"linux\"]\nsettings = [\"test_*\"]",
            "a".repeat(60_000)
        );
        let err = Manifest::parse(&bomb).unwrap_err().to_string();
        assert!(err.len() < 400, "{} characters", err.len());
        assert!(!err.contains('\u{1b}'));
        let broken = format!("[plugin]\nname = \"{}", "b".repeat(60_000));
        let err = Manifest::parse(&broken).unwrap_err().to_string();
        assert!(err.len() < 400, "{} characters", err.len());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = "[plugin]\nname='x'\nversion='0.1.0'\nplatforms=['linux']\nsettings=['a']\nsurprise=1\n";
        let err = Manifest::parse(text).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `surprise`"),
            "{err}"
        );
    }

    #[test]
    fn bad_registry_grant_is_refused() {
        let text = "[plugin]\nname='x'\nversion='0.1.0'\nplatforms=['linux']\nsettings=['a']\n[[grants.registry]]\nkey='HKLM\\A\\..\\B'\naccess='read'\n";
        assert!(matches!(
            Manifest::parse(text),
            Err(ManifestError::Invalid(_))
        ));
    }
}
