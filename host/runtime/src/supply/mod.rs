//! The supply chain: who may publish a plugin ([`signing`], [`trust`]), the authenticated cache
//! of compiled plugins ([`aot`]), and the live plugin directory that swaps verified versions in
//! without a restart ([`live`]).

pub mod aot;
pub mod live;
pub mod signing;
pub mod trust;
