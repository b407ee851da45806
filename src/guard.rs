//! A wrapper that turns a panicking in-process implementation into a reported error at the
//! step it happened, so a misbehaving system under test never takes the suite down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use wlcs_sut::{Layer, Sut, SutError};

/// Catches panics of every call to the wrapped implementation.
pub struct Guarded<'a>(pub &'a dyn Sut);

fn guard<T>(f: impl FnOnce() -> Result<T, SutError>) -> Result<T, SutError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            Err(SutError::Panic(what))
        }
    }
}

impl<'a> Layer for Guarded<'a> {
    type Inner = dyn Sut + 'a;

    fn inner(&self) -> &(dyn Sut + 'a) {
        self.0
    }

    /// Every call that reaches the implementation (all but `name` and `capabilities`).
    fn around<T>(
        &self,
        call: impl FnOnce(&(dyn Sut + 'a)) -> Result<T, SutError>,
    ) -> Result<T, SutError> {
        guard(|| call(self.0))
    }
}
