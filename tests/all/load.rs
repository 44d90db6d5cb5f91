//! Loading plugins: what is refused before any plugin code runs.

use rampart_runtime::manifest::ManifestError;
use rampart_runtime::{LoadFailure, Plugin};
use rampart_tests::{engine, permissive_ceiling};

fn load(bytes: &[u8]) -> rampart_runtime::LoadError {
    Plugin::load(&engine(), "test.wasm", bytes, &permissive_ceiling()).unwrap_err()
}

#[test]
fn garbage_and_truncated_files_are_refused_with_the_file_named() {
    let err = load(b"definitely not wasm");
    assert!(err.to_string().starts_with("plugin 'test.wasm': "), "{err}");
    assert!(
        matches!(err.reason, LoadFailure::Manifest(ManifestError::NotWasm(_))),
        "{err:?}"
    );

    let good = rampart_plugin_artifacts::get("windows-defender").unwrap();
    let truncated = &good[..good.len() / 2];
    let err = load(truncated);
    assert!(
        matches!(
            err.reason,
            LoadFailure::Manifest(_) | LoadFailure::Compile(_)
        ),
        "{err:?}"
    );
}

#[test]
fn a_component_without_a_manifest_is_not_a_plugin() {
    // The smallest valid component: no sections, no exports.
    let empty_component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    let err = load(&empty_component);
    assert_eq!(err.reason, LoadFailure::Manifest(ManifestError::Missing));
    assert!(err.to_string().contains("not a rampart plugin"), "{err}");
}

#[test]
fn the_first_party_plugin_declares_what_it_needs() {
    let plugin = Plugin::load(
        &engine(),
        "embedded:windows-defender",
        rampart_plugin_artifacts::get("windows-defender").unwrap(),
        &permissive_ceiling(),
    )
    .unwrap();
    assert_eq!(plugin.name(), "windows-defender");
    assert_eq!(plugin.contract_version(), rampart_runtime::CONTRACT_VERSION);
    assert!(plugin.digest().starts_with("sha256:") && plugin.digest().len() == 7 + 64);
    assert!(
        plugin
            .manifest()
            .claims("device_vendor_msft_policy_config_defender_puaprotection")
    );
    // Audit policy is not a registry setting the plugin writes.
    assert!(!plugin.manifest().claims(
        "device_vendor_msft_policy_config_audit_objectaccess_auditfilteringplatformconnection"
    ));
}

/// Under the agent's policy for plugin files, a plugin neither signed by a key trusted for its
/// name nor listed in the operator's grants file gets the ceiling read-only: narrowed, or
/// refused as over-privileged when strict; signed and trusted, or listed, it gets its request.
#[test]
fn plugin_files_are_read_only_unless_trusted_or_listed() {
    use rampart_backends::registry::RegistryPath;
    use rampart_runtime::grants::{Access, OperatorGrants};
    use rampart_runtime::trust::{TrustMode, TrustPolicy, TrustedKey};
    use rampart_runtime::{GrantPolicy, signing};
    use std::sync::Arc;
    let GrantPolicy::Ceiling(ceiling) = permissive_ceiling() else {
        unreachable!()
    };
    let wasm = std::fs::read(rampart_test_artifacts::TXN_WRITE_THEN_TRAP).unwrap();
    let key = RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Rampart Test").unwrap();
    let policy = |operator: Option<OperatorGrants>, strict| GrantPolicy::ThirdParty {
        ceiling: ceiling.clone(),
        operator: operator.map(Arc::new),
        strict,
    };
    let access = |p: &Plugin| p.grants().registry_access(&key);

    let unsigned = Plugin::load(&engine(), "w", &wasm, &policy(None, false)).unwrap();
    assert_eq!(access(&unsigned), Some(Access::Read));
    let refused = Plugin::load(&engine(), "w", &wasm, &policy(None, true)).unwrap_err();
    let LoadFailure::OverPrivileged { excess } = &refused.reason else {
        panic!("{refused}")
    };
    assert!(excess.iter().any(|e| e.contains("read-only")), "{excess:?}");

    let listed = OperatorGrants::parse(
        "[plugin.txn-write-then-trap]\nregistry = [{ key = 'HKLM', access = \"read-write\" }]",
        "g.toml",
    )
    .unwrap();
    let plugin = Plugin::load(&engine(), "w", &wasm, &policy(Some(listed), true)).unwrap();
    assert_eq!(access(&plugin), Some(Access::ReadWrite));

    let signer = signing::generate_key().unwrap();
    let trust = TrustPolicy::new(
        TrustMode::Enforce,
        vec![TrustedKey {
            name: "release".into(),
            id: signing::key_id(&signer.verifying_key()),
            key: signer.verifying_key(),
            plugins: vec!["txn-*".into()],
        }],
    );
    let signed = signing::sign(&wasm, &signer).unwrap();
    let plugin =
        Plugin::load_trusted(&engine(), "w", &signed, &policy(None, true), &trust, None).unwrap();
    assert_eq!(access(&plugin), Some(Access::ReadWrite));
}
