//! `wlcs-sut`: the plug-in trait for systems under test and the implementations shipped with
//! the suite: the in-process reference implementation ([`memory`]) and deliberately broken
//! mutants ([`mutants`]). [`layer`] is the one forwarding helper for wrappers of a [`Sut`].
//!
//! Architecture invariant: this crate uses the model's vocabulary types, never the model's
//! `step`. A system under test that consulted the model would make the differential check a
//! tautology.

pub mod http;
pub mod layer;
pub mod memory;
pub mod mutants;
pub mod plugin;

pub use layer::Layer;
pub use plugin::*;
