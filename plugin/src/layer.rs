//! [`Layer`]: one forwarding helper for wrappers of a [`Sut`] (decorators).
//!
//! A wrapper implements [`Layer`] instead of [`Sut`]: it names the implementation it wraps
//! ([`Layer::inner`]) and overrides only the calls it changes; every other call is forwarded
//! unchanged, and the blanket `impl<L: Layer> Sut for L` makes it a [`Sut`]. Every forwarded
//! call that reaches the inner implementation passes through [`Layer::around`], so a wrapper
//! that treats all calls alike (catching panics, counting calls) overrides that one method.
//!
//! Users: the mutant decorator `wlcs_sut::mutants::Perturbed`, the harness's panic guard
//! (`wlcs::guard::Guarded`), the benches' `NoSleep`, the test shims of `tests/run.rs`.
//!
//! Architecture invariant: this file depends only on the trait and its vocabulary
//! ([`crate`]), so it moves with the trait wherever the trait goes.

use crate::{
    Begun, Capabilities, Observed, Response, Sut, SutError, WireAction, WireHook, WireHookRun,
    WireProc, WireRead, WireRequest,
};
use std::collections::BTreeMap;
use wlcs_model::vocab::{OptionSet, RecordRef, Slot, VarName, WorldConfig};

/// A wrapper around another [`Sut`]: every method defaults to forwarding to [`Layer::inner`]
/// through [`Layer::around`]. Override the ones the wrapper changes.
pub trait Layer: Send + Sync {
    /// The wrapped implementation's type (`dyn Sut` for a wrapper of any implementation).
    type Inner: Sut + ?Sized;

    /// The wrapped implementation.
    fn inner(&self) -> &Self::Inner;

    /// Runs one forwarded call against the inner implementation. The default runs it as is.
    fn around<T>(
        &self,
        call: impl FnOnce(&Self::Inner) -> Result<T, SutError>,
    ) -> Result<T, SutError> {
        call(self.inner())
    }

    /// [`Sut::name`].
    fn name(&self) -> String {
        self.inner().name()
    }
    /// [`Sut::capabilities`].
    fn capabilities(&self) -> Capabilities {
        self.inner().capabilities()
    }
    /// [`Sut::shares_world`].
    fn shares_world(&self) -> bool {
        self.inner().shares_world()
    }
    /// [`Sut::reset`].
    fn reset(&self, config: &WorldConfig) -> Result<(), SutError> {
        self.around(|s| s.reset(config))
    }
    /// [`Sut::request`].
    fn request(&self, request: &WireRequest) -> Result<Response, SutError> {
        self.around(|s| s.request(request))
    }
    /// [`Sut::begin`].
    fn begin(&self, slot: Slot, request: &WireRequest) -> Result<Begun, SutError> {
        self.around(|s| s.begin(slot, request))
    }
    /// [`Sut::end`].
    fn end(&self, slot: Slot, actions: &[WireAction]) -> Result<Response, SutError> {
        self.around(|s| s.end(slot, actions))
    }
    /// [`Sut::non_web`].
    fn non_web(&self, process: u8, actions: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        self.around(|s| s.non_web(process, actions))
    }
    /// [`Sut::set_option`].
    fn set_option(&self, option: &OptionSet) -> Result<(), SutError> {
        self.around(|s| s.set_option(option))
    }
    /// [`Sut::set_hook`].
    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError> {
        self.around(|s| s.set_hook(behavior))
    }
    /// [`Sut::advance`].
    fn advance(&self, seconds: u64) -> Result<(), SutError> {
        self.around(|s| s.advance(seconds))
    }
    /// [`Sut::take_hook_runs`].
    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        self.around(|s| s.take_hook_runs())
    }
    /// [`Sut::locks`].
    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError> {
        self.around(|s| s.locks())
    }
    /// [`Sut::ipvars`].
    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError> {
        self.around(|s| s.ipvars())
    }
    /// [`Sut::session_cookie_name`].
    fn session_cookie_name(&self) -> Result<String, SutError> {
        self.around(Sut::session_cookie_name)
    }

    /// [`Sut::observe`]: forwarded whole, so the inner implementation's one-round-trip
    /// version is kept.
    fn observe(&self, shared: bool) -> Result<Observed, SutError> {
        self.around(|s| s.observe(shared))
    }
}

impl<L: Layer> Sut for L {
    fn name(&self) -> String {
        Layer::name(self)
    }
    fn capabilities(&self) -> Capabilities {
        Layer::capabilities(self)
    }
    fn shares_world(&self) -> bool {
        Layer::shares_world(self)
    }
    fn reset(&self, config: &WorldConfig) -> Result<(), SutError> {
        Layer::reset(self, config)
    }
    fn request(&self, request: &WireRequest) -> Result<Response, SutError> {
        Layer::request(self, request)
    }
    fn begin(&self, slot: Slot, request: &WireRequest) -> Result<Begun, SutError> {
        Layer::begin(self, slot, request)
    }
    fn end(&self, slot: Slot, actions: &[WireAction]) -> Result<Response, SutError> {
        Layer::end(self, slot, actions)
    }
    fn non_web(&self, process: u8, actions: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        Layer::non_web(self, process, actions)
    }
    fn set_option(&self, option: &OptionSet) -> Result<(), SutError> {
        Layer::set_option(self, option)
    }
    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError> {
        Layer::set_hook(self, behavior)
    }
    fn advance(&self, seconds: u64) -> Result<(), SutError> {
        Layer::advance(self, seconds)
    }
    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        Layer::take_hook_runs(self)
    }
    fn session_cookie_name(&self) -> Result<String, SutError> {
        Layer::session_cookie_name(self)
    }
    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError> {
        Layer::locks(self)
    }
    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError> {
        Layer::ipvars(self)
    }
    fn observe(&self, shared: bool) -> Result<Observed, SutError> {
        Layer::observe(self, shared)
    }
}
