//! Plugin binaries are untrusted: the manifest and contract sections are read from the `.wasm`
//! before any plugin code runs. Whatever the bytes, reading sections and parsing the manifest
//! return typed results; the input is also tried as manifest TOML directly, so the fuzzer
//! reaches the TOML validation without having to build a component first.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_gate::manifest::{Manifest, read_sections};

fuzz_target!(|data: &[u8]| {
    if let Ok(sections) = read_sections(data) {
        let _ = Manifest::parse(&sections.manifest);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(manifest) = Manifest::parse(text)
    {
        // A manifest that parses is valid: a name of a-z, 0-9 and '-', and at least one
        // platform.
        assert!(!manifest.name.is_empty() && manifest.name.len() <= 64);
        assert!(!manifest.platforms.is_empty());
        for grant in &manifest.grants.registry {
            let printed = grant.key.to_string();
            assert_eq!(
                rampart_backends::registry::RegistryPath::parse(&printed).as_ref(),
                Ok(&grant.key)
            );
        }
    }
});
