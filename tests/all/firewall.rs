//! Windows Firewall settings, checked where the firewall reads them.
//!
//! The first-party Windows plugin applies a policy value; the independent model of the
//! firewall's policy store (`rampart_backends::firewall`, written from [MS-GPFAS] and [MS-FASP])
//! then says what the firewall takes from the MDM store. What each value should mean is the
//! Firewall CSP reference's, written below as tables of intent: CSP node, the value a policy
//! sends, and the firewall option (MS-FASP FW_PROFILE_CONFIG / FW_GLOBAL_CONFIG) and value that
//! should result. Nothing here is taken from the plugin's mapping, so a value written under the
//! wrong key or name, or encoded the wrong way, fails.
//!
//! Statuses are not what these tests check: the firewall cannot be queried, so the plugin
//! reports its settings as written but unconfirmed. They check only that no setting failed.

use std::sync::Arc;

use rampart_backends::firewall::{
    Action, CRL_CHECK_ATTEMPT, CRL_CHECK_REQUIRE, ConfigValue, FirewallPolicyReader, GlobalOption,
    IPSEC_EXEMPT_DHCP, IPSEC_EXEMPT_ICMP, IPSEC_EXEMPT_NEIGHBOR_DISCOVERY,
    IPSEC_EXEMPT_ROUTER_DISCOVERY, PACKET_QUEUE_FORWARD, PACKET_QUEUE_INBOUND,
    PRESHARED_KEY_ENCODING_NONE, PRESHARED_KEY_ENCODING_UTF8, Profile, ProfileOption,
};
use rampart_backends::registry::{RegistryBackend, RegistryPath};
use rampart_policy::catalog::Catalog;
use rampart_policy::device::load_device_file;
use rampart_policy::resolve::resolve;
use rampart_policy::settings::{ResolvedSetting, SettingValue};
use rampart_policy::status::SettingStatus;
use rampart_runtime::{Enforcer, PluginSet, RunLimits, SettingOutcome};
use rampart_tests::{
    backends, permissive_ceiling, setting, shared_data, windows_client, windows_defender,
};

/// The Firewall CSP's settings-catalog ids: `<FW><profile>profile_<node>`, `<FW>global_<node>`.
const FW: &str = "vendor_msft_firewall_mdmstore_";

fn text(value: &str) -> SettingValue {
    SettingValue::Text(value.to_owned())
}

fn int(value: i64) -> SettingValue {
    SettingValue::Integer(value)
}

fn ints(values: &[i64]) -> SettingValue {
    SettingValue::IntegerList(values.to_vec())
}

fn on(flag: bool) -> ConfigValue {
    ConfigValue::Switch(flag)
}

fn number(n: u32) -> ConfigValue {
    ConfigValue::Number(n)
}

/// One CSP node and two values a policy may send for it, each with what the Firewall CSP
/// reference says it means, as the firewall option and value it asks for. The first value is
/// never the option's default, so a value the firewall never sees cannot pass as it.
struct Intent<O> {
    node: &'static str,
    option: O,
    cases: [(SettingValue, ConfigValue); 2],
}

/// The profile nodes of the Firewall CSP reference (`MdmStore/<Profile>/<node>`), by what each
/// value means. `AllowLocalPolicyMerge` is missing: security settings management does not
/// support it, and the host withholds it.
fn profile_intents() -> Vec<Intent<ProfileOption>> {
    use ProfileOption as O;
    let path = |name: &str| format!(r"%systemroot%\system32\LogFiles\Firewall\{name}.log");
    vec![
        // "Boolean value for the firewall and advanced security enforcement. If this value is
        // false, the server MUST NOT block any network traffic."
        Intent {
            node: "enablefirewall",
            option: O::EnableFirewall,
            cases: [(text("false"), on(false)), (text("true"), on(true))],
        },
        // "When this option is false, the server operates in stealth mode."
        Intent {
            node: "disablestealthmode",
            option: O::DisableStealthMode,
            cases: [(text("true"), on(true)), (text("false"), on(false))],
        },
        // "If this value is true and EnableFirewall is on, the server MUST block all incoming
        // traffic regardless of other policy settings."
        Intent {
            node: "shielded",
            option: O::Shielded,
            cases: [(text("true"), on(true)), (text("false"), on(false))],
        },
        // "If it's true, unicast responses to multicast broadcast traffic are blocked."
        Intent {
            node: "disableunicastresponsestomulticastbroadcast",
            option: O::DisableUnicastResponsesToMulticastBroadcast,
            cases: [(text("true"), on(true)), (text("false"), on(false))],
        },
        // "If this value is on, the firewall MUST NOT display such a notification."
        Intent {
            node: "disableinboundnotifications",
            option: O::DisableInboundNotifications,
            cases: [(text("true"), on(true)), (text("false"), on(false))],
        },
        // "If this value is false, authorized application firewall rules in the local store are
        // ignored and not enforced."
        Intent {
            node: "authappsallowuserprefmerge",
            option: O::AuthAppsAllowUserPrefMerge,
            cases: [(text("false"), on(false)), (text("true"), on(true))],
        },
        // "If this value is false, global port firewall rules in the local store are ignored and
        // not enforced."
        Intent {
            node: "globalportsallowuserprefmerge",
            option: O::GlobalPortsAllowUserPrefMerge,
            cases: [(text("false"), on(false)), (text("true"), on(true))],
        },
        // "If this value is false, connection security rules from the local store are ignored
        // and not enforced."
        Intent {
            node: "allowlocalipsecpolicymerge",
            option: O::AllowLocalIpsecPolicyMerge,
            cases: [(text("false"), on(false)), (text("true"), on(true))],
        },
        // "0x00000000 - allow, 0x00000001 - block" (default block).
        Intent {
            node: "defaultinboundaction",
            option: O::DefaultInboundAction,
            cases: [
                (int(0), ConfigValue::Action(Action::Allow)),
                (int(1), ConfigValue::Action(Action::Block)),
            ],
        },
        // "0x00000000 - allow, 0x00000001 - block" (default allow).
        Intent {
            node: "defaultoutboundaction",
            option: O::DefaultOutboundAction,
            cases: [
                (int(1), ConfigValue::Action(Action::Block)),
                (int(0), ConfigValue::Action(Action::Allow)),
            ],
        },
        // "Ignored if DisableStealthMode is true. Otherwise, when this option is true, the
        // firewall's stealth mode rules MUST NOT prevent the host computer from responding to
        // unsolicited network traffic if that traffic is secured by IPsec" (default true).
        Intent {
            node: "disablestealthmodeipsecsecuredpacketexemption",
            option: O::DisableStealthModeIpsecSecuredPacketExemption,
            cases: [(text("false"), on(false)), (text("true"), on(true))],
        },
        // "If this value is on, the firewall logs all the dropped packets."
        Intent {
            node: "enablelogdroppedpackets",
            option: O::LogDroppedPackets,
            cases: [(text("true"), on(true)), (text("false"), on(false))],
        },
        // "If this value is on, the firewall logs all successful inbound connections."
        Intent {
            node: "enablelogsuccessconnections",
            option: O::LogSuccessConnections,
            cases: [(text("true"), on(true)), (text("false"), on(false))],
        },
        // "The server MAY use this value … to control logging of events if a rule isn't
        // enforced for any reason."
        Intent {
            node: "enablelogignoredrules",
            option: O::LogIgnoredRules,
            cases: [(text("true"), on(true)), (text("false"), on(false))],
        },
        // "A file path to the log where the firewall logs dropped packets and successful
        // connections."
        Intent {
            node: "logfilepath",
            option: O::LogFilePath,
            cases: [
                (text(&path("first")), ConfigValue::Text(path("first"))),
                (text(&path("second")), ConfigValue::Text(path("second"))),
            ],
        },
        // "The size, in kilobytes, of the log file" (default 1024).
        Intent {
            node: "logmaxfilesize",
            option: O::LogMaxFileSize,
            cases: [(int(16_384), number(16_384)), (int(4096), number(4096))],
        },
    ]
}

/// The global nodes of the Firewall CSP reference (`MdmStore/Global/<node>`), by meaning.
fn global_intents() -> Vec<Intent<GlobalOption>> {
    use GlobalOption as O;
    vec![
        // "If false, the firewall performs stateful FTP filtering … True means stateful FTP is
        // disabled."
        Intent {
            node: "disablestatefulftp",
            option: O::DisableStatefulFtp,
            cases: [(text("true"), on(true)), (text("false"), on(false))],
        },
        // "The security association idle time, in seconds … in the range of 300 to 3,600"
        // (default 300).
        Intent {
            node: "saidletime",
            option: O::SaIdleTime,
            cases: [(int(3600), number(3600)), (int(300), number(300))],
        },
        // "A valid value from the PRESHARED_KEY_ENCODING_VALUES enumeration" (0 none, 1 UTF-8;
        // default 1).
        Intent {
            node: "presharedkeyencoding",
            option: O::PresharedKeyEncoding,
            cases: [
                (int(0), number(PRESHARED_KEY_ENCODING_NONE)),
                (int(1), number(PRESHARED_KEY_ENCODING_UTF8)),
            ],
        },
        // "A combination of the valid flags that are defined in IPSEC_EXEMPT_VALUES" (1 neighbor
        // discovery, 2 ICMP, 4 router discovery, 8 DHCP; default 0). A multi-select: every
        // flag chosen, combined.
        Intent {
            node: "ipsecexempt",
            option: O::IpsecExempt,
            cases: [
                (
                    ints(&[1, 8]),
                    number(IPSEC_EXEMPT_NEIGHBOR_DISCOVERY | IPSEC_EXEMPT_DHCP),
                ),
                (
                    ints(&[2, 4]),
                    number(IPSEC_EXEMPT_ICMP | IPSEC_EXEMPT_ROUTER_DISCOVERY),
                ),
            ],
        },
        // "0 disables CRL checking, 1 … validation fails only if the certificate is revoked,
        // 2 … fails if any error is encountered" (default 0).
        Intent {
            node: "crlcheck",
            option: O::CrlCheck,
            cases: [
                (int(2), number(CRL_CHECK_REQUIRE)),
                (int(1), number(CRL_CHECK_ATTEMPT)),
            ],
        },
        // "A combination of flags: 0x00 all queuing disabled, 0x01 inbound encrypted packets
        // are queued, 0x02 packets are queued after decryption for forwarding" (default 0).
        Intent {
            node: "enablepacketqueue",
            option: O::EnablePacketQueue,
            cases: [
                (
                    ints(&[1, 2]),
                    number(PACKET_QUEUE_INBOUND | PACKET_QUEUE_FORWARD),
                ),
                (ints(&[0]), number(0)),
            ],
        },
    ]
}

/// The id of a profile node.
fn profile_id(profile: Profile, node: &str) -> String {
    let name = match profile {
        Profile::Domain => "domainprofile",
        Profile::Private => "privateprofile",
        Profile::Public => "publicprofile",
    };
    format!("{FW}{name}_{node}")
}

/// Runs the Windows plugin on a fresh emulated registry; every setting must succeed. Returns
/// the model of the MDM store the plugin wrote.
fn apply(settings: &[ResolvedSetting]) -> (FirewallPolicyReader, Vec<SettingOutcome>) {
    let plugin = windows_defender(&permissive_ceiling());
    let (registry, caps) = backends(true);
    let out = plugin
        .run(&windows_client(), settings, &caps, &RunLimits::default())
        .unwrap();
    (FirewallPolicyReader::mdm(registry), out.outcomes)
}

fn assert_no_failure(outcomes: &[SettingOutcome]) {
    for o in outcomes {
        assert!(
            !matches!(
                o.status,
                SettingStatus::Error | SettingStatus::NotApplicable
            ),
            "{o:?}"
        );
    }
}

/// Three passes over every profile node: in pass `p`, profile `p` gets each node's first value
/// and the other two get the second. Each profile sees both values of every node (so an
/// inverted or wrong encoding fails) and differs from each other profile in two passes (so a
/// value written to another profile's key fails).
#[test]
fn every_profile_setting_lands_where_the_firewall_reads_it() {
    let intents = profile_intents();
    for (pass, first) in Profile::ALL.into_iter().enumerate() {
        let case = |profile: Profile| usize::from(profile != first);
        let settings: Vec<ResolvedSetting> = Profile::ALL
            .into_iter()
            .flat_map(|profile| {
                intents.iter().map(move |i| {
                    setting(
                        &profile_id(profile, i.node),
                        i.cases[case(profile)].0.clone(),
                    )
                })
            })
            .collect();
        let (reader, outcomes) = apply(&settings);
        assert_eq!(outcomes.len(), settings.len());
        assert_no_failure(&outcomes);
        for profile in Profile::ALL {
            let policy = reader.profile(profile).unwrap();
            for intent in &intents {
                let (sent, meant) = &intent.cases[case(profile)];
                assert_eq!(
                    policy.configured(intent.option),
                    Some(meant),
                    "pass {pass}: {} = {sent} should ask the firewall for {:?} = {meant:?} in the {profile:?} profile",
                    profile_id(profile, intent.node),
                    intent.option,
                );
            }
            // Nothing else: every value the plugin wrote for the profile is one the firewall
            // reads.
            assert_eq!(
                policy.iter().count(),
                intents.len(),
                "{profile:?}: {policy:?}"
            );
        }
    }
}

/// Two passes over every global node, one per value.
#[test]
fn every_global_setting_lands_where_the_firewall_reads_it() {
    let intents = global_intents();
    for case in 0..2 {
        let settings: Vec<ResolvedSetting> = intents
            .iter()
            .map(|i| setting(&format!("{FW}global_{}", i.node), i.cases[case].0.clone()))
            .collect();
        let (reader, outcomes) = apply(&settings);
        assert_no_failure(&outcomes);
        let global = reader.global().unwrap();
        for intent in &intents {
            let (sent, meant) = &intent.cases[case];
            assert_eq!(
                global.configured(intent.option),
                Some(meant),
                "{FW}global_{} = {sent} should ask the firewall for {:?} = {meant:?}",
                intent.node,
                intent.option,
            );
        }
        assert_eq!(global.iter().count(), intents.len(), "{global:?}");
        // No profile is touched by a global setting.
        for profile in Profile::ALL {
            assert_eq!(reader.profile(profile).unwrap().iter().count(), 0);
        }
    }
}

/// The Firewall CSP reference's own descriptions, end to end through the effective
/// configuration.
#[test]
fn the_firewall_does_what_the_csp_reference_says_the_policy_asks() {
    let (reader, outcomes) = apply(&[
        setting(&profile_id(Profile::Public, "enablefirewall"), text("true")),
        setting(&profile_id(Profile::Public, "shielded"), text("true")),
        setting(&profile_id(Profile::Domain, "defaultinboundaction"), int(1)),
        setting(
            &profile_id(Profile::Domain, "defaultoutboundaction"),
            int(1),
        ),
        setting(
            &profile_id(Profile::Private, "authappsallowuserprefmerge"),
            text("false"),
        ),
        setting(
            &profile_id(Profile::Private, "globalportsallowuserprefmerge"),
            text("false"),
        ),
        setting(
            &profile_id(Profile::Private, "disableinboundnotifications"),
            text("true"),
        ),
        setting(&format!("{FW}global_disablestatefulftp"), text("true")),
    ]);
    assert_no_failure(&outcomes);
    // publicprofile_shielded = true, with the firewall on: all inbound traffic is blocked.
    let public = reader.profile(Profile::Public).unwrap().effective();
    assert!(public.blocks_all_inbound(), "{public:?}");
    // domainprofile_defaultinboundaction / outbound = 1: block.
    let domain = reader.profile(Profile::Domain).unwrap().effective();
    assert_eq!(domain.default_inbound_action, Action::Block);
    assert_eq!(domain.default_outbound_action, Action::Block);
    assert!(!domain.blocks_all_inbound());
    // privateprofile_authappsallowuserprefmerge / globalportsallowuserprefmerge = false: local
    // authorized-application and globally-open-port rules are not enforced.
    let private = reader.profile(Profile::Private).unwrap().effective();
    assert!(!private.authorized_apps_user_merge);
    assert!(!private.globally_open_ports_user_merge);
    assert!(private.notifications_disabled);
    assert!(!private.blocks_all_inbound());
    assert!(reader.global().unwrap().effective().stateful_ftp_disabled);
}

/// A multi-select flag outside what the CSP defines is refused, and nothing reaches the store.
#[test]
fn unknown_firewall_flags_are_refused_and_not_written() {
    let (reader, outcomes) = apply(&[
        setting(&format!("{FW}global_ipsecexempt"), ints(&[1, 16])),
        setting(&format!("{FW}global_enablepacketqueue"), ints(&[4])),
    ]);
    for o in &outcomes {
        assert_eq!(o.status, SettingStatus::Error, "{o:?}");
    }
    assert_eq!(reader.global().unwrap().iter().count(), 0);
}

/// The OpenIntuneBaseline Windows Firewall export (with the five global settings it leaves out
/// added, the way Intune exports them) through parse, the embedded catalog, resolve and
/// enforce: the firewall is asked for what the policy's options say.
#[test]
fn the_oib_firewall_export_asks_the_firewall_for_what_it_says() {
    let path = shared_data().join("intune-exports/win-es-firewall-configuration.oib-v3.1.json");
    let text = std::fs::read_to_string(path).unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
    let global = |node: &str| format!("{FW}global_{node}");
    let choice = |node: &str, option: &str| {
        serde_json::json!({ "settingInstance": {
            "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance",
            "settingDefinitionId": global(node),
            "choiceSettingValue": { "value": format!("{}_{option}", global(node)), "children": [] }
        }})
    };
    let choices = |node: &str, options: &[&str]| {
        let values: Vec<_> = options
            .iter()
            .map(
                |o| serde_json::json!({ "value": format!("{}_{o}", global(node)), "children": [] }),
            )
            .collect();
        serde_json::json!({ "settingInstance": {
            "@odata.type": "#microsoft.graph.deviceManagementConfigurationChoiceSettingCollectionInstance",
            "settingDefinitionId": global(node),
            "choiceSettingCollectionValue": values
        }})
    };
    let settings = doc["settings"].as_array_mut().unwrap();
    settings.push(choice("crlcheck", "2"));
    settings.push(choice("presharedkeyencoding", "0"));
    settings.push(choices("ipsecexempt", &["1", "2", "8"]));
    settings.push(choices("enablepacketqueue", &["1"]));
    settings.push(serde_json::json!({ "settingInstance": {
        "@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
        "settingDefinitionId": global("saidletime"),
        "simpleSettingValue": {
            "@odata.type": "#microsoft.graph.deviceManagementConfigurationIntegerSettingValue",
            "value": 900
        }
    }}));
    let policy = rampart_policy::graph::parse_policy(doc.to_string().as_bytes(), "oib-firewall")
        .unwrap_or_else(|e| panic!("{e}"));
    let device = load_device_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/devices/windows-11.toml"),
    )
    .unwrap();
    let resolved = resolve(&[policy], &device, &Catalog::embedded());
    let mut plugins = PluginSet::new();
    plugins.insert(Arc::new(windows_defender(&permissive_ceiling())));
    let (registry, caps) = backends(true);
    let report = Enforcer::new(caps, RunLimits::default()).enforce(&plugins, &device, &resolved);
    for s in report.policies.iter().flat_map(|p| &p.settings) {
        if s.id.starts_with(FW) && !s.id.ends_with("_allowlocalpolicymerge") {
            assert!(
                !matches!(
                    s.status,
                    SettingStatus::Error | SettingStatus::NotApplicable
                ),
                "{s:?}"
            );
        }
    }

    let reader = FirewallPolicyReader::mdm(registry.clone());
    let logs = r"%SystemRoot%\System32\logfiles\firewall";
    for (profile, log) in [
        (Profile::Domain, "domainfw.log"),
        (Profile::Private, "privatefw.log"),
        (Profile::Public, "publicfw.log"),
    ] {
        let config = reader.profile(profile).unwrap().effective();
        // enablefirewall_true, defaultinboundaction_1, defaultoutboundaction_0,
        // disableinboundnotifications_true, the three logging switches and the log file.
        assert!(config.enabled, "{profile:?}");
        assert_eq!(config.default_inbound_action, Action::Block, "{profile:?}");
        assert_eq!(config.default_outbound_action, Action::Allow, "{profile:?}");
        assert!(config.notifications_disabled, "{profile:?}");
        assert!(
            config.log_dropped_packets && config.log_successful_connections,
            "{profile:?}"
        );
        assert_eq!(config.log_file_path, format!(r"{logs}\{log}"));
        assert_eq!(config.log_max_file_size_kb, 16_384, "{profile:?}");
    }
    let public = reader.profile(Profile::Public).unwrap();
    // publicprofile_allowlocalipsecpolicymerge_false; enablelogignoredrules_false.
    assert!(!public.effective().local_ipsec_policy_merge);
    assert_eq!(
        public.configured(ProfileOption::LogIgnoredRules),
        Some(&ConfigValue::Switch(false))
    );
    // publicprofile_allowlocalpolicymerge_false is withheld (not supported by security settings
    // management): the store does not carry it.
    assert_eq!(
        public.configured(ProfileOption::AllowLocalPolicyMerge),
        None
    );
    // domainprofile_disablestealthmode_false.
    assert_eq!(
        reader
            .profile(Profile::Domain)
            .unwrap()
            .configured(ProfileOption::DisableStealthMode),
        Some(&ConfigValue::Switch(false))
    );

    let global = reader.global().unwrap().effective();
    assert!(global.stateful_ftp_disabled);
    assert_eq!(global.crl_check, CRL_CHECK_REQUIRE);
    assert_eq!(global.preshared_key_encoding, PRESHARED_KEY_ENCODING_NONE);
    assert_eq!(
        global.ipsec_exempt,
        IPSEC_EXEMPT_NEIGHBOR_DISCOVERY | IPSEC_EXEMPT_ICMP | IPSEC_EXEMPT_DHCP
    );
    assert_eq!(global.packet_queue, PACKET_QUEUE_INBOUND);
    assert_eq!(global.sa_idle_time_seconds, 900);

    // The audit-policy settings of the same profile are not registry values: nothing of them
    // is in the store.
    let root = RegistryPath::parse(rampart_backends::firewall::MDM_STORE).unwrap();
    let names: Vec<String> = registry
        .list_values(&root)
        .unwrap()
        .into_iter()
        .map(|(name, _)| name.to_lowercase())
        .collect();
    assert!(names.iter().all(|n| !n.contains("audit")), "{names:?}");
    assert!(names.contains(&"strongcrlcheck".to_owned()), "{names:?}");
}
