//! `wlcs-sut`: the plug-in trait for systems under test and the implementations shipped with
//! the suite: the in-process reference implementation ([`memory`]) and deliberately broken
//! mutants.
//!
//! Architecture invariant: this crate uses the model's vocabulary types, never the model's
//! `step`. A system under test that consulted the model would make the differential check a
//! tautology.

pub mod http;
pub mod memory;
pub mod mutants;
pub mod options;
pub mod plugin;

pub use plugin::*;
