//! A wrapper that turns a panicking in-process implementation into a reported error at the
//! step it happened, so a misbehaving system under test never takes the suite down.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use wlcs_model::vocab::{OptionSet, RecordRef, Slot, VarName, WorldConfig};
use wlcs_sut::{
    Begun, Capabilities, Observed, Response, Sut, SutError, WireAction, WireHook, WireHookRun,
    WireProc, WireRead, WireRequest,
};

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

impl Sut for Guarded<'_> {
    fn name(&self) -> String {
        self.0.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn shares_world(&self) -> bool {
        self.0.shares_world()
    }
    fn reset(&self, config: &WorldConfig) -> Result<(), SutError> {
        guard(|| self.0.reset(config))
    }
    fn request(&self, request: &WireRequest) -> Result<Response, SutError> {
        guard(|| self.0.request(request))
    }
    fn begin(&self, slot: Slot, request: &WireRequest) -> Result<Begun, SutError> {
        guard(|| self.0.begin(slot, request))
    }
    fn end(&self, slot: Slot, actions: &[WireAction]) -> Result<Response, SutError> {
        guard(|| self.0.end(slot, actions))
    }
    fn non_web(&self, process: u8, actions: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        guard(|| self.0.non_web(process, actions))
    }
    fn set_option(&self, option: &OptionSet) -> Result<(), SutError> {
        guard(|| self.0.set_option(option))
    }
    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError> {
        guard(|| self.0.set_hook(behavior))
    }
    fn advance(&self, seconds: u64) -> Result<(), SutError> {
        guard(|| self.0.advance(seconds))
    }
    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        guard(|| self.0.take_hook_runs())
    }
    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError> {
        guard(|| self.0.locks())
    }
    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError> {
        guard(|| self.0.ipvars())
    }
    fn observe(&self, shared: bool) -> Result<Observed, SutError> {
        guard(|| self.0.observe(shared))
    }
}
