//! `wlcs-http`: real HTTP, in both directions. The reference server puts any
//! [`wlcs_plugin::Sut`] behind HARNESS.md's protocol ([`server`]), and the black-box adapter
//! drives any server speaking it ([`client::HttpSut`]). The JSON shapes live in [`proto`];
//! [`chaos`] is the fault-injecting front the server can put before itself.
//!
//! Architecture invariant: this crate is the only library crate that does network IO, and it
//! never consults the model: the server wraps an implementation, the adapter forwards calls.
//! It depends on the trait crate only (`wlcs-plugin`), not on the reference implementation.

pub mod chaos;
pub mod client;
pub mod proto;
pub mod server;

pub use chaos::{ChaosOptions, Fault};
pub use client::{ClientOptions, HttpSut, REQUEST_TIMEOUT_MS};
pub use server::{
    CallMode, ServeError, ServeOptions, ServerHandle, WORLDS_MAX, serve, serve_blocking,
    serve_worlds,
};
