//! The Windows plugin's logic, run natively against the runtime's emulated registry and
//! simulated Defender (which reads policy from that registry), with the runtime's grant checks.

// The native host exists only off wasm; `cargo clippy --target wasm32-wasip2 --all-targets`
// still compiles this file.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use rampart_plugin_windows_defender::WindowsDefender;
use rampart_sdk::native::backends::defender::SimulatedDefender;
use rampart_sdk::native::backends::registry::RegistryBackend as _;
use rampart_sdk::native::backends::registry::{EmulatedRegistry, RegValue, RegistryPath};
use rampart_sdk::native::{NativeHost, setting, test_device};
use rampart_sdk::{Platform, SettingStatus, SettingValue};

const ALLOW_RTM: &str = "device_vendor_msft_policy_config_defender_allowrealtimemonitoring";
const RTP_KEY: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection";

fn host(registry: &Arc<EmulatedRegistry>) -> NativeHost {
    let defender = Arc::new(SimulatedDefender::new(registry.clone()));
    NativeHost::for_plugin::<WindowsDefender>()
        .expect("the embedded manifest is valid")
        .with_registry(registry.clone())
        .with_defender(defender)
}

fn disable_rtm(registry: &EmulatedRegistry) -> Option<RegValue> {
    registry
        .get_value(
            &RegistryPath::parse(RTP_KEY).unwrap(),
            "DisableRealtimeMonitoring",
        )
        .unwrap()
}

#[test]
fn allowing_real_time_monitoring_writes_the_policy_value_once() {
    let registry = Arc::new(EmulatedRegistry::new());
    let host = host(&registry);
    let device = test_device(Platform::WindowsClient);
    let settings = [setting(ALLOW_RTM, SettingValue::Integer(1))];

    let first = host.run::<WindowsDefender>(&device, &settings);
    assert_eq!(first.protocol_errors, Vec::<String>::new());
    assert!(first.unclaimed.is_empty());
    assert_eq!(first.status(ALLOW_RTM), Some(SettingStatus::Remediated));
    // The CSP's Allow (1) is the Group Policy value Disable... = 0.
    assert_eq!(disable_rtm(&registry), Some(RegValue::Dword(0)));

    let second = host.apply::<WindowsDefender>(&device, &settings);
    assert_eq!(second[0].status, SettingStatus::Compliant, "{second:?}");
}

#[test]
fn rules_sharing_a_switch_read_it_once_and_the_first_reports_turning_it_on() {
    const ASR: &str =
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Windows Defender Exploit Guard\ASR";
    const PREFIX: &str = "device_vendor_msft_policy_config_defender_attacksurfacereductionrules_";
    let rules = [
        (
            "blockexecutionofpotentiallyobfuscatedscripts",
            "5beb7efe-fd9a-4556-801d-275e5ffc04cc",
        ),
        (
            "blockcredentialstealingfromwindowslocalsecurityauthoritysubsystem",
            "9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2",
        ),
    ];
    // Both rules are already in block mode; only the switch that makes Defender read them is
    // missing.
    let registry = Arc::new(EmulatedRegistry::new());
    let rules_key = RegistryPath::parse(&format!(r"{ASR}\Rules")).unwrap();
    for (_, guid) in rules {
        registry
            .set_value(&rules_key, guid, RegValue::Sz("1".to_owned()))
            .unwrap();
    }
    let settings: Vec<_> = rules
        .iter()
        .map(|(rule, guid)| {
            setting(
                &format!("{PREFIX}{rule}"),
                SettingValue::Text(format!("{guid}=1")),
            )
        })
        .collect();
    let host = host(&registry);
    let run = host.run::<WindowsDefender>(&test_device(Platform::WindowsClient), &settings);

    let statuses: Vec<_> = run.results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [SettingStatus::Remediated, SettingStatus::Compliant],
        "{:?}",
        run.results
    );
    assert_eq!(
        registry
            .get_value(&RegistryPath::parse(ASR).unwrap(), "ExploitGuard_ASR_Rules")
            .unwrap(),
        Some(RegValue::Dword(1))
    );
    // Per rule: read its value, ask Defender; once: read the switch, write it.
    assert_eq!(run.host_calls, 2 * 2 + 2);
}

#[test]
fn a_contrary_policy_value_is_remediated() {
    let registry = Arc::new(EmulatedRegistry::new());
    registry
        .set_value(
            &RegistryPath::parse(RTP_KEY).unwrap(),
            "DisableRealtimeMonitoring",
            RegValue::Dword(1),
        )
        .unwrap();
    let results = host(&registry).apply::<WindowsDefender>(
        &test_device(Platform::WindowsClient),
        &[setting(ALLOW_RTM, SettingValue::Integer(1))],
    );
    assert_eq!(results[0].status, SettingStatus::Remediated, "{results:?}");
    assert_eq!(disable_rtm(&registry), Some(RegValue::Dword(0)));
}

#[test]
fn a_value_of_the_wrong_kind_is_an_error_and_changes_nothing() {
    let registry = Arc::new(EmulatedRegistry::new());
    let results = host(&registry).apply::<WindowsDefender>(
        &test_device(Platform::WindowsClient),
        &[setting(ALLOW_RTM, SettingValue::Text("yes".into()))],
    );
    assert_eq!(results[0].status, SettingStatus::Error, "{results:?}");
    assert_eq!(disable_rtm(&registry), None);
}

#[test]
fn control_characters_in_policy_text_and_list_items_are_errors_and_write_nothing() {
    let registry = Arc::new(EmulatedRegistry::new());
    let p = "device_vendor_msft_policy_config_defender_";
    let list = |items: &[&str]| SettingValue::TextList(items.iter().map(|i| (*i).into()).collect());
    let results = host(&registry).apply::<WindowsDefender>(
        &test_device(Platform::WindowsClient),
        &[
            setting(
                &format!("{p}signatureupdatefallbackorder"),
                SettingValue::Text("MMPC|FileShares\r\nX".into()),
            ),
            setting(
                &format!("{p}signatureupdatefilesharessources"),
                list(&["\\\\srv\\share", "\\\\srv\\b\u{7}"]),
            ),
            setting(&format!("{p}excludedpaths"), list(&["C:\\ok", "C:\\bad\n"])),
        ],
    );
    for r in &results {
        assert_eq!(r.status, SettingStatus::Error, "{r:?}");
        assert!(
            r.message
                .as_deref()
                .unwrap_or_default()
                .contains("control character"),
            "{r:?}"
        );
    }
    assert!(registry.snapshot().is_empty(), "{:?}", registry.snapshot());
}

#[test]
fn a_channel_set_back_to_not_configured_is_enforced_by_the_removal_alone() {
    let registry = Arc::new(EmulatedRegistry::new());
    let defender = Arc::new(SimulatedDefender::new(registry.clone()));
    // A local preference Defender keeps once the policy value goes.
    use rampart_sdk::native::backends::defender::{DefenderBackend as _, PreferenceValue};
    defender
        .set_preference("PlatformUpdatesChannel", PreferenceValue::Integer(4))
        .unwrap();
    let host = NativeHost::for_plugin::<WindowsDefender>()
        .unwrap()
        .with_registry(registry.clone())
        .with_defender(defender);
    let id = "device_vendor_msft_defender_configuration_platformupdateschannel";
    let device = test_device(Platform::WindowsClient);
    let first = host.apply::<WindowsDefender>(&device, &[setting(id, SettingValue::Integer(2))]);
    assert_eq!(first[0].status, SettingStatus::Remediated, "{first:?}");
    let root = RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender").unwrap();
    assert_eq!(
        registry.get_value(&root, "PlatformRing").unwrap(),
        Some(RegValue::Dword(2))
    );
    let second = host.apply::<WindowsDefender>(&device, &[setting(id, SettingValue::Integer(0))]);
    assert_eq!(second[0].status, SettingStatus::Remediated, "{second:?}");
    assert_eq!(registry.get_value(&root, "PlatformRing").unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Firewall rules: the encoder, and rules through the plugin.

mod firewall_rules {
    use super::*;
    use rampart_plugin_windows_defender::firewall::{
        EncodedRule, GROUP, RULES_KEY, Rule, package_sid,
    };
    use rampart_sdk::native::group_setting;

    fn rule(name: &str) -> Rule {
        Rule {
            name: Some(name.into()),
            ..Rule::default()
        }
    }

    fn data(rule: &Rule) -> String {
        rule.encode().unwrap_or_else(|e| panic!("{e}")).data
    }

    fn error(rule: &Rule) -> String {
        rule.encode().expect_err("the rule is refused")
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_full_inbound_rule_encodes_every_field_in_order() {
        let r = Rule {
            name: Some("Contoso web".into()),
            description: Some("HTTPS to the agent".into()),
            enabled: Some(true),
            direction: Some("IN".into()),
            action: Some(1),
            protocol: Some(6),
            local_ports: strings(&["443", "8000-8010"]),
            remote_addresses: strings(&["10.0.0.0/8", "LocalSubnet", "fd00::/8"]),
            interface_types: strings(&["Lan", "Wireless"]),
            profiles: Some(vec![1, 2]),
            app_file_path: Some(r"%ProgramFiles%\Contoso\agent.exe".into()),
            edge_traversal: Some(true),
            ..Rule::default()
        };
        assert_eq!(
            r.encode(),
            Ok(EncodedRule {
                value_name: "Contoso web".into(),
                data: "v2.20|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|Profile=Private|LPort=443|LPort2_10=8000-8010|RA4=10.0.0.0/8|RA4=LocalSubnet|RA6=fd00::/8|RA6=LocalSubnet|IFType=Lan|IFType=Wireless|App=%ProgramFiles%\\Contoso\\agent.exe|Name=Contoso web|Desc=HTTPS to the agent|Edge=TRUE|".into(),
            })
        );
    }

    #[test]
    fn absent_fields_take_the_csp_defaults() {
        // Enabled, allow, outbound, any protocol, every profile and interface.
        assert_eq!(
            data(&rule("Anything out")),
            "v2.20|Action=Allow|Active=TRUE|Dir=Out|Name=Anything out|"
        );
        let r = Rule {
            enabled: Some(false),
            action: Some(0),
            direction: Some("out".into()),
            protocol: Some(17),
            remote_ports: strings(&["53"]),
            profiles: Some(vec![2_147_483_647]),
            interface_types: strings(&["All"]),
            app_service_name: Some("Dnscache".into()),
            description: Some(String::new()),
            ..rule("DNS")
        };
        assert_eq!(
            data(&r),
            "v2.20|Action=Block|Active=FALSE|Dir=Out|Protocol=17|RPort=53|Svc=Dnscache|Name=DNS|"
        );
        // All three profile bits are every profile too; one bit is that profile.
        let all = Rule {
            profiles: Some(vec![1, 2, 4]),
            ..rule("p")
        };
        assert!(!data(&all).contains("Profile="));
        let public = Rule {
            profiles: Some(vec![4]),
            ..rule("p")
        };
        assert!(data(&public).contains("|Profile=Public|"));
    }

    #[test]
    fn addresses_are_canonical_and_keywords_use_their_tokens() {
        let r = Rule {
            local_addresses: strings(&["192.168.1.10", "192.168.1.20-192.168.1.30,2001:DB8::1"]),
            remote_addresses: strings(&[
                "172.16.0.0/255.240.0.0",
                "10.1.2.3/32",
                "Internet",
                "dns",
                "2001:db8:0:0::/64",
            ]),
            ..rule("addresses")
        };
        assert_eq!(
            data(&r),
            "v2.20|Action=Allow|Active=TRUE|Dir=Out|LA4=192.168.1.10|LA4=192.168.1.20-192.168.1.30|LA6=2001:db8::1|RA4=172.16.0.0/255.240.0.0|RA4=10.1.2.3|RA4=DNS|RA42=IntErnet|RA6=2001:db8::/64|RA6=DNS|RA62=IntErnet|Name=addresses|"
        );
        // "*" alone is any address: no token.
        let any = Rule {
            remote_addresses: strings(&["*"]),
            local_ports: strings(&["*"]),
            ..rule("any")
        };
        assert_eq!(
            data(&any),
            "v2.20|Action=Allow|Active=TRUE|Dir=Out|Name=any|"
        );
    }

    #[test]
    fn invalid_rules_are_refused_with_the_reason() {
        let cases: Vec<(Rule, &str)> = vec![
            (Rule::default(), "the rule has no name"),
            (rule("  "), "the rule name is empty"),
            (
                rule("a|b"),
                "the name 'a|b' contains '|', which the rule string cannot carry",
            ),
            (
                rule("a\u{0}b"),
                "the name 'a\\u{0}b' contains the control character \\u{0}, which the rule string cannot carry",
            ),
            (rule("a/b"), "the rule name 'a/b' contains '/'"),
            (
                Rule {
                    protocol: Some(256),
                    ..rule("p")
                },
                "protocol 256 is not a protocol number (0–255)",
            ),
            (
                Rule {
                    protocol: Some(-1),
                    ..rule("p")
                },
                "protocol -1 is not a protocol number (0–255)",
            ),
            (
                Rule {
                    protocol: Some(1),
                    local_ports: strings(&["80"]),
                    ..rule("p")
                },
                "ports are given with protocol 1; ports need protocol 6 (TCP) or 17 (UDP)",
            ),
            (
                Rule {
                    remote_ports: strings(&["80"]),
                    ..rule("p")
                },
                "ports are given with no protocol; ports need protocol 6 (TCP) or 17 (UDP)",
            ),
            (
                Rule {
                    protocol: Some(6),
                    local_ports: strings(&["70000"]),
                    ..rule("p")
                },
                "local port 70000 is above 65535",
            ),
            (
                Rule {
                    protocol: Some(6),
                    local_ports: strings(&["http"]),
                    ..rule("p")
                },
                "local port 'http' is not a port number",
            ),
            (
                Rule {
                    protocol: Some(6),
                    remote_ports: strings(&["90-80"]),
                    ..rule("p")
                },
                "remote port range '90-80' ends before it begins",
            ),
            (
                Rule {
                    protocol: Some(6),
                    local_ports: strings(&["80,"]),
                    ..rule("p")
                },
                "local port '' is not a port number",
            ),
            (
                Rule {
                    protocol: Some(6),
                    local_ports: strings(&["80", "*"]),
                    ..rule("p")
                },
                "local port '*' (any) must be the only entry",
            ),
            (
                Rule {
                    remote_addresses: strings(&["10.0.0.300"]),
                    ..rule("p")
                },
                "remote address '10.0.0.300' is not an IP address, range, subnet or keyword",
            ),
            (
                Rule {
                    remote_addresses: strings(&["10.0.0.9-10.0.0.1"]),
                    ..rule("p")
                },
                "remote address '10.0.0.9-10.0.0.1' ends before it begins",
            ),
            (
                Rule {
                    remote_addresses: strings(&["10.0.0.1-::1"]),
                    ..rule("p")
                },
                "remote address '10.0.0.1-::1' mixes IPv4 and IPv6",
            ),
            (
                Rule {
                    local_addresses: strings(&["10.0.0.0/33"]),
                    ..rule("p")
                },
                "local address '10.0.0.0/33' has a prefix length above 32",
            ),
            (
                Rule {
                    local_addresses: strings(&["10.0.0.0/255.0.255.0"]),
                    ..rule("p")
                },
                "local address '10.0.0.0/255.0.255.0' has a mask that is not contiguous",
            ),
            (
                Rule {
                    local_addresses: strings(&["LocalSubnet"]),
                    ..rule("p")
                },
                "local address 'LocalSubnet' is a keyword, which only remote addresses take",
            ),
            (
                Rule {
                    app_file_path: Some(" ".into()),
                    ..rule("p")
                },
                "the app file path is empty, which would apply the rule to everything",
            ),
            (
                Rule {
                    app_service_name: Some(String::new()),
                    ..rule("p")
                },
                "the service name is empty, which would apply the rule to everything",
            ),
            (
                Rule {
                    direction: Some("both".into()),
                    ..rule("p")
                },
                "direction 'both' is not IN or OUT",
            ),
            (
                Rule {
                    action: Some(2),
                    ..rule("p")
                },
                "action 2 is not 0 (block) or 1 (allow)",
            ),
            (
                Rule {
                    interface_types: strings(&["Bluetooth"]),
                    ..rule("p")
                },
                "interface type 'Bluetooth' is not All, Lan, Wireless or RemoteAccess",
            ),
            (
                Rule {
                    profiles: Some(vec![8]),
                    ..rule("p")
                },
                "profile value 8 is not a combination of 1 (domain), 2 (private), 4 (public) or 2147483647 (all)",
            ),
            (
                Rule {
                    edge_traversal: Some(true),
                    ..rule("p")
                },
                "edge traversal applies to inbound rules only",
            ),
            (
                Rule {
                    app_file_path: Some("C:\\a|b.exe".into()),
                    ..rule("p")
                },
                "the app file path 'C:\\a|b.exe' contains '|', which the rule string cannot carry",
            ),
            (
                Rule {
                    app_package_family_name: Some("Contoso App".into()),
                    ..rule("p")
                },
                "'Contoso App' is not a package family name (Name_PublisherId)",
            ),
            (
                Rule {
                    app_package_family_name: Some("Contoso.App_8wekyb3d8bbwe|".into()),
                    ..rule("p")
                },
                "the package family name 'Contoso.App_8wekyb3d8bbwe|' contains '|', which the rule string cannot carry",
            ),
        ];
        for (r, expected) in cases {
            assert_eq!(error(&r), expected, "{r:?}");
        }
    }

    #[test]
    fn a_store_app_rule_names_the_package_by_its_sid() {
        // The SID Windows firewall rules carry for the Cortana package.
        let cortana =
            "S-1-15-2-1861897761-1695161497-2927542615-642690995-327840285-2659745135-2630312742";
        assert_eq!(
            package_sid("Microsoft.Windows.Cortana_cw5n1h2txyewy").as_deref(),
            Ok(cortana)
        );
        let r = Rule {
            app_package_family_name: Some("microsoft.windows.cortana_cw5n1h2txyewy".into()),
            action: Some(0),
            ..rule("Block Cortana")
        };
        assert_eq!(
            data(&r),
            format!(
                "v2.20|Action=Block|Active=TRUE|Dir=Out|Name=Block Cortana|AppPkgId={cortana}|"
            )
        );
    }

    #[test]
    fn fields_come_from_the_group_children_by_id() {
        let mut r = Rule::default();
        let id = |f: &str| format!("{GROUP}_{f}");
        r.set_field(&id("name"), &SettingValue::Text("n".into()))
            .unwrap();
        r.set_field(&id("profiles"), &SettingValue::IntegerList(vec![1, 4]))
            .unwrap();
        r.set_field(&id("enabled"), &SettingValue::Integer(0))
            .unwrap();
        assert_eq!(r.enabled, Some(false));
        assert_eq!(
            r.set_field(&id("name"), &SettingValue::Text("m".into())),
            Err("name is given twice".into())
        );
        assert_eq!(
            r.set_field(&id("protocol"), &SettingValue::Text("tcp".into())),
            Err("protocol: expected an integer, got text".into())
        );
        assert_eq!(
            r.set_field(&id("icmptypesandcodes"), &SettingValue::Text("8:*".into())),
            Err("the rule setting 'icmptypesandcodes' is not supported".into())
        );
        assert!(
            r.set_field("vendor_msft_firewall_other", &SettingValue::Integer(1))
                .is_err()
        );
    }

    fn rule_settings(index: u32, fields: &[(&str, SettingValue)]) -> Vec<rampart_sdk::Setting> {
        fields
            .iter()
            .map(|(f, v)| group_setting(&format!("{GROUP}_{f}"), v.clone(), GROUP, index))
            .collect()
    }

    fn web(index: u32, name: &str, protocol: i64) -> Vec<rampart_sdk::Setting> {
        rule_settings(
            index,
            &[
                ("name", SettingValue::Text(name.into())),
                ("direction", SettingValue::Text("IN".into())),
                ("action_type", SettingValue::Integer(1)),
                ("protocol", SettingValue::Integer(protocol)),
                (
                    "localportranges",
                    SettingValue::TextList(vec!["443".into()]),
                ),
            ],
        )
    }

    fn rule_value(registry: &EmulatedRegistry, name: &str) -> Option<RegValue> {
        registry
            .get_value(&RegistryPath::parse(RULES_KEY).unwrap(), name)
            .unwrap()
    }

    #[test]
    fn each_rule_is_one_value_and_a_bad_rule_is_an_error_for_its_settings_only() {
        let registry = Arc::new(EmulatedRegistry::new());
        let host = host(&registry);
        let device = test_device(Platform::WindowsClient);
        let mut settings = web(0, "Web", 6);
        settings.extend(web(1, "Broken", 1)); // ports with ICMP
        let run = host.run::<WindowsDefender>(&device, &settings);
        assert_eq!(run.protocol_errors, Vec::<String>::new());
        assert!(run.unclaimed.is_empty(), "{:?}", run.unclaimed);
        for r in &run.results {
            let index = r.group.as_ref().unwrap().index;
            if index == 0 {
                assert_eq!(r.status, SettingStatus::Remediated, "{r:?}");
            } else {
                assert_eq!(r.status, SettingStatus::Error, "{r:?}");
                assert_eq!(
                    r.message.as_deref(),
                    Some(
                        "firewall rule 'Broken': ports are given with protocol 1; ports need protocol 6 (TCP) or 17 (UDP)"
                    )
                );
            }
        }
        assert_eq!(
            rule_value(&registry, "Web"),
            Some(RegValue::Sz(
                "v2.20|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=443|Name=Web|".into()
            ))
        );
        assert_eq!(rule_value(&registry, "Broken"), None);

        // Again: the rule is already there, compliant; a changed value is remediated.
        let again = host.apply::<WindowsDefender>(&device, &web(0, "Web", 6));
        assert!(
            again.iter().all(|r| r.status == SettingStatus::Compliant),
            "{again:?}"
        );
        let udp = host.apply::<WindowsDefender>(&device, &web(0, "Web", 17));
        assert!(
            udp.iter().all(|r| r.status == SettingStatus::Remediated),
            "{udp:?}"
        );
        assert!(
            matches!(rule_value(&registry, "Web"), Some(RegValue::Sz(s)) if s.contains("Protocol=17"))
        );
    }

    #[test]
    fn two_items_with_one_name_are_both_refused() {
        let registry = Arc::new(EmulatedRegistry::new());
        let mut settings = web(0, "Web", 6);
        settings.extend(web(1, "WEB", 17));
        let results = host(&registry)
            .apply::<WindowsDefender>(&test_device(Platform::WindowsClient), &settings);
        assert!(
            results.iter().all(|r| r.status == SettingStatus::Error
                && r.message.as_deref().unwrap().contains("same name")),
            "{results:?}"
        );
        assert_eq!(rule_value(&registry, "Web"), None);
    }

    #[test]
    fn an_error_naming_rule_text_stays_one_line() {
        let registry = Arc::new(EmulatedRegistry::new());
        let mut settings = web(0, "Web\nin", 6);
        settings.extend(rule_settings(
            1,
            &[
                ("name", SettingValue::Text("Ports".into())),
                ("protocol", SettingValue::Integer(6)),
                (
                    "localportranges",
                    SettingValue::TextList(vec!["8\r\n0".into()]),
                ),
            ],
        ));
        let results = host(&registry)
            .apply::<WindowsDefender>(&test_device(Platform::WindowsClient), &settings);
        let messages: Vec<&str> = results
            .iter()
            .map(|r| r.message.as_deref().unwrap())
            .collect();
        assert!(
            messages.contains(&"firewall rule 'Web\\nin': the name 'Web\\nin' contains the control character \\n, which the rule string cannot carry"),
            "{messages:?}"
        );
        assert!(
            messages.contains(&"firewall rule 'Ports': local port '8\\r\\n0' is not a port number"),
            "{messages:?}"
        );
    }

    #[test]
    fn a_rule_setting_outside_a_group_item_is_an_error() {
        let registry = Arc::new(EmulatedRegistry::new());
        let results = host(&registry).apply::<WindowsDefender>(
            &test_device(Platform::WindowsClient),
            &[setting(
                &format!("{GROUP}_name"),
                SettingValue::Text("x".into()),
            )],
        );
        assert_eq!(results[0].status, SettingStatus::Error, "{results:?}");
    }
}
