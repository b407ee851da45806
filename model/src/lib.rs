//! `wlcs-model`: the executable reference model of 4D's WEB LEGACY CLOSE SESSION (command
//! 1208) and the legacy web sessions it acts on, as SPEC.md states them.
//!
//! Architecture invariant: this crate is pure. No IO, no clock, no threads, no randomness, no
//! hash-order iteration. [`world::Model::step`] is total: bad input is an outcome
//! ([`obs::StepObs::invalid`]), never a panic or an `Err`. Every branch that implements a
//! rule names its rule ID and records that it fired.

pub mod obs;
pub mod rules;
pub mod vocab;
pub mod world;

pub use obs::{CookieEffect, ExpectedRead, HookRun, RanIn, Read, Ruled, StepObs};
pub use rules::{Grade, RuleId, RuleSet};
pub use vocab::*;
pub use world::Model;
