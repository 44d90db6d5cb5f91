//! Grants: what a plugin may touch, and how requests are narrowed by the operator.
//!
//! Deny by default. A plugin's effective grants are the intersection of what its manifest
//! requests and the ceiling the operator (or embedder) configured; with no ceiling a plugin gets
//! nothing. Registry grants are key prefixes compared on canonical paths (case-insensitive,
//! hive aliases resolved, `..` and empty components refused before any comparison), the same
//! idea as re-checking a resolved address rather than a host name.

use rampart_backends::registry::RegistryPath;
use serde::Deserialize;

/// Read or read-write access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Reads only.
    Read,
    /// Reads and writes.
    ReadWrite,
}

impl Access {
    /// Whether this access allows writing.
    pub fn can_write(self) -> bool {
        self == Access::ReadWrite
    }
}

/// Access to a registry key and everything below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryGrant {
    /// The key prefix (canonical).
    pub key: RegistryPath,
    /// The access granted.
    pub access: Access,
}

/// Access to Defender operations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DefenderGrant {
    /// Preference names `get-preference` may read; `"*"` means all.
    pub read: Vec<String>,
    /// Preference names `set-preference` may change; `"*"` means all.
    pub write: Vec<String>,
    /// Exclusion lists.
    pub exclusions: Option<Access>,
    /// ASR rules.
    pub asr_rules: Option<Access>,
    /// `get-computer-status`.
    pub status: bool,
}

/// Access to a named file root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// The root's name (the host maps it to a directory).
    pub root: String,
    /// The access granted.
    pub access: Access,
}

/// A set of grants: requested by a manifest, allowed by an operator, or effective for a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants {
    /// Registry key prefixes.
    pub registry: Vec<RegistryGrant>,
    /// Defender operations, if any.
    pub defender: Option<DefenderGrant>,
    /// File roots.
    pub files: Vec<FileGrant>,
}

impl Grants {
    /// No access at all.
    pub fn none() -> Self {
        Grants::default()
    }

    /// The same grants with every write taken away: registry keys and file roots read-only,
    /// no Defender preference writable, exclusions and ASR rules at most readable.
    pub fn read_only(&self) -> Grants {
        let read = |a: Access| Some(a.min(Access::Read));
        Grants {
            registry: self
                .registry
                .iter()
                .map(|g| RegistryGrant {
                    key: g.key.clone(),
                    access: Access::Read,
                })
                .collect(),
            defender: self.defender.as_ref().map(|d| DefenderGrant {
                read: d.read.clone(),
                write: Vec::new(),
                exclusions: d.exclusions.and_then(read),
                asr_rules: d.asr_rules.and_then(read),
                status: d.status,
            }),
            files: self
                .files
                .iter()
                .map(|f| FileGrant {
                    root: f.root.clone(),
                    access: Access::Read,
                })
                .collect(),
        }
    }

    /// True when nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.registry.is_empty() && self.defender.is_none() && self.files.is_empty()
    }

    /// The strongest access any grant gives to `key` (a grant covers its key and all subkeys).
    pub fn registry_access(&self, key: &RegistryPath) -> Option<Access> {
        self.registry
            .iter()
            .filter(|g| key.starts_with(&g.key))
            .map(|g| g.access)
            .max()
    }

    /// Whether `get-preference(name)` is allowed.
    pub fn defender_can_read(&self, preference: &str) -> bool {
        self.defender
            .as_ref()
            .is_some_and(|d| name_listed(&d.read, preference) || name_listed(&d.write, preference))
    }

    /// Whether `set-preference(name)` is allowed.
    pub fn defender_can_write(&self, preference: &str) -> bool {
        self.defender
            .as_ref()
            .is_some_and(|d| name_listed(&d.write, preference))
    }

    /// Access to exclusion lists.
    pub fn defender_exclusions(&self) -> Option<Access> {
        self.defender.as_ref().and_then(|d| d.exclusions)
    }

    /// Access to ASR rules.
    pub fn defender_asr_rules(&self) -> Option<Access> {
        self.defender.as_ref().and_then(|d| d.asr_rules)
    }

    /// Whether `get-computer-status` is allowed.
    pub fn defender_status(&self) -> bool {
        self.defender.as_ref().is_some_and(|d| d.status)
    }

    /// Access to a file root.
    pub fn file_access(&self, root: &str) -> Option<Access> {
        self.files
            .iter()
            .filter(|g| g.root == root)
            .map(|g| g.access)
            .max()
    }

    /// The grants in both `self` (requested) and `ceiling` (allowed).
    pub fn intersect(&self, ceiling: &Grants) -> Grants {
        let mut registry = Vec::new();
        for want in &self.registry {
            for allow in &ceiling.registry {
                let key = if want.key.starts_with(&allow.key) {
                    want.key.clone()
                } else if allow.key.starts_with(&want.key) {
                    allow.key.clone()
                } else {
                    continue;
                };
                let access = want.access.min(allow.access);
                if !registry
                    .iter()
                    .any(|g: &RegistryGrant| g.key == key && g.access >= access)
                {
                    registry.push(RegistryGrant { key, access });
                }
            }
        }
        let defender = match (&self.defender, &ceiling.defender) {
            (Some(want), Some(allow)) => Some(DefenderGrant {
                read: intersect_names(&want.read, &allow.read),
                write: intersect_names(&want.write, &allow.write),
                exclusions: min_access(want.exclusions, allow.exclusions),
                asr_rules: min_access(want.asr_rules, allow.asr_rules),
                status: want.status && allow.status,
            }),
            _ => None,
        };
        let files = self
            .files
            .iter()
            .filter_map(|want| {
                ceiling.file_access(&want.root).map(|allowed| FileGrant {
                    root: want.root.clone(),
                    access: want.access.min(allowed),
                })
            })
            .collect();
        Grants {
            registry,
            defender,
            files,
        }
    }
}

impl Grants {
    /// What `self` (requested) asks for beyond `ceiling` (allowed), one description per item;
    /// empty when the request fits.
    pub fn excess(&self, ceiling: &Grants) -> Vec<String> {
        let mut out = Vec::new();
        for want in &self.registry {
            let covered = ceiling
                .registry
                .iter()
                .any(|allow| want.key.starts_with(&allow.key) && allow.access >= want.access);
            if !covered {
                out.push(format!(
                    "registry {} ({})",
                    want.key,
                    access_name(want.access)
                ));
            }
        }
        if let Some(want) = &self.defender {
            let allow = ceiling.defender.clone().unwrap_or_default();
            let names_excess =
                |want: &[String], allow: &[String], what: &str, out: &mut Vec<String>| {
                    if allow.iter().any(|n| n == "*") {
                        return;
                    }
                    for n in want {
                        if n == "*" || !name_listed(allow, n) {
                            out.push(format!("defender {what} {n}"));
                        }
                    }
                };
            names_excess(&want.read, &allow.read, "read", &mut out);
            names_excess(&want.write, &allow.write, "write", &mut out);
            for (what, w, a) in [
                ("exclusions", want.exclusions, allow.exclusions),
                ("asr-rules", want.asr_rules, allow.asr_rules),
            ] {
                if let Some(w) = w
                    && a.is_none_or(|a| a < w)
                {
                    out.push(format!("defender {what} ({})", access_name(w)));
                }
            }
            if want.status && !allow.status {
                out.push("defender status".into());
            }
        }
        for want in &self.files {
            if ceiling
                .file_access(&want.root)
                .is_none_or(|a| a < want.access)
            {
                out.push(format!(
                    "file root '{}' ({})",
                    want.root,
                    access_name(want.access)
                ));
            }
        }
        out
    }
}

fn access_name(a: Access) -> &'static str {
    match a {
        Access::Read => "read",
        Access::ReadWrite => "read-write",
    }
}

fn name_listed(list: &[String], name: &str) -> bool {
    list.iter()
        .any(|n| n == "*" || n.eq_ignore_ascii_case(name))
}

fn intersect_names(want: &[String], allow: &[String]) -> Vec<String> {
    if allow.iter().any(|n| n == "*") {
        return want.to_vec();
    }
    if want.iter().any(|n| n == "*") {
        return allow.to_vec();
    }
    want.iter()
        .filter(|n| name_listed(allow, n))
        .cloned()
        .collect()
}

fn min_access(a: Option<Access>, b: Option<Access>) -> Option<Access> {
    Some(a?.min(b?))
}

/// The operator's grants configuration: per-plugin grants that narrow each plugin below its
/// manifest and the host's ceiling (they never widen anything: the effective grants are
/// requested ∩ ceiling ∩ operator).
///
/// ```toml
/// # Plugins not listed below get `[default]`; without `[default]`, the host's ceiling.
/// [default]
/// registry = []            # nothing
///
/// [plugin.windows-defender]
/// registry = [{ key = 'HKLM\SOFTWARE\Policies\Microsoft\Windows Defender', access = "read-write" }]
/// defender = { read = ["*"], exclusions = "read", asr-rules = "read", status = true }
/// files = [{ root = "mdatp-managed", access = "read" }]
///
/// # A plugin listed by name may also be assigned setting ids: its claims on them stand
/// # before any other plugin's (first-party ones included), and it enforces no other id.
/// [plugin.contoso-firewall]
/// settings = ["vendor_msft_firewall_mdmstore_*"]
/// registry = [{ key = 'HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\Mdm', access = "read-write" }]
/// ```
///
/// Unknown keys are errors, and so are a registry key that does not canonicalise, a setting
/// pattern without a literal prefix of [`crate::pattern::MIN_PATTERN_PREFIX`] characters,
/// and `settings` under `[default]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OperatorGrants {
    /// Grants of plugins not listed in `plugins`; `None`: the host's ceiling alone.
    pub default: Option<Grants>,
    /// Grants by plugin name.
    pub plugins: std::collections::BTreeMap<String, Grants>,
    /// Setting-id patterns assigned by plugin name (see the runtime's `PluginSet`).
    pub settings: std::collections::BTreeMap<String, Vec<String>>,
}

/// A grants file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grants configuration '{origin}': {message}")]
pub struct GrantsConfigError {
    /// The file.
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperatorGrants {
    default: Option<RawGrantSet>,
    #[serde(default)]
    plugin: std::collections::BTreeMap<String, RawGrantSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrantSet {
    settings: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
    defender: Option<RawDefender>,
    #[serde(default)]
    files: Vec<RawFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    key: String,
    access: Access,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefender {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    exclusions: Option<Access>,
    asr_rules: Option<Access>,
    #[serde(default)]
    status: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    root: String,
    access: Access,
}

impl RawGrantSet {
    fn into_grants(self, section: &str) -> Result<Grants, String> {
        let mut registry = Vec::new();
        for g in self.registry {
            let key = RegistryPath::parse(&g.key)
                .map_err(|e| format!("[{section}] registry key '{}': {e}", g.key.escape_debug()))?;
            registry.push(RegistryGrant {
                key,
                access: g.access,
            });
        }
        Ok(Grants {
            registry,
            defender: self.defender.map(|d| DefenderGrant {
                read: d.read,
                write: d.write,
                exclusions: d.exclusions,
                asr_rules: d.asr_rules,
                status: d.status,
            }),
            files: self
                .files
                .into_iter()
                .map(|f| FileGrant {
                    root: f.root,
                    access: f.access,
                })
                .collect(),
        })
    }
}

impl OperatorGrants {
    /// Parses a grants file's text; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// [`GrantsConfigError`] on invalid TOML, unknown keys, or a registry key that does not
    /// canonicalise.
    pub fn parse(text: &str, origin: &str) -> Result<Self, GrantsConfigError> {
        let err = |message: String| GrantsConfigError {
            origin: origin.to_string(),
            message,
        };
        let raw: RawOperatorGrants =
            toml::from_str(text).map_err(|e| err(crate::text::toml_message(&e, text)))?;
        if raw.default.as_ref().is_some_and(|d| d.settings.is_some()) {
            return Err(err(
                "[default] settings: setting ids are assigned per plugin, under [plugin.NAME]"
                    .into(),
            ));
        }
        let default = raw
            .default
            .map(|d| d.into_grants("default"))
            .transpose()
            .map_err(err)?;
        let mut plugins = std::collections::BTreeMap::new();
        let mut settings = std::collections::BTreeMap::new();
        for (name, mut set) in raw.plugin {
            let section = format!("plugin.{}", crate::text::excerpt(&name, 64));
            if let Some(patterns) = set.settings.take() {
                for p in &patterns {
                    crate::pattern::check_setting_pattern(p)
                        .map_err(|e| err(format!("[{section}] {e}")))?;
                }
                settings.insert(name.clone(), patterns);
            }
            let grants = set.into_grants(&section).map_err(err)?;
            plugins.insert(name, grants);
        }
        Ok(OperatorGrants {
            default,
            plugins,
            settings,
        })
    }

    /// Reads and parses a grants file.
    ///
    /// # Errors
    ///
    /// As [`OperatorGrants::parse`], and when the file cannot be read.
    pub fn load(path: &std::path::Path) -> Result<Self, GrantsConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| GrantsConfigError {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &origin)
    }

    /// Whether the file has an entry for plugin `name`.
    pub fn lists(&self, name: &str) -> bool {
        self.plugins.contains_key(name)
    }

    /// The ceiling for plugin `name` under the host's `ceiling`: narrowed by the plugin's own
    /// entry, else by `[default]`, else the host's ceiling unchanged.
    pub fn ceiling_for(&self, name: &str, ceiling: &Grants) -> Grants {
        match self.plugins.get(name).or(self.default.as_ref()) {
            Some(operator) => operator.intersect(ceiling),
            None => ceiling.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> RegistryPath {
        RegistryPath::parse(s).unwrap()
    }

    #[test]
    fn registry_grant_covers_subkeys_case_insensitively_but_not_siblings() {
        let g = Grants {
            registry: vec![RegistryGrant {
                key: key(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender"),
                access: Access::ReadWrite,
            }],
            ..Grants::none()
        };
        assert_eq!(
            g.registry_access(&key(
                r"HKEY_LOCAL_MACHINE\software\policies\microsoft\WINDOWS DEFENDER\Spynet"
            )),
            Some(Access::ReadWrite)
        );
        assert_eq!(
            g.registry_access(&key(
                r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender Extra"
            )),
            None
        );
        assert_eq!(
            g.registry_access(&key(r"HKLM\SOFTWARE\Policies\Microsoft")),
            None
        );
    }

    #[test]
    fn intersection_narrows_keys_and_access() {
        let want = Grants {
            registry: vec![RegistryGrant {
                key: key(r"HKLM\SOFTWARE"),
                access: Access::ReadWrite,
            }],
            defender: Some(DefenderGrant {
                read: vec!["*".into()],
                status: true,
                ..Default::default()
            }),
            files: vec![FileGrant {
                root: "a".into(),
                access: Access::ReadWrite,
            }],
        };
        let allow = Grants {
            registry: vec![RegistryGrant {
                key: key(r"HKLM\SOFTWARE\Policies"),
                access: Access::Read,
            }],
            defender: Some(DefenderGrant {
                read: vec!["CloudBlockLevel".into()],
                ..Default::default()
            }),
            files: vec![],
        };
        let eff = want.intersect(&allow);
        assert_eq!(
            eff.registry_access(&key(r"HKLM\SOFTWARE\Policies\X")),
            Some(Access::Read)
        );
        assert_eq!(eff.registry_access(&key(r"HKLM\SOFTWARE\Microsoft")), None);
        assert!(eff.defender_can_read("cloudblocklevel"));
        assert!(!eff.defender_can_read("MAPSReporting"));
        assert!(!eff.defender_status());
        assert_eq!(eff.file_access("a"), None);
        assert!(Grants::none().intersect(&allow).is_empty());
    }

    #[test]
    fn operator_grants_narrow_per_plugin_and_never_widen() {
        let ceiling = Grants {
            registry: vec![RegistryGrant {
                key: key(r"HKLM\SOFTWARE\Policies"),
                access: Access::ReadWrite,
            }],
            ..Grants::none()
        };
        let op = OperatorGrants::parse(
            r#"
[default]
[plugin.a]
registry = [{ key = 'hkey_local_machine\software\policies\microsoft', access = "read" }]
[plugin.b]
registry = [{ key = 'HKLM\SOFTWARE', access = "read-write" }]
files = [{ root = "x", access = "read-write" }]
"#,
            "g.toml",
        )
        .unwrap();
        let a = op.ceiling_for("a", &ceiling);
        assert_eq!(
            a.registry_access(&key(r"HKLM\SOFTWARE\Policies\Microsoft\X")),
            Some(Access::Read)
        );
        assert_eq!(
            a.registry_access(&key(r"HKLM\SOFTWARE\Policies\Other")),
            None
        );
        // b asks the operator file for more than the host ceiling: it still gets the ceiling.
        let b = op.ceiling_for("b", &ceiling);
        assert_eq!(b.registry_access(&key(r"HKLM\SOFTWARE\Microsoft")), None);
        assert_eq!(b.file_access("x"), None);
        assert!(
            op.ceiling_for("unlisted", &ceiling).is_empty(),
            "[default] is empty"
        );
        let no_default = OperatorGrants::parse("", "g.toml").unwrap();
        assert_eq!(no_default.ceiling_for("any", &ceiling), ceiling);
    }

    /// Golden messages for bad grants files.
    #[test]
    fn bad_grants_files_give_exact_messages() {
        let cases = [
            (
                "[plugins.a]",
                "grants configuration 'g.toml': line 1, column 2: unknown field `plugins`, expected `default` or `plugin`",
            ),
            (
                "[plugin.a]\nregistry = [{ key = 'HKLM\\A', acess = \"read\" }]",
                "grants configuration 'g.toml': line 2, column 31: unknown field `acess`, expected `key` or `access`",
            ),
            (
                "[plugin.a]\nregistry = [{ key = 'HKLM\\A', access = \"write\" }]",
                "grants configuration 'g.toml': line 2, column 40: unknown variant `write`, expected `read` or `read-write`",
            ),
            (
                "[plugin.a]\nregistry = [{ key = 'HKLM\\A\\..\\B', access = \"read\" }]",
                "grants configuration 'g.toml': [plugin.a] registry key 'HKLM\\\\A\\\\..\\\\B': ",
            ),
            (
                "[default]\ndefender = { reed = [] }",
                "grants configuration 'g.toml': line 2, column 14: unknown field `reed`, expected one of `read`, `write`, `exclusions`, `asr-rules`, `status`",
            ),
        ];
        for (text, want) in cases {
            let got = OperatorGrants::parse(text, "g.toml")
                .unwrap_err()
                .to_string();
            assert!(
                got.starts_with(want),
                "for {text:?}:\n got {got}\nwant {want}"
            );
        }
    }
}
