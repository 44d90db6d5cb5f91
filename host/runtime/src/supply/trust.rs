//! Which plugin signatures the operator trusts: keys, the plugin names each may sign, and
//! whether a missing or bad signature refuses the plugin.
//!
//! A trust file (TOML; unknown keys are errors):
//!
//! ```toml
//! # enforce (default): unsigned, tampered or untrusted plugins are refused.
//! # audit: they load, and the finding is reported. off: signatures are not checked.
//! mode = "enforce"
//!
//! [[key]]
//! name = "contoso-release"
//! # base64 of the 32-byte ed25519 public key, or an SPKI PEM block
//! public-key = "…"
//! # plugin names this key may sign: exact names, `prefix*`, or `*` for any
//! plugins = ["windows-defender", "contoso-*"]
//! ```
//!
//! The check ([`TrustPolicy::check`]) runs in [`crate::Plugin::load_trusted`] before anything is
//! compiled.

use std::path::Path;

use serde::Deserialize;

use crate::supply::signing::{self, SignatureError, VerifyingKey};

/// What a failed signature check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustMode {
    /// Refuse the plugin.
    Enforce,
    /// Load the plugin and report the finding.
    Audit,
    /// Do not check signatures.
    Off,
}

impl std::fmt::Display for TrustMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrustMode::Enforce => "enforce",
            TrustMode::Audit => "audit",
            TrustMode::Off => "off",
        })
    }
}

/// One trusted signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The operator's name for it (used in messages).
    pub name: String,
    /// Its key id (see [`signing::key_id`]).
    pub id: String,
    /// The public key.
    pub key: VerifyingKey,
    /// Plugin-name patterns it may sign.
    pub plugins: Vec<String>,
}

impl TrustedKey {
    /// Whether this key may sign plugin `name`.
    pub fn may_sign(&self, name: &str) -> bool {
        self.plugins.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => p == name,
        })
    }
}

/// The operator's trust configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    mode: TrustMode,
    keys: Vec<TrustedKey>,
}

/// The outcome of a check that did not refuse the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustVerdict {
    /// Signatures are not checked ([`TrustMode::Off`]).
    NotChecked,
    /// Signed by this trusted key, which may sign this plugin.
    Verified {
        /// The key's name.
        key: String,
    },
    /// Audit mode: the check failed, the plugin loads anyway, and this is reported.
    Finding(SignatureError),
}

impl std::fmt::Display for TrustVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustVerdict::NotChecked => f.write_str("not checked"),
            TrustVerdict::Verified { key } => write!(f, "signed by '{key}'"),
            TrustVerdict::Finding(e) => write!(f, "audit finding: {e}"),
        }
    }
}

/// A trust file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trust configuration '{origin}': {message}")]
pub struct TrustConfigError {
    /// The file.
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    mode: Option<TrustMode>,
    #[serde(default, rename = "key")]
    keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawKey {
    name: String,
    public_key: String,
    plugins: Vec<String>,
}

impl TrustPolicy {
    /// No signature checks: what an embedder gets without a trust configuration.
    pub const fn off() -> Self {
        TrustPolicy {
            mode: TrustMode::Off,
            keys: Vec::new(),
        }
    }

    /// A policy from keys and a mode.
    pub fn new(mode: TrustMode, keys: Vec<TrustedKey>) -> Self {
        TrustPolicy { mode, keys }
    }

    /// The mode.
    pub fn mode(&self) -> TrustMode {
        self.mode
    }

    /// The trusted keys.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Parses a trust file's text; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// [`TrustConfigError`] for invalid TOML, unknown keys, bad public keys, duplicate key
    /// names or keys, empty or malformed plugin patterns.
    pub fn parse(text: &str, origin: &str) -> Result<Self, TrustConfigError> {
        let err = |message: String| TrustConfigError {
            origin: origin.to_string(),
            message,
        };
        let raw: RawTrust =
            toml::from_str(text).map_err(|e| err(crate::text::toml_message(&e, text)))?;
        let mut keys: Vec<TrustedKey> = Vec::new();
        for k in raw.keys {
            if k.name.trim().is_empty() {
                return Err(err("a key has an empty name".into()));
            }
            let key = signing::parse_public_key(&k.public_key)
                .map_err(|e| err(format!("key '{}': {e}", k.name)))?;
            let id = signing::key_id(&key);
            if let Some(other) = keys.iter().find(|o| o.name == k.name || o.id == id) {
                return Err(err(format!(
                    "key '{}' is listed twice (also as '{}')",
                    k.name, other.name
                )));
            }
            if k.plugins.is_empty() {
                return Err(err(format!(
                    "key '{}' may sign no plugin (list names in 'plugins', or \"*\")",
                    k.name
                )));
            }
            for p in &k.plugins {
                let stem = p.strip_suffix('*').unwrap_or(p);
                if (stem.is_empty() && p != "*") || stem.contains('*') {
                    return Err(err(format!(
                        "key '{}': plugin pattern '{p}' is not a name, 'prefix*' or '*'",
                        k.name
                    )));
                }
            }
            keys.push(TrustedKey {
                name: k.name,
                id,
                key,
                plugins: k.plugins,
            });
        }
        // A trust file is an operator's decision to check signatures: enforcing is the default.
        let mode = raw.mode.unwrap_or(TrustMode::Enforce);
        Ok(TrustPolicy { mode, keys })
    }

    /// Reads and parses a trust file.
    ///
    /// # Errors
    ///
    /// As [`TrustPolicy::parse`], and when the file cannot be read.
    pub fn load(path: &Path) -> Result<Self, TrustConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TrustConfigError {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &origin)
    }

    /// Verifies `wasm`'s embedded signature: known key, valid signature, and the key may sign
    /// `plugin` (the name from the manifest, which the signature covers).
    ///
    /// # Errors
    ///
    /// The [`SignatureError`] whatever the mode; [`TrustPolicy::decide`] applies the mode.
    pub fn check(&self, wasm: &[u8], plugin: &str) -> Result<String, SignatureError> {
        let sig = signing::find_signature(wasm)?.ok_or(SignatureError::Unsigned)?;
        let trusted = self
            .keys
            .iter()
            .find(|k| k.id == sig.key_id)
            .ok_or_else(|| SignatureError::UnknownKey {
                key_id: sig.key_id.chars().take(64).collect(),
            })?;
        signing::verify_with(wasm, &sig, &trusted.key, &trusted.name)?;
        if !trusted.may_sign(plugin) {
            return Err(SignatureError::NotAllowed {
                key: trusted.name.clone(),
                plugin: plugin.to_string(),
            });
        }
        Ok(trusted.name.clone())
    }

    /// [`TrustPolicy::check`] under the mode: `Err` only when enforcing.
    ///
    /// # Errors
    ///
    /// The [`SignatureError`] in [`TrustMode::Enforce`].
    pub fn decide(&self, wasm: &[u8], plugin: &str) -> Result<TrustVerdict, SignatureError> {
        if self.mode == TrustMode::Off {
            return Ok(TrustVerdict::NotChecked);
        }
        match (self.check(wasm, plugin), self.mode) {
            (Ok(key), _) => Ok(TrustVerdict::Verified { key }),
            (Err(e), TrustMode::Audit) => Ok(TrustVerdict::Finding(e)),
            (Err(e), _) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supply::signing::{SigningKey, public_key_base64, sign};

    fn component() -> Vec<u8> {
        let mut w = b"\0asm\x0d\x00\x01\x00".to_vec();
        w.extend_from_slice(&[0, 4, 3, b'a', b'b', b'c']);
        w
    }

    fn trust(mode: &str, key: &SigningKey, plugins: &str) -> TrustPolicy {
        TrustPolicy::parse(
            &format!(
                "mode = \"{mode}\"\n[[key]]\nname = \"release\"\npublic-key = \"{}\"\nplugins = {plugins}\n",
                public_key_base64(&key.verifying_key())
            ),
            "test.toml",
        )
        .unwrap()
    }

    #[test]
    fn enforce_refuses_unsigned_unknown_tampered_and_not_allowed() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let t = trust("enforce", &k, r#"["windows-*"]"#);
        let signed = sign(&component(), &k).unwrap();
        assert_eq!(
            t.decide(&signed, "windows-defender"),
            Ok(TrustVerdict::Verified {
                key: "release".into()
            })
        );
        assert_eq!(
            t.decide(&component(), "windows-defender"),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            t.decide(&signed, "linux-defender"),
            Err(SignatureError::NotAllowed {
                key: "release".into(),
                plugin: "linux-defender".into()
            })
        );
        let other = sign(&component(), &SigningKey::from_bytes(&[8; 32])).unwrap();
        assert!(matches!(
            t.decide(&other, "windows-defender"),
            Err(SignatureError::UnknownKey { .. })
        ));
        let mut tampered = signed.clone();
        tampered[12] ^= 0x20;
        assert_eq!(
            t.decide(&tampered, "windows-defender"),
            Err(SignatureError::BadSignature {
                key: "release".into()
            })
        );
    }

    #[test]
    fn audit_loads_with_a_finding_and_off_does_not_check() {
        let k = SigningKey::from_bytes(&[7; 32]);
        let t = trust("audit", &k, r#"["*"]"#);
        assert_eq!(
            t.decide(&component(), "x"),
            Ok(TrustVerdict::Finding(SignatureError::Unsigned))
        );
        assert_eq!(
            TrustPolicy::off().decide(b"junk", "x"),
            Ok(TrustVerdict::NotChecked)
        );
    }

    #[test]
    fn enforce_is_the_default_mode_of_a_trust_file() {
        let t = TrustPolicy::parse("", "t.toml").unwrap();
        assert_eq!(t.mode(), TrustMode::Enforce);
        assert!(t.decide(&component(), "x").is_err(), "no keys: refuse all");
    }

    /// Golden messages: an operator's typo names the file and the problem.
    #[test]
    fn bad_trust_files_give_exact_messages() {
        let cases = [
            (
                "mode = \"enforced\"",
                "trust configuration 't.toml': line 1, column 8: unknown variant `enforced`, expected one of `enforce`, `audit`, `off`",
            ),
            (
                "mod = \"audit\"",
                "trust configuration 't.toml': line 1, column 1: unknown field `mod`, expected `mode` or `key`",
            ),
            (
                "[[key]]\nname = \"a\"\npublic-key = \"AAAA\"\nplugins = [\"*\"]",
                "trust configuration 't.toml': key 'a': public key is 3 bytes, an ed25519 key is 32",
            ),
            (
                "[[key]]\nname = \"a\"\npublic-key = \"AAAA\"\nplugins = [\"*\"]\nallow = 1",
                "trust configuration 't.toml': line 5, column 1: unknown field `allow`, expected one of `name`, `public-key`, `plugins`",
            ),
        ];
        for (text, want) in cases {
            let got = TrustPolicy::parse(text, "t.toml").unwrap_err().to_string();
            assert_eq!(got, want, "for {text:?}");
        }
        let k = public_key_base64(&SigningKey::from_bytes(&[1; 32]).verifying_key());
        let err = TrustPolicy::parse(
            &format!("[[key]]\nname = \"a\"\npublic-key = \"{k}\"\nplugins = [\"a*b\"]"),
            "t.toml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "trust configuration 't.toml': key 'a': plugin pattern 'a*b' is not a name, 'prefix*' or '*'"
        );
        let err = TrustPolicy::parse(
            &format!(
                "[[key]]\nname = \"a\"\npublic-key = \"{k}\"\nplugins = [\"*\"]\n[[key]]\nname = \"b\"\npublic-key = \"{k}\"\nplugins = [\"*\"]"
            ),
            "t.toml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "trust configuration 't.toml': key 'b' is listed twice (also as 'a')"
        );
    }
}
