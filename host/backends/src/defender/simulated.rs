//! A simulated Microsoft Defender Antivirus for Windows.
//!
//! [`SimulatedDefender`] is **not** Defender: it is an in-process model used by tests, demos and
//! what-if runs on any OS. What it models is the part plugins depend on: the *effective*
//! preferences Defender reports (`Get-MpPreference` / `MSFT_MpPreference`) follow the Group Policy
//! registry keys under `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender`, which is where
//! Defender for Endpoint security settings management (and GPO) write, with local
//! `Set-MpPreference` values underneath and Defender's defaults under those.
//!
//! Tamper protection is modelled as "the change did not take effect": real Defender ignores
//! changes to protected settings made by anything but the Defender for Endpoint / Intune channel.
//! The simulation cannot tell channels apart, so while tamper protection is on it ignores every
//! policy or local value that would *weaken* a protected setting relative to its default, and
//! refuses local writes to protected settings.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use super::{
    AsrAction, ComputerStatus, DefenderBackend, DefenderError, ExclusionKind, PreferenceValue,
};
use crate::quote::quoted;
use crate::registry::{RegValue, RegistryBackend, RegistryError, RegistryPath};

/// Defender's Group Policy root; every policy key below is relative to it.
const POLICY_ROOT: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender";

/// Policy list keys for exclusions: each value *name* is one exclusion.
const EXCLUSION_PATHS_KEY: &str = r"Exclusions\Paths";
const EXCLUSION_EXTENSIONS_KEY: &str = r"Exclusions\Extensions";
const EXCLUSION_PROCESSES_KEY: &str = r"Exclusions\Processes";

/// The ASR policy switch: rule values are read only while this DWORD is 1.
const ASR_KEY: &str = r"Windows Defender Exploit Guard\ASR";
const ASR_SWITCH_VALUE: &str = "ExploitGuard_ASR_Rules";
/// The ASR rule list: value name = rule GUID, data = action code (REG_SZ).
const ASR_RULES_KEY: &str = r"Windows Defender Exploit Guard\ASR\Rules";

/// The platform version reported when none is configured (a late-2024 Defender platform).
const DEFAULT_PRODUCT_VERSION: &str = "4.18.24090.11";

/// How a policy DWORD becomes a preference value, and the preference's default.
#[derive(Debug)]
enum Mapping {
    /// A boolean; a nonzero DWORD is `true`, and `true` switches something on.
    Flag {
        /// Defender's default.
        default: bool,
    },
    /// A boolean whose registry value *is* the preference's `Disable*` flag: a nonzero DWORD is
    /// `true`, which turns the feature off, so `true` is the weaker setting. (The Policy CSP's
    /// `Allow*` settings are inverted into these values before they reach the registry.)
    DisableFlag {
        /// Defender's default.
        default: bool,
    },
    /// An integer or enumeration, copied from the DWORD. Values outside `allowed` are treated
    /// like wrong-typed ones. For tamper-protected rows a larger value means more protection.
    Integer {
        /// Defender's default.
        default: i64,
        /// The values Defender accepts.
        allowed: &'static [RangeInclusive<i64>],
    },
    /// An integer the policy stores as REG_SZ text (the threat severity default actions).
    SzInteger {
        /// Defender's default.
        default: i64,
        /// The values Defender accepts.
        allowed: &'static [RangeInclusive<i64>],
    },
    /// Text, from a REG_SZ (the signature update sources, `|`-joined).
    Text {
        /// Defender's default.
        default: &'static str,
    },
}

impl Mapping {
    fn default_value(&self) -> PreferenceValue {
        match self {
            Mapping::Flag { default } | Mapping::DisableFlag { default } => {
                PreferenceValue::Boolean(*default)
            }
            Mapping::Integer { default, .. } | Mapping::SzInteger { default, .. } => {
                PreferenceValue::Integer(*default)
            }
            Mapping::Text { default } => PreferenceValue::Text((*default).to_owned()),
        }
    }

    /// Decodes a policy registry value; `None` when Defender would ignore it (wrong type or
    /// out of range).
    fn decode(&self, raw: &RegValue) -> Option<PreferenceValue> {
        match (self, raw) {
            (Mapping::SzInteger { allowed, .. }, RegValue::Sz(text)) => {
                let value = text.trim().parse::<i64>().ok()?;
                return in_domain(allowed, value).then_some(PreferenceValue::Integer(value));
            }
            (Mapping::Text { .. }, RegValue::Sz(text)) => {
                return Some(PreferenceValue::Text(text.clone()));
            }
            (Mapping::SzInteger { .. } | Mapping::Text { .. }, _) => return None,
            _ => {}
        }
        // The other policy values are all REG_DWORD; anything else is not read.
        let RegValue::Dword(dword) = raw else {
            return None;
        };
        match self {
            Mapping::Flag { .. } | Mapping::DisableFlag { .. } => {
                Some(PreferenceValue::Boolean(*dword != 0))
            }
            Mapping::Integer { allowed, .. } => {
                let value = i64::from(*dword);
                in_domain(allowed, value).then_some(PreferenceValue::Integer(value))
            }
            Mapping::SzInteger { .. } | Mapping::Text { .. } => None,
        }
    }

    /// Checks a value given to `set_preference`; the error text names the expected type.
    fn validate(&self, property: &str, value: &PreferenceValue) -> Result<(), DefenderError> {
        match (self, value) {
            (Mapping::Flag { .. } | Mapping::DisableFlag { .. }, PreferenceValue::Boolean(_)) => {
                Ok(())
            }
            (Mapping::Flag { .. } | Mapping::DisableFlag { .. }, _) => Err(
                DefenderError::InvalidArgument(format!("{property} expects a boolean")),
            ),
            (
                Mapping::Integer { allowed, .. } | Mapping::SzInteger { allowed, .. },
                PreferenceValue::Integer(v),
            ) if in_domain(allowed, *v) => Ok(()),
            (Mapping::Integer { allowed, .. } | Mapping::SzInteger { allowed, .. }, _) => {
                Err(DefenderError::InvalidArgument(format!(
                    "{property} expects an integer in {}",
                    describe_domain(allowed)
                )))
            }
            (Mapping::Text { .. }, PreferenceValue::Text(_)) => Ok(()),
            (Mapping::Text { .. }, _) => Err(DefenderError::InvalidArgument(format!(
                "{property} expects text"
            ))),
        }
    }

    /// Whether `value` is weaker protection than the default.
    fn weakens(&self, value: &PreferenceValue) -> bool {
        match (self, value) {
            (Mapping::DisableFlag { default }, PreferenceValue::Boolean(v)) => *v && !*default,
            (Mapping::Flag { default }, PreferenceValue::Boolean(v)) => !*v && *default,
            (
                Mapping::Integer { default, .. } | Mapping::SzInteger { default, .. },
                PreferenceValue::Integer(v),
            ) => *v < *default,
            // No text preference is tamper protected.
            (Mapping::Text { .. }, PreferenceValue::Text(_)) => false,
            // A value of the wrong shape never reaches here (decode and validate reject it);
            // treating it as weakening keeps the protected value if it ever does.
            _ => true,
        }
    }
}

fn in_domain(allowed: &[RangeInclusive<i64>], value: i64) -> bool {
    allowed.iter().any(|range| range.contains(&value))
}

fn describe_domain(allowed: &[RangeInclusive<i64>]) -> String {
    let parts: Vec<String> = allowed
        .iter()
        .map(|range| {
            if range.start() == range.end() {
                range.start().to_string()
            } else {
                format!("{}-{}", range.start(), range.end())
            }
        })
        .collect();
    parts.join(", ")
}

/// One `MSFT_MpPreference` property and the policy value that drives it.
#[derive(Debug)]
struct PreferenceRow {
    /// The property's name as Defender spells it (names compare case-insensitively).
    property: &'static str,
    /// The policy key, relative to [`POLICY_ROOT`] (`""` is the root itself).
    key: &'static str,
    /// The policy value's name.
    value_name: &'static str,
    /// How the DWORD maps to the preference, and the default.
    mapping: Mapping,
    /// Tamper protection guards this setting.
    tamper_protected: bool,
    /// Whether `Get-MpPreference` reports it. Policy values Defender applies without reporting
    /// them (hiding exclusions, archive limits, ...) are modelled for [`SimulatedDefender::policy_in_force`]
    /// and answered `None` by `get_preference`, as real Defender does.
    reported: bool,
    /// Where the location comes from: the WindowsDefender.admx policy that writes it
    /// (`admx:<policy name>`), or `assumed:` and why no primary source settles it.
    source: &'static str,
}

// Policy keys relative to POLICY_ROOT, named so the table stays one row per line.
const RTP: &str = "Real-Time Protection";
const SCAN: &str = "Scan";
const SPYNET: &str = "Spynet";
const MPENGINE: &str = "MpEngine";
const NETWORK_PROTECTION: &str = r"Windows Defender Exploit Guard\Network Protection";
const CONTROLLED_FOLDERS: &str = r"Windows Defender Exploit Guard\Controlled Folder Access";
const SIGNATURE_UPDATES: &str = "Signature Updates";
const QUARANTINE: &str = "Quarantine";
const UX_CONFIGURATION: &str = "UX Configuration";
const NIS: &str = "NIS";
const REMOTE_ENCRYPTION: &str =
    r"Remediation\Behavioral Network Blocks\Remote Encryption Protection";
const THREAT_ACTIONS: &str = r"Threats\ThreatSeverityDefaultAction";
/// The switch that makes Defender read [`THREAT_ACTIONS`]: key and value name.
const THREAT_ACTIONS_SWITCH: (&str, &str) = ("Threats", "Threats_ThreatSeverityDefaultAction");
const TP: bool = true;
const NO_TP: bool = false;
const REPORTED: bool = true;
const UNREPORTED: bool = false;

const fn row(
    property: &'static str,
    key: &'static str,
    value_name: &'static str,
    mapping: Mapping,
    tamper_protected: bool,
    reported: bool,
    source: &'static str,
) -> PreferenceRow {
    PreferenceRow {
        property,
        key,
        value_name,
        mapping,
        tamper_protected,
        reported,
        source,
    }
}

const fn flag(default: bool) -> Mapping {
    Mapping::Flag { default }
}

const fn disable(default: bool) -> Mapping {
    Mapping::DisableFlag { default }
}

const fn int(default: i64, allowed: &'static [RangeInclusive<i64>]) -> Mapping {
    Mapping::Integer { default, allowed }
}

const fn sz_int(default: i64, allowed: &'static [RangeInclusive<i64>]) -> Mapping {
    Mapping::SzInteger { default, allowed }
}

const fn text(default: &'static str) -> Mapping {
    Mapping::Text { default }
}

/// Threat default actions: 0 (Defender decides), 1 clean, 2 quarantine, 3 remove, 6 allow,
/// 8 user defined, 9 no action, 10 block.
const THREAT_ACTION_VALUES: &[RangeInclusive<i64>] = &[0..=3, 6..=6, 8..=10];
/// Platform and engine update channels: 2 beta, 3 preview, 4 staged, 5 broad, 6 delayed. The
/// template has no 0: "not configured" is an absent value, which Defender reports as 0.
const CHANNELS: &[RangeInclusive<i64>] = &[0..=0, 2..=6];
/// Security intelligence channel: 4 staged, 5 broad (0 as above).
const SIGNATURE_CHANNELS: &[RangeInclusive<i64>] = &[0..=0, 4..=5];
/// Remote encryption protection: 0 not configured, 1 block, 2 audit, 4 off.
const PROTECTION_STATES: &[RangeInclusive<i64>] = &[0..=2, 4..=4];

/// Where Windows Defender reads each policy value, written from Microsoft's Group Policy
/// template for Defender (WindowsDefender.admx: policy key, value name and, for `enabledValue`
/// / `disabledValue` policies, the stored DWORD) and never from a plugin's table, so a plugin
/// that writes to the wrong place fails against it. Property names, defaults and allowed values
/// are from the `Set-MpPreference` reference and what `Get-MpPreference` reports on an unmanaged
/// device. Tamper protection covers real-time, behaviour, IOAV and script protection, archive
/// scanning and cloud-delivered protection, per Microsoft's tamper protection documentation.
///
/// A Defender CSP setting with no ADMX policy has no public location; its row is marked
/// `assumed:` with the reason, and the Windows plugin's README lists the same assumption.
///
/// Simplifications: `ScanScheduleTime` is minutes after midnight (Defender reports a TimeSpan);
/// `SignatureUpdateInterval` 0 means Defender's own schedule.
#[rustfmt::skip] // one row per line reads as the table it is
static PREFERENCES: &[PreferenceRow] = &[
    //  property                                         policy key          value name                                       mapping                         tamper  reported    source
    row("DisableRealtimeMonitoring",                     RTP,                "DisableRealtimeMonitoring",                     disable(false),                 TP,    REPORTED,   "admx:DisableRealtimeMonitoring"),
    row("DisableBehaviorMonitoring",                     RTP,                "DisableBehaviorMonitoring",                     disable(false),                 TP,    REPORTED,   "admx:RealtimeProtection_DisableBehaviorMonitoring"),
    row("DisableIOAVProtection",                         RTP,                "DisableIOAVProtection",                         disable(false),                 TP,    REPORTED,   "admx:RealtimeProtection_DisableIOAVProtection"),
    row("DisableScriptScanning",                         RTP,                "DisableScriptScanning",                         disable(false),                 TP,    REPORTED,   "admx:RealtimeProtection_DisableSriptScanning"),
    row("DisableOnAccessProtection",                     RTP,                "DisableOnAccessProtection",                     disable(false),                 NO_TP, UNREPORTED, "admx:RealtimeProtection_DisableOnAccessProtection"),
    row("OobeEnableRtpAndSigUpdate",                     RTP,                "OobeEnableRtpAndSigUpdate",                     flag(false),                    NO_TP, REPORTED,   "admx:RealtimeProtection_OobeEnableRtpAndSigUpdate"),
    row("RealTimeScanDirection",                         RTP,                "RealtimeScanDirection",                         int(0, &[0..=2]),               NO_TP, REPORTED,   "admx:RealtimeProtection_RealtimeScanDirection"),
    row("MAPSReporting",                                 SPYNET,             "SpynetReporting",                               int(2, &[0..=2]),               TP,    REPORTED,   "admx:SpynetReporting"),
    row("SubmitSamplesConsent",                          SPYNET,             "SubmitSamplesConsent",                          int(1, &[0..=3]),               NO_TP, REPORTED,   "admx:SubmitSamplesConsent"),
    row("CloudBlockLevel",                               MPENGINE,           "MpCloudBlockLevel",                             int(0, &[0..=2, 4..=4, 6..=6]), NO_TP, REPORTED,   "admx:MpEngine_MpCloudBlockLevel"),
    row("CloudExtendedTimeout",                          MPENGINE,           "MpBafsExtendedTimeout",                         int(0, &[0..=50]),              NO_TP, REPORTED,   "admx:MpEngine_MpBafsExtendedTimeout"),
    row("EnableFileHashComputation",                     MPENGINE,           "EnableFileHashComputation",                     flag(false),                    NO_TP, REPORTED,   "admx:MpEngine_EnableFileHashComputation"),
    row("PUAProtection",                                 "",                 "PUAProtection",                                 int(0, &[0..=2]),               NO_TP, REPORTED,   "admx:Root_PUAProtection"),
    row("EnableNetworkProtection",                       NETWORK_PROTECTION, "EnableNetworkProtection",                       int(0, &[0..=2]),               NO_TP, REPORTED,   "admx:ExploitGuard_EnableNetworkProtection"),
    row("EnableControlledFolderAccess",                  CONTROLLED_FOLDERS, "EnableControlledFolderAccess",                  int(0, &[0..=4]),               NO_TP, REPORTED,   "admx:ExploitGuard_ControlledFolderAccess_EnableControlledFolderAccess"),
    row("DisableArchiveScanning",                        SCAN,               "DisableArchiveScanning",                        disable(false),                 TP,    REPORTED,   "admx:Scan_DisableArchiveScanning"),
    row("DisableEmailScanning",                          SCAN,               "DisableEmailScanning",                          disable(true),                  NO_TP, REPORTED,   "admx:Scan_DisableEmailScanning"),
    row("DisableRemovableDriveScanning",                 SCAN,               "DisableRemovableDriveScanning",                 disable(true),                  NO_TP, REPORTED,   "admx:Scan_DisableRemovableDriveScanning"),
    row("DisableScanningMappedNetworkDrivesForFullScan", SCAN,               "DisableScanningMappedNetworkDrivesForFullScan", disable(true),                  NO_TP, REPORTED,   "admx:Scan_DisableScanningMappedNetworkDrivesForFullScan"),
    row("DisableScanningNetworkFiles",                   SCAN,               "DisableScanningNetworkFiles",                   disable(false),                 NO_TP, REPORTED,   "admx:Scan_DisableScanningNetworkFiles"),
    row("DisableCatchupFullScan",                        SCAN,               "DisableCatchupFullScan",                        disable(true),                  NO_TP, REPORTED,   "admx:Scan_DisableCatchupFullScan"),
    row("DisableCatchupQuickScan",                       SCAN,               "DisableCatchupQuickScan",                       disable(true),                  NO_TP, REPORTED,   "admx:Scan_DisableCatchupQuickScan"),
    row("ScanAvgCPULoadFactor",                          SCAN,               "AvgCPULoadFactor",                              int(50, &[0..=100]),            NO_TP, REPORTED,   "admx:Scan_AvgCPULoadFactor"),
    row("EnableLowCpuPriority",                          SCAN,               "LowCpuPriority",                                flag(false),                    NO_TP, REPORTED,   "admx:Scan_LowCpuPriority"),
    row("CheckForSignaturesBeforeRunningScan",           SCAN,               "CheckForSignaturesBeforeRunningScan",           flag(false),                    NO_TP, REPORTED,   "admx:CheckForSignaturesBeforeRunningScan"),
    row("ScanParameters",                                SCAN,               "ScanParameters",                                int(1, &[1..=2]),               NO_TP, REPORTED,   "admx:Scan_ScanParameters"),
    row("ScanScheduleDay",                               SCAN,               "ScheduleDay",                                   int(0, &[0..=8]),               NO_TP, REPORTED,   "admx:Scan_ScheduleDay"),
    row("ScanScheduleTime",                              SCAN,               "ScheduleTime",                                  int(120, &[0..=1380]),          NO_TP, REPORTED,   "admx:Scan_ScheduleTime"),
    row("ScanScheduleQuickScanTime",                     SCAN,               "ScheduleQuickScanTime",                         int(0, &[0..=1380]),            NO_TP, REPORTED,   "admx:Scan_ScheduleQuickScantime"),
    row("QuickScanIncludeExclusions",                    SCAN,               "QuickScanIncludeExclusions",                    int(0, &[0..=1]),               NO_TP, REPORTED,   "admx:Scan_QuickScanIncludeExclusions"),
    row("DaysUntilAggressiveCatchupQuickScan",           SCAN,               "DaysUntilAggressiveCatchupQuickScan",           int(30, &[7..=60]),             NO_TP, UNREPORTED, "admx:Scan_DaysUntilAggressiveCatchupQuickScan"),
    row("ArchiveMaxDepth",                               SCAN,               "ArchiveMaxDepth",                               int(0, &[0..=4_294_967_295]),   NO_TP, UNREPORTED, "admx:Scan_ArchiveMaxDepth"),
    row("ArchiveMaxSize",                                SCAN,               "ArchiveMaxSize",                                int(0, &[0..=4_294_967_295]),   NO_TP, UNREPORTED, "admx:Scan_ArchiveMaxSize"),
    row("SchedulerRandomizationTime",                    "",                 "SchedulerRandomizationTime",                    int(4, &[1..=23]),              NO_TP, REPORTED,   "admx:SchedulerRandomizationTime"),
    row("RandomizeScheduleTaskTimes",                    "",                 "RandomizeScheduleTaskTimes",                    flag(true),                     NO_TP, REPORTED,   "admx:RandomizeScheduleTaskTimes"),
    row("QuarantinePurgeItemsAfterDelay",                QUARANTINE,         "PurgeItemsAfterDelay",                          int(90, &[0..=90]),             NO_TP, REPORTED,   "admx:Quarantine_PurgeItemsAfterDelay"),
    row("UILockdown",                                    UX_CONFIGURATION,   "UILockdown",                                    flag(false),                    NO_TP, REPORTED,   "admx:UX_Configuration_UILockdown"),
    row("DisableLocalAdminMerge",                        "",                 "DisableLocalAdminMerge",                        flag(false),                    NO_TP, UNREPORTED, "admx:DisableLocalAdminMerge"),
    row("HideExclusionsFromLocalAdmins",                 "",                 "HideExclusionsFromLocalAdmins",                 flag(false),                    NO_TP, UNREPORTED, "admx:HideExclusionsFromLocalAdmins"),
    row("HideExclusionsFromLocalUsers",                  "",                 "HideExclusionsFromLocalUsers",                  flag(false),                    NO_TP, UNREPORTED, "admx:HideExclusionsFromLocalUsers"),
    row("SignatureUpdateInterval",                       SIGNATURE_UPDATES,  "SignatureUpdateInterval",                       int(0, &[0..=24]),              NO_TP, REPORTED,   "admx:SignatureUpdate_SignatureUpdateInterval"),
    row("SignatureFallbackOrder",                        SIGNATURE_UPDATES,  "FallbackOrder",                                 text("MicrosoftUpdateServer|MMPC"), NO_TP, REPORTED, "admx:SignatureUpdate_FallbackOrder"),
    row("SignatureDefinitionUpdateFileSharesSources",    SIGNATURE_UPDATES,  "DefinitionUpdateFileSharesSources",             text(""),                       NO_TP, REPORTED,   "admx:SignatureUpdate_DefinitionUpdateFileSharesSources"),
    row("MeteredConnectionUpdates",                      SIGNATURE_UPDATES,  "MeteredConnectionUpdates",                      flag(false),                    NO_TP, REPORTED,   "admx:MeteredConnectionUpdates"),
    row("PlatformUpdatesChannel",                        "",                 "PlatformRing",                                  int(0, CHANNELS),               NO_TP, REPORTED,   "admx:Root_PlatformUpdateChannel"),
    row("EngineUpdatesChannel",                          "",                 "EngineRing",                                    int(0, CHANNELS),               NO_TP, REPORTED,   "admx:Root_EngineUpdateChannel"),
    row("DefinitionUpdatesChannel",                      "",                 "SignaturesRing",                                int(0, SIGNATURE_CHANNELS),     NO_TP, REPORTED,   "admx:Root_SecurityIntelligenceUpdateChannel"),
    row("AllowNetworkProtectionOnWinServer",             NETWORK_PROTECTION, "AllowNetworkProtectionOnWinServer",             flag(false),                    NO_TP, REPORTED,   "admx:AllowNetworkProtectionOnWinServer"),
    row("RemoteEncryptionProtectionConfiguredState",     REMOTE_ENCRYPTION,  "RemoteEncryptionProtectionConfiguredState",     int(0, PROTECTION_STATES),      NO_TP, REPORTED,   "admx:Remediation_BNB_REP_RemoteEncryptionProtection_ConfiguredState"),
    row("AllowNetworkProtectionDownLevel",               NETWORK_PROTECTION, "AllowNetworkProtectionDownLevel",               flag(false),                    NO_TP, REPORTED,   "assumed: Defender CSP node with no ADMX policy; named after the node, beside its sibling AllowNetworkProtectionOnWinServer"),
    row("AllowDatagramProcessingOnWinServer",            NETWORK_PROTECTION, "AllowDatagramProcessingOnWinServer",            flag(false),                    NO_TP, REPORTED,   "assumed: Defender CSP node with no ADMX policy; named after the node, beside its sibling AllowNetworkProtectionOnWinServer"),
    row("DisableTlsParsing",                             NIS,                "DisableTlsParsing",                             disable(false),                 NO_TP, REPORTED,   "assumed: Defender CSP node with no ADMX policy; NIS is the key of the ADMX's other network-inspection values"),
    row("DisableHttpParsing",                            NIS,                "DisableHttpParsing",                            disable(false),                 NO_TP, REPORTED,   "assumed: Defender CSP node with no ADMX policy; NIS is the key of the ADMX's other network-inspection values"),
    row("DisableSshParsing",                             NIS,                "DisableSshParsing",                             disable(false),                 NO_TP, REPORTED,   "assumed: Defender CSP node with no ADMX policy; NIS is the key of the ADMX's other network-inspection values"),
    row("DisableDnsOverTcpParsing",                      NIS,                "DisableDnsOverTcpParsing",                      disable(false),                 NO_TP, REPORTED,   "assumed: Defender CSP node with no ADMX policy; NIS is the key of the ADMX's other network-inspection values"),
    row("EnableDnsSinkhole",                             NIS,                "EnableDnsSinkhole",                             flag(true),                     NO_TP, REPORTED,   "assumed: Defender CSP node with no ADMX policy; NIS is the key of the ADMX's other network-inspection values"),
    // The threat default actions are read only while the Threats_ThreatSeverityDefaultAction
    // switch is 1 (see `policy_value`).
    row("LowThreatDefaultAction",                        THREAT_ACTIONS,     "1",                                             sz_int(0, THREAT_ACTION_VALUES), NO_TP, REPORTED,  "admx:Threats_ThreatSeverityDefaultAction"),
    row("ModerateThreatDefaultAction",                   THREAT_ACTIONS,     "2",                                             sz_int(0, THREAT_ACTION_VALUES), NO_TP, REPORTED,  "admx:Threats_ThreatSeverityDefaultAction"),
    row("HighThreatDefaultAction",                       THREAT_ACTIONS,     "4",                                             sz_int(0, THREAT_ACTION_VALUES), NO_TP, REPORTED,  "admx:Threats_ThreatSeverityDefaultAction"),
    row("SevereThreatDefaultAction",                     THREAT_ACTIONS,     "5",                                             sz_int(0, THREAT_ACTION_VALUES), NO_TP, REPORTED,  "admx:Threats_ThreatSeverityDefaultAction"),
];

/// The list preferences besides the exclusions: property → policy list key (each value name
/// with data `"0"` is one item), from the list elements of WindowsDefender.admx's
/// `ExploitGuard_ASR_ASROnlyExclusions` and `ExploitGuard_ControlledFolderAccess_*` policies.
const LIST_PREFERENCES: &[(&str, &str)] = &[
    (
        "AttackSurfaceReductionOnlyExclusions",
        r"Windows Defender Exploit Guard\ASR\ASROnlyExclusions",
    ),
    (
        "ControlledFolderAccessAllowedApplications",
        r"Windows Defender Exploit Guard\Controlled Folder Access\AllowedApplications",
    ),
    (
        "ControlledFolderAccessProtectedFolders",
        r"Windows Defender Exploit Guard\Controlled Folder Access\ProtectedFolders",
    ),
];

fn list_preference_named(name: &str) -> Option<(&'static str, &'static str)> {
    LIST_PREFERENCES
        .iter()
        .copied()
        .find(|(property, _)| property.eq_ignore_ascii_case(name))
}

fn find_row(name: &str) -> Option<&'static PreferenceRow> {
    PREFERENCES
        .iter()
        .find(|row| row.property.eq_ignore_ascii_case(name))
}

/// The list-valued exclusion properties, which the simulation also serves by name; returns the
/// canonical name and the kind.
fn exclusion_kind_named(name: &str) -> Option<(&'static str, ExclusionKind)> {
    [
        ("ExclusionPath", ExclusionKind::Path),
        ("ExclusionExtension", ExclusionKind::Extension),
        ("ExclusionProcess", ExclusionKind::Process),
    ]
    .into_iter()
    .find(|(property, _)| property.eq_ignore_ascii_case(name))
}

fn exclusion_key(kind: ExclusionKind) -> &'static str {
    match kind {
        ExclusionKind::Path => EXCLUSION_PATHS_KEY,
        ExclusionKind::Extension => EXCLUSION_EXTENSIONS_KEY,
        ExclusionKind::Process => EXCLUSION_PROCESSES_KEY,
    }
}

/// The effective value of one preference: the first of policy, local that tamper protection
/// lets through, else the default. A value tamper protection ignores passes the decision to
/// the next source, so Defender keeps what was in force without it.
fn resolve(
    row: &PreferenceRow,
    tamper_protection: bool,
    policy: Option<PreferenceValue>,
    local: Option<PreferenceValue>,
) -> PreferenceValue {
    let guarded = tamper_protection && row.tamper_protected;
    [policy, local]
        .into_iter()
        .flatten()
        .find(|value| !(guarded && row.mapping.weakens(value)))
        .unwrap_or_else(|| row.mapping.default_value())
}

/// Folds text for Defender's case-insensitive comparisons (paths, extensions, GUIDs).
fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// Validates an ASR rule id (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex, no braces) and
/// returns it folded.
fn normalize_guid(id: &str) -> Result<String, DefenderError> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let groups: Vec<&str> = id.split('-').collect();
    let valid = groups.len() == GROUPS.len()
        && groups
            .iter()
            .zip(GROUPS)
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()));
    if valid {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(DefenderError::InvalidArgument(format!(
            "{} is not an ASR rule GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
            quoted(id)
        )))
    }
}

fn validate_exclusion(value: &str) -> Result<(), DefenderError> {
    if value.trim().is_empty() {
        Err(DefenderError::InvalidArgument(
            "an exclusion must not be empty".to_owned(),
        ))
    } else {
        Ok(())
    }
}

/// The policy key `relative` names under [`POLICY_ROOT`]. Every preference read needs one or
/// two of these, and they come from the fixed tables above, so each is parsed once per process.
fn policy_key(relative: &str) -> Result<Cow<'static, RegistryPath>, DefenderError> {
    // Every key the tables name, parsed once per process and never changed after: a
    // preference read (the most frequent Defender call) looks its key up without a lock.
    // foldhash: a few dozen fixed keys. Lent, not shared: a reference count would cost two
    // atomic operations per read.
    static KNOWN: LazyLock<foldhash::HashMap<&'static str, RegistryPath>> = LazyLock::new(|| {
        let tables = PREFERENCES.iter().map(|row| row.key);
        let lists = LIST_PREFERENCES.iter().map(|(_, key)| *key);
        let others = [
            EXCLUSION_PATHS_KEY,
            EXCLUSION_EXTENSIONS_KEY,
            EXCLUSION_PROCESSES_KEY,
            ASR_KEY,
            ASR_RULES_KEY,
            THREAT_ACTIONS_SWITCH.0,
        ];
        tables
            .chain(lists)
            .chain(others)
            .filter_map(|relative| Some((relative, parse_policy_key(relative).ok()?)))
            .collect()
    });
    match KNOWN.get(relative) {
        Some(key) => Ok(Cow::Borrowed(key)),
        None => parse_policy_key(relative).map(Cow::Owned),
    }
}

fn parse_policy_key(relative: &str) -> Result<RegistryPath, DefenderError> {
    let text = if relative.is_empty() {
        POLICY_ROOT.to_owned()
    } else {
        format!(r"{POLICY_ROOT}\{relative}")
    };
    RegistryPath::parse(&text).map_err(|err| {
        DefenderError::Backend(format!("invalid policy key {}: {err}", quoted(&text)))
    })
}

fn registry_failure(err: RegistryError) -> DefenderError {
    DefenderError::Backend(err.to_string())
}

/// What `Set-MpPreference`, `Add-MpPreference` and friends have set locally.
#[derive(Clone, Debug, Default)]
struct LocalState {
    /// Keyed by the canonical property name from [`PREFERENCES`].
    preferences: HashMap<&'static str, PreferenceValue>,
    /// Per kind: folded value → value as first added.
    exclusions: HashMap<ExclusionKind, BTreeMap<String, String>>,
    /// Folded GUID → action.
    asr_rules: HashMap<String, AsrAction>,
    /// The other list preferences, by canonical property name: folded value → value.
    lists: HashMap<&'static str, BTreeMap<String, String>>,
}

/// A **simulation** of Microsoft Defender Antivirus on Windows; it does not scan anything and
/// does not talk to Defender.
///
/// Its effective preferences follow the Group Policy registry keys under
/// `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender` in the given registry, the way Defender
/// merges them: a well-typed policy value wins over the local preference (what
/// `Set-MpPreference` would set, held in memory here), which wins over Defender's default. A
/// policy value of the wrong registry type, or outside the property's allowed values, is
/// ignored, as Defender ignores it.
///
/// Tamper protection (on by default, as on Windows 11) is simplified: real Defender ignores
/// changes to protected settings from anything but the Defender for Endpoint / Intune channel;
/// the simulation cannot tell channels apart and models "the change did not take effect". So
/// while it is on, a policy or local value that weakens a protected setting relative to its
/// default is ignored, and [`DefenderBackend::set_preference`] refuses protected settings with
/// [`DefenderError::TamperProtected`].
///
/// Exclusions are the policy lists under `…\Exclusions\{Paths,Extensions,Processes}` (each value
/// name is one exclusion; the `Exclusions_*` switch values are not consulted) together with the
/// local lists. ASR rules are read from `…\Windows Defender Exploit Guard\ASR\Rules` only while
/// `…\ASR\ExploitGuard_ASR_Rules` is 1, else the local rule applies.
#[derive(Debug)]
pub struct SimulatedDefender {
    registry: Arc<dyn RegistryBackend>,
    tamper_protection: bool,
    product_version: String,
    local: Mutex<LocalState>,
}

impl SimulatedDefender {
    /// A simulated Defender reading policy from `registry`, with tamper protection on and no
    /// local preferences.
    pub fn new(registry: Arc<dyn RegistryBackend>) -> Self {
        SimulatedDefender {
            registry,
            tamper_protection: true,
            product_version: DEFAULT_PRODUCT_VERSION.to_owned(),
            local: Mutex::new(LocalState::default()),
        }
    }

    /// Turns tamper protection on or off (it is on by default, the Windows 11 default).
    pub fn with_tamper_protection(mut self, on: bool) -> Self {
        self.tamper_protection = on;
        self
    }

    /// Sets the antimalware platform version [`DefenderBackend::computer_status`] reports
    /// (default `4.18.24090.11`).
    pub fn with_product_version(mut self, version: impl Into<String>) -> Self {
        self.product_version = version.into();
        self
    }

    /// Where the model reads a property's policy value, and the source that places it there:
    /// `(key relative to the Defender policy root, value name, source)`, the source being
    /// `admx:<WindowsDefender.admx policy>` or `assumed: <why>`. `None` for a property the model
    /// does not know.
    pub fn policy_location(property: &str) -> Option<(&'static str, &'static str, &'static str)> {
        find_row(property).map(|row| (row.key, row.value_name, row.source))
    }

    /// The value Defender applies for a property, including the policy values `Get-MpPreference`
    /// does not report (hiding exclusions, archive limits, local-admin merge, ...): what a test
    /// asks to learn whether a plugin wrote a setting where Defender reads it. `None` for a
    /// property the model does not know.
    ///
    /// # Errors
    ///
    /// A registry failure while reading the policy value.
    pub fn policy_in_force(
        &self,
        property: &str,
    ) -> Result<Option<PreferenceValue>, DefenderError> {
        match find_row(property) {
            Some(row) => self.effective(row).map(Some),
            None => Ok(None),
        }
    }

    /// The local state. A panic while it was held cannot leave it half-updated (every update
    /// is a single insert or remove), so a poisoned lock is simply taken over.
    fn local(&self) -> MutexGuard<'_, LocalState> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn policy_value(&self, row: &PreferenceRow) -> Result<Option<PreferenceValue>, DefenderError> {
        if row.key == THREAT_ACTIONS {
            let (switch_key, switch_name) = THREAT_ACTIONS_SWITCH;
            let switch = self
                .registry
                .get_value(&*policy_key(switch_key)?, switch_name)
                .map_err(registry_failure)?;
            if switch != Some(RegValue::Dword(1)) {
                return Ok(None);
            }
        }
        let key = policy_key(row.key)?;
        let Some(raw) = self
            .registry
            .get_value(&key, row.value_name)
            .map_err(registry_failure)?
        else {
            return Ok(None);
        };
        let decoded = row.mapping.decode(&raw);
        if decoded.is_none() {
            tracing::debug!(
                property = row.property,
                value = %raw,
                "ignoring a policy value Defender would not read"
            );
        }
        Ok(decoded)
    }

    fn effective(&self, row: &PreferenceRow) -> Result<PreferenceValue, DefenderError> {
        // Copy the local value out first so the lock is not held across registry reads.
        let local = self.local().preferences.get(row.property).cloned();
        let policy = self.policy_value(row)?;
        Ok(resolve(row, self.tamper_protection, policy, local))
    }

    /// The policy exclusions of one kind: value names whose data is `"0"` (REG_SZ, as Group
    /// Policy writes it) or DWORD 0.
    fn policy_exclusions(&self, kind: ExclusionKind) -> Result<Vec<String>, DefenderError> {
        self.policy_list(exclusion_key(kind))
    }

    /// A Group Policy list: the value names under `relative` whose data is `"0"` (REG_SZ) or
    /// DWORD 0.
    fn policy_list(&self, relative: &str) -> Result<Vec<String>, DefenderError> {
        let key = policy_key(relative)?;
        let values = match self.registry.list_values(&key) {
            Ok(values) => values,
            Err(RegistryError::KeyNotFound(_)) => return Ok(Vec::new()),
            Err(err) => return Err(registry_failure(err)),
        };
        Ok(values
            .into_iter()
            .filter(|(name, data)| {
                // The unnamed default value is not a list item.
                !name.is_empty()
                    && match data {
                        RegValue::Sz(text) => text.trim() == "0",
                        RegValue::Dword(0) => true,
                        _ => false,
                    }
            })
            .map(|(name, _)| name)
            .collect())
    }

    /// The policy ASR action for a (folded) rule id, if the ASR policy switch is on and the
    /// value is one Defender reads.
    fn policy_asr_rule(&self, guid: &str) -> Result<Option<AsrAction>, DefenderError> {
        let switch = self
            .registry
            .get_value(&*policy_key(ASR_KEY)?, ASR_SWITCH_VALUE)
            .map_err(registry_failure)?;
        if switch != Some(RegValue::Dword(1)) {
            return Ok(None);
        }
        // Registry value names compare case-insensitively, so the folded GUID finds any spelling.
        let raw = self
            .registry
            .get_value(&*policy_key(ASR_RULES_KEY)?, guid)
            .map_err(registry_failure)?;
        let code = match &raw {
            Some(RegValue::Sz(text)) => text.trim().parse::<u32>().ok(),
            Some(RegValue::Dword(code)) => Some(*code),
            _ => None,
        };
        let action = code.and_then(AsrAction::from_code);
        if let (Some(raw), None) = (&raw, action) {
            tracing::debug!(rule = guid, value = %raw, "ignoring an ASR policy value Defender would not read");
        }
        Ok(action)
    }
}

impl DefenderBackend for SimulatedDefender {
    fn defers_durability(&self) -> bool {
        // Its local preferences live in memory only: no change made through it survives a
        // crash, so none needs a journal record on disk first. (It reads policy from the
        // registry but never writes there.)
        true
    }

    fn fork_for_what_if(
        &self,
        registry: Arc<dyn RegistryBackend>,
    ) -> Option<Arc<dyn DefenderBackend>> {
        // The fork reads policy from the what-if registry overlay and starts with a copy of the
        // local state, so its answers are what this Defender would say after the planned writes.
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Some(Arc::new(SimulatedDefender {
            registry,
            tamper_protection: self.tamper_protection,
            product_version: self.product_version.clone(),
            local: Mutex::new(local),
        }))
    }

    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, DefenderError> {
        if let Some((_, kind)) = exclusion_kind_named(name) {
            return Ok(Some(PreferenceValue::TextList(self.list_exclusions(kind)?)));
        }
        if let Some((property, key)) = list_preference_named(name) {
            // Policy items first (their spelling wins), then the local ones.
            let mut merged: BTreeMap<String, String> = BTreeMap::new();
            for item in self.policy_list(key)? {
                merged.entry(fold(&item)).or_insert(item);
            }
            if let Some(local) = self.local().lists.get(property) {
                for (folded, item) in local {
                    merged.entry(folded.clone()).or_insert_with(|| item.clone());
                }
            }
            return Ok(Some(PreferenceValue::TextList(
                merged.into_values().collect(),
            )));
        }
        match find_row(name) {
            Some(row) if row.reported => self.effective(row).map(Some),
            _ => Ok(None),
        }
    }

    fn set_preference(&self, name: &str, value: PreferenceValue) -> Result<(), DefenderError> {
        if let Some((property, kind)) = exclusion_kind_named(name) {
            // Like `Set-MpPreference -ExclusionPath`, a list replaces the local list.
            let PreferenceValue::TextList(items) = value else {
                return Err(DefenderError::InvalidArgument(format!(
                    "{property} expects a list of text"
                )));
            };
            items.iter().try_for_each(|item| validate_exclusion(item))?;
            let mut list = BTreeMap::new();
            for item in items {
                list.entry(fold(&item)).or_insert(item);
            }
            self.local().exclusions.insert(kind, list);
            return Ok(());
        }
        if let Some((property, _)) = list_preference_named(name) {
            let PreferenceValue::TextList(items) = value else {
                return Err(DefenderError::InvalidArgument(format!(
                    "{property} expects a list of text"
                )));
            };
            items.iter().try_for_each(|item| validate_exclusion(item))?;
            let mut list = BTreeMap::new();
            for item in items {
                list.entry(fold(&item)).or_insert(item);
            }
            self.local().lists.insert(property, list);
            return Ok(());
        }
        let row = find_row(name).ok_or_else(|| {
            DefenderError::InvalidArgument(format!("{} is not a Defender preference", quoted(name)))
        })?;
        // Parameter binding fails before Defender's own checks, so the type comes first.
        row.mapping.validate(row.property, &value)?;
        if self.tamper_protection && row.tamper_protected {
            return Err(DefenderError::TamperProtected(row.property.to_owned()));
        }
        self.local().preferences.insert(row.property, value);
        Ok(())
    }

    fn list_exclusions(&self, kind: ExclusionKind) -> Result<Vec<String>, DefenderError> {
        let policy = self.policy_exclusions(kind)?;
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        // Policy first, so its spelling is the one reported for a duplicate.
        for item in policy {
            merged.entry(fold(&item)).or_insert(item);
        }
        if let Some(local) = self.local().exclusions.get(&kind) {
            for (folded, item) in local {
                merged.entry(folded.clone()).or_insert_with(|| item.clone());
            }
        }
        Ok(merged.into_values().collect())
    }

    fn add_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<(), DefenderError> {
        validate_exclusion(value)?;
        self.local()
            .exclusions
            .entry(kind)
            .or_default()
            .entry(fold(value))
            .or_insert_with(|| value.to_owned());
        Ok(())
    }

    fn remove_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<bool, DefenderError> {
        // Only local exclusions can be removed; a policy exclusion stays until the policy goes.
        Ok(self
            .local()
            .exclusions
            .get_mut(&kind)
            .is_some_and(|list| list.remove(&fold(value)).is_some()))
    }

    fn get_asr_rule(&self, id: &str) -> Result<Option<AsrAction>, DefenderError> {
        let guid = normalize_guid(id)?;
        if let Some(action) = self.policy_asr_rule(&guid)? {
            return Ok(Some(action));
        }
        Ok(self.local().asr_rules.get(&guid).copied())
    }

    fn set_asr_rule(&self, id: &str, action: AsrAction) -> Result<(), DefenderError> {
        let guid = normalize_guid(id)?;
        self.local().asr_rules.insert(guid, action);
        Ok(())
    }

    fn computer_status(&self) -> Result<ComputerStatus, DefenderError> {
        let row = find_row("DisableRealtimeMonitoring").ok_or_else(|| {
            DefenderError::Backend("preference table lacks DisableRealtimeMonitoring".to_owned())
        })?;
        let disabled = self.effective(row)?;
        Ok(ComputerStatus {
            tamper_protected: self.tamper_protection,
            real_time_protection_enabled: disabled == PreferenceValue::Boolean(false),
            running_mode: "Normal".to_owned(),
            product_version: self.product_version.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::EmulatedRegistry;

    const LSASS_RULE: &str = "9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2";
    const OFFICE_CHILD_RULE: &str = "D4F940AB-401B-4EFC-AADC-AD5F3C50688A";

    fn setup(tamper_protection: bool) -> (Arc<EmulatedRegistry>, SimulatedDefender) {
        let registry = Arc::new(EmulatedRegistry::new());
        let defender =
            SimulatedDefender::new(registry.clone()).with_tamper_protection(tamper_protection);
        (registry, defender)
    }

    fn set_policy(registry: &EmulatedRegistry, key: &str, name: &str, value: RegValue) {
        let key = policy_key(key).expect("policy key parses");
        registry
            .set_value(&key, name, value)
            .expect("registry write");
    }

    fn delete_policy(registry: &EmulatedRegistry, key: &str, name: &str) {
        let key = policy_key(key).expect("policy key parses");
        registry.delete_value(&key, name).expect("registry delete");
    }

    fn get(defender: &SimulatedDefender, name: &str) -> PreferenceValue {
        defender
            .get_preference(name)
            .expect("get_preference")
            .expect("known preference")
    }

    #[test]
    fn policy_value_drives_effective_value() {
        let (registry, defender) = setup(true);
        set_policy(&registry, MPENGINE, "MpCloudBlockLevel", RegValue::Dword(2));
        set_policy(&registry, "", "PUAProtection", RegValue::Dword(1));
        set_policy(
            &registry,
            r"Windows Defender Exploit Guard\Network Protection",
            "EnableNetworkProtection",
            RegValue::Dword(2),
        );
        set_policy(&registry, SCAN, "DisableEmailScanning", RegValue::Dword(0));
        assert_eq!(
            get(&defender, "CloudBlockLevel"),
            PreferenceValue::Integer(2)
        );
        assert_eq!(get(&defender, "PUAProtection"), PreferenceValue::Integer(1));
        assert_eq!(
            get(&defender, "EnableNetworkProtection"),
            PreferenceValue::Integer(2)
        );
        assert_eq!(
            get(&defender, "DisableEmailScanning"),
            PreferenceValue::Boolean(false)
        );
    }

    #[test]
    fn without_policy_or_local_value_the_default_applies() {
        let (_registry, defender) = setup(true);
        assert_eq!(
            get(&defender, "DisableRealtimeMonitoring"),
            PreferenceValue::Boolean(false)
        );
        assert_eq!(
            get(&defender, "DisableEmailScanning"),
            PreferenceValue::Boolean(true)
        );
        assert_eq!(get(&defender, "MAPSReporting"), PreferenceValue::Integer(2));
        assert_eq!(
            get(&defender, "SubmitSamplesConsent"),
            PreferenceValue::Integer(1)
        );
        assert_eq!(
            get(&defender, "ScanScheduleTime"),
            PreferenceValue::Integer(120)
        );
        for row in PREFERENCES {
            let in_force = defender.policy_in_force(row.property).expect("read");
            assert_eq!(
                in_force,
                Some(row.mapping.default_value()),
                "{}",
                row.property
            );
            let reported = defender.get_preference(row.property).expect("read");
            assert_eq!(reported.is_some(), row.reported, "{}", row.property);
        }
    }

    #[test]
    fn every_location_names_its_source() {
        for row in PREFERENCES {
            let cited = row
                .source
                .strip_prefix("admx:")
                .is_some_and(|p| !p.is_empty())
                || row
                    .source
                    .strip_prefix("assumed: ")
                    .is_some_and(|p| p.len() > 20);
            assert!(cited, "{}: source {:?}", row.property, row.source);
        }
    }

    #[test]
    fn defender_reads_the_template_locations_of_the_update_and_root_settings() {
        let (registry, defender) = setup(false);
        // WindowsDefender.admx: the channels are enum elements at the policy root, not values
        // named after the CSP nodes.
        set_policy(&registry, "", "PlatformRing", RegValue::Dword(4));
        set_policy(&registry, "", "SignaturesRing", RegValue::Dword(5));
        set_policy(
            &registry,
            "Updates",
            "EngineUpdatesChannel",
            RegValue::Dword(2),
        );
        set_policy(
            &registry,
            SIGNATURE_UPDATES,
            "MeteredConnectionUpdates",
            RegValue::Dword(1),
        );
        set_policy(
            &registry,
            "",
            "HideExclusionsFromLocalAdmins",
            RegValue::Dword(1),
        );
        set_policy(
            &registry,
            "Exclusions",
            "HideExclusionsFromLocalUsers",
            RegValue::Dword(1),
        );
        assert_eq!(
            get(&defender, "PlatformUpdatesChannel"),
            PreferenceValue::Integer(4)
        );
        assert_eq!(
            get(&defender, "DefinitionUpdatesChannel"),
            PreferenceValue::Integer(5)
        );
        // A value under the wrong key is not read: the default stays.
        assert_eq!(
            get(&defender, "EngineUpdatesChannel"),
            PreferenceValue::Integer(0)
        );
        assert_eq!(
            get(&defender, "MeteredConnectionUpdates"),
            PreferenceValue::Boolean(true)
        );
        let in_force = |name| defender.policy_in_force(name).expect("read");
        assert_eq!(
            in_force("HideExclusionsFromLocalAdmins"),
            Some(PreferenceValue::Boolean(true))
        );
        assert_eq!(
            in_force("HideExclusionsFromLocalUsers"),
            Some(PreferenceValue::Boolean(false))
        );
        // Defender applies it but `Get-MpPreference` does not report it.
        assert_eq!(
            defender
                .get_preference("HideExclusionsFromLocalAdmins")
                .expect("read"),
            None
        );
        assert_eq!(in_force("NoSuchProperty"), None);
    }

    #[test]
    fn policy_overrides_local_and_local_returns_when_policy_goes() {
        let (registry, defender) = setup(true);
        defender
            .set_preference("CloudBlockLevel", PreferenceValue::Integer(4))
            .expect("unprotected preference");
        assert_eq!(
            get(&defender, "CloudBlockLevel"),
            PreferenceValue::Integer(4)
        );
        set_policy(&registry, MPENGINE, "MpCloudBlockLevel", RegValue::Dword(6));
        assert_eq!(
            get(&defender, "CloudBlockLevel"),
            PreferenceValue::Integer(6)
        );
        delete_policy(&registry, MPENGINE, "MpCloudBlockLevel");
        assert_eq!(
            get(&defender, "CloudBlockLevel"),
            PreferenceValue::Integer(4)
        );
    }

    #[test]
    fn ill_typed_or_out_of_range_policy_values_are_ignored() {
        let (registry, defender) = setup(false);
        set_policy(
            &registry,
            RTP,
            "DisableRealtimeMonitoring",
            RegValue::Sz("1".to_owned()),
        );
        assert_eq!(
            get(&defender, "DisableRealtimeMonitoring"),
            PreferenceValue::Boolean(false)
        );
        set_policy(&registry, MPENGINE, "MpCloudBlockLevel", RegValue::Dword(3));
        assert_eq!(
            get(&defender, "CloudBlockLevel"),
            PreferenceValue::Integer(0)
        );
        set_policy(
            &registry,
            SPYNET,
            "SubmitSamplesConsent",
            RegValue::Qword(3),
        );
        assert_eq!(
            get(&defender, "SubmitSamplesConsent"),
            PreferenceValue::Integer(1)
        );
    }

    #[test]
    fn tamper_protection_refuses_local_writes_to_protected_preferences() {
        let (_registry, defender) = setup(true);
        let err = defender
            .set_preference("disableRealtimeMonitoring", PreferenceValue::Boolean(true))
            .expect_err("protected");
        assert!(
            matches!(&err, DefenderError::TamperProtected(name) if name == "DisableRealtimeMonitoring"),
            "{err:?}"
        );
        assert!(matches!(
            defender.set_preference("MAPSReporting", PreferenceValue::Integer(0)),
            Err(DefenderError::TamperProtected(_))
        ));
        assert_eq!(
            get(&defender, "DisableRealtimeMonitoring"),
            PreferenceValue::Boolean(false)
        );
        // Unprotected preferences stay writable.
        defender
            .set_preference("DisableEmailScanning", PreferenceValue::Boolean(false))
            .expect("unprotected");
        assert_eq!(
            get(&defender, "DisableEmailScanning"),
            PreferenceValue::Boolean(false)
        );
    }

    #[test]
    fn tamper_protection_ignores_weakening_policy_values() {
        let (registry, defender) = setup(true);
        set_policy(
            &registry,
            RTP,
            "DisableRealtimeMonitoring",
            RegValue::Dword(1),
        );
        set_policy(&registry, SPYNET, "SpynetReporting", RegValue::Dword(0));
        set_policy(
            &registry,
            SCAN,
            "DisableArchiveScanning",
            RegValue::Dword(1),
        );
        assert_eq!(
            get(&defender, "DisableRealtimeMonitoring"),
            PreferenceValue::Boolean(false)
        );
        assert_eq!(get(&defender, "MAPSReporting"), PreferenceValue::Integer(2));
        assert_eq!(
            get(&defender, "DisableArchiveScanning"),
            PreferenceValue::Boolean(false)
        );
        let status = defender.computer_status().expect("status");
        assert!(status.tamper_protected);
        assert!(status.real_time_protection_enabled);
        // An unprotected setting follows a weakening policy regardless.
        set_policy(
            &registry,
            SCAN,
            "DisableScanningNetworkFiles",
            RegValue::Dword(1),
        );
        assert_eq!(
            get(&defender, "DisableScanningNetworkFiles"),
            PreferenceValue::Boolean(true)
        );
    }

    #[test]
    fn tamper_protection_honours_non_weakening_policy_values() {
        let (registry, defender) = setup(true);
        set_policy(
            &registry,
            RTP,
            "DisableRealtimeMonitoring",
            RegValue::Dword(0),
        );
        set_policy(&registry, SPYNET, "SpynetReporting", RegValue::Dword(2));
        assert_eq!(
            get(&defender, "DisableRealtimeMonitoring"),
            PreferenceValue::Boolean(false)
        );
        assert_eq!(get(&defender, "MAPSReporting"), PreferenceValue::Integer(2));

        // With identical defaults the registry cannot show it, so check the merge directly: a
        // non-weakening policy value wins over a (weakening) local one.
        let row = find_row("DisableRealtimeMonitoring").expect("row");
        let merged = resolve(
            row,
            true,
            Some(PreferenceValue::Boolean(false)),
            Some(PreferenceValue::Boolean(true)),
        );
        assert_eq!(merged, PreferenceValue::Boolean(false));
        let maps = find_row("MAPSReporting").expect("row");
        let merged = resolve(
            maps,
            true,
            Some(PreferenceValue::Integer(1)),
            Some(PreferenceValue::Integer(2)),
        );
        assert_eq!(
            merged,
            PreferenceValue::Integer(2),
            "weakening policy passes to local"
        );
        let merged = resolve(maps, false, Some(PreferenceValue::Integer(1)), None);
        assert_eq!(merged, PreferenceValue::Integer(1));
    }

    #[test]
    fn without_tamper_protection_weakening_policy_applies() {
        let (registry, defender) = setup(false);
        set_policy(
            &registry,
            RTP,
            "DisableRealtimeMonitoring",
            RegValue::Dword(1),
        );
        set_policy(&registry, SPYNET, "SpynetReporting", RegValue::Dword(0));
        assert_eq!(
            get(&defender, "DisableRealtimeMonitoring"),
            PreferenceValue::Boolean(true)
        );
        assert_eq!(get(&defender, "MAPSReporting"), PreferenceValue::Integer(0));
        let status = defender.computer_status().expect("status");
        assert!(!status.tamper_protected);
        assert!(!status.real_time_protection_enabled);
        // And protected preferences are writable locally.
        delete_policy(&registry, RTP, "DisableRealtimeMonitoring");
        defender
            .set_preference("DisableRealtimeMonitoring", PreferenceValue::Boolean(true))
            .expect("not protected now");
        assert_eq!(
            get(&defender, "DisableRealtimeMonitoring"),
            PreferenceValue::Boolean(true)
        );
    }

    #[test]
    fn set_preference_rejects_wrong_types_and_unknown_names() {
        let (_registry, defender) = setup(true);
        let err = defender
            .set_preference("DisableEmailScanning", PreferenceValue::Integer(1))
            .expect_err("wrong type");
        let DefenderError::InvalidArgument(text) = &err else {
            panic!("{err:?}");
        };
        assert!(
            text.contains("DisableEmailScanning") && text.contains("boolean"),
            "{text}"
        );
        // Type errors come before tamper protection.
        let err = defender
            .set_preference("MAPSReporting", PreferenceValue::Boolean(true))
            .expect_err("wrong type");
        let DefenderError::InvalidArgument(text) = &err else {
            panic!("{err:?}");
        };
        assert!(
            text.contains("MAPSReporting") && text.contains("integer"),
            "{text}"
        );
        let err = defender
            .set_preference("CloudBlockLevel", PreferenceValue::Integer(3))
            .expect_err("out of range");
        assert!(err.to_string().contains("0-2, 4, 6"), "{err}");
        assert!(matches!(
            defender.set_preference("NoSuchPreference", PreferenceValue::Boolean(true)),
            Err(DefenderError::InvalidArgument(_))
        ));
    }

    #[test]
    fn names_compare_case_insensitively() {
        let (registry, defender) = setup(true);
        set_policy(
            &registry,
            SPYNET,
            "submitsamplesconsent",
            RegValue::Dword(3),
        );
        assert_eq!(
            get(&defender, "SUBMITSAMPLESCONSENT"),
            PreferenceValue::Integer(3)
        );
        defender
            .set_preference("cloudblocklevel", PreferenceValue::Integer(2))
            .expect("set");
        assert_eq!(
            get(&defender, "CloudBlockLevel"),
            PreferenceValue::Integer(2)
        );
        assert_eq!(
            get(&defender, "disablerealtimemonitoring"),
            PreferenceValue::Boolean(false)
        );
    }

    #[test]
    fn unknown_names_read_as_none() {
        let (_registry, defender) = setup(true);
        assert_eq!(
            defender.get_preference("NoSuchPreference").expect("get"),
            None
        );
    }

    #[test]
    fn exclusions_are_the_deduplicated_union_of_policy_and_local() {
        let (registry, defender) = setup(true);
        set_policy(
            &registry,
            EXCLUSION_PATHS_KEY,
            r"C:\Temp",
            RegValue::Sz("0".to_owned()),
        );
        set_policy(
            &registry,
            EXCLUSION_PATHS_KEY,
            r"D:\Data",
            RegValue::Dword(0),
        );
        set_policy(
            &registry,
            EXCLUSION_PATHS_KEY,
            r"E:\Ignored",
            RegValue::Sz("1".to_owned()),
        );
        set_policy(
            &registry,
            EXCLUSION_EXTENSIONS_KEY,
            "log",
            RegValue::Sz("0".to_owned()),
        );
        defender
            .add_exclusion(ExclusionKind::Path, r"c:\temp")
            .expect("add");
        defender
            .add_exclusion(ExclusionKind::Path, r"B:\Local")
            .expect("add");
        defender
            .add_exclusion(ExclusionKind::Path, r"b:\local")
            .expect("add duplicate");
        assert_eq!(
            defender.list_exclusions(ExclusionKind::Path).expect("list"),
            vec![r"B:\Local", r"C:\Temp", r"D:\Data"]
        );
        assert_eq!(
            defender
                .list_exclusions(ExclusionKind::Extension)
                .expect("list"),
            vec!["log"]
        );
        assert!(
            defender
                .list_exclusions(ExclusionKind::Process)
                .expect("list")
                .is_empty()
        );
        assert_eq!(
            get(&defender, "exclusionPath"),
            PreferenceValue::TextList(vec![
                r"B:\Local".to_owned(),
                r"C:\Temp".to_owned(),
                r"D:\Data".to_owned()
            ])
        );

        assert!(
            defender
                .remove_exclusion(ExclusionKind::Path, r"B:\LOCAL")
                .expect("remove")
        );
        assert!(
            !defender
                .remove_exclusion(ExclusionKind::Path, r"D:\Data")
                .expect("policy exclusions are not local")
        );
        // The local C:\temp is gone too, but the policy one remains.
        assert!(
            defender
                .remove_exclusion(ExclusionKind::Path, r"C:\Temp")
                .expect("remove")
        );
        assert_eq!(
            defender.list_exclusions(ExclusionKind::Path).expect("list"),
            vec![r"C:\Temp", r"D:\Data"]
        );
        assert!(matches!(
            defender.add_exclusion(ExclusionKind::Process, "  "),
            Err(DefenderError::InvalidArgument(_))
        ));
    }

    #[test]
    fn set_preference_replaces_local_exclusions() {
        let (_registry, defender) = setup(true);
        defender
            .add_exclusion(ExclusionKind::Extension, "tmp")
            .expect("add");
        defender
            .set_preference(
                "ExclusionExtension",
                PreferenceValue::TextList(vec!["bak".to_owned(), "BAK".to_owned()]),
            )
            .expect("set");
        assert_eq!(
            defender
                .list_exclusions(ExclusionKind::Extension)
                .expect("list"),
            vec!["bak"]
        );
        assert!(matches!(
            defender.set_preference(
                "ExclusionExtension",
                PreferenceValue::Text("bak".to_owned())
            ),
            Err(DefenderError::InvalidArgument(_))
        ));
    }

    #[test]
    fn asr_policy_rules_need_the_exploit_guard_switch() {
        let (registry, defender) = setup(true);
        set_policy(
            &registry,
            ASR_RULES_KEY,
            LSASS_RULE,
            RegValue::Sz("1".to_owned()),
        );
        set_policy(
            &registry,
            ASR_RULES_KEY,
            OFFICE_CHILD_RULE,
            RegValue::Dword(2),
        );
        assert_eq!(defender.get_asr_rule(LSASS_RULE).expect("get"), None);

        defender
            .set_asr_rule(OFFICE_CHILD_RULE, AsrAction::Warn)
            .expect("set");
        assert_eq!(
            defender
                .get_asr_rule(&OFFICE_CHILD_RULE.to_lowercase())
                .expect("get"),
            Some(AsrAction::Warn),
            "local rule applies while the switch is off"
        );

        set_policy(&registry, ASR_KEY, ASR_SWITCH_VALUE, RegValue::Dword(1));
        assert_eq!(
            defender
                .get_asr_rule(&LSASS_RULE.to_uppercase())
                .expect("get"),
            Some(AsrAction::Block)
        );
        assert_eq!(
            defender.get_asr_rule(OFFICE_CHILD_RULE).expect("get"),
            Some(AsrAction::Audit),
            "policy wins over local once the switch is on"
        );
        // A value Defender would not read falls back to the local rule.
        set_policy(
            &registry,
            ASR_RULES_KEY,
            OFFICE_CHILD_RULE,
            RegValue::Sz("5".to_owned()),
        );
        assert_eq!(
            defender.get_asr_rule(OFFICE_CHILD_RULE).expect("get"),
            Some(AsrAction::Warn)
        );
        assert_eq!(
            defender
                .get_asr_rule("56a863a9-875e-4185-98a7-b882c64b5ce5")
                .expect("get"),
            None
        );
    }

    #[test]
    fn malformed_asr_rule_ids_are_rejected() {
        let (_registry, defender) = setup(true);
        for id in [
            "not-a-guid",
            "",
            "{9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2}",
            "9e6c4e1f7d60472fba1aa39ef669e4b2",
            "9e6c4e1f-7d60-472f-ba1a-a39ef669e4bz",
            "9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2-00",
            "9e6c4e1f-7d6-0472f-ba1a-a39ef669e4b2",
        ] {
            assert!(
                matches!(
                    defender.get_asr_rule(id),
                    Err(DefenderError::InvalidArgument(_))
                ),
                "{id}"
            );
            assert!(
                matches!(
                    defender.set_asr_rule(id, AsrAction::Block),
                    Err(DefenderError::InvalidArgument(_))
                ),
                "{id}"
            );
        }
    }

    #[test]
    fn computer_status_reports_configuration() {
        let (registry, _) = setup(true);
        let defender = SimulatedDefender::new(registry.clone());
        let status = defender.computer_status().expect("status");
        assert_eq!(
            status,
            ComputerStatus {
                tamper_protected: true,
                real_time_protection_enabled: true,
                running_mode: "Normal".to_owned(),
                product_version: "4.18.24090.11".to_owned(),
            }
        );
        let defender = SimulatedDefender::new(registry).with_product_version("4.18.25010.7");
        assert_eq!(
            defender.computer_status().expect("status").product_version,
            "4.18.25010.7"
        );
    }

    /// A registry whose every call fails.
    #[derive(Debug)]
    struct BrokenRegistry;

    impl RegistryBackend for BrokenRegistry {
        fn get_value(&self, _: &RegistryPath, _: &str) -> Result<Option<RegValue>, RegistryError> {
            Err(RegistryError::Backend("disk on fire".to_owned()))
        }
        fn set_value(&self, _: &RegistryPath, _: &str, _: RegValue) -> Result<(), RegistryError> {
            Err(RegistryError::Backend("disk on fire".to_owned()))
        }
        fn delete_value(&self, _: &RegistryPath, _: &str) -> Result<bool, RegistryError> {
            Err(RegistryError::Backend("disk on fire".to_owned()))
        }
        fn create_key(&self, _: &RegistryPath) -> Result<(), RegistryError> {
            Err(RegistryError::Backend("disk on fire".to_owned()))
        }
        fn delete_key(&self, _: &RegistryPath) -> Result<bool, RegistryError> {
            Err(RegistryError::Backend("disk on fire".to_owned()))
        }
        fn list_values(&self, _: &RegistryPath) -> Result<Vec<(String, RegValue)>, RegistryError> {
            Err(RegistryError::Backend("disk on fire".to_owned()))
        }
        fn list_subkeys(&self, _: &RegistryPath) -> Result<Vec<String>, RegistryError> {
            Err(RegistryError::Backend("disk on fire".to_owned()))
        }
    }

    #[test]
    fn registry_failures_become_backend_errors() {
        let defender = SimulatedDefender::new(Arc::new(BrokenRegistry));
        assert!(matches!(
            defender.get_preference("CloudBlockLevel"),
            Err(DefenderError::Backend(text)) if text.contains("disk on fire")
        ));
        assert!(matches!(
            defender.list_exclusions(ExclusionKind::Path),
            Err(DefenderError::Backend(_))
        ));
        assert!(matches!(
            defender.get_asr_rule(LSASS_RULE),
            Err(DefenderError::Backend(_))
        ));
        assert!(matches!(
            defender.computer_status(),
            Err(DefenderError::Backend(_))
        ));
    }

    #[test]
    fn a_poisoned_lock_is_recovered() {
        let (_registry, defender) = setup(true);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = defender.local.lock();
            panic!("poison the lock");
        }));
        assert!(outcome.is_err());
        assert!(defender.local.is_poisoned());
        defender
            .set_preference("PUAProtection", PreferenceValue::Integer(1))
            .expect("set after poisoning");
        assert_eq!(get(&defender, "PUAProtection"), PreferenceValue::Integer(1));
    }

    #[test]
    fn the_table_is_consistent() {
        for (index, row) in PREFERENCES.iter().enumerate() {
            assert!(
                PREFERENCES[index + 1..]
                    .iter()
                    .all(|other| !other.property.eq_ignore_ascii_case(row.property)),
                "{} appears twice",
                row.property
            );
            policy_key(row.key).expect("policy key parses");
            if let Mapping::Integer { default, allowed } | Mapping::SzInteger { default, allowed } =
                &row.mapping
            {
                assert!(
                    in_domain(allowed, *default),
                    "{} default out of range",
                    row.property
                );
            }
            // Defaults are never weaker than themselves, so the default always survives.
            assert!(
                !row.mapping.weakens(&row.mapping.default_value()),
                "{}",
                row.property
            );
        }
        let protected: Vec<&str> = PREFERENCES
            .iter()
            .filter(|row| row.tamper_protected)
            .map(|row| row.property)
            .collect();
        assert_eq!(
            protected,
            [
                "DisableRealtimeMonitoring",
                "DisableBehaviorMonitoring",
                "DisableIOAVProtection",
                "DisableScriptScanning",
                "MAPSReporting",
                "DisableArchiveScanning",
            ]
        );
    }

    #[test]
    fn threat_default_actions_need_their_switch_and_are_text() {
        let (registry, defender) = setup(true);
        set_policy(&registry, THREAT_ACTIONS, "5", RegValue::Sz("3".into()));
        assert_eq!(
            get(&defender, "SevereThreatDefaultAction"),
            PreferenceValue::Integer(0)
        );
        set_policy(
            &registry,
            "Threats",
            "Threats_ThreatSeverityDefaultAction",
            RegValue::Dword(1),
        );
        assert_eq!(
            get(&defender, "SevereThreatDefaultAction"),
            PreferenceValue::Integer(3)
        );
        // A DWORD or an action Defender does not know is ignored.
        set_policy(&registry, THREAT_ACTIONS, "1", RegValue::Dword(2));
        set_policy(&registry, THREAT_ACTIONS, "2", RegValue::Sz("7".into()));
        assert_eq!(
            get(&defender, "LowThreatDefaultAction"),
            PreferenceValue::Integer(0)
        );
        assert_eq!(
            get(&defender, "ModerateThreatDefaultAction"),
            PreferenceValue::Integer(0)
        );
    }

    #[test]
    fn text_and_list_preferences_follow_policy() {
        let (registry, defender) = setup(true);
        assert_eq!(
            get(&defender, "SignatureFallbackOrder"),
            PreferenceValue::Text("MicrosoftUpdateServer|MMPC".into())
        );
        set_policy(
            &registry,
            SIGNATURE_UPDATES,
            "FallbackOrder",
            RegValue::Sz("MMPC|FileShares".into()),
        );
        assert_eq!(
            get(&defender, "SignatureFallbackOrder"),
            PreferenceValue::Text("MMPC|FileShares".into())
        );
        set_policy(
            &registry,
            r"Windows Defender Exploit Guard\Controlled Folder Access\ProtectedFolders",
            r"D:\Data",
            RegValue::Sz("0".into()),
        );
        defender
            .set_preference(
                "ControlledFolderAccessProtectedFolders",
                PreferenceValue::TextList(vec![r"d:\data".into(), r"E:\More".into()]),
            )
            .expect("local list");
        assert_eq!(
            get(&defender, "ControlledFolderAccessProtectedFolders"),
            PreferenceValue::TextList(vec![r"D:\Data".into(), r"E:\More".into()])
        );
        assert_eq!(
            get(&defender, "AttackSurfaceReductionOnlyExclusions"),
            PreferenceValue::TextList(vec![])
        );
    }
}
