//! Secrets kept out of everything rampart writes or prints, and large values kept out of the
//! copies a pass makes of them.
//!
//! A setting of the secret kind (the EDR onboarding blob) is handed to its plugin in clear:
//! the plugin needs it. Whatever the plugin says back (result messages, log records, panic
//! text, protocol errors, the values it wrote) passes through the run's [`Redactor`] before it
//! reaches a report, a log line or the audit trail, so a plugin that echoes the secret, on
//! purpose or not, cannot publish it. Only the change journal of a run in flight (which must be
//! able to restore what was there, and names the run's secrets so that recovery redacts the
//! same way), the drift ledger and the backends themselves hold the value.

use std::borrow::Cow;

use rampart_policy::settings::{ResolvedSetting, SettingValue};
use sha2::{Digest, Sha256};

use crate::txn::journal::{Change, JournalPreference, JournalValue};

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are replaced only where a whole value equals them: replacing every
/// occurrence of a two-letter secret would garble unrelated text without hiding anything.
const MIN_SUBSTRING_SECRET: usize = 4;

/// The longest value a report or an audit record quotes; a longer one is summarised by its
/// size and digest (the journal and the backends keep it whole).
pub const MAX_QUOTED_VALUE: usize = 1024;

/// The secrets of one run (or one pass), and how to take them out of text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// The secrets among `settings`' values.
    pub fn for_settings<'a>(settings: impl IntoIterator<Item = &'a ResolvedSetting>) -> Self {
        Redactor::from_secrets(
            settings
                .into_iter()
                .filter_map(|s| match &s.value {
                    SettingValue::Secret(secret) => Some(secret.expose().to_string()),
                    _ => None,
                })
                .collect(),
        )
    }

    /// [`Redactor::for_settings`], shared: a run without secrets (most of them) takes one
    /// empty redactor instead of allocating its own.
    pub fn shared_for_settings(settings: &[ResolvedSetting]) -> std::sync::Arc<Redactor> {
        static EMPTY: std::sync::LazyLock<std::sync::Arc<Redactor>> =
            std::sync::LazyLock::new(std::sync::Arc::default);
        if settings
            .iter()
            .any(|s| matches!(s.value, SettingValue::Secret(_)))
        {
            std::sync::Arc::new(Redactor::for_settings(settings))
        } else {
            EMPTY.clone()
        }
    }

    /// A redactor for these secrets (as [`Redactor::secrets`] returned them).
    pub fn from_secrets(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// The secrets, longest first.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if secret.len() < MIN_SUBSTRING_SECRET {
                if out == secret.as_str() {
                    out = Cow::Borrowed(REDACTED);
                }
            } else if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// [`Redactor::redact`] of an owned string.
    pub fn redact_owned(&self, text: String) -> String {
        match self.redact(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(redacted) => redacted,
        }
    }

    /// `change` as reports and the audit trail show it: secrets redacted and values longer
    /// than [`MAX_QUOTED_VALUE`] summarised (see [`quote`]).
    pub fn present(&self, change: &Change) -> Change {
        let text = |s: &str| quote(&self.redact(s));
        let list = |l: &[String]| -> Vec<String> {
            let shown: Vec<String> = l.iter().map(|s| text(s)).collect();
            if shown.iter().map(String::len).sum::<usize>() > MAX_QUOTED_VALUE {
                vec![summary(l.iter().map(String::len).sum(), &l.join("\0"))]
            } else {
                shown
            }
        };
        let value = |v: &JournalValue| match v {
            JournalValue::RegSz(s) => JournalValue::RegSz(text(s)),
            JournalValue::RegExpandSz(s) => JournalValue::RegExpandSz(text(s)),
            JournalValue::RegMultiSz(l) => JournalValue::RegMultiSz(list(l)),
            JournalValue::RegBinary(b) => JournalValue::RegBinary(text(b)),
            other => other.clone(),
        };
        let preference = |p: &JournalPreference| match p {
            JournalPreference::Text(s) => JournalPreference::Text(text(s)),
            JournalPreference::TextList(l) => JournalPreference::TextList(list(l)),
            other => other.clone(),
        };
        match change {
            Change::RegistryValue {
                key,
                name,
                before,
                after,
            } => Change::RegistryValue {
                key: text(key),
                name: text(name),
                before: before.as_ref().map(value),
                after: after.as_ref().map(value),
            },
            Change::RegistryKeyCreated { .. } | Change::AsrRule { .. } => change.clone(),
            Change::RegistryKeyDeleted { key, subtree } => Change::RegistryKeyDeleted {
                key: key.clone(),
                subtree: subtree
                    .iter()
                    .map(|k| crate::txn::journal::KeySnapshot {
                        key: k.key.clone(),
                        values: k.values.iter().map(|(n, v)| (text(n), value(v))).collect(),
                    })
                    .collect(),
            },
            Change::File {
                root,
                path,
                before,
                after_size,
                after_text,
            } => Change::File {
                root: root.clone(),
                path: text(path),
                before: before.as_deref().map(text),
                after_size: *after_size,
                after_text: after_text.as_deref().map(text),
            },
            Change::DefenderPreference {
                name,
                before,
                after,
            } => Change::DefenderPreference {
                name: name.clone(),
                before: before.as_ref().map(preference),
                after: preference(after),
            },
            Change::DefenderExclusion { kind, value, added } => Change::DefenderExclusion {
                kind: kind.clone(),
                value: text(value),
                added: *added,
            },
        }
    }
}

/// `text` itself when it is at most [`MAX_QUOTED_VALUE`] bytes, else a summary: `<N bytes,
/// sha256:…>` (the first 16 hex digits of its SHA-256).
pub fn quote(text: &str) -> String {
    if text.len() <= MAX_QUOTED_VALUE {
        text.to_string()
    } else {
        summary(text.len(), text)
    }
}

fn summary(len: usize, text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("<{len} bytes, sha256:{hex}…>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_policy::graph::Secret;

    fn redactor(secrets: &[&str]) -> Redactor {
        let settings: Vec<ResolvedSetting> = secrets
            .iter()
            .map(|s| ResolvedSetting {
                id: "x".into(),
                value: SettingValue::Secret(Secret::new(*s)),
                group: None,
                csp_uri: None,
            })
            .collect();
        Redactor::for_settings(&settings)
    }

    #[test]
    fn secrets_are_replaced_wherever_they_appear() {
        let r = redactor(&["onboard-blob-123", "onboard"]);
        assert_eq!(
            r.redact("got onboard-blob-123 and onboard!"),
            "got <redacted> and <redacted>!"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        let short = redactor(&["ab"]);
        assert_eq!(short.redact("ab"), REDACTED);
        assert_eq!(short.redact("about"), "about");
    }

    #[test]
    fn changes_are_presented_without_secrets_or_large_values() {
        let r = redactor(&["s3cr3t-value"]);
        let change = Change::RegistryValue {
            key: r"HKLM\SOFTWARE\X".into(),
            name: "Blob".into(),
            before: Some(JournalValue::RegSz("x".repeat(4 << 20))),
            after: Some(JournalValue::RegSz("prefix s3cr3t-value".into())),
        };
        let shown = serde_json::to_string(&r.present(&change)).unwrap();
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.len() < 400, "{shown}");
        assert!(shown.contains("<4194304 bytes, sha256:"), "{shown}");
    }
}
