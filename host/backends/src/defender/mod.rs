//! Microsoft Defender: effective preferences, exclusions, ASR rules and computer status.
//!
//! [`SimulatedDefender`] models Defender on Windows for tests and demos; [`MdatpDefender`] reads
//! the real Defender for Endpoint on Linux and macOS through `mdatp health`; on Windows,
//! `WmiDefender` is the real Defender through its WMI provider.

pub mod mdatp;
mod overlay;
mod simulated;

pub use mdatp::MdatpDefender;
pub use overlay::OverlayDefender;
pub use simulated::SimulatedDefender;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::WmiDefender;

/// A preference value as `MSFT_MpPreference` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreferenceValue {
    /// Integers and enumerations.
    Integer(i64),
    /// Booleans.
    Boolean(bool),
    /// Text.
    Text(String),
    /// Lists of text.
    TextList(Vec<String>),
}

/// Which exclusion list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExclusionKind {
    /// `ExclusionPath`.
    Path,
    /// `ExclusionExtension`.
    Extension,
    /// `ExclusionProcess`.
    Process,
}

/// An ASR rule action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsrAction {
    /// 0
    Off,
    /// 1
    Block,
    /// 2
    Audit,
    /// 6
    Warn,
}

impl AsrAction {
    /// The numeric value Defender stores (0, 1, 2, 6).
    pub fn code(self) -> u32 {
        match self {
            AsrAction::Off => 0,
            AsrAction::Block => 1,
            AsrAction::Audit => 2,
            AsrAction::Warn => 6,
        }
    }

    /// The action for a numeric value, if it is one.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(AsrAction::Off),
            1 => Some(AsrAction::Block),
            2 => Some(AsrAction::Audit),
            6 => Some(AsrAction::Warn),
            _ => None,
        }
    }
}

/// Defender's computer status (`Get-MpComputerStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputerStatus {
    /// Tamper protection is on.
    pub tamper_protected: bool,
    /// Real-time protection is running.
    pub real_time_protection_enabled: bool,
    /// `Normal`, `Passive`, `EDR Block Mode` or `SxS Passive Mode`.
    pub running_mode: String,
    /// Antimalware platform version.
    pub product_version: String,
}

/// Why a Defender backend call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DefenderError {
    /// Tamper protection refused to change a protected preference.
    #[error("'{0}' is protected by tamper protection")]
    TamperProtected(String),
    /// The preference name or value is not one Defender accepts.
    #[error("{0}")]
    InvalidArgument(String),
    /// Defender is not installed or not reachable.
    #[error("defender is unavailable: {0}")]
    Unavailable(String),
    /// The backend failed.
    #[error("defender backend failed: {0}")]
    Backend(String),
}

/// A Defender implementation. Reads return *effective* values (policy over local preference
/// over defaults), which is how plugins verify that a policy write took effect.
pub trait DefenderBackend: Send + Sync + std::fmt::Debug {
    /// Reads a preference's effective value by its `MSFT_MpPreference` name (case-insensitive);
    /// `Ok(None)` for a name Defender does not know.
    fn get_preference(&self, name: &str) -> Result<Option<PreferenceValue>, DefenderError>;
    /// Sets a local preference (like `Set-MpPreference`).
    fn set_preference(&self, name: &str, value: PreferenceValue) -> Result<(), DefenderError>;
    /// Lists the effective exclusions of one kind (policy and local, deduplicated, sorted).
    fn list_exclusions(&self, kind: ExclusionKind) -> Result<Vec<String>, DefenderError>;
    /// Adds a local exclusion.
    fn add_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<(), DefenderError>;
    /// Removes a local exclusion; returns whether it existed.
    fn remove_exclusion(&self, kind: ExclusionKind, value: &str) -> Result<bool, DefenderError>;
    /// Reads an ASR rule's effective action (GUID compared case-insensitively).
    fn get_asr_rule(&self, id: &str) -> Result<Option<AsrAction>, DefenderError>;
    /// Sets a local ASR rule action.
    fn set_asr_rule(&self, id: &str, action: AsrAction) -> Result<(), DefenderError>;
    /// Reads the computer status.
    fn computer_status(&self) -> Result<ComputerStatus, DefenderError>;

    /// Whether a change can survive a crash only after [`flush`](Self::flush), or not at all
    /// (a simulation kept in memory), rather than as soon as the call returns (the default).
    /// See [`RegistryBackend::defers_durability`](crate::registry::RegistryBackend::defers_durability);
    /// a wrapper must forward this and [`flush`](Self::flush), as said there.
    fn defers_durability(&self) -> bool {
        false
    }

    /// Makes every change made so far durable; nothing to do by default.
    fn flush(&self) -> Result<(), DefenderError> {
        Ok(())
    }

    /// A copy of this Defender for a what-if run: it must read policy from `registry` (a
    /// copy-on-write overlay) and never change the real device. `None` (the default) means the
    /// backend cannot be forked; the host then records its writes in an overlay that does not
    /// model their effect (see [`OverlayDefender`]).
    fn fork_for_what_if(
        &self,
        registry: std::sync::Arc<dyn crate::registry::RegistryBackend>,
    ) -> Option<std::sync::Arc<dyn DefenderBackend>> {
        let _ = registry;
        None
    }
}
