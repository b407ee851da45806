//! Real HTTP, in both directions: the reference server that puts any [`crate::Sut`] behind
//! HARNESS.md's protocol ([`server`]), and the black-box adapter that drives any server
//! speaking it ([`client::HttpSut`]). The JSON shapes live in [`proto`].
//!
//! Architecture invariant: this module is the only place in `wlcs-sut` that does network IO,
//! and it never consults the model: the server wraps an implementation, the adapter forwards
//! calls.

pub mod chaos;
pub mod client;
pub mod proto;
pub mod server;

pub use chaos::{ChaosOptions, Fault};
pub use client::{ClientOptions, HttpSut, REQUEST_TIMEOUT_MS};
pub use server::{CallMode, ServeError, ServeOptions, ServerHandle, serve, serve_blocking};
