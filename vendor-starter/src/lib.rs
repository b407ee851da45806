//! A vendor's starting point for plugging an in-process implementation of legacy web sessions
//! into wlcs: copy this crate, replace [`Starter`]'s bodies with calls into your sessions, and
//! run the suite against it from a test or binary of your own that depends on `wlcs`
//! (`wlcs::runner::run`). This crate compiles with the trait crate alone (`wlcs-plugin`, which
//! brings the model's serde-only vocabulary), which `tests/tidy.rs` checks with `cargo tree`.
//!
//! As shipped, [`Starter`] declares no capability and refuses every call with
//! [`SutError::Unsupported`] naming the call, so a run against it ends in a harness error that
//! says which call to write first (it is a template, not an implementation).

use std::collections::BTreeMap;
use wlcs_model::vocab::{OptionSet, RecordRef, Slot, VarName, WorldConfig};
use wlcs_plugin::{
    Begun, Capabilities, Response, Sut, SutError, WireAction, WireHook, WireHookRun, WireProc,
    WireRead, WireRequest,
};

/// Your implementation, behind the suite's trait. Hold your server's state here (behind a
/// lock: the suite calls from several threads).
#[derive(Debug, Default)]
pub struct Starter;

fn todo(call: &str) -> SutError {
    SutError::Unsupported(format!("wlcs-vendor-starter: `{call}` is not written yet"))
}

impl Sut for Starter {
    fn name(&self) -> String {
        "vendor-starter".to_string()
    }

    fn capabilities(&self) -> Capabilities {
        // Declare what you support; every capability left false turns its rules into `skip`.
        Capabilities {
            clock: false,
            multi_ip: false,
            mobile: false,
            hook_faults: false,
            in_flight: false,
            options: false,
        }
    }

    fn shares_world(&self) -> bool {
        // Each `Starter` owns its world: the simulator may run seeds on several at once.
        false
    }

    fn reset(&self, _config: &WorldConfig) -> Result<(), SutError> {
        Err(todo("reset"))
    }

    fn request(&self, _request: &WireRequest) -> Result<Response, SutError> {
        Err(todo("request"))
    }

    fn begin(&self, _slot: Slot, _request: &WireRequest) -> Result<Begun, SutError> {
        Err(todo("begin"))
    }

    fn end(&self, _slot: Slot, _actions: &[WireAction]) -> Result<Response, SutError> {
        Err(todo("end"))
    }

    fn non_web(&self, _process: u8, _actions: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        Err(todo("non_web"))
    }

    fn set_option(&self, _option: &OptionSet) -> Result<(), SutError> {
        Err(todo("set_option"))
    }

    fn set_hook(&self, _behavior: &WireHook) -> Result<(), SutError> {
        Err(todo("set_hook"))
    }

    fn advance(&self, _seconds: u64) -> Result<(), SutError> {
        Err(todo("advance"))
    }

    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        Err(todo("take_hook_runs"))
    }

    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError> {
        Err(todo("locks"))
    }

    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError> {
        Err(todo("ipvars"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unwritten_call_names_itself() {
        let s = Starter;
        let err = s
            .advance(1)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`advance`"), "{err}");
        assert!(!s.capabilities().clock);
    }
}
