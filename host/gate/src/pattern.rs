//! Setting-id patterns: how manifests and operator assignments name the settings a plugin
//! claims (an exact id, or a literal prefix then `*`).

/// Fewest literal characters a setting pattern starts with: `test_*` is accepted, while `*`,
/// `**` or `a*` would claim a whole platform's settings.
pub const MIN_PATTERN_PREFIX: usize = 5;

/// Checks a setting-id pattern: a literal prefix of at least [`MIN_PATTERN_PREFIX`]
/// characters, then anything.
pub fn check_setting_pattern(pattern: &str) -> Result<(), String> {
    let prefix = pattern.split('*').next().unwrap_or("");
    if prefix.trim().chars().count() < MIN_PATTERN_PREFIX {
        return Err(format!(
            "setting pattern '{}' is too broad or empty: it must start with at least {MIN_PATTERN_PREFIX} characters of a setting id",
            crate::text::excerpt(pattern, 80)
        ));
    }
    Ok(())
}

/// Matches `*` against any run of characters; everything else literally (ASCII
/// case-insensitive, like setting ids).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    // Manifests name settings as exact ids or `prefix_*`; routing matches every setting of a
    // pass against them, so those two shapes skip the general walk below.
    match p.iter().position(|&b| b == b'*') {
        None => return p.eq_ignore_ascii_case(t),
        Some(i) if i + 1 == p.len() => {
            return t.len() >= i && t[..i].eq_ignore_ascii_case(&p[..i]);
        }
        Some(_) => {}
    }
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_prefixes_and_infixes() {
        assert!(glob_match("abc_*", "abc_def"));
        assert!(glob_match("abc_*", "abc_"));
        assert!(!glob_match("abc_*", "abd_x"));
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("exact", "EXACT"));
        assert!(!glob_match("exact", "exactly"));
        assert!(!glob_match("exact", "exac"));
        assert!(glob_match("ABC_*", "abc_Def"));
        assert!(!glob_match("abc_*", "abc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "x"));
        assert!(glob_match("a*_*", "ab_c"));
        assert!(!glob_match("a*_*", "abc"));
        assert!(glob_match("*_x", "a_b_x"));
    }
}
