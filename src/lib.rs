//! `wlcs`: the conformance harness for 4D's WEB LEGACY CLOSE SESSION (command 1208): trace
//! generation, the differential checker, fixtures, reports and the CLI's building blocks.
//!
//! Architecture invariant: the harness sees a system under test only through
//! [`wlcs_sut::Sut`]. Only [`fixture`] and the CLI touch the filesystem; rendering a report is
//! a pure function.

pub mod bench;
pub mod builtin;
pub mod catalog;
pub mod check;
pub mod concurrent;
pub mod coverage;
pub mod expect;
pub mod fixture;
pub mod fuzz;
pub mod gate;
pub mod generate;
pub mod guard;
pub mod jar;
pub mod linearize;
pub mod mutation;
pub mod progress;
pub mod readings;
pub mod replay;
pub mod report;
pub mod runner;
pub mod security;
pub mod serve_opts;
pub mod sim;
pub mod stats;
pub mod transcript;

/// The differential checker under its former name (`wlcs::check::Checker`).
pub use check as checker;
