//! From Intune setting ids to registry values.
//!
//! Facts come from Microsoft's Policy CSP documentation ("Group policy mapping" blocks of
//! `policy-csp-defender`), the `Set-MpPreference` reference and, where no Microsoft source names
//! a location, the best guess recorded in the shared mapping table; the plugin README lists every
//! row whose location or encoding is such a guess.

use rampart_sdk::defender::{AsrAction, ExclusionKind};

use crate::text;

/// Defender's Group Policy root.
pub const DEFENDER: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender";
/// Windows Security (the Security Center app) policy root.
pub const SECURITY_CENTER: &str =
    r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender Security Center";
/// Defender for Endpoint (Sense) policy root.
pub const ATP: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection";
/// Defender for Endpoint's own status key (read only: onboarding state).
pub const ATP_STATUS: &str = r"HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status";
/// The firewall's MDM policy store.
pub const FIREWALL: &str =
    r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\Mdm";

/// How an Intune (CSP) value becomes a registry value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// An integer, as a REG_DWORD unchanged.
    Dword,
    /// The CSP's `Allow*` 1/0 becomes a `Disable*` 0/1 REG_DWORD.
    Inverted,
    /// `AllowCloudProtection` 0/1 becomes `SpynetReporting` 0/2 (MAPS off / advanced). Which
    /// MAPS level the CSP's "allowed" writes is not documented: 2 is the best guess.
    CloudProtection,
    /// An update channel: 0 ("not configured") removes the value, as Group Policy does for a
    /// policy that is not configured; any other integer is a REG_DWORD unchanged.
    Channel,
    /// The Firewall CSP's string booleans `"true"`/`"false"` become REG_DWORD 1/0.
    TrueFalse,
    /// Text, as a REG_SZ.
    Sz,
    /// A list (or text already joined), as one `|`-joined REG_SZ.
    JoinedSz,
    /// A multi-select of flags (an integer list, or one integer) as the REG_DWORD of their
    /// bitwise OR; a flag outside the mask is an error.
    Flags(u32),
}

/// What an encoded value looks like to Defender, for reading it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing reports the effective value: the registry is the only evidence.
    Registry,
    /// An `MSFT_MpPreference` boolean (a nonzero DWORD is `true`).
    Bool(&'static str),
    /// An `MSFT_MpPreference` integer.
    Int(&'static str),
    /// An `MSFT_MpPreference` text.
    Text(&'static str),
}

/// Which devices a setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Clients and servers.
    Any,
    /// Windows Server only (the `*OnWinServer` network-protection switches).
    ServerOnly,
}

/// One single-value Intune setting and where it lands.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// Settings-catalog definition id.
    pub id: &'static str,
    /// The policy root ([`DEFENDER`], [`SECURITY_CENTER`], [`ATP`] or [`FIREWALL`]).
    pub root: &'static str,
    /// Key relative to the root (empty for the root itself).
    pub key: &'static str,
    /// Value name.
    pub value_name: &'static str,
    /// How the value is encoded.
    pub encoding: Encoding,
    /// How the effective value is read back.
    pub verify: Verify,
    /// Which devices it applies to.
    pub scope: Scope,
}

const fn m(
    id: &'static str,
    root: &'static str,
    key: &'static str,
    value_name: &'static str,
    encoding: Encoding,
    verify: Verify,
) -> Mapping {
    Mapping {
        id,
        root,
        key,
        value_name,
        encoding,
        verify,
        scope: Scope::Any,
    }
}

const fn server_only(mapping: Mapping) -> Mapping {
    Mapping {
        scope: Scope::ServerOnly,
        ..mapping
    }
}

use Encoding::{Channel, CloudProtection, Dword, Flags, Inverted, JoinedSz, Sz, TrueFalse};
use Verify::{Bool, Int, Registry, Text};

const RTP: &str = "Real-Time Protection";
const SCAN: &str = "Scan";
const SPYNET: &str = "Spynet";
const MPENGINE: &str = "MpEngine";
const NP: &str = r"Windows Defender Exploit Guard\Network Protection";
const CFA: &str = r"Windows Defender Exploit Guard\Controlled Folder Access";
const SIGNATURES: &str = "Signature Updates";
const NIS: &str = "NIS";

macro_rules! pc {
    ($suffix:literal) => {
        concat!("device_vendor_msft_policy_config_defender_", $suffix)
    };
}
macro_rules! dc {
    ($suffix:literal) => {
        concat!("device_vendor_msft_defender_configuration_", $suffix)
    };
}
macro_rules! wsc {
    ($suffix:literal) => {
        concat!(
            "device_vendor_msft_policy_config_windowsdefendersecuritycenter_",
            $suffix
        )
    };
}

/// Every single-value setting this plugin enforces, except the firewall profiles (see
/// [`find`]). One row per line reads as the table it is.
#[rustfmt::skip]
pub const SETTINGS: &[Mapping] = &[
    // Real-time protection.
    m(pc!("allowrealtimemonitoring"), DEFENDER, RTP, "DisableRealtimeMonitoring", Inverted, Bool("DisableRealtimeMonitoring")),
    m(pc!("allowbehaviormonitoring"), DEFENDER, RTP, "DisableBehaviorMonitoring", Inverted, Bool("DisableBehaviorMonitoring")),
    m(pc!("allowioavprotection"), DEFENDER, RTP, "DisableIOAVProtection", Inverted, Bool("DisableIOAVProtection")),
    m(pc!("allowonaccessprotection"), DEFENDER, RTP, "DisableOnAccessProtection", Inverted, Registry),
    m(pc!("allowscriptscanning"), DEFENDER, RTP, "DisableScriptScanning", Inverted, Bool("DisableScriptScanning")),
    m(pc!("realtimescandirection"), DEFENDER, RTP, "RealtimeScanDirection", Dword, Int("RealTimeScanDirection")),
    m(dc!("oobeenablertpandsigupdate"), DEFENDER, RTP, "OobeEnableRtpAndSigUpdate", Dword, Bool("OobeEnableRtpAndSigUpdate")),
    // Cloud protection.
    m(pc!("allowcloudprotection"), DEFENDER, SPYNET, "SpynetReporting", CloudProtection, Int("MAPSReporting")),
    m(pc!("submitsamplesconsent"), DEFENDER, SPYNET, "SubmitSamplesConsent", Dword, Int("SubmitSamplesConsent")),
    m(pc!("cloudblocklevel"), DEFENDER, MPENGINE, "MpCloudBlockLevel", Dword, Int("CloudBlockLevel")),
    m(pc!("cloudextendedtimeout"), DEFENDER, MPENGINE, "MpBafsExtendedTimeout", Dword, Int("CloudExtendedTimeout")),
    m(dc!("enablefilehashcomputation"), DEFENDER, MPENGINE, "EnableFileHashComputation", Dword, Bool("EnableFileHashComputation")),
    m(pc!("puaprotection"), DEFENDER, "", "PUAProtection", Dword, Int("PUAProtection")),
    // Network protection and its parsers.
    m(pc!("enablenetworkprotection"), DEFENDER, NP, "EnableNetworkProtection", Dword, Int("EnableNetworkProtection")),
    m(dc!("allownetworkprotectiondownlevel"), DEFENDER, NP, "AllowNetworkProtectionDownLevel", Dword, Bool("AllowNetworkProtectionDownLevel")),
    server_only(m(dc!("allownetworkprotectiononwinserver"), DEFENDER, NP, "AllowNetworkProtectionOnWinServer", Dword, Bool("AllowNetworkProtectionOnWinServer"))),
    server_only(m(dc!("allowdatagramprocessingonwinserver"), DEFENDER, NP, "AllowDatagramProcessingOnWinServer", Dword, Bool("AllowDatagramProcessingOnWinServer"))),
    m(dc!("disabletlsparsing"), DEFENDER, NIS, "DisableTlsParsing", Dword, Bool("DisableTlsParsing")),
    m(dc!("disablehttpparsing"), DEFENDER, NIS, "DisableHttpParsing", Dword, Bool("DisableHttpParsing")),
    m(dc!("disablesshparsing"), DEFENDER, NIS, "DisableSshParsing", Dword, Bool("DisableSshParsing")),
    m(dc!("disablednsovertcpparsing"), DEFENDER, NIS, "DisableDnsOverTcpParsing", Dword, Bool("DisableDnsOverTcpParsing")),
    m(dc!("enablednssinkhole"), DEFENDER, NIS, "EnableDnsSinkhole", Dword, Bool("EnableDnsSinkhole")),
    // Behavioral network blocks. ADMX Remediation_BNB_REP_RemoteEncryptionProtection_ConfiguredState:
    // enum 0 not configured, 1 block, 2 audit, 4 off.
    m(dc!("behavioralnetworkblocks_remoteencryptionprotection_remoteencryptionprotectionconfiguredstate"), DEFENDER, r"Remediation\Behavioral Network Blocks\Remote Encryption Protection", "RemoteEncryptionProtectionConfiguredState", Dword, Int("RemoteEncryptionProtectionConfiguredState")),
    // Scans.
    m(pc!("allowarchivescanning"), DEFENDER, SCAN, "DisableArchiveScanning", Inverted, Bool("DisableArchiveScanning")),
    m(pc!("allowemailscanning"), DEFENDER, SCAN, "DisableEmailScanning", Inverted, Bool("DisableEmailScanning")),
    m(pc!("allowfullscanonmappednetworkdrives"), DEFENDER, SCAN, "DisableScanningMappedNetworkDrivesForFullScan", Inverted, Bool("DisableScanningMappedNetworkDrivesForFullScan")),
    m(pc!("allowfullscanremovabledrivescanning"), DEFENDER, SCAN, "DisableRemovableDriveScanning", Inverted, Bool("DisableRemovableDriveScanning")),
    m(pc!("allowscanningnetworkfiles"), DEFENDER, SCAN, "DisableScanningNetworkFiles", Inverted, Bool("DisableScanningNetworkFiles")),
    m(pc!("avgcpuloadfactor"), DEFENDER, SCAN, "AvgCPULoadFactor", Dword, Int("ScanAvgCPULoadFactor")),
    m(pc!("enablelowcpupriority"), DEFENDER, SCAN, "LowCpuPriority", Dword, Bool("EnableLowCpuPriority")),
    m(pc!("checkforsignaturesbeforerunningscan"), DEFENDER, SCAN, "CheckForSignaturesBeforeRunningScan", Dword, Bool("CheckForSignaturesBeforeRunningScan")),
    // Passed through: the Policy CSP reference says "if you enable this setting, catch-up scans
    // for scheduled full (quick) scans will be disabled", so the CSP's 1 is the registry's
    // DisableCatchup*Scan = 1 (see the README's "Settled conflicts").
    m(pc!("disablecatchupfullscan"), DEFENDER, SCAN, "DisableCatchupFullScan", Dword, Bool("DisableCatchupFullScan")),
    m(pc!("disablecatchupquickscan"), DEFENDER, SCAN, "DisableCatchupQuickScan", Dword, Bool("DisableCatchupQuickScan")),
    m(pc!("scanparameter"), DEFENDER, SCAN, "ScanParameters", Dword, Int("ScanParameters")),
    m(pc!("schedulescanday"), DEFENDER, SCAN, "ScheduleDay", Dword, Int("ScanScheduleDay")),
    m(pc!("schedulescantime"), DEFENDER, SCAN, "ScheduleTime", Dword, Int("ScanScheduleTime")),
    m(pc!("schedulequickscantime"), DEFENDER, SCAN, "ScheduleQuickScanTime", Dword, Int("ScanScheduleQuickScanTime")),
    m(dc!("quickscanincludeexclusions"), DEFENDER, SCAN, "QuickScanIncludeExclusions", Dword, Int("QuickScanIncludeExclusions")),
    m(dc!("randomizescheduletasktimes"), DEFENDER, "", "RandomizeScheduleTaskTimes", Dword, Bool("RandomizeScheduleTaskTimes")),
    m(dc!("schedulerrandomizationtime"), DEFENDER, "", "SchedulerRandomizationTime", Dword, Int("SchedulerRandomizationTime")),
    m(dc!("daysuntilaggressivecatchupquickscan"), DEFENDER, SCAN, "DaysUntilAggressiveCatchupQuickScan", Dword, Registry),
    // ADMX Scan_ArchiveMaxDepth / Scan_ArchiveMaxSize (decimal elements); Defender reports neither.
    m(dc!("archivemaxdepth"), DEFENDER, SCAN, "ArchiveMaxDepth", Dword, Registry),
    m(dc!("archivemaxsize"), DEFENDER, SCAN, "ArchiveMaxSize", Dword, Registry),
    m(pc!("daystoretaincleanedmalware"), DEFENDER, "Quarantine", "PurgeItemsAfterDelay", Dword, Int("QuarantinePurgeItemsAfterDelay")),
    // User interface and local merge.
    m(pc!("allowuseruiaccess"), DEFENDER, "UX Configuration", "UILockdown", Inverted, Bool("UILockdown")),
    m(dc!("disablelocaladminmerge"), DEFENDER, "", "DisableLocalAdminMerge", Dword, Registry),
    m(dc!("hideexclusionsfromlocaladmins"), DEFENDER, "", "HideExclusionsFromLocalAdmins", Dword, Registry),
    m(dc!("hideexclusionsfromlocalusers"), DEFENDER, "", "HideExclusionsFromLocalUsers", Dword, Registry),
    // Controlled folder access.
    m(pc!("enablecontrolledfolderaccess"), DEFENDER, CFA, "EnableControlledFolderAccess", Dword, Int("EnableControlledFolderAccess")),
    // Updates.
    m(pc!("signatureupdateinterval"), DEFENDER, SIGNATURES, "SignatureUpdateInterval", Dword, Int("SignatureUpdateInterval")),
    m(pc!("signatureupdatefallbackorder"), DEFENDER, SIGNATURES, "FallbackOrder", JoinedSz, Text("SignatureFallbackOrder")),
    m(pc!("signatureupdatefilesharessources"), DEFENDER, SIGNATURES, "DefinitionUpdateFileSharesSources", JoinedSz, Text("SignatureDefinitionUpdateFileSharesSources")),
    m(dc!("platformupdateschannel"), DEFENDER, "", "PlatformRing", Channel, Int("PlatformUpdatesChannel")),
    m(dc!("engineupdateschannel"), DEFENDER, "", "EngineRing", Channel, Int("EngineUpdatesChannel")),
    m(dc!("securityintelligenceupdateschannel"), DEFENDER, "", "SignaturesRing", Channel, Int("DefinitionUpdatesChannel")),
    m(dc!("meteredconnectionupdates"), DEFENDER, SIGNATURES, "MeteredConnectionUpdates", Dword, Bool("MeteredConnectionUpdates")),
    // Windows Security experience.
    m(wsc!("disablefamilyui"), SECURITY_CENTER, "Family options", "UILockdown", Dword, Registry),
    m(wsc!("disableenhancednotifications"), SECURITY_CENTER, "Notifications", "DisableEnhancedNotifications", Dword, Registry),
    m(wsc!("hidewindowssecuritynotificationareacontrol"), SECURITY_CENTER, "Systray", "HideSystray", Dword, Registry),
    // The rest of the template, each at its Policy CSP "Group policy mapping" location
    // (policy-csp-windowsdefendersecuritycenter; GP policy named after the row) with the value
    // names of WindowsDefenderSecurityCenter.admx; Windows Security reports none of them.
    m(wsc!("disableaccountprotectionui"), SECURITY_CENTER, "Account protection", "UILockdown", Dword, Registry), // AccountProtection_UILockdown
    m(wsc!("disableappbrowserui"), SECURITY_CENTER, "App and Browser protection", "UILockdown", Dword, Registry), // AppBrowserProtection_UILockdown
    m(wsc!("disabledevicesecurityui"), SECURITY_CENTER, "Device security", "UILockdown", Dword, Registry), // DeviceSecurity_UILockdown
    m(wsc!("disablecleartpmbutton"), SECURITY_CENTER, "Device security", "DisableClearTpmButton", Dword, Registry), // DeviceSecurity_DisableClearTpmButton
    m(wsc!("disabletpmfirmwareupdatewarning"), SECURITY_CENTER, "Device security", "DisableTpmFirmwareUpdateWarning", Dword, Registry), // DeviceSecurity_DisableTpmFirmwareUpdateWarning
    m(wsc!("disablehealthui"), SECURITY_CENTER, "Device performance and health", "UILockdown", Dword, Registry), // DevicePerformanceHealth_UILockdown
    m(wsc!("disablenetworkui"), SECURITY_CENTER, "Firewall and network protection", "UILockdown", Dword, Registry), // FirewallNetworkProtection_UILockdown
    m(wsc!("disablevirusui"), SECURITY_CENTER, "Virus and threat protection", "UILockdown", Dword, Registry), // VirusThreatProtection_UILockdown
    m(wsc!("hideransomwaredatarecovery"), SECURITY_CENTER, "Virus and threat protection", "HideRansomwareRecovery", Dword, Registry), // VirusThreatProtection_HideRansomwareRecovery
    m(wsc!("enablecustomizedtoasts"), SECURITY_CENTER, "Enterprise Customization", "EnableForToasts", Dword, Registry), // EnterpriseCustomization_EnableCustomizedToasts
    m(wsc!("enableinappcustomization"), SECURITY_CENTER, "Enterprise Customization", "EnableInApp", Dword, Registry), // EnterpriseCustomization_EnableInAppCustomization
    // Contact details: the ADMX text elements CompanyName, Email, Phone and Url (REG_SZ).
    m(wsc!("companyname"), SECURITY_CENTER, "Enterprise Customization", "CompanyName", Sz, Registry), // EnterpriseCustomization_CompanyName
    m(wsc!("email"), SECURITY_CENTER, "Enterprise Customization", "Email", Sz, Registry), // EnterpriseCustomization_Email
    m(wsc!("phone"), SECURITY_CENTER, "Enterprise Customization", "Phone", Sz, Registry), // EnterpriseCustomization_Phone
    m(wsc!("url"), SECURITY_CENTER, "Enterprise Customization", "Url", Sz, Registry), // EnterpriseCustomization_URL
    // Endpoint detection and response.
    m("device_vendor_msft_windowsadvancedthreatprotection_configuration_samplesharing", ATP, "", "AllowSampleCollection", Dword, Registry),
    // Windows Firewall, global: values at the store root, named as MS-GPFAS 2.2.1 names them.
    m("vendor_msft_firewall_mdmstore_global_disablestatefulftp", FIREWALL, "", "DisableStatefulFTP", TrueFalse, Registry),
    m("vendor_msft_firewall_mdmstore_global_saidletime", FIREWALL, "", "SAIdlTime", Dword, Registry),
    m("vendor_msft_firewall_mdmstore_global_presharedkeyencoding", FIREWALL, "", "PresharedKeyEncoding", Dword, Registry),
    m("vendor_msft_firewall_mdmstore_global_ipsecexempt", FIREWALL, "", "IPsecExempt", Flags(0xF), Registry),
    m("vendor_msft_firewall_mdmstore_global_crlcheck", FIREWALL, "", "StrongCRLCheck", Dword, Registry),
    m("vendor_msft_firewall_mdmstore_global_enablepacketqueue", FIREWALL, "", "EnablePacketQueue", Flags(0x3), Registry),
];

/// The firewall profile settings: CSP node suffix → (key under the profile key, value name,
/// encoding). The profile key is `DomainProfile`, `PrivateProfile` or `PublicProfile`.
#[rustfmt::skip]
pub const FIREWALL_PROFILE: &[(&str, &str, &str, Encoding)] = &[
    ("enablefirewall", "", "EnableFirewall", TrueFalse),
    ("defaultinboundaction", "", "DefaultInboundAction", Dword),
    ("defaultoutboundaction", "", "DefaultOutboundAction", Dword),
    ("disableinboundnotifications", "", "DisableNotifications", TrueFalse),
    ("disablestealthmode", "", "DisableStealthMode", TrueFalse),
    ("disablestealthmodeipsecsecuredpacketexemption", "", "DisableStealthModeIpsecSecuredPacketExemption", TrueFalse),
    ("disableunicastresponsestomulticastbroadcast", "", "DisableUnicastResponsesToMulticastBroadcast", TrueFalse),
    ("shielded", "", "DoNotAllowExceptions", TrueFalse),
    ("allowlocalipsecpolicymerge", "", "AllowLocalIpsecPolicyMerge", TrueFalse),
    ("authappsallowuserprefmerge", "AuthorizedApplications", "AllowUserPrefMerge", TrueFalse),
    ("globalportsallowuserprefmerge", "GloballyOpenPorts", "AllowUserPrefMerge", TrueFalse),
    ("enablelogdroppedpackets", "Logging", "LogDroppedPackets", TrueFalse),
    ("enablelogsuccessconnections", "Logging", "LogSuccessfulConnections", TrueFalse),
    ("enablelogignoredrules", "Logging", "LogIgnoredRules", TrueFalse),
    ("logfilepath", "Logging", "LogFilePath", Sz),
    ("logmaxfilesize", "Logging", "LogFileSize", Dword),
];

const FIREWALL_PROFILES: &[(&str, &str)] = &[
    (
        "vendor_msft_firewall_mdmstore_domainprofile_",
        "DomainProfile",
    ),
    (
        "vendor_msft_firewall_mdmstore_privateprofile_",
        "PrivateProfile",
    ),
    (
        "vendor_msft_firewall_mdmstore_publicprofile_",
        "PublicProfile",
    ),
];

/// A firewall profile setting's location: (key relative to [`FIREWALL`], value name, encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallValue {
    /// Key relative to [`FIREWALL`].
    pub key: String,
    /// Value name.
    pub value_name: &'static str,
    /// Encoding.
    pub encoding: Encoding,
}

/// The firewall profile setting for an id.
pub fn firewall_profile(id: &str) -> Option<FirewallValue> {
    FIREWALL_PROFILES.iter().find_map(|(prefix, profile)| {
        let suffix = text::strip_prefix(id, prefix)?;
        let (_, sub, name, encoding) = FIREWALL_PROFILE.iter().find(|row| row.0 == suffix)?;
        let key = if sub.is_empty() {
            (*profile).to_string()
        } else {
            format!(r"{profile}\{sub}")
        };
        Some(FirewallValue {
            key,
            value_name: name,
            encoding: *encoding,
        })
    })
}

/// The mapping for a single-value setting id: a hash table built at compile time (open
/// addressing), so a lookup is one hash, usually one probe, and one full comparison. A run is a
/// fresh instance every time, so a table built at start-up would be built on every run.
pub fn find(id: &str) -> Option<&'static Mapping> {
    let hash = id_hash(id);
    let mut slot = slot_of(hash);
    // The table is never full (`SLOTS` is over twice the rows), so an empty slot ends the probe.
    loop {
        let (slot_hash, row) = BY_HASH[slot];
        if row == EMPTY {
            return None;
        }
        if slot_hash == hash {
            let mapping = &SETTINGS[usize::from(row)];
            if text::same(mapping.id, id) {
                return Some(mapping);
            }
        }
        slot = (slot + 1) % SLOTS;
    }
}

/// Slots of [`BY_HASH`]: a power of two, at least twice the rows.
const SLOTS: usize = (SETTINGS.len() * 2).next_power_of_two();
/// Marks an empty slot of [`BY_HASH`].
const EMPTY: u16 = u16::MAX;

/// Each slot's row of [`SETTINGS`] and that row's [`id_hash`], for [`find`]. Two rows with one
/// id fail the build.
static BY_HASH: [(u64, u16); SLOTS] = hash_table();

/// An id's hash, from its length and its last 16 bytes, where ids sharing a catalog prefix
/// differ: a few operations whatever the id's length.
const fn id_hash(id: &str) -> u64 {
    let bytes = id.as_bytes();
    let tail = match bytes.last_chunk::<16>() {
        Some(tail) => u128::from_le_bytes(*tail),
        // Every id is longer than 16 bytes; a shorter text is hashed by its bytes, zero-padded.
        None => {
            let mut padded = [0u8; 16];
            let mut i = 0;
            while i < bytes.len() {
                padded[i] = bytes[i];
                i += 1;
            }
            u128::from_le_bytes(padded)
        }
    };
    let mixed = (tail as u64) ^ ((tail >> 64) as u64).rotate_left(29) ^ (bytes.len() as u64);
    // Fibonacci hashing: the multiply spreads every input bit into the top bits `slot_of` uses.
    mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

const fn slot_of(hash: u64) -> usize {
    // The top bits of the hash; `SLOTS` is a power of two.
    (hash >> (64 - SLOTS.trailing_zeros())) as usize
}

const fn hash_table() -> [(u64, u16); SLOTS] {
    assert!(
        SETTINGS.len() < EMPTY as usize,
        "row numbers must fit a u16"
    );
    let mut table = [(0, EMPTY); SLOTS];
    let mut row = 0;
    while row < SETTINGS.len() {
        let hash = id_hash(SETTINGS[row].id);
        let mut slot = slot_of(hash);
        while table[slot].1 != EMPTY {
            let other = SETTINGS[table[slot].1 as usize].id;
            if const_same(other, SETTINGS[row].id) {
                panic!("two rows of SETTINGS have the same id");
            }
            slot = (slot + 1) % SLOTS;
        }
        table[slot] = (hash, row as u16);
        row += 1;
    }
    table
}

/// String equality at compile time (`==` on `str` is not a `const fn`).
const fn const_same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// How a list's effective value is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListVerify {
    /// Through Defender's exclusion lists.
    Exclusions(ExclusionKind),
    /// Through an `MSFT_MpPreference` text-list property.
    Preference(&'static str),
}

/// A list setting written the Group Policy way: one value per item (name = the item, REG_SZ
/// data `"0"`) under `key`, plus a switch DWORD 1 that tells Defender to read the list.
#[derive(Debug, Clone, Copy)]
pub struct ListMapping {
    /// Settings-catalog definition id.
    pub id: &'static str,
    /// The list key, relative to [`DEFENDER`].
    pub key: &'static str,
    /// The switch: key relative to [`DEFENDER`] and value name.
    pub switch: (&'static str, &'static str),
    /// How the effective list is read back.
    pub verify: ListVerify,
}

const ASR: &str = r"Windows Defender Exploit Guard\ASR";

/// Every list setting this plugin enforces.
#[rustfmt::skip]
pub const LISTS: &[ListMapping] = &[
    ListMapping { id: pc!("excludedpaths"), key: r"Exclusions\Paths", switch: ("Exclusions", "Exclusions_Paths"), verify: ListVerify::Exclusions(ExclusionKind::Path) },
    ListMapping { id: pc!("excludedextensions"), key: r"Exclusions\Extensions", switch: ("Exclusions", "Exclusions_Extensions"), verify: ListVerify::Exclusions(ExclusionKind::Extension) },
    ListMapping { id: pc!("excludedprocesses"), key: r"Exclusions\Processes", switch: ("Exclusions", "Exclusions_Processes"), verify: ListVerify::Exclusions(ExclusionKind::Process) },
    ListMapping { id: pc!("attacksurfacereductiononlyexclusions"), key: r"Windows Defender Exploit Guard\ASR\ASROnlyExclusions", switch: (ASR, "ExploitGuard_ASR_ASROnlyExclusions"), verify: ListVerify::Preference("AttackSurfaceReductionOnlyExclusions") },
    ListMapping { id: pc!("controlledfolderaccessallowedapplications"), key: r"Windows Defender Exploit Guard\Controlled Folder Access\AllowedApplications", switch: (CFA, "ExploitGuard_ControlledFolderAccess_AllowedApplications"), verify: ListVerify::Preference("ControlledFolderAccessAllowedApplications") },
    ListMapping { id: pc!("controlledfolderaccessprotectedfolders"), key: r"Windows Defender Exploit Guard\Controlled Folder Access\ProtectedFolders", switch: (CFA, "ExploitGuard_ControlledFolderAccess_ProtectedFolders"), verify: ListVerify::Preference("ControlledFolderAccessProtectedFolders") },
];

/// The list mapping for a setting id.
pub fn find_list(id: &str) -> Option<&'static ListMapping> {
    LISTS.iter().find(|l| text::same(l.id, id))
}

/// The ASR key, relative to [`DEFENDER`].
pub const ASR_KEY: &str = ASR;
/// Per-rule exclusions: value name = rule GUID (lower case), REG_SZ data = the paths joined by
/// `>`, the separator the CSP's per-rule exclusion format uses (best guess, unverified).
pub const ASR_PER_RULE_EXCLUSIONS_KEY: &str =
    r"Windows Defender Exploit Guard\ASR\ASROnlyPerRuleExclusions";
/// The switch for per-rule exclusions, in [`ASR_KEY`] (best guess, unverified).
pub const ASR_PER_RULE_EXCLUSIONS_SWITCH: &str = "ExploitGuard_ASR_ASROnlyPerRuleExclusions";

/// Threat severity default actions: value name = severity id, REG_SZ data = action.
pub const THREAT_ACTIONS_KEY: &str = r"Threats\ThreatSeverityDefaultAction";
/// Its switch: key and value name.
pub const THREAT_ACTIONS_SWITCH: (&str, &str) = ("Threats", "Threats_ThreatSeverityDefaultAction");
/// The threat-severity group's children share this prefix.
pub const THREAT_ACTION_PREFIX: &str = pc!("threatseveritydefaultaction_");

/// Parses a threat severity default action `"<level>=<action>"` and names the preference that
/// reports it.
pub fn parse_threat_action(text: &str) -> Option<(u32, u32, &'static str)> {
    let (level, action) = text.split_once('=')?;
    let level: u32 = level.trim().parse().ok()?;
    let action: u32 = action.trim().parse().ok()?;
    let preference = match level {
        1 => "LowThreatDefaultAction",
        2 => "ModerateThreatDefaultAction",
        4 => "HighThreatDefaultAction",
        5 => "SevereThreatDefaultAction",
        _ => return None,
    };
    // 1 clean, 2 quarantine, 3 remove, 6 allow, 8 user defined, 9 no action, 10 block.
    matches!(action, 1 | 2 | 3 | 6 | 8 | 9 | 10).then_some((level, action, preference))
}

/// Tamper protection (Windows Security experience): reported, never written.
pub const TAMPER_PROTECTION: &str = "vendor_msft_defender_configuration_tamperprotection_options";

/// EDR onboarding: the configuration type and the (secret) blobs.
pub const EDR_CONFIGURATION_TYPE: &str =
    "device_vendor_msft_windowsadvancedthreatprotection_configurationtype";
/// The secret onboarding/offboarding blobs.
pub const EDR_BLOBS: &[&str] = &[
    "device_vendor_msft_windowsadvancedthreatprotection_onboarding",
    "device_vendor_msft_windowsadvancedthreatprotection_onboarding_fromconnector",
    "device_vendor_msft_windowsadvancedthreatprotection_offboarding",
];

/// The 19 ASR rules: catalog rule name → GUID (lower case), from the shared `asr-rules.csv`.
#[rustfmt::skip]
pub const ASR_RULES: &[(&str, &str)] = &[
    ("blockabuseofexploitedvulnerablesigneddrivers", "56a863a9-875e-4185-98a7-b882c64b5ce5"),
    ("blockadobereaderfromcreatingchildprocesses", "7674ba52-37eb-4a4f-a9a1-f0f9a1619a2c"),
    ("blockallofficeapplicationsfromcreatingchildprocesses", "d4f940ab-401b-4efc-aadc-ad5f3c50688a"),
    ("blockcredentialstealingfromwindowslocalsecurityauthoritysubsystem", "9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2"),
    ("blockexecutablecontentfromemailclientandwebmail", "be9ba2d9-53ea-4cdc-84e5-9b1eeee46550"),
    ("blockexecutablefilesrunningunlesstheymeetprevalenceagetrustedlistcriterion", "01443614-cd74-433a-b99e-2ecdc07bfc25"),
    ("blockexecutionofpotentiallyobfuscatedscripts", "5beb7efe-fd9a-4556-801d-275e5ffc04cc"),
    ("blockjavascriptorvbscriptfromlaunchingdownloadedexecutablecontent", "d3e037e1-3eb8-44c8-a917-57927947596d"),
    ("blockofficeapplicationsfromcreatingexecutablecontent", "3b576869-a4ec-4529-8536-b80a7769e899"),
    ("blockofficeapplicationsfrominjectingcodeintootherprocesses", "75668c1f-73b5-4cf0-bb93-3ecf5cb7cc84"),
    ("blockofficecommunicationappfromcreatingchildprocesses", "26190899-1602-49e8-8b27-eb1d0a1ce869"),
    ("blockpersistencethroughwmieventsubscription", "e6db77e5-3df2-4cf1-b95a-636979351e5b"),
    ("blockprocesscreationsfrompsexecandwmicommands", "d1e49aac-8f56-4280-b9ba-993a6d77406c"),
    ("blockrebootingmachineinsafemode", "33ddedf1-c6e0-47cb-833e-de6133960387"),
    ("blockuntrustedunsignedprocessesthatrunfromusb", "b2b3f03d-6a65-4f7b-a9c7-1c7ef74a9ba4"),
    ("blockuseofcopiedorimpersonatedsystemtools", "c0033c00-d16d-4114-a5a0-dc9b3a7d2ceb"),
    ("blockwebshellcreationforservers", "a8f5898e-1dc8-49a9-9878-85004b8a61e6"),
    ("blockwin32apicallsfromofficemacros", "92e97fa1-2edf-4476-bdd6-9dd0b4dddc7b"),
    ("useadvancedprotectionagainstransomware", "c1db55ab-c21a-4637-bb3f-a12568109d35"),
];

/// The GUID of an ASR rule by its catalog name.
pub fn asr_rule_guid(rule: &str) -> Option<&'static str> {
    ASR_RULES.iter().find(|(r, _)| *r == rule).map(|(_, g)| *g)
}

/// What an ASR-group child setting is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsrRuleSetting<'a> {
    /// A rule's action (`...attacksurfacereductionrules_<rule>`).
    Rule,
    /// A rule's exclusion list (`...attacksurfacereductionrules_<rule>_perruleexclusions`),
    /// with the rule's name.
    PerRuleExclusions(&'a str),
}

/// Classifies a child of the ASR rules group.
pub fn asr_setting(id: &str) -> Option<AsrRuleSetting<'_>> {
    let rest = text::strip_prefix(id, pc!("attacksurfacereductionrules_"))?;
    if rest.is_empty() {
        None
    } else if let Some(rule) = rest.strip_suffix("_perruleexclusions") {
        Some(AsrRuleSetting::PerRuleExclusions(rule))
    } else {
        Some(AsrRuleSetting::Rule)
    }
}

/// Parses the catalog's ASR option value `"<GUID>=<action>"`.
pub fn parse_asr_value(text: &str) -> Option<(&str, AsrAction)> {
    let (guid, action) = text.split_once('=')?;
    let guid = guid.trim();
    if !is_guid(guid) {
        return None;
    }
    let action = AsrAction::from_code(action.trim().parse().ok()?)?;
    Some((guid, action))
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique() {
        let mut seen = HashSet::new();
        for id in SETTINGS
            .iter()
            .map(|m| m.id)
            .chain(LISTS.iter().map(|l| l.id))
        {
            assert!(seen.insert(id), "{id} mapped twice");
        }
    }

    #[test]
    fn find_answers_every_row_and_nothing_else() {
        for row in SETTINGS {
            let found = find(row.id).unwrap_or_else(|| panic!("{} not found", row.id));
            assert_eq!(found.id, row.id);
            assert_eq!(found.value_name, row.value_name);
        }
        for absent in [
            "",
            pc!("allowrealtimemonitorin"),
            pc!("allowrealtimemonitoringx"),
            "x",
            // The same length and last 16 bytes as a row: found by key, refused by the
            // full comparison.
            &format!("x{}", &pc!("allowrealtimemonitoring")[1..]),
        ] {
            assert!(find(absent).is_none(), "{absent}");
        }
        // Case matters: ids are the catalog's, always lower case.
        assert!(find(&pc!("allowrealtimemonitoring").to_uppercase()).is_none());
    }

    #[test]
    fn firewall_profile_settings_map_per_profile() {
        let v =
            firewall_profile("vendor_msft_firewall_mdmstore_privateprofile_logfilepath").unwrap();
        assert_eq!(v.key, r"PrivateProfile\Logging");
        assert_eq!(v.value_name, "LogFilePath");
        assert_eq!(v.encoding, Encoding::Sz);
        let v =
            firewall_profile("vendor_msft_firewall_mdmstore_domainprofile_enablefirewall").unwrap();
        assert_eq!(v.key, "DomainProfile");
        // AllowLocalPolicyMerge is not supported by security settings management: no mapping.
        assert!(
            firewall_profile("vendor_msft_firewall_mdmstore_publicprofile_allowlocalpolicymerge")
                .is_none()
        );
    }

    #[test]
    fn threat_actions_parse() {
        assert_eq!(
            parse_threat_action("5=3"),
            Some((5, 3, "SevereThreatDefaultAction"))
        );
        assert_eq!(
            parse_threat_action("1=10"),
            Some((1, 10, "LowThreatDefaultAction"))
        );
        assert_eq!(parse_threat_action("3=2"), None);
        assert_eq!(parse_threat_action("2=7"), None);
        assert_eq!(parse_threat_action("x"), None);
    }

    #[test]
    fn asr_values_parse_with_either_guid_case() {
        let (g, a) = parse_asr_value("D4F940AB-401B-4EFC-AADC-AD5F3C50688A=1").unwrap();
        assert_eq!(g, "D4F940AB-401B-4EFC-AADC-AD5F3C50688A");
        assert_eq!(a, AsrAction::Block);
        assert_eq!(
            parse_asr_value("56a863a9-875e-4185-98a7-b882c64b5ce5=6")
                .unwrap()
                .1,
            AsrAction::Warn
        );
        assert!(parse_asr_value("not-a-guid=1").is_none());
        assert!(parse_asr_value("56a863a9-875e-4185-98a7-b882c64b5ce5=3").is_none());
    }

    #[test]
    fn asr_children_are_classified() {
        let base = pc!("attacksurfacereductionrules_");
        assert_eq!(
            asr_setting(&format!("{base}blockwebshellcreationforservers")),
            Some(AsrRuleSetting::Rule)
        );
        assert_eq!(
            asr_setting(&format!(
                "{base}blockwebshellcreationforservers_perruleexclusions"
            )),
            Some(AsrRuleSetting::PerRuleExclusions(
                "blockwebshellcreationforservers"
            ))
        );
        assert_eq!(asr_setting(pc!("puaprotection")), None);
        assert_eq!(ASR_RULES.len(), 19);
        assert!(
            ASR_RULES
                .iter()
                .all(|(_, g)| is_guid(g) && g.to_ascii_lowercase() == *g)
        );
    }
}
