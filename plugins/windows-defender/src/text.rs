//! Comparisons of setting ids and table strings that do not call `memcmp`.
//!
//! On WebAssembly, Rust's string and slice equality call wasi-libc's `memcmp`, which compares
//! one byte at a time, and the catalog's ids share prefixes of 40 to 70 bytes
//! (`device_vendor_msft_policy_config_defender_`). Matching such a prefix byte by byte would be
//! the largest single share of the plugin's own time in a run; these compare eight bytes at a
//! time.

/// Whether `a` and `b` are the same text.
pub(crate) fn same(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// `text` without `prefix`, if it starts with it.
pub(crate) fn strip_prefix<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.as_bytes().get(..prefix.len())?;
    if !same_bytes(head, prefix.as_bytes()) {
        return None;
    }
    // `prefix` is whole characters, so the rest starts on a character boundary.
    text.get(prefix.len()..)
}

/// Whether `text` starts with `prefix`.
pub(crate) fn starts_with(text: &str, prefix: &str) -> bool {
    strip_prefix(text, prefix).is_some()
}

/// Compares from the end, where ids that share a catalog prefix differ: eight bytes at a time,
/// then the few bytes left over one by one.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let ((a_words, a_rest), (b_words, b_rest)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    a_rest.iter().zip(b_rest).all(|(x, y)| x == y)
        && a_words
            .iter()
            .rev()
            .zip(b_words.iter().rev())
            .all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_at_every_length_and_position() {
        let base = "device_vendor_msft_policy_config_defender_allowbehaviormonitoring";
        for len in 0..=base.len() {
            let a = &base[..len];
            assert!(same(a, a));
            for i in 0..len {
                let mut b = a.as_bytes().to_vec();
                b[i] ^= 0x20;
                let b = String::from_utf8(b).unwrap();
                assert!(!same(a, &b), "{a} vs {b}");
            }
            if len > 0 {
                assert!(!same(a, &base[..len - 1]));
            }
        }
    }

    #[test]
    fn prefixes() {
        let id = "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_x";
        let prefix = "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_";
        assert_eq!(strip_prefix(id, prefix), Some("x"));
        assert_eq!(strip_prefix(prefix, prefix), Some(""));
        assert_eq!(strip_prefix(&prefix[1..], prefix), None);
        assert_eq!(
            strip_prefix("device_vendor_msft_policy_config_defender_z", prefix),
            None
        );
        assert!(starts_with(id, ""));
        assert!(!starts_with("dev", "device"));
        // Multi-byte characters before and after the prefix's end.
        assert_eq!(strip_prefix("abcé", "abc"), Some("é"));
        assert_eq!(strip_prefix("éa", "é"), Some("a"));
        assert_eq!(strip_prefix("é", "e"), None);
    }
}
