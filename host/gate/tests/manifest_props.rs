//! Property tests for the manifest reader: a plugin binary is untrusted, and its manifest is
//! read before any of its code runs. Whatever the bytes, `read_sections` and `Manifest::parse`
//! return a typed result (never a panic), the sections are found exactly when present once, and
//! a generated manifest is accepted exactly when it follows the documented rules.

use proptest::prelude::*;
use rampart_gate::manifest::{
    CONTRACT_SECTION, MANIFEST_SECTION, Manifest, ManifestError, read_sections,
};

/// A custom section: id 0, size, name, data.
fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend(name.as_bytes());
    body.extend(data);
    let mut out = vec![0];
    leb(body.len(), &mut out);
    out.extend(body);
    out
}

const COMPONENT_HEADER: &[u8] = b"\0asm\x0d\0\x01\0";

/// A manifest section's content: valid text, text with invalid UTF-8, or oversized.
fn section_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "\\PC{0,200}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => (65_530usize..65_545).prop_map(|n| vec![b'#'; n]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Arbitrary bytes, bare or behind a component header: a typed result, never a panic.
    #[test]
    fn arbitrary_bytes_give_a_typed_result(
        header in any::<bool>(),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut wasm = if header { COMPONENT_HEADER.to_vec() } else { Vec::new() };
        wasm.extend(bytes);
        if let Ok(sections) = read_sections(&wasm) {
            let _ = Manifest::parse(&sections.manifest);
        }
    }

    /// Sections with arbitrary content, present zero, one or two times each: found exactly when
    /// each is present once, UTF-8 and at most 64 KiB, and then returned verbatim.
    #[test]
    fn sections_are_found_exactly_when_well_formed(
        manifests in prop::collection::vec(section_data(), 0..3),
        contracts in prop::collection::vec(section_data(), 0..3),
        other in prop::collection::vec(("[a-z:]{1,20}", section_data()), 0..3),
        manifest_first in any::<bool>(),
    ) {
        let mut wasm = COMPONENT_HEADER.to_vec();
        for (name, data) in &other {
            wasm.extend(custom_section(name, data));
        }
        let m: Vec<u8> = manifests.iter().flat_map(|d| custom_section(MANIFEST_SECTION, d)).collect();
        let c: Vec<u8> = contracts.iter().flat_map(|d| custom_section(CONTRACT_SECTION, d)).collect();
        if manifest_first { wasm.extend(&m); wasm.extend(&c); } else { wasm.extend(&c); wasm.extend(&m); }

        let others_named = |n: &str| other.iter().filter(|(name, _)| name == n).count();
        let well_formed = |sections: &[Vec<u8>], name: &str| {
            sections.len() + others_named(name) == 1
                && sections.iter().all(|d| d.len() <= 64 << 10 && std::str::from_utf8(d).is_ok())
        };
        match read_sections(&wasm) {
            Ok(found) => {
                prop_assert!(well_formed(&manifests, MANIFEST_SECTION));
                prop_assert!(well_formed(&contracts, CONTRACT_SECTION));
                if others_named(MANIFEST_SECTION) == 0 {
                    prop_assert_eq!(found.manifest.as_bytes(), &manifests[0][..]);
                }
                if others_named(CONTRACT_SECTION) == 0 {
                    prop_assert_eq!(found.contract.as_bytes(), &contracts[0][..]);
                }
            }
            Err(ManifestError::NotWasm(e)) => prop_assert!(false, "well-framed input: {e}"),
            Err(_) => prop_assert!(
                !well_formed(&manifests, MANIFEST_SECTION) || !well_formed(&contracts, CONTRACT_SECTION)
            ),
        }
    }

    /// Arbitrary text as a manifest: a typed result, never a panic.
    #[test]
    fn arbitrary_text_gives_a_typed_result(text in "\\PC{0,300}") {
        let _ = Manifest::parse(&text);
    }

    /// Generated manifests are accepted exactly when the name, version, platforms, setting
    /// patterns and registry grant follow the rules.
    #[test]
    fn a_manifest_is_accepted_exactly_when_it_follows_the_rules(
        name in prop_oneof!["[a-z0-9-]{1,64}", "[a-zA-Z0-9_ .-]{0,70}"],
        version in prop_oneof!["[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z0-9.]{1,8})?", "[0-9.a-z-]{0,10}"],
        platforms in prop::collection::vec(
            prop::sample::select(vec!["windows-client", "windows-server", "linux", "macos", "ios"]), 0..3),
        settings in prop::collection::vec(prop_oneof!["[a-z_]{1,20}\\*?", Just("*".to_owned()), Just(" ".to_owned())], 0..3),
        grant in prop::option::of(prop_oneof![
            Just(r"HKLM\SOFTWARE\Policies\Example".to_owned()),
            Just(r"HKLM\SOFTWARE\..\SYSTEM".to_owned()),
            Just(r"HKXX\SOFTWARE".to_owned()),
            Just(r"hklm\software\x.".to_owned()),
        ]),
        unknown_key in any::<bool>(),
    ) {
        let quote = |s: &str| format!("'{s}'");
        let list = |items: &[String]| items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ");
        let platform_strings: Vec<String> = platforms.iter().map(|p| (*p).to_owned()).collect();
        let mut text = format!(
            "[plugin]\nname = {}\nversion = {}\nplatforms = [{}]\nsettings = [{}]\n",
            quote(&name), quote(&version), list(&platform_strings), list(&settings)
        );
        if unknown_key {
            text.push_str("surprise = 1\n");
        }
        if let Some(key) = &grant {
            text.push_str(&format!("[[grants.registry]]\nkey = {}\naccess = 'read'\n", quote(key)));
        }
        let name_ok = !name.is_empty() && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let core = version.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = core.split('.').collect();
        let version_ok = parts.len() == 3
            && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            && version.len() <= 64
            && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+'));
        let platforms_ok = !platforms.is_empty() && !platforms.contains(&"ios");
        // At least MIN_PATTERN_PREFIX literal characters before any `*`.
        let settings_ok = settings.iter().all(|s| {
            s.split('*').next().unwrap_or("").trim().chars().count()
                >= rampart_gate::manifest::MIN_PATTERN_PREFIX
        });
        let grant_ok = grant.as_deref().is_none_or(|k| k == r"HKLM\SOFTWARE\Policies\Example");
        let expected = name_ok && version_ok && platforms_ok && settings_ok && grant_ok && !unknown_key;
        match Manifest::parse(&text) {
            Ok(m) => {
                prop_assert!(expected, "accepted:\n{text}");
                prop_assert_eq!(&m.name, &name);
                prop_assert_eq!(&m.version, &version);
                prop_assert_eq!(m.platforms.len(), platforms.len());
                prop_assert_eq!(&m.settings, &settings);
                prop_assert_eq!(m.grants.registry.len(), usize::from(grant.is_some()));
            }
            Err(ManifestError::Invalid(_)) => prop_assert!(!expected, "refused:\n{text}"),
            Err(other) => prop_assert!(false, "not an Invalid error: {other:?}"),
        }
    }
}
