//! Property tests for the registry key canonicaliser (`RegistryPath::parse`), the security
//! boundary of every registry grant check: whatever a plugin sends, a parsed path is canonical
//! (printing and re-parsing it is the identity), never holds a component that could resolve
//! elsewhere (`..`, empty, NUL, trailing space or dot), compares case-insensitively the way the
//! registry does, and a grant prefix only ever covers its own subtree.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use rampart_backends::registry::{KeyPathError, RegistryPath};

fn hash_of(p: &RegistryPath) -> u64 {
    let mut h = DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

/// Every hive spelling, in random ASCII case.
fn hive() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "HKEY_LOCAL_MACHINE",
            "HKLM",
            "HKEY_CURRENT_USER",
            "HKCU",
            "HKEY_CLASSES_ROOT",
            "HKCR",
            "HKEY_USERS",
            "HKU",
            "HKEY_CURRENT_CONFIG",
            "HKCC",
        ]),
        any::<u64>(),
    )
        .prop_map(|(name, bits)| flip_case(name, bits))
}

fn flip_case(s: &str, bits: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if bits >> (i % 64) & 1 == 1 {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// Components: ordinary names, and every trick a hostile plugin would try.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9 _\\-]{1,12}",
        1 => prop::sample::select(vec![
            "", ".", "..", "...", " ", "x ", "x.", " x", "x\u{0}y", "a/b", "\u{17f}", "\u{131}",
            "stra\u{df}e", "\u{212a}", "\u{ff3c}", "x\u{3000}", "x\t", "\u{1b}", "Policies",
            "POLICIES", "\u{e9}t\u{e9}", "\u{1f600}",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{1,6}",
    ]
}

fn is_bad_component(c: &str) -> bool {
    c.is_empty()
        || c == "."
        || c == ".."
        || c.contains(['\\', '/'])
        || c.chars().any(char::is_control)
        || c.ends_with(|ch: char| ch.is_whitespace() || ch == '.')
        || c.encode_utf16().count() > 255
}

fn assert_canonical(path: &RegistryPath) {
    assert!(path.components().len() <= 512, "{path:?}");
    for c in path.components() {
        assert!(!is_bad_component(c), "{path:?} has component {c:?}");
    }
    let printed = path.to_string();
    assert_eq!(
        path.long_form(),
        printed,
        "the journal's form is the displayed one"
    );
    let again = RegistryPath::parse(&printed)
        .unwrap_or_else(|e| panic!("canonical form {printed:?} does not re-parse: {e}"));
    assert_eq!(&again, path);
    assert_eq!(again.to_string(), printed);
    assert_eq!(again.components(), path.components());
    assert_eq!(hash_of(&again), hash_of(path));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary text: an error, or a canonical path.
    #[test]
    fn any_text_parses_to_a_canonical_path_or_an_error(s in "\\PC{0,80}") {
        if let Ok(path) = RegistryPath::parse(&s) {
            assert_canonical(&path);
        }
    }

    /// Paths built from hives and tricky components: accepted exactly when every component is
    /// acceptable, and then canonical.
    #[test]
    fn a_path_is_accepted_exactly_when_every_component_is_valid(
        hive in hive(),
        components in prop::collection::vec(component(), 0..6),
    ) {
        let text = std::iter::once(hive.clone()).chain(components.iter().cloned())
            .collect::<Vec<_>>().join("\\");
        let parsed = RegistryPath::parse(&text);
        // A component holding '\' was split above, so judge the pieces the parser sees.
        let pieces: Vec<&str> = text.split('\\').skip(1).collect();
        let bad = text.contains('/')
            || text.chars().any(char::is_control)
            || pieces.iter().any(|c| is_bad_component(c));
        match parsed {
            Ok(path) => {
                prop_assert!(!bad, "{text:?} was accepted as {path:?}");
                assert_canonical(&path);
                prop_assert_eq!(path.components().len(), pieces.len());
            }
            Err(e) => {
                prop_assert!(bad, "{text:?} was refused: {e}");
                prop_assert!(!matches!(e, KeyPathError::UnknownHive { .. }), "{e}");
            }
        }
    }

    /// ASCII case never changes which key a path names; the hive's long and short names are
    /// the same hive.
    #[test]
    fn ascii_case_and_hive_aliases_name_the_same_key(
        hive in hive(),
        components in prop::collection::vec("[A-Za-z0-9 _\\-]{0,10}[A-Za-z0-9_\\-]", 0..5),
        bits in any::<u64>(),
    ) {
        let text = std::iter::once(hive).chain(components).collect::<Vec<_>>().join("\\");
        let path = RegistryPath::parse(&text).unwrap();
        let flipped = RegistryPath::parse(&flip_case(&text, bits)).unwrap();
        prop_assert_eq!(&flipped, &path);
        prop_assert_eq!(hash_of(&flipped), hash_of(&path));
        let long = RegistryPath::parse(&path.to_string()).unwrap();
        let short = std::iter::once(path.hive().short_name().to_owned())
            .chain(path.components().iter().cloned()).collect::<Vec<_>>().join("\\");
        prop_assert_eq!(&RegistryPath::parse(&short).unwrap(), &long);
    }

    /// A grant on a key covers exactly its subtree: not a sibling that extends its last name,
    /// not its parent, and every descendant.
    #[test]
    fn a_prefix_covers_its_subtree_only(
        base in prop::collection::vec("[A-Za-z0-9_]{1,8}", 1..4),
        extra in "[A-Za-z0-9_]{1,8}",
        below in prop::collection::vec("[A-Za-z0-9_]{1,8}", 1..4),
    ) {
        let grant = RegistryPath::parse(&format!("HKLM\\{}", base.join("\\"))).unwrap();
        let child = RegistryPath::parse(&format!("{grant}\\{}", below.join("\\"))).unwrap();
        let sibling = RegistryPath::parse(&format!("{grant}{extra}")).unwrap();
        prop_assert!(child.starts_with(&grant));
        prop_assert!(grant.starts_with(&grant));
        prop_assert!(!sibling.starts_with(&grant));
        prop_assert!(!grant.starts_with(&child));
        let parent = grant.parent().unwrap();
        prop_assert!(!parent.starts_with(&grant));
        prop_assert!(grant.starts_with(&parent));
        // Another hive never matches.
        let other = RegistryPath::parse(&format!("HKCU\\{}", base.join("\\"))).unwrap();
        prop_assert!(!other.starts_with(&grant));
        // `join` agrees with parsing the joined text.
        let mut joined = grant.clone();
        for b in &below {
            joined = joined.join(b).unwrap();
        }
        prop_assert_eq!(joined, child);
    }
}

/// Unicode whitespace and control characters that an ASCII-only check would let through as
/// the end of a component (look-alike keys).
#[test]
fn unicode_trailing_whitespace_and_controls_are_refused() {
    for input in [
        "HKLM\\x\u{85}",   // NEL: a C1 control
        "HKLM\\x\u{2028}", // line separator
        "HKLM\\x\u{a0}",   // no-break space
        "HKLM\\x\u{3000}", // ideographic space
        "HKLM\\x\u{200b}y\u{9f}",
    ] {
        assert!(RegistryPath::parse(input).is_err(), "{input:?}");
    }
    // Inside a component, non-ASCII spaces are ordinary characters: a distinct key.
    let nbsp = RegistryPath::parse("HKLM\\a\u{a0}b").unwrap();
    assert_canonical(&nbsp);
    assert_ne!(nbsp, RegistryPath::parse("HKLM\\a b").unwrap());
}
