//! What `rampart apply` uses when it is not told otherwise: the embedded main job.

use rampart_runtime::Grants;

/// The example device: a simulated Windows 11 workstation.
pub(crate) const DEVICE: (&str, &str) = (
    "embedded:examples/devices/windows-11.toml",
    include_str!("../../../examples/devices/windows-11.toml"),
);

/// The example policies, written for rampart in Microsoft Graph format.
pub(crate) const POLICIES: &[(&str, &str)] = &[
    (
        "embedded:examples/policies/contoso-defender-antivirus.json",
        include_str!("../../../examples/policies/contoso-defender-antivirus.json"),
    ),
    (
        "embedded:examples/policies/contoso-asr-rules.json",
        include_str!("../../../examples/policies/contoso-asr-rules.json"),
    ),
];

/// The most any plugin may be granted by this agent: the runtime's recommended ceiling for
/// every platform ([`rampart_runtime::ceiling::recommended`]), exactly what the first-party
/// plugins' tables name. A plugin's manifest can ask for less; anything it asks beyond this is
/// cut off (deny by default).
pub(crate) fn grant_ceiling() -> Grants {
    rampart_runtime::ceiling::recommended()
}

/// File roots that live in a directory the system shares, and the only paths the agent lets any
/// plugin reach in them (see [`rampart_runtime::ceiling::FILE_ROOT_LIMITS`]).
pub(crate) const FILE_ROOT_LIMITS: &[(&str, &[&str])] = rampart_runtime::ceiling::FILE_ROOT_LIMITS;
