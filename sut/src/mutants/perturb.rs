//! Decorator mutants ([`super::Kind::Perturb`]): [`Perturbed`] wraps any [`Sut`] and
//! perturbs what crosses the trait boundary, so the same mutant runs against the reference, a
//! served implementation behind `HttpSut`, or a vendor's in-process one.
//!
//! [`Perturbed`] keeps a [`Ledger`] of what the boundary has shown (IDs seen, the IP each
//! session was opened from, the IDs the command closed and their expiration then, running
//! 4D Mobile lanes, requests in flight), and drives the inner implementation so that the
//! ledger is exact where a mutant needs it:
//! - before each `Close` action it forwards a `GetExpiration` of the same ID (a *probe*, a
//!   read without effect whose answer is removed again): an answer means the ID named an
//!   existing session when the close ran, so the close closed it (legacy mode);
//! - after each call it takes the hook runs the call logged, so each run is known with the call
//!   that caused it (an `advance`: a timeout).
//!
//! Each mutant is a unit struct implementing [`Perturbation`], overriding one or two of its
//! hooks, and an arm of [`perturbation`]. Where a decorator only approximates the internal
//! mutant it replaces, its documentation says where.
//!
//! Without a perturbation ([`Perturbed::plain`]) every call goes straight to the inner
//! implementation: no ledger, no probes.

use super::Mutant;
use crate::layer::Layer;
use crate::plugin::{
    Begun, Observed, Response, SetCookie, Sut, SutError, WireAction, WireHook, WireHookRun, WireId,
    WireRead, WireRequest,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use wlcs_model::vocab::{Ip, OptionSet, SessionMode, Slot, WorldConfig};

/// What one call was, for [`Perturbation::hook_runs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// A web request (`request`, `begin`, `end`).
    Web,
    /// A non-web process's actions.
    NonWeb,
    /// The clock moved (process timeouts, TIME-2).
    Advance,
    /// Anything else (options, a take of runs nobody drained).
    Other,
}

/// What the boundary saw of one web request, decided before its answer is perturbed.
#[derive(Clone, Debug, Default)]
pub struct WebCall {
    /// The session the request ran in.
    pub session_id: String,
    /// The request opened its session (its cookie did not route).
    pub opened: bool,
    /// Its cookie was an ID the command had closed before the request.
    pub cookie_was_closed: bool,
    /// `Some(lane)`: it started a new process of a 4D Mobile session that already had one.
    pub new_lane: Option<u8>,
    /// One of its own closes closed its own session (CLOSE-4's self-close).
    pub self_closed: bool,
}

/// What the boundary has shown so far. Cleared by `reset`; a mode change (a restart) drops
/// what the restart drops.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Scalable sessions mode is on (the command is a no-op, CLOSE-9).
    scalable: bool,
    /// The hook's behaviour as last forwarded.
    hook: Option<WireHook>,
    /// Every session ID seen in an answer, by its ASCII-lowercase spelling.
    ids: BTreeMap<String, String>,
    /// The client IP each seen session was opened from, as forwarded.
    ip_of: BTreeMap<String, Ip>,
    /// IDs the command closed (their close found them existing), with the expiration then.
    closed: BTreeMap<String, u64>,
    /// Sessions opened by a 4D Mobile request, with their running lanes.
    lanes: BTreeMap<String, BTreeSet<u8>>,
    /// The last non-expiring `Set-Cookie` seen (name, attributes), a template for new ones.
    last_cookie: Option<SetCookie>,
    /// Requests in flight.
    flights: BTreeMap<Slot, WebCall>,
    /// Hook runs taken from the inner implementation, perturbed, not yet taken by the caller.
    hook_runs: Vec<WireHookRun>,
    /// Options set in scalable mode that it ignores (selectors 18, 72, 73, 78).
    scalable_options: Vec<OptionSet>,
}

impl Ledger {
    fn learn_id(&mut self, id: &str) {
        if !id.is_empty() {
            self.ids
                .entry(id.to_ascii_lowercase())
                .or_insert_with(|| id.to_string());
        }
    }

    /// A restart (mode change): sessions, closes and lanes are gone; IDs seen stay seen.
    fn restart(&mut self) {
        self.closed.clear();
        self.lanes.clear();
        self.ip_of.clear();
        self.flights.clear();
    }
}

/// One decorator mutant: hooks called by [`Perturbed`] at the trait boundary. Every hook
/// defaults to changing nothing; a mutant overrides the one or two it perturbs.
pub trait Perturbation: Sync + std::fmt::Debug {
    /// A web request before it is forwarded.
    fn request(&self, _seen: &Ledger, _request: &mut WireRequest) {}
    /// The ID text of a close before it is forwarded (actions, and a hook's `Close`).
    fn close_text(&self, _seen: &Ledger, _text: &mut String) {}
    /// Whether a non-web process's close is forwarded (else it answers `Done` unseen).
    fn forwards_non_web_close(&self) -> bool {
        true
    }
    /// Whether a web request's close of an ID other than its own session's (as the boundary
    /// knows it: the cookie, or the held request's session) is forwarded.
    fn forwards_web_close_of_other(&self) -> bool {
        true
    }
    /// WEB SET OPTION calls ignored in scalable mode to forward again on the return to legacy
    /// mode (what an implementation honouring them in scalable mode would have in force).
    fn replays_scalable_options(&self) -> bool {
        false
    }
    /// An expiration read of `id` (the text resolved), in action order.
    fn expiration(&self, _seen: &Ledger, _id: &str, _read: &mut Option<u64>) {}
    /// A finished web request's answer.
    fn response(&self, _seen: &Ledger, _web: &WebCall, _response: &mut Response) {}
    /// The hook runs one call logged, in order.
    fn hook_runs(&self, _seen: &Ledger, _call: Call, _runs: &mut Vec<WireHookRun>) {}
    /// Whether a clock advance of `seconds` is forwarded (else it answers `ok` unseen).
    fn forwards_advance(&self, _seconds: u64) -> bool {
        true
    }
    /// Whether a WEB SET OPTION call is forwarded (else it answers `ok` unseen).
    fn forwards_option(&self, _option: &OptionSet) -> bool {
        true
    }
}

/// The decorator of a mutant, or for [`Mutant`]s of the other kinds, its label only.
pub struct Perturbed<S: Sut> {
    inner: S,
    mutant: Option<Mutant>,
    perturbation: Option<&'static dyn Perturbation>,
    ledger: Mutex<Ledger>,
}

impl<S: Sut> Perturbed<S> {
    /// `inner` unchanged: every call goes straight to it.
    pub fn plain(inner: S) -> Perturbed<S> {
        Perturbed {
            inner,
            mutant: None,
            perturbation: None,
            ledger: Mutex::default(),
        }
    }

    /// `inner` (which runs `mutant` itself) unchanged, named after the mutant.
    pub(crate) fn labelled(inner: S, mutant: Mutant) -> Perturbed<S> {
        Perturbed {
            mutant: Some(mutant),
            ..Perturbed::plain(inner)
        }
    }

    pub(crate) fn with(inner: S, mutant: Mutant, p: &'static dyn Perturbation) -> Perturbed<S> {
        Perturbed {
            perturbation: Some(p),
            ..Perturbed::labelled(inner, mutant)
        }
    }

    /// Any implementation perturbed by a decorator mutant; `None` when `mutant` is not one
    /// ([`super::Kind::Perturb`]): the others need the reference's internals.
    pub fn new(inner: S, mutant: Mutant) -> Option<Perturbed<S>> {
        perturbation(mutant).map(|p| Perturbed::with(inner, mutant, p))
    }

    /// The machinery with a perturbation that changes nothing (ledger, probes, hook-run
    /// takes): what `sut/tests/mutants.rs` checks is the inner implementation exactly.
    pub fn transparent(inner: S) -> Perturbed<S> {
        Perturbed {
            perturbation: Some(&Transparent),
            ..Perturbed::plain(inner)
        }
    }

    /// The mutant it runs, if any.
    pub fn mutant(&self) -> Option<Mutant> {
        self.mutant
    }

    /// The wrapped implementation.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The same decorator around `f(inner)` (a builder step of the inner implementation).
    pub fn map_inner(self, f: impl FnOnce(S) -> S) -> Perturbed<S> {
        Perturbed {
            inner: f(self.inner),
            ..self
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // The ledger is only ever left half-updated by a panic in the inner implementation;
        // the next reset clears it.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the runs the last call logged into the ledger, perturbed.
    fn drain(&self, p: &dyn Perturbation, led: &mut Ledger, call: Call) -> Result<(), SutError> {
        let mut runs = self.inner.take_hook_runs()?;
        settle_runs(p, led, call, &mut runs);
        led.hook_runs.append(&mut runs);
        Ok(())
    }

    /// A web request's actions through the inner implementation: perturbed, probed, run by
    /// `call`, then the answers put back in the caller's order.
    fn web_actions<T>(
        &self,
        p: &dyn Perturbation,
        led: &mut Ledger,
        (actions, own): (&[WireAction], Option<&str>),
        call: impl FnOnce(&S, &[WireAction]) -> Result<T, SutError>,
    ) -> Result<(T, Batch), SutError> {
        let batch = Batch::plan(p, led, actions, Caller::Web(own));
        let out = call(&self.inner, &batch.forwarded)?;
        Ok((out, batch))
    }

    /// The end of a web request: the ledger learns what it showed, the mutant perturbs it.
    fn finish_web(
        &self,
        p: &dyn Perturbation,
        led: &mut Ledger,
        mut web: WebCall,
        batch: Batch,
        mut response: Response,
    ) -> Result<Response, SutError> {
        if let Some(id) = &response.session_id {
            web.session_id = id.clone();
        }
        if response.session_id.is_some() {
            // A refused request (400, 503) ran no action and answers none.
            response.reads = batch.answers(p, led, response.reads, &mut web)?;
        }
        for c in &response.set_cookies {
            if !c.expiring {
                led.last_cookie = Some(c.clone());
            }
        }
        p.response(led, &web, &mut response);
        Ok(response)
    }

    /// What a started request is, before anything of it is perturbed.
    fn started(&self, led: &mut Ledger, request: &WireRequest, session_id: &str) -> WebCall {
        led.learn_id(session_id);
        let opened = request.cookie.as_deref() != Some(session_id);
        let cookie_was_closed = request
            .cookie
            .as_deref()
            .is_some_and(|c| led.closed.contains_key(c));
        let lane = request.mobile.unwrap_or(0);
        let mut new_lane = None;
        if opened {
            led.ip_of.insert(session_id.to_string(), request.ip);
            if request.mobile.is_some() {
                led.lanes.insert(session_id.to_string(), BTreeSet::new());
            }
        }
        if let Some(lanes) = led.lanes.get_mut(session_id) {
            if !opened && !lanes.is_empty() && !lanes.contains(&lane) {
                new_lane = Some(lane);
            }
            lanes.insert(lane);
        }
        WebCall {
            session_id: session_id.to_string(),
            opened,
            cookie_was_closed,
            new_lane,
            self_closed: false,
        }
    }
}

/// Who runs a batch of actions: a web request (with the session it runs in, as far as the
/// boundary knows before it runs: its cookie, or the held request's session) or a non-web
/// process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller<'a> {
    Web(Option<&'a str>),
    NonWeb,
}

/// A batch of actions as forwarded, and how to put the answers back.
struct Batch {
    /// The caller's actions (close texts perturbed).
    actions: Vec<WireAction>,
    forwarded: Vec<WireAction>,
    plan: Vec<Fate>,
}

/// What became of one of the caller's actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Forwarded,
    /// A close, forwarded after its probe.
    Probed,
    /// Not forwarded; answered `Done`.
    Dropped,
}

impl Batch {
    fn plan(p: &dyn Perturbation, led: &Ledger, actions: &[WireAction], caller: Caller) -> Batch {
        let mut batch = Batch {
            actions: Vec::with_capacity(actions.len()),
            forwarded: Vec::with_capacity(actions.len() + 2),
            plan: Vec::with_capacity(actions.len()),
        };
        for action in actions {
            let mut action = action.clone();
            let fate = match &mut action {
                WireAction::Close { .. }
                    if caller == Caller::NonWeb && !p.forwards_non_web_close() =>
                {
                    Fate::Dropped
                }
                WireAction::Close {
                    id: WireId::Text(text),
                } if matches!(caller, Caller::Web(own) if own != Some(text.as_str()))
                    && !p.forwards_web_close_of_other() =>
                {
                    Fate::Dropped
                }
                WireAction::Close { id } => {
                    if let WireId::Text(text) = id {
                        p.close_text(led, text);
                    }
                    batch
                        .forwarded
                        .push(WireAction::GetExpiration { id: id.clone() });
                    batch.forwarded.push(WireAction::Close { id: id.clone() });
                    Fate::Probed
                }
                other => {
                    batch.forwarded.push(other.clone());
                    Fate::Forwarded
                }
            };
            batch.actions.push(action);
            batch.plan.push(fate);
        }
        batch
    }

    /// The inner answers put back in the caller's order; probes become closes in the ledger.
    fn answers(
        &self,
        p: &dyn Perturbation,
        led: &mut Ledger,
        reads: Vec<WireRead>,
        web: &mut WebCall,
    ) -> Result<Vec<WireRead>, SutError> {
        if reads.len() != self.forwarded.len() {
            return Err(SutError::Protocol(format!(
                "{} answers to {} actions (as forwarded by the mutant decorator)",
                reads.len(),
                self.forwarded.len()
            )));
        }
        let resolve = |id: &WireId| match id {
            WireId::Text(t) => t.clone(),
            WireId::Current => web.session_id.clone(),
        };
        let mut reads = reads.into_iter();
        let mut out = Vec::with_capacity(self.actions.len());
        for (action, fate) in self.actions.iter().zip(&self.plan) {
            match (fate, action) {
                (Fate::Dropped, _) => out.push(WireRead::Done),
                (Fate::Probed, WireAction::Close { id }) => {
                    let probe = reads.next();
                    let text = resolve(id);
                    if let Some(WireRead::Expiration(Some(expiration))) = probe
                        && !led.scalable
                        && !text.is_empty()
                    {
                        // CLOSE-1: the ID named an existing session, so this close closed it.
                        if text == web.session_id {
                            web.self_closed = true;
                        }
                        led.closed.insert(text, expiration);
                    }
                    out.extend(reads.next());
                }
                (_, WireAction::GetExpiration { id }) => match reads.next() {
                    Some(WireRead::Expiration(mut e)) => {
                        p.expiration(led, &resolve(id), &mut e);
                        out.push(WireRead::Expiration(e));
                    }
                    other => out.extend(other),
                },
                _ => out.extend(reads.next()),
            }
        }
        Ok(out)
    }
}

/// The ledger learns from runs (a run ends its process), then the mutant perturbs them.
fn settle_runs(p: &dyn Perturbation, led: &mut Ledger, call: Call, runs: &mut Vec<WireHookRun>) {
    for run in runs.iter() {
        if let Some(lanes) = led.lanes.get_mut(&run.session_id) {
            lanes.remove(&run.lane);
        }
    }
    p.hook_runs(led, call, runs);
}

impl<S: Sut> Layer for Perturbed<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn name(&self) -> String {
        match self.mutant {
            None => self.inner.name(),
            Some(m) => format!("{}+{}", self.inner.name(), m.name()),
        }
    }

    fn reset(&self, config: &WorldConfig) -> Result<(), SutError> {
        if self.perturbation.is_some() {
            *self.ledger() = Ledger::default();
        }
        self.inner.reset(config)
    }

    fn request(&self, request: &WireRequest) -> Result<Response, SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.request(request);
        };
        let mut led = self.ledger();
        let mut request = request.clone();
        p.request(&led, &mut request);
        let own = request.cookie.clone();
        let (response, batch) =
            self.web_actions(p, &mut led, (&request.actions, own.as_deref()), |s, a| {
                s.request(&WireRequest {
                    actions: a.to_vec(),
                    ..request.clone()
                })
            })?;
        let web = match &response.session_id {
            Some(id) if response.status == 200 => self.started(&mut led, &request, id),
            _ => WebCall::default(),
        };
        let response = self.finish_web(p, &mut led, web, batch, response)?;
        self.drain(p, &mut led, Call::Web)?;
        Ok(response)
    }

    fn begin(&self, slot: Slot, request: &WireRequest) -> Result<Begun, SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.begin(slot, request);
        };
        let mut led = self.ledger();
        let mut request = request.clone();
        p.request(&led, &mut request);
        let own = request.cookie.clone();
        let (begun, batch) =
            self.web_actions(p, &mut led, (&request.actions, own.as_deref()), |s, a| {
                s.begin(
                    slot,
                    &WireRequest {
                        actions: a.to_vec(),
                        ..request.clone()
                    },
                )
            })?;
        let begun = match begun {
            Begun::Running { session_id, reads } => {
                let mut web = self.started(&mut led, &request, &session_id);
                let reads = batch.answers(p, &mut led, reads, &mut web)?;
                led.flights.insert(slot, web);
                Begun::Running { session_id, reads }
            }
            Begun::Done(response) => {
                let web = WebCall::default();
                Begun::Done(self.finish_web(p, &mut led, web, batch, response)?)
            }
        };
        self.drain(p, &mut led, Call::Web)?;
        Ok(begun)
    }

    fn end(&self, slot: Slot, actions: &[WireAction]) -> Result<Response, SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.end(slot, actions);
        };
        let mut led = self.ledger();
        let web = led.flights.remove(&slot).unwrap_or_default();
        let own = Some(web.session_id.clone()).filter(|id| !id.is_empty());
        let (response, batch) =
            self.web_actions(p, &mut led, (actions, own.as_deref()), |s, a| {
                s.end(slot, a)
            })?;
        let response = self.finish_web(p, &mut led, web, batch, response)?;
        self.drain(p, &mut led, Call::Web)?;
        Ok(response)
    }

    fn non_web(&self, process: u8, actions: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.non_web(process, actions);
        };
        let mut led = self.ledger();
        let batch = Batch::plan(p, &led, actions, Caller::NonWeb);
        let reads = self.inner.non_web(process, &batch.forwarded)?;
        let reads = batch.answers(p, &mut led, reads, &mut WebCall::default())?;
        self.drain(p, &mut led, Call::NonWeb)?;
        Ok(reads)
    }

    fn set_option(&self, option: &OptionSet) -> Result<(), SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.set_option(option);
        };
        let mut led = self.ledger();
        if !p.forwards_option(option) {
            return Ok(());
        }
        self.inner.set_option(option)?;
        if let OptionSet::Mode(mode) = option {
            let scalable = *mode == SessionMode::Scalable;
            if scalable != led.scalable {
                // CLOSE-9: a mode change is a restart.
                led.restart();
                led.scalable = scalable;
                if !scalable {
                    for ignored in std::mem::take(&mut led.scalable_options) {
                        self.inner.set_option(&ignored)?;
                    }
                }
            }
        } else if led.scalable
            && p.replays_scalable_options()
            && matches!(
                option,
                OptionSet::MaxProcesses(_)
                    | OptionSet::CookieTimeoutMin(_)
                    | OptionSet::CookieName(_)
                    | OptionSet::ProcessTimeoutMin(_)
            )
        {
            led.scalable_options.push(option.clone());
        }
        self.drain(p, &mut led, Call::Other)
    }

    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.set_hook(behavior);
        };
        let mut led = self.ledger();
        let mut behavior = behavior.clone();
        if let WireHook::Close(text) = &mut behavior {
            p.close_text(&led, text);
        }
        self.inner.set_hook(&behavior)?;
        led.hook = Some(behavior);
        Ok(())
    }

    fn advance(&self, seconds: u64) -> Result<(), SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.advance(seconds);
        };
        let mut led = self.ledger();
        if !p.forwards_advance(seconds) {
            return Ok(());
        }
        self.inner.advance(seconds)?;
        self.drain(p, &mut led, Call::Advance)
    }

    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.take_hook_runs();
        };
        let mut led = self.ledger();
        self.drain(p, &mut led, Call::Other)?;
        Ok(std::mem::take(&mut led.hook_runs))
    }

    fn observe(&self, shared: bool) -> Result<Observed, SutError> {
        let Some(p) = self.perturbation else {
            return self.inner.observe(shared);
        };
        let mut led = self.ledger();
        let mut observed = self.inner.observe(shared)?;
        settle_runs(p, &mut led, Call::Other, &mut observed.hook_runs);
        let mut runs = std::mem::take(&mut led.hook_runs);
        runs.append(&mut observed.hook_runs);
        observed.hook_runs = runs;
        Ok(observed)
    }
}

/// The decorator of a decorator mutant, `None` for the other kinds. One arm per mutant.
pub fn perturbation(mutant: Mutant) -> Option<&'static dyn Perturbation> {
    Some(match mutant {
        Mutant::CaseInsensitiveIds => &CaseInsensitiveIds,
        Mutant::TrimsIdSpaces => &TrimsIdSpaces,
        Mutant::NonWebCloseIgnored => &NonWebCloseIgnored,
        Mutant::SelfCloseKeepsCookie => &SelfCloseKeepsCookie,
        Mutant::ExpirationSurvivesClose => &ExpirationSurvivesClose,
        Mutant::ClosedCookieNoSetCookie => &ClosedCookieNoSetCookie,
        Mutant::HookCloseOwnRerunsHook => &HookCloseOwnRerunsHook,
        Mutant::IpValidationSkipped => &IpValidationSkipped,
        Mutant::TimeoutSkipsHook => &TimeoutSkipsHook,
        Mutant::WebCloseOfOtherIgnored => &WebCloseOfOtherIgnored,
        Mutant::ScalableHonoursIgnoredOptions => &ScalableHonoursIgnoredOptions,
        Mutant::HookFailureUnreported => &HookFailureUnreported,
        Mutant::TimeoutsOutOfDueOrder => &TimeoutsOutOfDueOrder,
        Mutant::ZeroAdvanceIgnored => &ZeroAdvanceIgnored,
        Mutant::MaxSessionsIgnored => &MaxSessionsIgnored,
        Mutant::MobileLaneOwnCookie => &MobileLaneOwnCookie,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// The decorator mutants
// ---------------------------------------------------------------------------------------------

/// Changes nothing: the machinery alone (see [`Perturbed::transparent`]).
#[derive(Debug)]
struct Transparent;
impl Perturbation for Transparent {}

/// MUTANT CLOSE-2: a close's ID matching a seen ID up to ASCII case closes that session. A
/// hook's `Close` is matched against the IDs seen when the hook is set.
#[derive(Debug)]
struct CaseInsensitiveIds;
impl Perturbation for CaseInsensitiveIds {
    fn close_text(&self, seen: &Ledger, text: &mut String) {
        if let Some(id) = seen.ids.get(&text.to_ascii_lowercase()) {
            text.clone_from(id);
        }
    }
}

/// MUTANT CLOSE-2: spaces around a close's ID are trimmed.
#[derive(Debug)]
struct TrimsIdSpaces;
impl Perturbation for TrimsIdSpaces {
    fn close_text(&self, _seen: &Ledger, text: &mut String) {
        *text = text.trim().to_string();
    }
}

/// MUTANT CLOSE-3: a non-web process's close never reaches the implementation.
#[derive(Debug)]
struct NonWebCloseIgnored;
impl Perturbation for NonWebCloseIgnored {
    fn forwards_non_web_close(&self) -> bool {
        false
    }
}

/// MUTANT CLOSE-3: a close called in a web request on another session's ID never reaches
/// the implementation. Approximation: "another" as the boundary knows it before the request
/// runs, an ID other than its cookie (a held request's end: its session).
#[derive(Debug)]
struct WebCloseOfOtherIgnored;
impl Perturbation for WebCloseOfOtherIgnored {
    fn forwards_web_close_of_other(&self) -> bool {
        false
    }
}

/// MUTANT REQ-4 (option values): selectors 18, 72, 73 and 78 set in scalable mode are
/// honoured: they are in force once the server is back in legacy mode (the reference's
/// ignored calls are forwarded again at the switch). In scalable mode itself nothing they
/// govern is compared.
#[derive(Debug)]
struct ScalableHonoursIgnoredOptions;
impl Perturbation for ScalableHonoursIgnoredOptions {
    fn replays_scalable_options(&self) -> bool {
        true
    }
}

/// MUTANT CLOSE-4: the response of a request that closed its own session keeps the cookie.
#[derive(Debug)]
struct SelfCloseKeepsCookie;
impl Perturbation for SelfCloseKeepsCookie {
    fn response(&self, _seen: &Ledger, web: &WebCall, response: &mut Response) {
        if web.self_closed {
            response.set_cookies.retain(|c| !c.expiring);
        }
    }
}

/// MUTANT CLOSE-4: an ID the command closed still reports its expiration of then. Closes by a
/// hook's `Close` are not seen (not probed), so their IDs answer as the reference does.
#[derive(Debug)]
struct ExpirationSurvivesClose;
impl Perturbation for ExpirationSurvivesClose {
    fn expiration(&self, seen: &Ledger, id: &str, read: &mut Option<u64>) {
        if read.is_none() {
            *read = seen.closed.get(id).copied();
        }
    }
}

/// MUTANT CLOSE-8: a request whose cookie the command closed gets a new session but no
/// `Set-Cookie` for it. (Closes by a hook's `Close` are not seen, as above.)
#[derive(Debug)]
struct ClosedCookieNoSetCookie;
impl Perturbation for ClosedCookieNoSetCookie {
    fn response(&self, _seen: &Ledger, web: &WebCall, response: &mut Response) {
        if web.opened && web.cookie_was_closed {
            response
                .set_cookies
                .retain(|c| c.expiring || c.value != web.session_id);
        }
    }
}

/// MUTANT CLOSE-13: a `CloseOwn` hook's close of its own session runs the hook again: each run
/// is logged twice. (Exact: that nested close is a no-op in the reference.)
#[derive(Debug)]
struct HookCloseOwnRerunsHook;
impl Perturbation for HookCloseOwnRerunsHook {
    fn hook_runs(&self, seen: &Ledger, _call: Call, runs: &mut Vec<WireHookRun>) {
        if seen.hook == Some(WireHook::CloseOwn) {
            *runs = runs
                .drain(..)
                .flat_map(|r| [r.clone(), WireHookRun { failed: false, ..r }])
                .collect();
        }
    }
}

/// MUTANT CLOSE-14 (reading unreported): every hook run is reported as not failed; the
/// close itself completes in the implementation. (Exact.)
#[derive(Debug)]
struct HookFailureUnreported;
impl Perturbation for HookFailureUnreported {
    fn hook_runs(&self, _seen: &Ledger, _call: Call, runs: &mut Vec<WireHookRun>) {
        for run in runs.iter_mut() {
            run.failed = false;
        }
    }
}

/// MUTANT REQ-5: a request carrying a seen session's cookie is forwarded from the IP that
/// session was opened from, so IP validation never refuses it.
#[derive(Debug)]
struct IpValidationSkipped;
impl Perturbation for IpValidationSkipped {
    fn request(&self, seen: &Ledger, request: &mut WireRequest) {
        if let Some(ip) = request.cookie.as_deref().and_then(|c| seen.ip_of.get(c)) {
            request.ip = *ip;
        }
    }
}

/// MUTANT TIME-2: a process timeout ends the process without its hook: the runs an `advance`
/// logged are dropped. Approximation: a hook that closes another ID (`Close`) still did so.
#[derive(Debug)]
struct TimeoutSkipsHook;
impl Perturbation for TimeoutSkipsHook {
    fn hook_runs(&self, _seen: &Ledger, call: Call, runs: &mut Vec<WireHookRun>) {
        if call == Call::Advance {
            runs.clear();
        }
    }
}

/// MUTANT TIME-2 (hook order): the runs one `advance` logged come in reverse order, so
/// processes timing out together do not come in due order (then session, then lane), and a
/// nested close's hook comes before the timeout hook that caused it.
#[derive(Debug)]
struct TimeoutsOutOfDueOrder;
impl Perturbation for TimeoutsOutOfDueOrder {
    fn hook_runs(&self, _seen: &Ledger, call: Call, runs: &mut Vec<WireHookRun>) {
        if call == Call::Advance {
            runs.reverse();
        }
    }
}

/// MUTANT TIME-2 (an ungenerated combination): an advance of 0 s never reaches the
/// implementation. Only a process made due by lowering the process timeout (selector 78)
/// shows it: it should end at the next clock step, 0 s included.
#[derive(Debug)]
struct ZeroAdvanceIgnored;
impl Perturbation for ZeroAdvanceIgnored {
    fn forwards_advance(&self, seconds: u64) -> bool {
        seconds != 0
    }
}

/// MUTANT LIMIT-1 (a rule vacuous without a capability): selector 71 never reaches the
/// implementation, so the default limit of 100 sessions stays and nothing is evicted where
/// a trace lowered it. Without the `options` capability no trace sets it: LIMIT-1 must then
/// be `skip`, never `pass`.
#[derive(Debug)]
struct MaxSessionsIgnored;
impl Perturbation for MaxSessionsIgnored {
    fn forwards_option(&self, option: &OptionSet) -> bool {
        !matches!(option, OptionSet::MaxSessions(_))
    }
}

/// MUTANT MOBILE-3: a new process of a running 4D Mobile session gets its own `Set-Cookie`
/// (`ID-lane`), modelled on the last one seen.
#[derive(Debug)]
struct MobileLaneOwnCookie;
impl Perturbation for MobileLaneOwnCookie {
    fn response(&self, seen: &Ledger, web: &WebCall, response: &mut Response) {
        let (Some(lane), Some(template)) = (web.new_lane, &seen.last_cookie) else {
            return;
        };
        let value = format!("{}-{lane}", web.session_id);
        let cookie = SetCookie {
            raw: template.raw.replacen(&template.value, &value, 1),
            value,
            ..template.clone()
        };
        // Before the expiring one, if any: that one is last so it decides (CLOSE-4).
        let at = response
            .set_cookies
            .iter()
            .position(|c| c.expiring)
            .unwrap_or(response.set_cookies.len());
        response.set_cookies.insert(at, cookie);
    }
}
