//! Quoting of untrusted text in error messages.
//!
//! Errors quote the offending input, which comes from plugins and files: control characters are
//! escaped so a message cannot forge log lines, and very long inputs are shortened so one bad
//! 32 KiB path does not flood the log.

use std::fmt::Write as _;

/// How many characters of an offending value an error message shows.
const MAX_QUOTED_CHARS: usize = 160;

/// `text` in single quotes with control characters escaped and long text shortened.
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_QUOTED_CHARS * 2) + 2);
    out.push('\'');
    for (i, c) in text.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            let _ = write!(out, "…' ({} chars)", text.chars().count());
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn escapes_control_characters_and_shortens() {
        assert_eq!(quoted("a\0b\nc"), r"'a\u{0}b\nc'");
        let long = "x".repeat(1000);
        let q = quoted(&long);
        assert!(q.len() < 200, "{q}");
        assert!(q.ends_with("(1000 chars)"));
    }
}
