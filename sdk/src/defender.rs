//! Microsoft Defender's effective configuration: preferences, exclusions, ASR rules, status.
//!
//! Reads return what Defender actually uses after merging policy, local preferences and
//! defaults — the way to verify that a policy write took effect.

use crate::CapabilityError;
use crate::imports::defender as raw;

pub use crate::bindings::rampart::plugin::defender::{
    AsrAction, ComputerStatus, ExclusionKind, PreferenceValue,
};

/// Reads a preference's effective value by its `MSFT_MpPreference` name.
pub fn preference(name: &str) -> Result<Option<PreferenceValue>, CapabilityError> {
    raw::get_preference(name)
}

/// Sets a local preference (like `Set-MpPreference`).
pub fn set_preference(name: &str, value: &PreferenceValue) -> Result<(), CapabilityError> {
    raw::set_preference(name, value)
}

/// Lists the effective exclusions of one kind.
pub fn exclusions(kind: ExclusionKind) -> Result<Vec<String>, CapabilityError> {
    raw::list_exclusions(kind)
}

/// Adds a local exclusion.
pub fn add_exclusion(kind: ExclusionKind, value: &str) -> Result<(), CapabilityError> {
    raw::add_exclusion(kind, value)
}

/// Removes a local exclusion; returns whether it existed.
pub fn remove_exclusion(kind: ExclusionKind, value: &str) -> Result<bool, CapabilityError> {
    raw::remove_exclusion(kind, value)
}

/// Reads an ASR rule's effective action (`None` when not configured).
pub fn asr_rule(id: &str) -> Result<Option<AsrAction>, CapabilityError> {
    raw::get_asr_rule(id)
}

/// Sets a local ASR rule action.
pub fn set_asr_rule(id: &str, action: AsrAction) -> Result<(), CapabilityError> {
    raw::set_asr_rule(id, action)
}

/// Reads Defender's computer status (tamper protection, running mode, versions).
pub fn status() -> Result<ComputerStatus, CapabilityError> {
    raw::get_computer_status()
}

impl AsrAction {
    /// The numeric action Defender stores: 0 off, 1 block, 2 audit, 6 warn.
    pub fn code(self) -> u32 {
        match self {
            AsrAction::Off => 0,
            AsrAction::Block => 1,
            AsrAction::Audit => 2,
            AsrAction::Warn => 6,
        }
    }

    /// The action for a numeric code, if it is one.
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
