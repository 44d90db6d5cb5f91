//! A model of what Windows Firewall reads from a policy store in the registry.
//!
//! [`FirewallPolicyReader`] is **not** the firewall: it is an independent model for tests and
//! what-if runs on any OS. Given a policy store's root key it answers what the firewall would
//! take from that store for each network profile ([`FirewallPolicyReader::profile`]) and for the
//! settings that apply to all profiles ([`FirewallPolicyReader::global`]). A plugin that writes
//! a value under the wrong key or value name, or with the wrong type or encoding, leaves the
//! model's answer at "not configured" (and the effective value at its default), so a test that
//! compares the answer with what a policy asked for catches the mistake.
//!
//! # Sources
//!
//! The tables ([`PROFILE_ROWS`], [`GLOBAL_ROWS`]) are written from Microsoft's open
//! specifications, never from a plugin's table; every row cites its section:
//!
//! - [MS-GPFAS] section 2.2 (the Group Policy store's registry schema): 2.2.1 the global values
//!   at the store root, 2.2.3 the per-profile values under `DomainProfile`, `PrivateProfile`,
//!   `PublicProfile` (and the legacy `StandardProfile`) and their `Logging`,
//!   `AuthorizedApplications` and `GloballyOpenPorts` subkeys. Every value is a REG_DWORD except
//!   the log file path (REG_SZ).
//! - [MS-FASP] (the firewall's own protocol): what each option means (FW_PROFILE_CONFIG, 2.2.38;
//!   FW_GLOBAL_CONFIG, 2.2.42) and the values it accepts: the log file size limits
//!   FW_PROFILE_CONFIG_LOG_FILE_SIZE_MIN/MAX (1–32767 KB), the CRL check maximum (2), the
//!   security association idle time limits (300–3600 s), the packet queue validation mask
//!   (0x3), the IPsec exemption flags (2.2.39, below IPSEC_EXEMPT_MAX 0x10), the preshared key
//!   encodings (2.2.40), and the characters a log file path may not contain (RRPC_FWSetConfig,
//!   3.1.4.12).
//! - The Firewall configuration service provider's reference, for the value each option takes
//!   when no store configures it (its "Default value"). MS-FASP gives merge laws, not defaults.
//!
//! # What is modelled
//!
//! - A value is read only where the schema puts it, with the schema's type and within the domain
//!   MS-FASP accepts; anything else (another type, a boolean other than 0 or 1, a size outside
//!   the limits, an unknown flag, a path with a forbidden character) is ignored, the way the
//!   firewall rejects such a value ([`ProfilePolicy::configured`] is `None` and the default
//!   applies). Value names compare case-insensitively, as the registry's do.
//! - The legacy `StandardProfile` key (MS-GPFAS 2.2.3): when neither `PrivateProfile` nor
//!   `PublicProfile` exists, the options it may carry apply to both the private and the public
//!   profile; when either exists, it is ignored.
//! - One store only. Merging stores (Group Policy over MDM over local, per each option's merge
//!   law) is the firewall's and is not modelled: the answer is what this store asks for.
//!
//! # The MDM store is an assumption
//!
//! Microsoft documents the Group Policy store (`HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall`,
//! [`GROUP_POLICY_STORE`]) but not where the Firewall CSP's MDM store lives or what it stores
//! there. [`MDM_STORE`] is where security settings management is observed to write (community
//! sources, not Microsoft), and reading it with the Group Policy store's schema is this model's
//! assumption, recorded as such in the domain audit and in the Windows plugin's README. The
//! Firewall CSP's own reference names the MDM store only as a store in its merge laws.
//!
//! [MS-GPFAS]: https://learn.microsoft.com/openspecs/windows_protocols/ms-gpfas/
//! [MS-FASP]: https://learn.microsoft.com/openspecs/windows_protocols/ms-fasp/

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::registry::{RegValue, RegistryBackend, RegistryError, RegistryPath};

/// The firewall's MDM policy store (undocumented; see the [module documentation](self)).
pub const MDM_STORE: &str =
    r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\Mdm";

/// The Group Policy store's base key (MS-GPFAS 1.9, "Policy Base registry key").
pub const GROUP_POLICY_STORE: &str = r"HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall";

/// The legacy profile key whose options apply to the private and the public profile when
/// neither of their keys exists (MS-GPFAS 2.2.3).
pub const STANDARD_PROFILE_KEY: &str = "StandardProfile";

/// A network profile (MS-FASP 2.2.2 FW_PROFILE_TYPE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Profile {
    /// Networks with a domain controller of the machine's domain.
    Domain,
    /// Private networks (FW_PROFILE_TYPE_PRIVATE, once "standard").
    Private,
    /// Public networks.
    Public,
}

impl Profile {
    /// Every profile, in the order MS-FASP numbers them.
    pub const ALL: [Profile; 3] = [Profile::Domain, Profile::Private, Profile::Public];

    /// The profile's key under a store root (MS-GPFAS 2.2.3).
    pub fn key_name(self) -> &'static str {
        match self {
            Profile::Domain => "DomainProfile",
            Profile::Private => "PrivateProfile",
            Profile::Public => "PublicProfile",
        }
    }
}

/// A default action for connections no rule matches (MS-GPFAS 2.2.3.16/17: 0 allow, 1 block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// 0x00000000.
    Allow,
    /// 0x00000001.
    Block,
}

/// A per-profile configuration option (MS-FASP 2.2.38 FW_PROFILE_CONFIG, by the CSP node
/// that sets it where one does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileOption {
    /// FW_PROFILE_CONFIG_ENABLE_FW: the firewall is on.
    EnableFirewall,
    /// FW_PROFILE_CONFIG_DISABLE_STEALTH_MODE.
    DisableStealthMode,
    /// FW_PROFILE_CONFIG_SHIELDED: with the firewall on, block all inbound traffic.
    Shielded,
    /// FW_PROFILE_CONFIG_DISABLE_UNICAST_RESPONSES_TO_MULTICAST_BROADCAST.
    DisableUnicastResponsesToMulticastBroadcast,
    /// FW_PROFILE_CONFIG_LOG_DROPPED_PACKETS.
    LogDroppedPackets,
    /// FW_PROFILE_CONFIG_LOG_SUCCESS_CONNECTIONS.
    LogSuccessConnections,
    /// FW_PROFILE_CONFIG_LOG_IGNORED_RULES.
    LogIgnoredRules,
    /// FW_PROFILE_CONFIG_LOG_MAX_FILE_SIZE, in kilobytes.
    LogMaxFileSize,
    /// FW_PROFILE_CONFIG_LOG_FILE_PATH.
    LogFilePath,
    /// FW_PROFILE_CONFIG_DISABLE_INBOUND_NOTIFICATIONS.
    DisableInboundNotifications,
    /// FW_PROFILE_CONFIG_AUTH_APPS_ALLOW_USER_PREF_MERGE: local authorized-application rules
    /// are enforced.
    AuthAppsAllowUserPrefMerge,
    /// FW_PROFILE_CONFIG_GLOBAL_PORTS_ALLOW_USER_PREF_MERGE: local globally-open-port rules
    /// are enforced.
    GlobalPortsAllowUserPrefMerge,
    /// FW_PROFILE_CONFIG_ALLOW_LOCAL_POLICY_MERGE: local firewall rules are enforced.
    AllowLocalPolicyMerge,
    /// FW_PROFILE_CONFIG_ALLOW_LOCAL_IPSEC_POLICY_MERGE: local connection security rules are
    /// enforced.
    AllowLocalIpsecPolicyMerge,
    /// FW_PROFILE_CONFIG_DEFAULT_OUTBOUND_ACTION.
    DefaultOutboundAction,
    /// FW_PROFILE_CONFIG_DEFAULT_INBOUND_ACTION.
    DefaultInboundAction,
    /// FW_PROFILE_CONFIG_DISABLE_STEALTH_MODE_IPSEC_SECURED_PACKET_EXEMPTION.
    DisableStealthModeIpsecSecuredPacketExemption,
}

/// A global configuration option (MS-FASP 2.2.42 FW_GLOBAL_CONFIG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GlobalOption {
    /// FW_GLOBAL_CONFIG_DISABLE_STATEFUL_FTP.
    DisableStatefulFtp,
    /// FW_GLOBAL_CONFIG_SA_IDLE_TIME, in seconds.
    SaIdleTime,
    /// FW_GLOBAL_CONFIG_PRESHARED_KEY_ENCODING ([`PRESHARED_KEY_ENCODING_NONE`] or
    /// [`PRESHARED_KEY_ENCODING_UTF8`]).
    PresharedKeyEncoding,
    /// FW_GLOBAL_CONFIG_IPSEC_EXEMPT: the OR of the `IPSEC_EXEMPT_*` flags.
    IpsecExempt,
    /// FW_GLOBAL_CONFIG_CRL_CHECK ([`CRL_CHECK_NONE`], [`CRL_CHECK_ATTEMPT`] or
    /// [`CRL_CHECK_REQUIRE`]).
    CrlCheck,
    /// FW_GLOBAL_CONFIG_ENABLE_PACKET_QUEUE: the OR of the `PACKET_QUEUE_*` flags.
    EnablePacketQueue,
}

/// FW_GLOBAL_CONFIG_IPSEC_EXEMPT_NEIGHBOR_DISC (MS-FASP 2.2.39).
pub const IPSEC_EXEMPT_NEIGHBOR_DISCOVERY: u32 = 0x1;
/// FW_GLOBAL_CONFIG_IPSEC_EXEMPT_ICMP.
pub const IPSEC_EXEMPT_ICMP: u32 = 0x2;
/// FW_GLOBAL_CONFIG_IPSEC_EXEMPT_ROUTER_DISC.
pub const IPSEC_EXEMPT_ROUTER_DISCOVERY: u32 = 0x4;
/// FW_GLOBAL_CONFIG_IPSEC_EXEMPT_DHCP.
pub const IPSEC_EXEMPT_DHCP: u32 = 0x8;
/// Queue inbound encrypted packets (Firewall CSP EnablePacketQueue 0x01).
pub const PACKET_QUEUE_INBOUND: u32 = 0x1;
/// Queue packets after decryption, for forwarding (Firewall CSP EnablePacketQueue 0x02).
pub const PACKET_QUEUE_FORWARD: u32 = 0x2;
/// FW_GLOBAL_CONFIG_PRESHARED_KEY_ENCODING_NONE (MS-FASP 2.2.40).
pub const PRESHARED_KEY_ENCODING_NONE: u32 = 0;
/// FW_GLOBAL_CONFIG_PRESHARED_KEY_ENCODING_UTF_8.
pub const PRESHARED_KEY_ENCODING_UTF8: u32 = 1;
/// CRL checking disabled (Firewall CSP CRLcheck 0).
pub const CRL_CHECK_NONE: u32 = 0;
/// Validation fails only for a revoked certificate (CRLcheck 1).
pub const CRL_CHECK_ATTEMPT: u32 = 1;
/// Validation fails on any CRL processing error (CRLcheck 2).
pub const CRL_CHECK_REQUIRE: u32 = 2;

/// A value the firewall takes from a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigValue {
    /// An on/off switch (REG_DWORD 0 or 1).
    Switch(bool),
    /// A default action (REG_DWORD 0 or 1).
    Action(Action),
    /// A number, an enumeration or a set of flags (REG_DWORD).
    Number(u32),
    /// Text (REG_SZ).
    Text(String),
}

/// How a registry value becomes a [`ConfigValue`], the values the firewall accepts, and the
/// option's value when no store configures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// REG_DWORD 0 or 1.
    Switch {
        /// The default.
        default: bool,
    },
    /// REG_DWORD 0 (allow) or 1 (block).
    Action {
        /// The default.
        default: Action,
    },
    /// REG_DWORD within `min..=max`.
    Number {
        /// The default.
        default: u32,
        /// The smallest value accepted.
        min: u32,
        /// The largest value accepted.
        max: u32,
    },
    /// REG_DWORD with no bit outside `mask`.
    Flags {
        /// The default.
        default: u32,
        /// Every flag the firewall knows.
        mask: u32,
    },
    /// A REG_SZ file path: not empty, none of the characters RRPC_FWSetConfig rejects.
    Path {
        /// The default.
        default: &'static str,
    },
}

/// The characters MS-FASP 3.1.4.12 (RRPC_FWSetConfig) rejects in a log file path.
const PATH_FORBIDDEN: &[char] = &['/', '*', '?', '"', '<', '>', '|'];

impl Data {
    /// The value the firewall takes when no store configures the option.
    pub fn default_value(&self) -> ConfigValue {
        match *self {
            Data::Switch { default } => ConfigValue::Switch(default),
            Data::Action { default } => ConfigValue::Action(default),
            Data::Number { default, .. } | Data::Flags { default, .. } => {
                ConfigValue::Number(default)
            }
            Data::Path { default } => ConfigValue::Text(default.to_owned()),
        }
    }

    /// Decodes a registry value; `None` when the firewall would not take it (another type, or
    /// outside the accepted values).
    pub fn decode(&self, raw: &RegValue) -> Option<ConfigValue> {
        match (*self, raw) {
            (Data::Switch { .. }, RegValue::Dword(0)) => Some(ConfigValue::Switch(false)),
            (Data::Switch { .. }, RegValue::Dword(1)) => Some(ConfigValue::Switch(true)),
            (Data::Action { .. }, RegValue::Dword(0)) => Some(ConfigValue::Action(Action::Allow)),
            (Data::Action { .. }, RegValue::Dword(1)) => Some(ConfigValue::Action(Action::Block)),
            (Data::Number { min, max, .. }, RegValue::Dword(n)) if (min..=max).contains(n) => {
                Some(ConfigValue::Number(*n))
            }
            (Data::Flags { mask, .. }, RegValue::Dword(n)) if n & !mask == 0 => {
                Some(ConfigValue::Number(*n))
            }
            (Data::Path { .. }, RegValue::Sz(path))
                if !path.trim().is_empty() && !path.contains(PATH_FORBIDDEN) =>
            {
                Some(ConfigValue::Text(path.clone()))
            }
            _ => None,
        }
    }
}

/// Where the firewall reads one per-profile option.
#[derive(Debug, Clone, Copy)]
pub struct ProfileRow {
    /// The option.
    pub option: ProfileOption,
    /// The key under the profile key (`""` for the profile key itself).
    pub subkey: &'static str,
    /// The value name.
    pub value_name: &'static str,
    /// Type, accepted values and default.
    pub data: Data,
    /// Whether the legacy `StandardProfile` key may carry it (MS-GPFAS: "MUST NOT be present on
    /// …\StandardProfile" for the others).
    pub standard_profile: bool,
    /// The sections the row is written from.
    pub source: &'static str,
}

/// Where the firewall reads one global option: a value at the store root.
#[derive(Debug, Clone, Copy)]
pub struct GlobalRow {
    /// The option.
    pub option: GlobalOption,
    /// The value name.
    pub value_name: &'static str,
    /// Type, accepted values and default.
    pub data: Data,
    /// The sections the row is written from.
    pub source: &'static str,
}

const fn profile_row(
    option: ProfileOption,
    subkey: &'static str,
    value_name: &'static str,
    data: Data,
    standard_profile: bool,
    source: &'static str,
) -> ProfileRow {
    ProfileRow {
        option,
        subkey,
        value_name,
        data,
        standard_profile,
        source,
    }
}

const fn switch(default: bool) -> Data {
    Data::Switch { default }
}

const LOGGING: &str = "Logging";
const STANDARD: bool = true;
const NOT_STANDARD: bool = false;
/// FW_PROFILE_CONFIG_LOG_FILE_SIZE_MIN and _MAX (MS-FASP), in kilobytes.
const LOG_FILE_SIZE: (u32, u32) = (1, 32_767);

/// Where the firewall reads each per-profile option, from MS-GPFAS 2.2.3 (keys, value names,
/// types) and MS-FASP 2.2.38 (meaning, accepted values); defaults from the Firewall CSP.
#[rustfmt::skip] // one row per line reads as the table it is
pub static PROFILE_ROWS: &[ProfileRow] = &[
    profile_row(ProfileOption::EnableFirewall, "", "EnableFirewall", switch(true), STANDARD, "MS-GPFAS 2.2.3.1; MS-FASP 2.2.38 FW_PROFILE_CONFIG_ENABLE_FW; default: Firewall CSP EnableFirewall"),
    profile_row(ProfileOption::DisableStealthMode, "", "DisableStealthMode", switch(false), STANDARD, "MS-GPFAS 2.2.3.2; MS-FASP 2.2.38 FW_PROFILE_CONFIG_DISABLE_STEALTH_MODE; default: Firewall CSP DisableStealthMode"),
    profile_row(ProfileOption::Shielded, "", "DoNotAllowExceptions", switch(false), STANDARD, "MS-GPFAS 2.2.3.3 (Shield Up Mode); MS-FASP 2.2.38 FW_PROFILE_CONFIG_SHIELDED; default: Firewall CSP Shielded"),
    profile_row(ProfileOption::DisableUnicastResponsesToMulticastBroadcast, "", "DisableUnicastResponsesToMulticastBroadcast", switch(false), STANDARD, "MS-GPFAS 2.2.3.4; MS-FASP 2.2.38 FW_PROFILE_CONFIG_DISABLE_UNICAST_RESPONSES_TO_MULTICAST_BROADCAST; default: Firewall CSP"),
    profile_row(ProfileOption::LogDroppedPackets, LOGGING, "LogDroppedPackets", switch(false), STANDARD, "MS-GPFAS 2.2.3.5; MS-FASP 2.2.38 FW_PROFILE_CONFIG_LOG_DROPPED_PACKETS; default: Firewall CSP EnableLogDroppedPackets"),
    profile_row(ProfileOption::LogSuccessConnections, LOGGING, "LogSuccessfulConnections", switch(false), STANDARD, "MS-GPFAS 2.2.3.6; MS-FASP 2.2.38 FW_PROFILE_CONFIG_LOG_SUCCESS_CONNECTIONS; default: Firewall CSP EnableLogSuccessConnections"),
    profile_row(ProfileOption::LogIgnoredRules, LOGGING, "LogIgnoredRules", switch(false), NOT_STANDARD, "MS-GPFAS 2.2.3.7; MS-FASP 2.2.38 FW_PROFILE_CONFIG_LOG_IGNORED_RULES; default: Firewall CSP EnableLogIgnoredRules"),
    profile_row(ProfileOption::LogMaxFileSize, LOGGING, "LogFileSize", Data::Number { default: 1024, min: LOG_FILE_SIZE.0, max: LOG_FILE_SIZE.1 }, STANDARD, "MS-GPFAS 2.2.3.8; MS-FASP 2.2.38 FW_PROFILE_CONFIG_LOG_MAX_FILE_SIZE, FW_PROFILE_CONFIG_LOG_FILE_SIZE_MIN/MAX; default: Firewall CSP LogMaxFileSize"),
    profile_row(ProfileOption::LogFilePath, LOGGING, "LogFilePath", Data::Path { default: r"%systemroot%\system32\LogFiles\Firewall\pfirewall.log" }, STANDARD, "MS-GPFAS 2.2.3.9 (REG_SZ); MS-FASP 2.2.38 FW_PROFILE_CONFIG_LOG_FILE_PATH, 3.1.4.12 (forbidden characters); default: Firewall CSP LogFilePath"),
    profile_row(ProfileOption::DisableInboundNotifications, "", "DisableNotifications", switch(false), STANDARD, "MS-GPFAS 2.2.3.10; MS-FASP 2.2.38 FW_PROFILE_CONFIG_DISABLE_INBOUND_NOTIFICATIONS; default: Firewall CSP DisableInboundNotifications"),
    profile_row(ProfileOption::AuthAppsAllowUserPrefMerge, "AuthorizedApplications", "AllowUserPrefMerge", switch(true), STANDARD, "MS-GPFAS 2.2.3.11; MS-FASP 2.2.38 FW_PROFILE_CONFIG_AUTH_APPS_ALLOW_USER_PREF_MERGE; default: Firewall CSP AuthAppsAllowUserPrefMerge"),
    profile_row(ProfileOption::GlobalPortsAllowUserPrefMerge, "GloballyOpenPorts", "AllowUserPrefMerge", switch(true), STANDARD, "MS-GPFAS 2.2.3.12; MS-FASP 2.2.38 FW_PROFILE_CONFIG_GLOBAL_PORTS_ALLOW_USER_PREF_MERGE; default: Firewall CSP GlobalPortsAllowUserPrefMerge"),
    profile_row(ProfileOption::AllowLocalPolicyMerge, "", "AllowLocalPolicyMerge", switch(true), NOT_STANDARD, "MS-GPFAS 2.2.3.13; MS-FASP 2.2.38 FW_PROFILE_CONFIG_ALLOW_LOCAL_POLICY_MERGE; default: Firewall CSP AllowLocalPolicyMerge"),
    profile_row(ProfileOption::AllowLocalIpsecPolicyMerge, "", "AllowLocalIPsecPolicyMerge", switch(true), NOT_STANDARD, "MS-GPFAS 2.2.3.14; MS-FASP 2.2.38 FW_PROFILE_CONFIG_ALLOW_LOCAL_IPSEC_POLICY_MERGE; default: Firewall CSP AllowLocalIpsecPolicyMerge"),
    profile_row(ProfileOption::DefaultOutboundAction, "", "DefaultOutboundAction", Data::Action { default: Action::Allow }, NOT_STANDARD, "MS-GPFAS 2.2.3.16; MS-FASP 2.2.38 FW_PROFILE_CONFIG_DEFAULT_OUTBOUND_ACTION; default: Firewall CSP DefaultOutboundAction"),
    profile_row(ProfileOption::DefaultInboundAction, "", "DefaultInboundAction", Data::Action { default: Action::Block }, NOT_STANDARD, "MS-GPFAS 2.2.3.17; MS-FASP 2.2.38 FW_PROFILE_CONFIG_DEFAULT_INBOUND_ACTION; default: Firewall CSP DefaultInboundAction"),
    profile_row(ProfileOption::DisableStealthModeIpsecSecuredPacketExemption, "", "DisableStealthModeIPsecSecuredPacketExemption", switch(true), STANDARD, "MS-GPFAS 2.2.3.18; MS-FASP 2.2.38 FW_PROFILE_CONFIG_DISABLE_STEALTH_MODE_IPSEC_SECURED_PACKET_EXEMPTION; default: Firewall CSP"),
];

/// Where the firewall reads each global option (all at the store root), from MS-GPFAS 2.2.1
/// and MS-FASP 2.2.39–2.2.42; defaults from the Firewall CSP.
#[rustfmt::skip] // one row per line reads as the table it is
pub static GLOBAL_ROWS: &[GlobalRow] = &[
    GlobalRow { option: GlobalOption::DisableStatefulFtp, value_name: "DisableStatefulFTP", data: switch(false), source: "MS-GPFAS 2.2.1.1; MS-FASP 2.2.42 FW_GLOBAL_CONFIG_DISABLE_STATEFUL_FTP; default: Firewall CSP DisableStatefulFtp" },
    GlobalRow { option: GlobalOption::SaIdleTime, value_name: "SAIdlTime", data: Data::Number { default: 300, min: 300, max: 3600 }, source: "MS-GPFAS 2.2.1.3; MS-FASP 2.2.42 FW_GLOBAL_CONFIG_SA_IDLE_TIME, FW_GLOBAL_CONFIG_SA_IDLE_TIME_MIN/MAX; default: Firewall CSP SaIdleTime" },
    GlobalRow { option: GlobalOption::PresharedKeyEncoding, value_name: "PresharedKeyEncoding", data: Data::Number { default: PRESHARED_KEY_ENCODING_UTF8, min: PRESHARED_KEY_ENCODING_NONE, max: PRESHARED_KEY_ENCODING_UTF8 }, source: "MS-GPFAS 2.2.1.4; MS-FASP 2.2.40, 2.2.42 FW_GLOBAL_CONFIG_PRESHARED_KEY_ENCODING; default: Firewall CSP PresharedKeyEncoding" },
    GlobalRow { option: GlobalOption::IpsecExempt, value_name: "IPsecExempt", data: Data::Flags { default: 0, mask: IPSEC_EXEMPT_NEIGHBOR_DISCOVERY | IPSEC_EXEMPT_ICMP | IPSEC_EXEMPT_ROUTER_DISCOVERY | IPSEC_EXEMPT_DHCP }, source: "MS-GPFAS 2.2.1.5; MS-FASP 2.2.39 FW_GLOBAL_CONFIG_IPSEC_EXEMPT_VALUES; default: Firewall CSP IPsecExempt" },
    GlobalRow { option: GlobalOption::CrlCheck, value_name: "StrongCRLCheck", data: Data::Number { default: CRL_CHECK_NONE, min: CRL_CHECK_NONE, max: CRL_CHECK_REQUIRE }, source: "MS-GPFAS 2.2.1.6; MS-FASP 2.2.42 FW_GLOBAL_CONFIG_CRL_CHECK, FW_GLOBAL_CONFIG_CRL_CHECK_MAX; default: Firewall CSP CRLcheck" },
    GlobalRow { option: GlobalOption::EnablePacketQueue, value_name: "EnablePacketQueue", data: Data::Flags { default: 0, mask: PACKET_QUEUE_INBOUND | PACKET_QUEUE_FORWARD }, source: "MS-GPFAS 2.2.1.14; MS-FASP 2.2.42 FW_GLOBAL_CONFIG_ENABLE_PACKET_QUEUE, FW_GLOBAL_CONFIG_PACKET_QUEUE_VALIDATION_MASK; default: Firewall CSP EnablePacketQueue" },
];

/// The row of a per-profile option.
pub fn profile_row_of(option: ProfileOption) -> &'static ProfileRow {
    PROFILE_ROWS
        .iter()
        .find(|row| row.option == option)
        .expect("every profile option has a row")
}

/// The row of a global option.
pub fn global_row_of(option: GlobalOption) -> &'static GlobalRow {
    GLOBAL_ROWS
        .iter()
        .find(|row| row.option == option)
        .expect("every global option has a row")
}

/// What one store asks of one profile: the options it configures with a value the firewall
/// accepts. [`effective`](Self::effective) fills in the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePolicy {
    configured: BTreeMap<ProfileOption, ConfigValue>,
}

impl ProfilePolicy {
    /// The store's value for an option; `None` when the store does not configure it, or
    /// configures it with a value the firewall ignores.
    pub fn configured(&self, option: ProfileOption) -> Option<&ConfigValue> {
        self.configured.get(&option)
    }

    /// Every option the store configures.
    pub fn iter(&self) -> impl Iterator<Item = (ProfileOption, &ConfigValue)> {
        self.configured
            .iter()
            .map(|(option, value)| (*option, value))
    }

    /// The option's value: the store's, else the default.
    pub fn value(&self, option: ProfileOption) -> ConfigValue {
        self.configured(option)
            .cloned()
            .unwrap_or_else(|| profile_row_of(option).data.default_value())
    }

    fn switch(&self, option: ProfileOption) -> bool {
        match self.value(option) {
            ConfigValue::Switch(on) => on,
            other => unreachable!("{option:?} is a switch, not {other:?}"),
        }
    }

    fn action(&self, option: ProfileOption) -> Action {
        match self.value(option) {
            ConfigValue::Action(action) => action,
            other => unreachable!("{option:?} is an action, not {other:?}"),
        }
    }

    /// The profile's configuration with the defaults filled in.
    pub fn effective(&self) -> ProfileConfig {
        use ProfileOption as O;
        ProfileConfig {
            enabled: self.switch(O::EnableFirewall),
            default_inbound_action: self.action(O::DefaultInboundAction),
            default_outbound_action: self.action(O::DefaultOutboundAction),
            notifications_disabled: self.switch(O::DisableInboundNotifications),
            shielded: self.switch(O::Shielded),
            stealth_mode_disabled: self.switch(O::DisableStealthMode),
            stealth_mode_ipsec_exemption_disabled: self
                .switch(O::DisableStealthModeIpsecSecuredPacketExemption),
            unicast_responses_disabled: self.switch(O::DisableUnicastResponsesToMulticastBroadcast),
            local_policy_merge: self.switch(O::AllowLocalPolicyMerge),
            local_ipsec_policy_merge: self.switch(O::AllowLocalIpsecPolicyMerge),
            authorized_apps_user_merge: self.switch(O::AuthAppsAllowUserPrefMerge),
            globally_open_ports_user_merge: self.switch(O::GlobalPortsAllowUserPrefMerge),
            log_dropped_packets: self.switch(O::LogDroppedPackets),
            log_successful_connections: self.switch(O::LogSuccessConnections),
            log_ignored_rules: self.switch(O::LogIgnoredRules),
            log_file_path: match self.value(O::LogFilePath) {
                ConfigValue::Text(path) => path,
                other => unreachable!("the log file path is text, not {other:?}"),
            },
            log_max_file_size_kb: match self.value(O::LogMaxFileSize) {
                ConfigValue::Number(size) => size,
                other => unreachable!("the log file size is a number, not {other:?}"),
            },
        }
    }
}

/// One profile's configuration as the firewall applies it from one store (defaults where the
/// store configures nothing the firewall accepts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileConfig {
    /// The firewall is on.
    pub enabled: bool,
    /// What happens to inbound connections no rule matches.
    pub default_inbound_action: Action,
    /// What happens to outbound connections no rule matches.
    pub default_outbound_action: Action,
    /// No notification when an application is blocked from listening.
    pub notifications_disabled: bool,
    /// Block all inbound traffic, whatever the rules (only while the firewall is on).
    pub shielded: bool,
    /// Stealth mode is off.
    pub stealth_mode_disabled: bool,
    /// Stealth mode does not exempt IPsec-secured traffic (ignored while stealth mode is off).
    pub stealth_mode_ipsec_exemption_disabled: bool,
    /// Unicast responses to multicast and broadcast traffic are blocked.
    pub unicast_responses_disabled: bool,
    /// Local firewall rules are enforced.
    pub local_policy_merge: bool,
    /// Local connection security rules are enforced.
    pub local_ipsec_policy_merge: bool,
    /// Local authorized-application rules are enforced.
    pub authorized_apps_user_merge: bool,
    /// Local globally-open-port rules are enforced.
    pub globally_open_ports_user_merge: bool,
    /// Dropped packets are logged.
    pub log_dropped_packets: bool,
    /// Successful connections are logged.
    pub log_successful_connections: bool,
    /// Ignored rules are logged.
    pub log_ignored_rules: bool,
    /// The log file.
    pub log_file_path: String,
    /// The log file's size limit, in kilobytes.
    pub log_max_file_size_kb: u32,
}

impl ProfileConfig {
    /// Whether all inbound traffic is blocked: shielded with the firewall on (MS-FASP 2.2.38
    /// FW_PROFILE_CONFIG_SHIELDED).
    pub fn blocks_all_inbound(&self) -> bool {
        self.enabled && self.shielded
    }
}

/// What one store asks of the global options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalPolicy {
    configured: BTreeMap<GlobalOption, ConfigValue>,
}

impl GlobalPolicy {
    /// The store's value for an option; `None` when the store does not configure it, or
    /// configures it with a value the firewall ignores.
    pub fn configured(&self, option: GlobalOption) -> Option<&ConfigValue> {
        self.configured.get(&option)
    }

    /// Every option the store configures.
    pub fn iter(&self) -> impl Iterator<Item = (GlobalOption, &ConfigValue)> {
        self.configured
            .iter()
            .map(|(option, value)| (*option, value))
    }

    /// The option's value: the store's, else the default.
    pub fn value(&self, option: GlobalOption) -> ConfigValue {
        self.configured(option)
            .cloned()
            .unwrap_or_else(|| global_row_of(option).data.default_value())
    }

    fn number(&self, option: GlobalOption) -> u32 {
        match self.value(option) {
            ConfigValue::Number(n) => n,
            other => unreachable!("{option:?} is a number, not {other:?}"),
        }
    }

    /// The global configuration with the defaults filled in.
    pub fn effective(&self) -> GlobalConfig {
        GlobalConfig {
            stateful_ftp_disabled: match self.value(GlobalOption::DisableStatefulFtp) {
                ConfigValue::Switch(on) => on,
                other => unreachable!("DisableStatefulFtp is a switch, not {other:?}"),
            },
            sa_idle_time_seconds: self.number(GlobalOption::SaIdleTime),
            preshared_key_encoding: self.number(GlobalOption::PresharedKeyEncoding),
            ipsec_exempt: self.number(GlobalOption::IpsecExempt),
            crl_check: self.number(GlobalOption::CrlCheck),
            packet_queue: self.number(GlobalOption::EnablePacketQueue),
        }
    }
}

/// The global configuration as the firewall applies it from one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    /// Stateful FTP filtering is off.
    pub stateful_ftp_disabled: bool,
    /// Seconds without traffic after which a security association is deleted.
    pub sa_idle_time_seconds: u32,
    /// [`PRESHARED_KEY_ENCODING_NONE`] or [`PRESHARED_KEY_ENCODING_UTF8`].
    pub preshared_key_encoding: u32,
    /// The OR of the `IPSEC_EXEMPT_*` flags.
    pub ipsec_exempt: u32,
    /// [`CRL_CHECK_NONE`], [`CRL_CHECK_ATTEMPT`] or [`CRL_CHECK_REQUIRE`].
    pub crl_check: u32,
    /// The OR of the `PACKET_QUEUE_*` flags.
    pub packet_queue: u32,
}

/// Reads a firewall policy store the way the firewall does (see the
/// [module documentation](self)). Cheap to clone; every call reads the registry afresh.
#[derive(Debug, Clone)]
pub struct FirewallPolicyReader {
    registry: Arc<dyn RegistryBackend>,
    root: RegistryPath,
}

impl FirewallPolicyReader {
    /// A reader of the MDM store ([`MDM_STORE`]).
    pub fn mdm(registry: Arc<dyn RegistryBackend>) -> Self {
        let root = RegistryPath::parse(MDM_STORE).expect("the MDM store path is valid");
        FirewallPolicyReader { registry, root }
    }

    /// A reader of the Group Policy store ([`GROUP_POLICY_STORE`]).
    pub fn group_policy(registry: Arc<dyn RegistryBackend>) -> Self {
        let root =
            RegistryPath::parse(GROUP_POLICY_STORE).expect("the Group Policy store path is valid");
        FirewallPolicyReader { registry, root }
    }

    /// A reader of a store rooted at `root`, read with the Group Policy store's schema.
    pub fn at(registry: Arc<dyn RegistryBackend>, root: RegistryPath) -> Self {
        FirewallPolicyReader { registry, root }
    }

    /// The store's root key.
    pub fn root(&self) -> &RegistryPath {
        &self.root
    }

    /// What the store asks of one profile.
    ///
    /// # Errors
    ///
    /// A registry failure while reading.
    pub fn profile(&self, profile: Profile) -> Result<ProfilePolicy, RegistryError> {
        // MS-GPFAS 2.2.3: the legacy key stands in for both the private and the public profile
        // while neither of their keys exists, and carries only some of the options.
        let private_or_public = self
            .registry
            .key_exists(&self.child(Profile::Private.key_name())?)?
            || self
                .registry
                .key_exists(&self.child(Profile::Public.key_name())?)?;
        let legacy = profile != Profile::Domain && !private_or_public;
        let key = if legacy {
            self.child(STANDARD_PROFILE_KEY)?
        } else {
            self.child(profile.key_name())?
        };
        let mut policy = ProfilePolicy::default();
        for row in PROFILE_ROWS
            .iter()
            .filter(|row| !legacy || row.standard_profile)
        {
            let key = if row.subkey.is_empty() {
                key.clone()
            } else {
                join(&key, row.subkey)?
            };
            if let Some(value) = self.read(&key, row.value_name, &row.data)? {
                policy.configured.insert(row.option, value);
            }
        }
        Ok(policy)
    }

    /// What the store asks of the global options.
    ///
    /// # Errors
    ///
    /// A registry failure while reading.
    pub fn global(&self) -> Result<GlobalPolicy, RegistryError> {
        let mut policy = GlobalPolicy::default();
        for row in GLOBAL_ROWS {
            if let Some(value) = self.read(&self.root, row.value_name, &row.data)? {
                policy.configured.insert(row.option, value);
            }
        }
        Ok(policy)
    }

    fn child(&self, name: &str) -> Result<RegistryPath, RegistryError> {
        join(&self.root, name)
    }

    fn read(
        &self,
        key: &RegistryPath,
        name: &str,
        data: &Data,
    ) -> Result<Option<ConfigValue>, RegistryError> {
        let Some(raw) = self.registry.get_value(key, name)? else {
            return Ok(None);
        };
        let decoded = data.decode(&raw);
        if decoded.is_none() {
            tracing::debug!(
                key = %key.long_form(),
                value = name,
                data = %raw,
                "ignoring a firewall policy value the firewall would not accept"
            );
        }
        Ok(decoded)
    }
}

fn join(key: &RegistryPath, name: &str) -> Result<RegistryPath, RegistryError> {
    key.join(name)
        .map_err(|e| RegistryError::InvalidArgument(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::EmulatedRegistry;

    fn setup() -> (Arc<EmulatedRegistry>, FirewallPolicyReader) {
        let registry = Arc::new(EmulatedRegistry::new());
        let reader = FirewallPolicyReader::mdm(registry.clone());
        (registry, reader)
    }

    fn set(registry: &EmulatedRegistry, rel: &str, name: &str, value: RegValue) {
        let key = if rel.is_empty() {
            MDM_STORE.to_owned()
        } else {
            format!(r"{MDM_STORE}\{rel}")
        };
        registry
            .set_value(&RegistryPath::parse(&key).unwrap(), name, value)
            .unwrap();
    }

    #[test]
    fn firewall_rows_cover_every_option_once_and_cite_a_section() {
        use std::collections::BTreeSet;
        let profile: BTreeSet<_> = PROFILE_ROWS.iter().map(|r| r.option).collect();
        assert_eq!(profile.len(), PROFILE_ROWS.len());
        assert_eq!(profile.len(), 17);
        let global: BTreeSet<_> = GLOBAL_ROWS.iter().map(|r| r.option).collect();
        assert_eq!(global.len(), GLOBAL_ROWS.len());
        assert_eq!(global.len(), 6);
        for source in PROFILE_ROWS
            .iter()
            .map(|r| r.source)
            .chain(GLOBAL_ROWS.iter().map(|r| r.source))
        {
            assert!(source.starts_with("MS-GPFAS 2.2."), "{source}");
            assert!(source.contains("MS-FASP"), "{source}");
        }
    }

    #[test]
    fn firewall_empty_store_gives_the_defaults() {
        let (_, reader) = setup();
        for profile in Profile::ALL {
            let policy = reader.profile(profile).unwrap();
            assert_eq!(policy.iter().count(), 0);
            let config = policy.effective();
            assert!(config.enabled);
            assert_eq!(config.default_inbound_action, Action::Block);
            assert_eq!(config.default_outbound_action, Action::Allow);
            assert!(!config.shielded && !config.blocks_all_inbound());
            assert!(config.authorized_apps_user_merge && config.globally_open_ports_user_merge);
            assert!(config.stealth_mode_ipsec_exemption_disabled);
            assert_eq!(config.log_max_file_size_kb, 1024);
        }
        let global = reader.global().unwrap().effective();
        assert_eq!(
            global,
            GlobalConfig {
                stateful_ftp_disabled: false,
                sa_idle_time_seconds: 300,
                preshared_key_encoding: PRESHARED_KEY_ENCODING_UTF8,
                ipsec_exempt: 0,
                crl_check: CRL_CHECK_NONE,
                packet_queue: 0,
            }
        );
    }

    #[test]
    fn firewall_profile_values_are_read_where_the_schema_puts_them() {
        let (registry, reader) = setup();
        set(
            &registry,
            "PublicProfile",
            "DoNotAllowExceptions",
            RegValue::Dword(1),
        );
        set(
            &registry,
            "PublicProfile",
            "DefaultInboundAction",
            RegValue::Dword(0),
        );
        set(
            &registry,
            r"PublicProfile\AuthorizedApplications",
            "AllowUserPrefMerge",
            RegValue::Dword(0),
        );
        set(
            &registry,
            r"PublicProfile\Logging",
            "LogFilePath",
            RegValue::Sz(r"C:\fw\public.log".into()),
        );
        set(
            &registry,
            r"PublicProfile\Logging",
            "LogFileSize",
            RegValue::Dword(16_384),
        );
        // Names compare case-insensitively.
        set(
            &registry,
            "PublicProfile",
            "allowlocalipsecpolicymerge",
            RegValue::Dword(0),
        );
        let config = reader.profile(Profile::Public).unwrap().effective();
        assert!(config.shielded && config.blocks_all_inbound());
        assert_eq!(config.default_inbound_action, Action::Allow);
        assert!(!config.authorized_apps_user_merge);
        assert!(config.globally_open_ports_user_merge);
        assert_eq!(config.log_file_path, r"C:\fw\public.log");
        assert_eq!(config.log_max_file_size_kb, 16_384);
        assert!(!config.local_ipsec_policy_merge);
        // The other profiles are untouched.
        assert!(
            !reader
                .profile(Profile::Private)
                .unwrap()
                .effective()
                .shielded
        );
    }

    #[test]
    fn firewall_values_in_the_wrong_place_or_shape_are_ignored() {
        let (registry, reader) = setup();
        // Not the schema's names or keys.
        set(&registry, "PublicProfile", "Shielded", RegValue::Dword(1));
        set(
            &registry,
            "PublicProfile",
            "AllowUserPrefMerge",
            RegValue::Dword(0),
        );
        set(
            &registry,
            "PublicProfile",
            "LogFileSize",
            RegValue::Dword(2048),
        );
        // The schema's place, but a type or value the firewall rejects.
        set(
            &registry,
            "DomainProfile",
            "EnableFirewall",
            RegValue::Sz("0".into()),
        );
        set(
            &registry,
            "DomainProfile",
            "DefaultInboundAction",
            RegValue::Dword(2),
        );
        set(
            &registry,
            r"DomainProfile\Logging",
            "LogFileSize",
            RegValue::Dword(40_000),
        );
        set(
            &registry,
            r"DomainProfile\Logging",
            "LogFilePath",
            RegValue::Sz(r"C:\fw\a|b.log".into()),
        );
        set(&registry, "", "SAIdlTime", RegValue::Dword(60));
        set(&registry, "", "IPsecExempt", RegValue::Dword(0x10));
        set(&registry, "", "EnablePacketQueue", RegValue::Dword(4));
        set(&registry, "", "StrongCRLCheck", RegValue::Dword(3));
        set(&registry, "", "CRLcheck", RegValue::Dword(2));
        for profile in [Profile::Domain, Profile::Public] {
            assert_eq!(
                reader.profile(profile).unwrap().iter().count(),
                0,
                "{profile:?}"
            );
        }
        assert_eq!(reader.global().unwrap().iter().count(), 0);
    }

    #[test]
    fn firewall_global_values_are_read_at_the_store_root() {
        let (registry, reader) = setup();
        set(&registry, "", "DisableStatefulFTP", RegValue::Dword(1));
        set(&registry, "", "SAIdlTime", RegValue::Dword(3600));
        set(&registry, "", "PresharedKeyEncoding", RegValue::Dword(0));
        set(&registry, "", "IPsecExempt", RegValue::Dword(0b1010));
        set(&registry, "", "StrongCRLCheck", RegValue::Dword(2));
        set(&registry, "", "EnablePacketQueue", RegValue::Dword(3));
        let global = reader.global().unwrap().effective();
        assert_eq!(
            global,
            GlobalConfig {
                stateful_ftp_disabled: true,
                sa_idle_time_seconds: 3600,
                preshared_key_encoding: PRESHARED_KEY_ENCODING_NONE,
                ipsec_exempt: IPSEC_EXEMPT_ICMP | IPSEC_EXEMPT_DHCP,
                crl_check: CRL_CHECK_REQUIRE,
                packet_queue: PACKET_QUEUE_INBOUND | PACKET_QUEUE_FORWARD,
            }
        );
    }

    #[test]
    fn firewall_standard_profile_stands_in_until_private_or_public_exists() {
        let (registry, reader) = setup();
        set(
            &registry,
            "StandardProfile",
            "EnableFirewall",
            RegValue::Dword(0),
        );
        // Not allowed on the legacy key: ignored there.
        set(
            &registry,
            "StandardProfile",
            "DefaultInboundAction",
            RegValue::Dword(0),
        );
        for profile in [Profile::Private, Profile::Public] {
            let policy = reader.profile(profile).unwrap();
            assert_eq!(
                policy.configured(ProfileOption::EnableFirewall),
                Some(&ConfigValue::Switch(false))
            );
            assert_eq!(policy.configured(ProfileOption::DefaultInboundAction), None);
        }
        assert_eq!(reader.profile(Profile::Domain).unwrap().iter().count(), 0);
        // Once the public profile has its own key, the legacy key is ignored for both.
        set(
            &registry,
            "PublicProfile",
            "DisableNotifications",
            RegValue::Dword(1),
        );
        assert_eq!(reader.profile(Profile::Private).unwrap().iter().count(), 0);
        let public = reader.profile(Profile::Public).unwrap();
        assert_eq!(public.iter().count(), 1);
        assert!(public.effective().notifications_disabled);
    }

    #[test]
    fn firewall_other_stores_read_with_the_same_schema() {
        let registry = Arc::new(EmulatedRegistry::new());
        let gp = FirewallPolicyReader::group_policy(registry.clone());
        registry
            .set_value(
                &RegistryPath::parse(&format!(r"{GROUP_POLICY_STORE}\DomainProfile")).unwrap(),
                "EnableFirewall",
                RegValue::Dword(0),
            )
            .unwrap();
        assert!(!gp.profile(Profile::Domain).unwrap().effective().enabled);
        // The MDM store is another root.
        assert!(
            FirewallPolicyReader::mdm(registry)
                .profile(Profile::Domain)
                .unwrap()
                .effective()
                .enabled
        );
    }
}
