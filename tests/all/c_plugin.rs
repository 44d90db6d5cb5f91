//! The example plugin written in C (`plugins/c-example`): built from source with clang and
//! wasi-libc against the same WIT contract, loaded, audited and run like any other plugin.

use std::sync::Arc;

use rampart_backends::registry::{RegValue, RegistryBackend, RegistryPath};
use rampart_policy::catalog::Catalog;
use rampart_policy::graph::load_policy_file;
use rampart_policy::resolve::{Disposition, resolve};
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::grants::{Access, RegistryGrant};
use rampart_runtime::{
    Enforcer, GrantPolicy, Grants, LoadFailure, Plugin, PluginSet, RunLimits, RunOutput,
};
use rampart_tests::{backends, engine, permissive_ceiling, setting, shared_data, windows_client};

const P: &str = "device_vendor_msft_policy_config_defender_";
const RTP: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection";
const NAME: &str = "c-realtime-protection";

/// The C plugin's bytes, or `None` (with a loud message) where the C toolchain is missing
/// outside CI. Under `CI=true` the build script already refuses to finish without it; the check
/// here keeps a test binary built elsewhere from skipping in CI.
fn component() -> Option<&'static [u8]> {
    match rampart_plugin_c_example::COMPONENT {
        Ok(bytes) => Some(bytes),
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the C example plugin was not built: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED: the C example plugin was not built: {reason}");
            None
        }
    }
}

fn load(policy: &GrantPolicy) -> Option<Plugin> {
    let wasm = component()?;
    Some(Plugin::load(&engine(), "c-example.wasm", wasm, policy).expect("the C plugin loads"))
}

fn rtp() -> RegistryPath {
    RegistryPath::parse(RTP).unwrap()
}

fn ceiling(key: &str, access: Access) -> Grants {
    Grants {
        registry: vec![RegistryGrant {
            key: RegistryPath::parse(key).unwrap(),
            access,
        }],
        defender: None,
        files: vec![],
    }
}

fn run(plugin: &Plugin, settings: &[ResolvedSetting]) -> RunOutput {
    let (_, caps) = backends(false);
    let out = plugin
        .run(&windows_client(), settings, &caps, &RunLimits::default())
        .unwrap();
    assert!(out.protocol_errors.is_empty(), "{:?}", out.protocol_errors);
    out
}

#[test]
fn the_c_plugin_loads_with_its_manifest_and_only_the_key_it_asks_for() {
    let Some(plugin) = load(&permissive_ceiling()) else {
        return;
    };
    assert_eq!(plugin.name(), NAME);
    assert_eq!(plugin.version(), "0.1.0");
    assert_eq!(plugin.contract_version(), rampart_runtime::CONTRACT_VERSION);
    assert_eq!(plugin.manifest().settings.len(), 4);
    // The permissive ceiling allows all of HKLM and Defender; the plugin gets what it asked for.
    assert_eq!(*plugin.grants(), ceiling(RTP, Access::ReadWrite));
}

#[test]
fn the_c_component_imports_the_registry_and_log_and_nothing_of_wasi() {
    let Some(wasm) = component() else {
        return;
    };
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ComponentImportSection(section) = payload.unwrap() {
            for import in section {
                let import = import.unwrap();
                // The world's `use types.{...}` also imports the types by name; only instances
                // and functions reach the host.
                if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                    imports.push(import.name.name.to_string());
                }
            }
        }
    }
    imports.sort();
    assert_eq!(
        imports,
        [
            "rampart:plugin/log@0.1.1",
            "rampart:plugin/registry@0.1.1",
            "rampart:plugin/types@0.1.1",
        ]
    );
}

#[test]
fn the_c_plugin_enforces_a_real_intune_export_then_reports_compliant() {
    let Some(plugin) = load(&permissive_ceiling()) else {
        return;
    };
    let export =
        shared_data().join("intune-exports/win-es-antivirus-av-configuration.oib-v3.3.json");
    let docs = vec![load_policy_file(&export).unwrap()];
    let device = windows_client();
    let resolved = resolve(&docs, &device, &Catalog::embedded());
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(plugin));
    let (registry, caps) = backends(false);
    // One real-time setting already holds the desired value: compliant, not rewritten.
    registry
        .set_value(&rtp(), "DisableIOAVProtection", RegValue::Dword(0))
        .unwrap();
    let enforcer = Enforcer::new(caps, RunLimits::default());

    let report = enforcer.enforce(&plugins, &device, &resolved);
    let desired = |suffix: &str| {
        resolved[0]
            .entries
            .iter()
            .find_map(|e| match &e.disposition {
                Disposition::Enforce(s) if s.id == format!("{P}{suffix}") => Some(s.value.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{suffix} is not in the export"))
    };
    for (suffix, value_name) in [
        ("allowrealtimemonitoring", "DisableRealtimeMonitoring"),
        ("allowbehaviormonitoring", "DisableBehaviorMonitoring"),
        ("allowioavprotection", "DisableIOAVProtection"),
        ("allowscriptscanning", "DisableScriptScanning"),
    ] {
        let s = report.policies[0]
            .settings
            .iter()
            .find(|s| s.id == format!("{P}{suffix}"))
            .unwrap();
        assert_eq!(s.plugin.as_deref(), Some(NAME), "{s:?}");
        let expected = if suffix == "allowioavprotection" {
            SettingStatus::Compliant
        } else {
            SettingStatus::Remediated
        };
        assert_eq!(s.status, expected, "{s:?}");
        // Allowed (1) lands as Disable* = 0, not allowed (0) as 1.
        let SettingValue::Integer(allow @ (0 | 1)) = desired(suffix) else {
            panic!("{suffix}: the export holds {:?}", desired(suffix));
        };
        assert_eq!(
            registry.get_value(&rtp(), value_name).unwrap(),
            Some(RegValue::Dword(u32::from(allow == 0))),
            "{value_name}"
        );
    }
    // The plugin wrote only its key: every value in the registry sits there (the parents exist
    // only because creating the key creates them).
    let everything = registry.export_reg();
    let mut section = "";
    let mut values = 0;
    for line in everything.lines() {
        if line.starts_with('[') {
            section = line;
        } else if line.starts_with('"') {
            values += 1;
            assert_eq!(
                section,
                r"[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection]",
                "{line}"
            );
        }
    }
    assert_eq!(values, 4, "{everything}");
    // Settings of the export the C plugin does not claim are reported, not dropped.
    let unclaimed = report.policies[0]
        .settings
        .iter()
        .find(|s| s.id == format!("{P}cloudblocklevel"))
        .unwrap();
    assert_eq!(unclaimed.status, SettingStatus::Error);

    // The same policy again changes nothing.
    let again = enforcer.enforce(&plugins, &device, &resolved);
    for s in again.policies[0]
        .settings
        .iter()
        .filter(|s| s.plugin.as_deref() == Some(NAME))
    {
        assert_eq!(s.status, SettingStatus::Compliant, "{s:?}");
    }
    assert_eq!(registry.export_reg(), everything);
}

#[test]
fn unknown_settings_and_bad_values_are_errors_that_say_why() {
    let Some(plugin) = load(&permissive_ceiling()) else {
        return;
    };
    let settings = [
        setting(&format!("{P}cloudblocklevel"), SettingValue::Integer(2)),
        setting(
            &format!("{P}allowrealtimemonitoring"),
            SettingValue::Integer(2),
        ),
        setting(
            &format!("{P}allowscriptscanning"),
            SettingValue::Text("1".into()),
        ),
        setting(
            &format!("{P}allowbehaviormonitoring"),
            SettingValue::Integer(i64::MIN),
        ),
        // A good setting among bad ones is still enforced, and logged through the host.
        setting(&format!("{P}allowioavprotection"), SettingValue::Integer(0)),
    ];
    let out = run(&plugin, &settings);
    assert_eq!(out.outcomes[4].status, SettingStatus::Remediated);
    assert_eq!(
        out.logs,
        [(
            "info".to_string(),
            "set DisableIOAVProtection to 1".to_string()
        )]
    );
    let messages: Vec<&str> = out.outcomes[..4]
        .iter()
        .map(|o| {
            assert_eq!(o.status, SettingStatus::Error, "{o:?}");
            o.message.as_deref().unwrap()
        })
        .collect();
    assert_eq!(
        messages,
        [
            format!("this plugin does not enforce {P}cloudblocklevel").as_str(),
            "expected 0 (not allowed) or 1 (allowed), got 2",
            "expected 0 (not allowed) or 1 (allowed), got a value that is not an integer",
            "expected 0 (not allowed) or 1 (allowed), got -9223372036854775808",
        ]
    );
}

#[test]
fn the_host_denies_the_c_plugin_beyond_its_effective_grant() {
    let allow = [setting(
        &format!("{P}allowrealtimemonitoring"),
        SettingValue::Integer(1),
    )];
    // A ceiling with read access only: the plugin reads, its write is denied, nothing changes.
    let Some(read_only) = load(&GrantPolicy::Ceiling(ceiling(RTP, Access::Read))) else {
        return;
    };
    let (registry, caps) = backends(false);
    let before = registry.export_reg();
    let out = read_only
        .run(&windows_client(), &allow, &caps, &RunLimits::default())
        .unwrap();
    let o = &out.outcomes[0];
    assert_eq!(o.status, SettingStatus::Error, "{o:?}");
    let message = o.message.as_deref().unwrap();
    assert!(
        message.starts_with("writing DisableRealtimeMonitoring: access denied: "),
        "{message}"
    );
    assert_eq!(registry.export_reg(), before);
    assert_eq!(
        registry
            .get_value(&rtp(), "DisableRealtimeMonitoring")
            .unwrap(),
        None
    );

    // A ceiling elsewhere: even the read is denied.
    let spynet = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Spynet";
    let elsewhere = load(&GrantPolicy::Ceiling(ceiling(spynet, Access::ReadWrite))).unwrap();
    assert!(
        elsewhere.grants().registry.is_empty(),
        "{:?}",
        elsewhere.grants()
    );
    let outcomes = run(&elsewhere, &allow).outcomes;
    let message = outcomes[0].message.as_deref().unwrap();
    assert!(
        message.starts_with("reading DisableRealtimeMonitoring: access denied: "),
        "{message}"
    );

    // A strict ceiling refuses the over-privileged plugin before compiling it.
    let err = Plugin::load(
        &engine(),
        "c-example.wasm",
        component().unwrap(),
        &GrantPolicy::Strict(ceiling(spynet, Access::ReadWrite)),
    )
    .unwrap_err();
    assert!(
        matches!(err.reason, LoadFailure::OverPrivileged { .. }),
        "{err}"
    );
}
