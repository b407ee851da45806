//! `wlcs-sut`: the implementations shipped with the suite: the in-process reference
//! implementation ([`memory`], with its own option semantics in [`options`]) and deliberately
//! broken mutants ([`mutants`]). The plug-in trait lives in its own crate, `wlcs-plugin`,
//! re-exported here (as [`plugin`] and at the root) so `wlcs_sut::Sut` names the same trait.
//!
//! Architecture invariant: this crate uses the model's vocabulary types, never the model's
//! `step`. A system under test that consulted the model would make the differential check a
//! tautology.

pub mod memory;
pub mod mutants;
pub mod options;

pub use wlcs_plugin as plugin;
pub use wlcs_plugin::layer;
pub use wlcs_plugin::*;
