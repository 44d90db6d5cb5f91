//! Who may publish a plugin: ed25519 signatures over a plugin's bytes ([`signing`]) and the
//! operator's trust file, which names the keys trusted and for which plugins ([`trust`]).

pub mod signing;
pub mod trust;
