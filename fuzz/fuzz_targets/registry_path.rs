//! Registry key paths come from plugins: parsing is the security boundary of every registry
//! grant check. Whatever the input, a parsed path is canonical: printing and re-parsing it gives
//! the same path (idempotence), and no component is empty, `.`, `..`, holds `\`, `/` or a
//! control character, or ends in whitespace or `.`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_backends::registry::RegistryPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = RegistryPath::parse(text) else {
        return;
    };
    for c in path.components() {
        assert!(!c.is_empty(), "empty component in {path:?}");
        assert!(c != "." && c != "..", "dot component in {path:?}");
        assert!(
            !c.contains(['\\', '/']) && !c.chars().any(char::is_control),
            "separator or control character in {path:?}"
        );
        assert!(
            !c.ends_with(|ch: char| ch.is_whitespace() || ch == '.'),
            "trailing space or dot in {path:?}"
        );
    }
    let printed = path.to_string();
    let again = RegistryPath::parse(&printed)
        .unwrap_or_else(|e| panic!("canonical form {printed:?} does not re-parse: {e}"));
    assert_eq!(again, path);
    assert_eq!(again.to_string(), printed, "printing is not idempotent");
    assert_eq!(again.components(), path.components());
    // Every parent is a prefix, and a path is its own prefix.
    assert!(path.starts_with(&path));
    if let Some(parent) = path.parent() {
        assert!(path.starts_with(&parent));
        assert!(!parent.starts_with(&path));
    }
    // The case-insensitive comparison agrees with the ASCII-uppercased spelling.
    if let Ok(upper) = RegistryPath::parse(&text.to_ascii_uppercase()) {
        assert_eq!(upper, path, "ASCII case changed the key");
    }
});
