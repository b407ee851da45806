//! The one comparison core: what the model expected of a step against what a system under
//! test showed, to checks or ONE [`Divergence`] that names its rule. Pure: no `Sut`, no IO.
//!
//! Every consumer calls it: the differential checker (`check::Checker`, real IDs as
//! `String`), the linearizability search (`linearize::search`, interned IDs as `u32`) and the
//! bench driver (`benches/differential.rs`). Identity is abstract ([`Binder`]): each caller
//! keeps its own binding of the model's symbolic sessions to the IDs it saw, so "which rule
//! broke" is decided here once, whatever the ID type.
//!
//! Decided readings (where the checker and the linearizer used to disagree):
//! - cookie refresh: a `Set-Cookie` that repeats the ID of the session the request ran in is
//!   "no new ID"; a value when the step ran in no known session is a new ID (the linearizer's
//!   reading; the checker used to accept any value then);
//! - REQ-3 fixation, REQ-6 plausibility and INV-3 on a reused ID are checked for every new
//!   session, in the search too (the checker only, before);
//! - INV-3 is blamed when a new session reuses an ID the model has closed (the model's own
//!   state; the checker used to keep its own list of closed IDs);
//! - the session cookie effect is the last `Set-Cookie` under the cookie name
//!   ([`last_session_cookie`], the one parser);
//! - an expired cookie where the model keeps it also blames the step's no-op close (CLOSE-9,
//!   CLOSE-13, CLOSE-10, CLOSE-2), in the search too.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use wlcs_model::vocab::{ContextSnapshot, ProcRef, RecordRef, SessionRef, VarName};
use wlcs_model::{CookieEffect, HookRun, Model, Read, RuleId, RuleSet, StepObs};
use wlcs_sut::SetCookie;

/// The longest session ID a client can carry (REQ-6's minimum: what a cookie holds).
pub const SESSION_ID_BYTES_MAX: usize = 256;

/// A behaviour of the system under test that the model says is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    /// The step index in the trace (in a linearization: the place in the order).
    pub step: usize,
    /// The rule the observation answers to.
    pub rule: RuleId,
    /// Other rules the same observation breaks (invariants).
    pub also: Vec<RuleId>,
    /// What was compared.
    pub what: String,
    /// What the model expected.
    pub expected: String,
    /// What the system under test did.
    pub actual: String,
    /// Graded SHOULD although its rule is a MUST: the divergence is from the rule's SHOULD
    /// part (REQ-4's cookie refresh), so it warns, and fails only a strict run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub should: bool,
}

impl Divergence {
    /// A divergence from `rule` (and `also`, without `rule` itself), at step 0 until the
    /// caller places it.
    pub fn new(
        rule: RuleId,
        also: RuleSet,
        what: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Divergence {
        Divergence {
            step: 0,
            rule,
            also: also.iter().filter(|r| *r != rule).collect(),
            what: what.into(),
            expected: expected.into(),
            actual: actual.into(),
            should: false,
        }
    }

    /// The same divergence, graded SHOULD (see [`Divergence::should`]).
    pub fn graded_should(self) -> Divergence {
        Divergence {
            should: true,
            ..self
        }
    }

    /// Whether this divergence is about `rule`, as its main rule or one it also breaks.
    pub fn breaks(&self, rule: RuleId) -> bool {
        self.rule == rule || self.also.contains(&rule)
    }

    /// The rules it also breaks, as a set.
    pub fn also_set(&self) -> RuleSet {
        RuleSet::of(&self.also)
    }

    /// The same divergence at step `step`.
    pub fn at(mut self, step: usize) -> Divergence {
        self.step = step;
        self
    }

    fn with_also(mut self, rule: RuleId) -> Divergence {
        if rule != self.rule && !self.also.contains(&rule) {
            self.also.push(rule);
        }
        self
    }
}

/// Why a comparison stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The system under test did something the model says is wrong.
    Diverged(Divergence),
    /// The system under test answered something the protocol does not allow (a harness
    /// error for the checker, never a verdict).
    Protocol(String),
}

impl From<Divergence> for Mismatch {
    fn from(d: Divergence) -> Mismatch {
        Mismatch::Diverged(d)
    }
}

/// What a comparison counts: one call per rule checked (the checker's per-rule statistics;
/// `()` counts nothing).
pub trait Tally {
    /// One more check of `rule`.
    fn check(&mut self, rule: RuleId);
}

impl Tally for () {
    fn check(&mut self, _: RuleId) {}
}

impl Tally for crate::stats::RuleStats {
    fn check(&mut self, rule: RuleId) {
        crate::stats::RuleStats::check(self, rule);
    }
}

/// A binding of the model's symbolic sessions to the IDs a system under test showed, of type
/// `S` (the checker: `String`; the linearizer: an interned `u32`).
pub trait Binder<S> {
    /// The ID bound to a symbolic session.
    fn id_of(&self, s: SessionRef) -> Option<&S>;
    /// The symbolic session an ID is bound to.
    fn session_of(&self, id: &S) -> Option<SessionRef>;
    /// Binds a new session to the ID the system under test minted for it.
    fn bind(&mut self, s: SessionRef, id: &S);
    /// The ID's text.
    fn text<'a>(&'a self, id: &'a S) -> &'a str;

    /// A session in a message: its symbol and, once bound, its ID.
    fn show_session(&self, s: SessionRef) -> String {
        match self.id_of(s) {
            Some(id) => format!("{s} ({})", self.text(id)),
            None => format!("{s} (?)"),
        }
    }

    /// An ID in a message: the session it is bound to, or that it is a new one.
    fn show_id(&self, id: &S) -> String {
        match self.session_of(id) {
            Some(s) => format!("{s} ({})", self.text(id)),
            None => format!("a new session ({})", self.text(id)),
        }
    }
}

/// The session cookie a response set, as the last `Set-Cookie` under the cookie name says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CookieSeen<S> {
    /// No `Set-Cookie` under the cookie name.
    None,
    /// It expires the cookie.
    Expire,
    /// It sets this value.
    Value(S),
}

impl<S> CookieSeen<S> {
    /// The effect, its value borrowed.
    pub fn as_ref(&self) -> CookieSeen<&S> {
        match self {
            CookieSeen::None => CookieSeen::None,
            CookieSeen::Expire => CookieSeen::Expire,
            CookieSeen::Value(v) => CookieSeen::Value(v),
        }
    }

    /// The same effect with its value said another way.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> CookieSeen<T> {
        match self {
            CookieSeen::None => CookieSeen::None,
            CookieSeen::Expire => CookieSeen::Expire,
            CookieSeen::Value(v) => CookieSeen::Value(f(v)),
        }
    }
}

/// SPEC.md "Responses": the last `Set-Cookie` under the session cookie name decides. The one
/// reading of a response's cookies (checker, linearizer, renderer, concurrent client).
pub fn last_session_cookie<'a>(name: &str, cookies: &'a [SetCookie]) -> CookieSeen<&'a String> {
    match cookies.iter().rev().find(|c| c.name == name) {
        None => CookieSeen::None,
        Some(c) if c.expiring => CookieSeen::Expire,
        Some(c) => CookieSeen::Value(&c.value),
    }
}

/// A response as a system under test sent it.
#[derive(Clone, Debug)]
pub struct ResponseSeen<'a, S> {
    /// The HTTP status.
    pub status: u16,
    /// The session cookie effect.
    pub cookie: CookieSeen<&'a S>,
    /// The `Set-Cookie` headers as sent, for messages.
    pub set_cookies: &'a [SetCookie],
}

/// What a system under test showed for the request part of one step.
#[derive(Clone, Debug)]
pub struct Observation<'a, S> {
    /// The response, when the step produced one (`None`: a request in flight, or a step
    /// that is not a request).
    pub response: Option<ResponseSeen<'a, S>>,
    /// The session the system under test says the request ran in.
    pub ran_in: Option<&'a S>,
    /// The cookie value the request sent.
    pub sent_cookie: Option<&'a S>,
    /// What each action returned; a session ID read is `None` for `""`.
    pub reads: &'a [Read<Option<S>>],
}

/// A hook run as a system under test logged it.
#[derive(Clone, Copy, Debug)]
pub struct HookSeen<'a, S> {
    /// The session ID it ran for.
    pub session: &'a S,
    /// The process within the session.
    pub lane: u8,
    /// What it saw.
    pub snapshot: &'a ContextSnapshot,
    /// Whether it failed.
    pub failed: bool,
}

impl<'a> HookSeen<'a, String> {
    /// A hook run as the trait reports it ([`wlcs_sut::WireHookRun`]).
    pub fn of(run: &'a wlcs_sut::WireHookRun) -> Self {
        HookSeen {
            session: &run.session_id,
            lane: run.lane,
            snapshot: &run.snapshot,
            failed: run.failed,
        }
    }
}

/// What the comparisons of a step read besides the two observations.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The model after the step.
    pub model: &'a Model,
    /// The session cookie's name (for messages).
    pub cookie_name: &'a str,
    /// Which session wrote each variable value (INV-4: a value seen elsewhere leaked).
    pub written: &'a BTreeMap<i64, SessionRef>,
    /// Whether a close of the request's session from elsewhere may expire its cookie in
    /// this response (CLOSE-12, concurrent histories only).
    pub may_expire: bool,
}

/// The request part of a step: status, routing (with REQ-3, REQ-6, INV-3), reads (with
/// INV-4) and the session cookie effect. Binds a new session's ID in `ids`.
pub fn request<S: Eq, B: Binder<S>>(
    expected: &StepObs,
    got: &Observation<'_, S>,
    ids: &mut B,
    cx: Context<'_>,
    tally: &mut impl Tally,
) -> Result<(), Mismatch> {
    status(
        expected,
        got.response.as_ref().map(|r| r.status),
        cx.model.scalable(),
        tally,
    )?;
    let refused = got.response.as_ref().is_some_and(|r| r.status != 200);
    if !refused {
        routing(expected, got, ids, cx.model, tally)?;
    }
    reads(expected, got.reads, refused, ids, cx, tally)?;
    if let (Some(e), Some(r)) = (&expected.response, &got.response)
        && r.status == 200
    {
        cookie(expected, e.cookie.value, r, ids, cx, tally)?;
    }
    Ok(())
}

/// The response's status, and whether there is a response at all.
pub fn status(
    expected: &StepObs,
    got: Option<u16>,
    scalable: bool,
    tally: &mut impl Tally,
) -> Result<(), Divergence> {
    let show = |some: bool| {
        if some {
            "an immediate response"
        } else {
            "a request in flight"
        }
    };
    match (&expected.response, got) {
        // Scalable mode is out of scope beyond CLOSE-9 (SPEC.md decisions): whether IP
        // validation refuses a request there (REQ-5's 400) is not compared; the generator
        // sends such requests without actions, so nothing else depends on the answer.
        (Some(e), Some(200 | 400)) if scalable && e.status.rule == RuleId::Req5 => Ok(()),
        (Some(e), Some(status)) => {
            tally.check(e.status.rule);
            if e.status.value != status {
                return Err(Divergence::new(
                    e.status.rule,
                    e.status.also,
                    "HTTP status",
                    e.status.value.to_string(),
                    status.to_string(),
                ));
            }
            Ok(())
        }
        (None, None) => Ok(()),
        (e, g) => {
            let rule = e.as_ref().map_or(RuleId::Req2, |r| r.status.rule);
            Err(Divergence::new(
                rule,
                RuleSet::EMPTY,
                "response",
                show(e.is_some()),
                show(g.is_some()),
            ))
        }
    }
}

/// Which session a request ran in: REQ-1/2/3, CLOSE-1, CLOSE-8, TIME-1/3, LIMIT-1,
/// MOBILE-3... as the model's routing says; INV-3, REQ-3 and REQ-6 on a new session's ID.
pub fn routing<S: Eq, B: Binder<S>>(
    expected: &StepObs,
    got: &Observation<'_, S>,
    ids: &mut B,
    model: &Model,
    tally: &mut impl Tally,
) -> Result<(), Divergence> {
    // Refused by the model: the status comparison reports it.
    let Some(ran_in) = expected.ran_in else {
        return Ok(());
    };
    if model.scalable() && ran_in.rule != RuleId::Close9 {
        // Scalable sessions are out of scope beyond CLOSE-9: routing is not compared; a new
        // ID is only learned so later cookies can name it.
        if let Some(id) = got.ran_in
            && ran_in.opened
            && ids.session_of(id).is_none()
        {
            ids.bind(ran_in.session, id);
        }
        return Ok(());
    }
    tally.check(ran_in.rule);
    let what = "session the request ran in";
    let Some(actual) = got.ran_in else {
        return Err(Divergence::new(
            ran_in.rule,
            RuleSet::EMPTY,
            what,
            ran_in.session.to_string(),
            "no session reported",
        ));
    };
    if !ran_in.opened {
        if ids.id_of(ran_in.session) == Some(actual) {
            return Ok(());
        }
        return Err(Divergence::new(
            ran_in.rule,
            RuleSet::EMPTY,
            what,
            ids.show_session(ran_in.session),
            ids.show_id(actual),
        ));
    }
    new_session(
        ran_in,
        actual,
        got.sent_cookie == Some(actual),
        ids,
        model,
        tally,
    )
}

/// A request the model says opened a new session: the ID must be new (REQ-6, INV-3 for a
/// closed one), minted by the server (REQ-3) and cookie-safe (REQ-6); then it is bound.
fn new_session<S: Eq, B: Binder<S>>(
    ran_in: wlcs_model::RanIn,
    actual: &S,
    fixation: bool,
    ids: &mut B,
    model: &Model,
    tally: &mut impl Tally,
) -> Result<(), Divergence> {
    tally.check(RuleId::Req6);
    tally.check(RuleId::Inv3);
    if let Some(old) = ids.session_of(actual) {
        // REQ-6: an ID is never issued twice, whatever the client sent.
        let mut also = RuleSet::of(&[RuleId::Req6]);
        if model.id_state(old) == Some(wlcs_model::world::IdState::Closed) {
            also.insert(RuleId::Inv3);
        }
        if fixation {
            // REQ-3: the client's value was adopted (session fixation).
            also.insert(RuleId::Req3);
        }
        return Err(Divergence::new(
            ran_in.rule,
            also,
            "session the request ran in",
            "a new session",
            format!("{}, an existing session", ids.show_session(old)),
        ));
    }
    if fixation {
        // REQ-3 (SHOULD): the server mints the new ID; it never adopts the client's.
        return Err(Divergence::new(
            RuleId::Req3,
            RuleSet::EMPTY,
            "new session ID (session fixation)",
            "a server-minted ID",
            format!("the client's cookie value {:?}", ids.text(actual)),
        ));
    }
    if !is_plausible_id(ids.text(actual)) {
        return Err(Divergence::new(
            RuleId::Req6,
            RuleSet::EMPTY,
            "new session ID",
            "a non-empty cookie-safe ID",
            format!("{:?}", ids.text(actual)),
        ));
    }
    ids.bind(ran_in.session, actual);
    Ok(())
}

/// A session ID a client can carry in a cookie (REQ-6's minimum).
pub fn is_plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= SESSION_ID_BYTES_MAX
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
}

/// What each action returned, in order; INV-4 when a value another session wrote shows up.
pub fn reads<S: Eq, B: Binder<S>>(
    expected: &StepObs,
    got: &[Read<Option<S>>],
    refused: bool,
    ids: &B,
    cx: Context<'_>,
    tally: &mut impl Tally,
) -> Result<(), Mismatch> {
    if got.len() != expected.reads.len() {
        if refused {
            return Ok(());
        }
        return Err(Mismatch::Protocol(format!(
            "{} action results for {} actions",
            got.len(),
            expected.reads.len()
        )));
    }
    for (i, (e, g)) in expected.reads.iter().zip(got).enumerate() {
        // CLOSE-9: not compared.
        let Some(want) = &e.value else {
            continue;
        };
        tally.check(e.rule);
        let seen = g.map_session(|id| match id {
            None => Some(None),
            Some(id) => ids.session_of(id).map(Some),
        });
        if seen.as_ref() != Some(want) {
            let mut d = Divergence::new(
                e.rule,
                e.also,
                format!("result of action {i}"),
                crate::transcript::read_with(want, |s| {
                    s.map_or("\"\"".into(), |s| ids.show_session(s))
                }),
                crate::transcript::read_with(g, |id| {
                    id.as_ref().map_or("\"\"".into(), |id| ids.show_id(id))
                }),
            );
            if let Read::Var(Some(v)) = g
                && let Some(writer) = cx.written.get(v)
                && Some(*writer) != expected.session
            {
                d = d.with_also(RuleId::Inv4);
            }
            return Err(d.into());
        }
        tally.check(RuleId::Inv4);
    }
    Ok(())
}

/// The session cookie effect of a 200 response.
fn cookie<S: Eq, B: Binder<S>>(
    expected_obs: &StepObs,
    expected: CookieEffect,
    got: &ResponseSeen<'_, S>,
    ids: &B,
    cx: Context<'_>,
    tally: &mut impl Tally,
) -> Result<(), Divergence> {
    let Some(e) = &expected_obs.response else {
        return Ok(());
    };
    if cx.model.scalable() && !matches!(got.cookie, CookieSeen::Expire) {
        // CLOSE-9 only: in scalable mode a response must not expire the cookie.
        return Ok(());
    }
    tally.check(e.cookie.rule);
    let own = expected_obs.session.and_then(|s| ids.id_of(s));
    let ok = match (expected, got.cookie) {
        (CookieEffect::Expire, CookieSeen::Expire) | (CookieEffect::Keep, CookieSeen::None) => true,
        (CookieEffect::Issue(s), CookieSeen::Value(v)) => ids.id_of(s) == Some(v),
        // A refresh that repeats the current ID is still "no new ID".
        (CookieEffect::Keep, CookieSeen::Value(v)) => own == Some(v),
        // CLOSE-12: a close of this session from elsewhere, concurrent with the request, may
        // expire the cookie in this response.
        (CookieEffect::Keep, CookieSeen::Expire) => own.is_some() && cx.may_expire,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let mut also = e.cookie.also;
    if matches!(got.cookie, CookieSeen::Expire) {
        // The target closed a session the model did not: the step's no-op close is what it
        // got wrong.
        if let Some(rule) = noop_close_rule(&expected_obs.fired) {
            also.insert(rule);
        }
    }
    let shown = got
        .set_cookies
        .iter()
        .map(|c| c.raw.as_str())
        .collect::<Vec<_>>()
        .join(" | ");
    let want = match expected {
        CookieEffect::Keep => "cookie kept".to_string(),
        CookieEffect::Expire => "set-cookie expired".to_string(),
        CookieEffect::Issue(s) => format!("set-cookie {}", ids.show_session(s)),
    };
    Err(Divergence::new(
        e.cookie.rule,
        also,
        format!("session cookie ({})", cx.cookie_name),
        want,
        if shown.is_empty() {
            "no Set-Cookie".to_string()
        } else {
            shown
        },
    ))
}

/// The no-op close a step ran, if any: what a target that closed anyway got wrong.
fn noop_close_rule(fired: &[RuleId]) -> Option<RuleId> {
    [
        RuleId::Close9,
        RuleId::Close13,
        RuleId::Close10,
        RuleId::Close2,
    ]
    .into_iter()
    .find(|r| fired.contains(r))
}

/// One hook run against the run the model expected of the same process: CLOSE-6 (what it
/// saw, with the rule that ended the process, and INV-4 for a value another session wrote)
/// and CLOSE-14 (whether it failed).
pub fn hook_run<S, B: Binder<S>>(
    expected: &HookRun,
    got: &HookSeen<'_, S>,
    ids: &B,
    written: &BTreeMap<i64, SessionRef>,
    tally: &mut impl Tally,
) -> Result<(), Divergence> {
    tally.check(RuleId::Close6);
    if *got.snapshot != expected.snapshot {
        // The hook saw the wrong context: CLOSE-6, and the rule that ended the process says
        // the hook sees the context as its last request left it.
        let mut also = expected.also.with(expected.cause);
        let leaked = got.snapshot.vars.values().any(|v| {
            written
                .get(v)
                .is_some_and(|writer| *writer != expected.session)
        });
        if leaked {
            also.insert(RuleId::Inv4);
        }
        return Err(Divergence::new(
            RuleId::Close6,
            also,
            format!(
                "context the hook of {} saw",
                ids.show_session(expected.session)
            ),
            crate::transcript::snapshot(&expected.snapshot),
            crate::transcript::snapshot(got.snapshot),
        ));
    }
    if got.failed != expected.failed {
        tally.check(RuleId::Close14);
        return Err(Divergence::new(
            RuleId::Close14,
            RuleSet::EMPTY,
            format!("hook failure of {}", ids.show_session(expected.session)),
            expected.failed.to_string(),
            got.failed.to_string(),
        ));
    }
    Ok(())
}

/// Whether SPEC.md leaves the order of two runs of one step open: the sessions one
/// admission evicts (LIMIT-1 says which, not in which order). Every other order is fixed: a
/// nested close's hook after the outer hook's snapshot, timeouts in due order then session
/// then lane, a closed session's lanes in order.
fn unordered(a: &HookRun, b: &HookRun) -> bool {
    a.cause == RuleId::Limit1 && b.cause == RuleId::Limit1
}

/// A step's hook runs, in order wherever SPEC.md fixes it (a run of the wrong process at a
/// place blames the rule of the run that belongs there: TIME-2 for timeouts, MOBILE-2 for 4D
/// Mobile lanes, CLOSE-5 for nested closes), as a multiset among the runs of one eviction;
/// CLOSE-5/6/14, MOBILE-2, TIME-2, LIMIT-1, CLOSE-11/12; INV-2 on every one.
/// `advanced`: the step moved the clock (an extra run there is TIME-4's).
pub fn hooks<S: Eq, B: Binder<S>>(
    expected: &StepObs,
    got: &[HookSeen<'_, S>],
    advanced: bool,
    ids: &B,
    cx: Context<'_>,
    tally: &mut impl Tally,
) -> Result<(), Divergence> {
    tally.check(RuleId::Inv2);
    let mut unmatched: Vec<&HookSeen<'_, S>> = got.iter().collect();
    let same = |h: &HookSeen<'_, S>, e: &HookRun| {
        ids.id_of(e.session) == Some(h.session) && h.lane == e.lane
    };
    for (k, e) in expected.hooks.iter().enumerate() {
        tally.check(e.cause);
        // Prefer the run that saw exactly the expected context: with two runs for one
        // process (one too many), the wrong one is the extra.
        let pos = unmatched
            .iter()
            .position(|h| same(h, e) && *h.snapshot == e.snapshot)
            .or_else(|| unmatched.iter().position(|h| same(h, e)));
        let Some(pos) = pos else {
            return Err(Divergence::new(
                e.cause,
                e.also.with(RuleId::Inv2),
                format!("hook run for {} lane {}", e.session, e.lane),
                crate::transcript::hook(e),
                "no hook run",
            ));
        };
        // A run before this one that belongs to a later expected run (of a fixed order) came
        // too early: the rule that orders this run first is broken.
        let later = &expected.hooks[k + 1..];
        if let Some(early) = unmatched[..pos].iter().find_map(|h| {
            later
                .iter()
                .find(|l| same(h, l) && !unordered(e, l))
                .map(|l| (h, l))
        }) {
            let (_, l) = early;
            return Err(Divergence::new(
                e.cause,
                e.also.with(l.cause),
                "order of hook runs",
                format!("{} before {}", e.session, l.session),
                format!("{} first", ids.show_session(l.session)),
            ));
        }
        let run = unmatched.remove(pos);
        hook_run(e, run, ids, cx.written, tally)?;
    }
    match unmatched.first() {
        None => Ok(()),
        Some(extra) => Err(extra_run(expected, extra, advanced, ids, cx.model)),
    }
}

/// A hook run the model did not expect in this step, and the rule it answers to: TIME-4
/// for a timeout of a process the model keeps running, the model's explanation for a known
/// session (a no-op close, a pending close, a closed session), INV-2 for an unknown one.
fn extra_run<S, B: Binder<S>>(
    expected: &StepObs,
    extra: &HookSeen<'_, S>,
    advanced: bool,
    ids: &B,
    model: &Model,
) -> Divergence {
    let (rule, who) = match ids.session_of(extra.session) {
        Some(s)
            if advanced
                && model.process_running(ProcRef::Web {
                    session: s,
                    lane: extra.lane,
                }) =>
        {
            // A clock move ended a process the model keeps running: it timed out on another
            // clock than its own idle time (TIME-4).
            (RuleId::Time4, s.to_string())
        }
        Some(s) => (
            model.explain_extra_hook(s, extra.lane, &expected.fired),
            s.to_string(),
        ),
        None => (
            RuleId::Inv2,
            format!("unknown session {:?}", ids.text(extra.session)),
        ),
    };
    Divergence::new(
        rule,
        RuleSet::of(&[RuleId::Inv2]),
        "hook runs",
        format!("no hook run for {who} lane {}", extra.lane),
        format!(
            "a hook run seeing {}",
            crate::transcript::snapshot(extra.snapshot)
        ),
    )
}

/// A lock owner as a system under test reported it: a non-web process, or a session's
/// process by ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerSeen<'a, S> {
    /// A session's web process.
    Web {
        /// The session ID.
        session: &'a S,
        /// The process within the session.
        lane: u8,
    },
    /// A non-web process.
    NonWeb(u8),
}

/// The lock table, for the records in `records` (all when `None`): CLOSE-7, TIME-2, LIMIT-1
/// releases; INV-1 on every owner. A record held, in the model, by a session whose ID no
/// answer revealed is not compared (the linearizer's unrevealed sessions).
pub fn locks<'a, S: Eq + 'a, P, B: Binder<S>>(
    model: &Model,
    got: &'a BTreeMap<RecordRef, P>,
    seen: impl Fn(&'a P) -> OwnerSeen<'a, S>,
    records: Option<&BTreeSet<RecordRef>>,
    ids: &B,
    tally: &mut impl Tally,
) -> Result<(), Divergence> {
    if model.scalable() {
        return Ok(());
    }
    let expected = model.locks();
    tally.check(RuleId::Inv1);
    let all = sorted_union(
        expected.keys().copied(),
        got.keys()
            .filter(|r| records.is_none_or(|rs| rs.contains(r)))
            .copied(),
    );
    let owner = |p: &OwnerSeen<'_, S>| match p {
        OwnerSeen::NonWeb(n) => Some(ProcRef::NonWeb(*n)),
        OwnerSeen::Web { session, lane } => ids.session_of(session).map(|session| ProcRef::Web {
            session,
            lane: *lane,
        }),
    };
    for record in all {
        let want = expected.get(&record).copied();
        if let Some(ProcRef::Web { session, .. }) = want
            && records.is_some()
            && ids.id_of(session).is_none()
        {
            continue;
        }
        let got_owner = got.get(&record).map(|p| owner(&seen(p)));
        let (rule, rule_also) = model.lock_rule(record);
        tally.check(rule);
        if want.map(Some) == got_owner {
            continue;
        }
        let mut also = rule_also;
        match got_owner {
            Some(Some(p)) if !model.process_running(p) => also.insert(RuleId::Inv1),
            Some(None) => also.insert(RuleId::Inv1),
            _ => {}
        }
        let show = |p: &OwnerSeen<'_, S>| match p {
            OwnerSeen::NonWeb(n) => format!("held by nonweb{n}"),
            OwnerSeen::Web { session, lane } => match owner(p) {
                Some(proc) => format!("held by {proc}"),
                None => format!("held by {}{}", ids.text(session), lane_text(*lane)),
            },
        };
        return Err(Divergence::new(
            rule,
            also,
            format!("lock of {record}"),
            want.map_or("free".to_string(), |p| format!("held by {p}")),
            got.get(&record)
                .map_or("free".to_string(), |p| show(&seen(p))),
        ));
    }
    Ok(())
}

/// The union of two ascending key sequences, ascending, each key once: what collecting both
/// into a `BTreeSet` gives, without the set (this runs after most steps).
fn sorted_union<K: Ord + Copy>(
    a: impl Iterator<Item = K>,
    b: impl Iterator<Item = K>,
) -> impl Iterator<Item = K> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x < y => a.next(),
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), Some(_)) => {
            b.next();
            a.next()
        }
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// A lane in a message (`/p2`; nothing for a legacy session's lane 0).
pub fn lane_text(lane: u8) -> String {
    if lane == 0 {
        String::new()
    } else {
        format!("/p{lane}")
    }
}

/// Interprocess variables: CLOSE-7's negative space.
pub fn ipvars(
    model: &Model,
    got: &BTreeMap<VarName, i64>,
    tally: &mut impl Tally,
) -> Result<(), Divergence> {
    let expected = model.ipvars();
    for var in sorted_union(expected.keys().copied(), got.keys().copied()) {
        let rule = model.ipvar_rule(var);
        tally.check(rule);
        if expected.get(&var) != got.get(&var) {
            return Err(Divergence::new(
                rule,
                RuleSet::EMPTY,
                format!("interprocess variable <>v{var}"),
                format!("{:?}", expected.get(&var)),
                format!("{:?}", got.get(&var)),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Attribution cases, one line each: `check(expected, observed)` says which rule a
    //! difference is blamed on ("ok" when none).
    //!
    //! Expected (what the model said), space-separated: `bound=S0:A,S1:B` (IDs already
    //! bound), `status=200@REQ-2`, `cookie=keep|expire|issue:S1@RULE`, `ran=S0@RULE` or
    //! `ran=new:S1@RULE`, `read=done|var:5|sid:S0|sid:-|unchecked@RULE`,
    //! `hook=S0/0@RULE` (`/0:failed` for a failing hook), `fired=RULE`.
    //! Observed (what the target showed): `status=200`, `ran=A`, `sent=A`,
    //! `cookie=none|expire|A`, `read=done|var:5|sid:A|sid:`, `hook=A/0` (`:failed`),
    //! `snap=v1:5` (the context the next hooks saw).
    use super::*;

    #[test]
    fn sorted_union_is_the_set_of_both_in_order() {
        let u: Vec<u8> =
            sorted_union([1, 3, 5, 9].into_iter(), [2, 3, 9, 10].into_iter()).collect();
        assert_eq!(u, vec![1, 2, 3, 5, 9, 10]);
        let only_b: Vec<u8> = sorted_union([].into_iter(), [4, 7].into_iter()).collect();
        assert_eq!(only_b, vec![4, 7]);
    }
    use wlcs_model::obs::ResponseObs;
    use wlcs_model::vocab::WorldConfig;
    use wlcs_model::{RanIn, Ruled};

    #[derive(Default)]
    struct Ids {
        to_id: BTreeMap<SessionRef, String>,
    }

    impl Binder<String> for Ids {
        fn id_of(&self, s: SessionRef) -> Option<&String> {
            self.to_id.get(&s)
        }
        fn session_of(&self, id: &String) -> Option<SessionRef> {
            self.to_id.iter().find(|(_, v)| *v == id).map(|(k, _)| *k)
        }
        fn bind(&mut self, s: SessionRef, id: &String) {
            self.to_id.insert(s, id.clone());
        }
        fn text<'a>(&'a self, id: &'a String) -> &'a str {
            id
        }
    }

    fn session(t: &str) -> SessionRef {
        SessionRef(t.trim_start_matches('S').parse().expect("S<n>"))
    }

    fn ruled(item: &str) -> (&str, RuleId) {
        let (v, r) = item.rsplit_once('@').expect("value@RULE");
        (v, RuleId::parse(r).expect("a rule"))
    }

    fn read_of<S>(v: &str, sid: impl FnOnce(&str) -> S) -> Read<S> {
        match v.split_once(':') {
            Some(("var", n)) => Read::Var(n.parse().ok()),
            Some(("sid", s)) => Read::SessionId(sid(s)),
            _ => Read::Done,
        }
    }

    /// `ran=[new:]S0@RULE`: the session a request ran in (opened by it with `new:`).
    fn ran_in(rest: &str) -> RanIn {
        let (v, rule) = ruled(rest);
        let (opened, s) = match v.strip_prefix("new:") {
            Some(s) => (true, s),
            None => (false, v),
        };
        RanIn {
            session: session(s),
            opened,
            rule,
        }
    }

    /// `hook=S0/LANE[:failed]@RULE`: a hook run the model expects, caused by RULE.
    fn hook_expected(rest: &str) -> HookRun {
        let (v, rule) = ruled(rest);
        let (who, failed) = match v.strip_suffix(":failed") {
            Some(w) => (w, true),
            None => (v, false),
        };
        let (s, lane) = who.split_once('/').expect("S0/0");
        HookRun {
            session: session(s),
            lane: lane.parse().expect("lane"),
            snapshot: ContextSnapshot::default(),
            failed,
            cause: rule,
            also: RuleSet::EMPTY,
        }
    }

    fn expected(text: &str) -> (StepObs, Ids) {
        let mut obs = StepObs::default();
        let mut ids = Ids::default();
        for item in text.split_whitespace() {
            let (key, rest) = item.split_once('=').expect("key=value");
            match key {
                "bound" => {
                    for pair in rest.split(',') {
                        let (s, id) = pair.split_once(':').expect("S0:A");
                        ids.bind(session(s), &id.to_string());
                    }
                }
                "status" => {
                    let (v, rule) = ruled(rest);
                    obs.response = Some(ResponseObs {
                        status: Ruled::new(v.parse().expect("status"), rule),
                        cookie: Ruled::new(CookieEffect::Keep, RuleId::Req2),
                    });
                }
                "cookie" => {
                    let (v, rule) = ruled(rest);
                    let effect = match v.split_once(':') {
                        Some(("issue", s)) => CookieEffect::Issue(session(s)),
                        _ if v == "expire" => CookieEffect::Expire,
                        _ => CookieEffect::Keep,
                    };
                    if let Some(r) = &mut obs.response {
                        r.cookie = Ruled::new(effect, rule);
                    }
                }
                "ran" => {
                    let ran = ran_in(rest);
                    obs.session = Some(ran.session);
                    obs.ran_in = Some(ran);
                }
                "read" => {
                    let (v, rule) = ruled(rest);
                    let value =
                        (v != "unchecked").then(|| read_of(v, |s| (s != "-").then(|| session(s))));
                    obs.reads.push(Ruled::new(value, rule));
                }
                "hook" => obs.hooks.push(hook_expected(rest)),
                "fired" => obs.fired.push(RuleId::parse(rest).expect("a rule")),
                other => panic!("unknown expected item {other}"),
            }
        }
        (obs, ids)
    }

    /// What a test says the target showed: `status=`, `ran=`, `sent=`, `cookie=`, `read=`,
    /// `snap=` (the context the next hooks saw) and `hook=ID/LANE[:failed]` items.
    struct Observed {
        status: Option<u16>,
        ran_in: Option<String>,
        sent: Option<String>,
        cookie: CookieSeen<String>,
        reads: Vec<Read<Option<String>>>,
        runs: Vec<(String, u8, ContextSnapshot, bool)>,
    }

    /// Parses what a test says the target showed (see [`Observed`]).
    fn observed(text: &str) -> Observed {
        let mut o = Observed {
            status: None,
            ran_in: None,
            sent: None,
            cookie: CookieSeen::None,
            reads: Vec::new(),
            runs: Vec::new(),
        };
        let mut snap = ContextSnapshot::default();
        for item in text.split_whitespace() {
            let (key, v) = item.split_once('=').expect("key=value");
            match key {
                "status" => o.status = Some(v.parse::<u16>().expect("status")),
                "ran" => o.ran_in = Some(v.to_string()),
                "sent" => o.sent = Some(v.to_string()),
                "cookie" => {
                    o.cookie = match v {
                        "none" => CookieSeen::None,
                        "expire" => CookieSeen::Expire,
                        id => CookieSeen::Value(id.to_string()),
                    }
                }
                "read" => o
                    .reads
                    .push(read_of(v, |s| (!s.is_empty()).then(|| s.to_string()))),
                "snap" => {
                    let (var, value) = v.split_once(':').expect("v1:5");
                    snap.vars.insert(
                        var.trim_start_matches('v').parse().expect("var"),
                        value.parse().expect("value"),
                    );
                }
                "hook" => {
                    let (who, failed) = match v.strip_suffix(":failed") {
                        Some(w) => (w, true),
                        None => (v, false),
                    };
                    let (id, lane) = who.split_once('/').expect("A/0");
                    let lane = lane.parse().expect("lane");
                    o.runs.push((id.to_string(), lane, snap.clone(), failed));
                }
                other => panic!("unknown observed item {other}"),
            }
        }
        o
    }

    /// Compares, and says the blamed rule and what it also breaks (`ok` when nothing
    /// differs, `protocol: ...` for a harness error).
    fn check(expected_text: &str, observed_text: &str) -> String {
        let (obs, mut ids) = expected(expected_text);
        let o = observed(observed_text);
        let model = Model::new(WorldConfig::default());
        let written = BTreeMap::new();
        let cx = Context {
            model: &model,
            cookie_name: "4DSID_wlcs",
            written: &written,
            may_expire: false,
        };
        let got = Observation {
            response: o.status.map(|status| ResponseSeen {
                status,
                cookie: o.cookie.as_ref(),
                set_cookies: &[],
            }),
            ran_in: o.ran_in.as_ref(),
            sent_cookie: o.sent.as_ref(),
            reads: &o.reads,
        };
        let seen: Vec<HookSeen<'_, String>> = o
            .runs
            .iter()
            .map(|(id, lane, snapshot, failed)| HookSeen {
                session: id,
                lane: *lane,
                snapshot,
                failed: *failed,
            })
            .collect();
        let result = request(&obs, &got, &mut ids, cx, &mut ()).and_then(|()| {
            hooks(&obs, &seen, false, &ids, cx, &mut ()).map_err(Mismatch::Diverged)
        });
        match result {
            Ok(()) => "ok".to_string(),
            Err(Mismatch::Protocol(p)) => format!("protocol: {p}"),
            Err(Mismatch::Diverged(d)) if d.also.is_empty() => d.rule.to_string(),
            Err(Mismatch::Diverged(d)) => {
                let also: Vec<&str> = d.also.iter().map(|r| r.as_str()).collect();
                format!("{} also {}", d.rule, also.join(","))
            }
        }
    }

    const REQ: &str = "status=200@REQ-2 cookie=keep@REQ-2";

    #[test]
    fn matching_observations_are_ok() {
        assert_eq!(
            check(
                &format!("{REQ} bound=S0:A ran=S0@REQ-2"),
                "status=200 ran=A"
            ),
            "ok"
        );
        assert_eq!(
            check(
                "status=200@REQ-1 cookie=issue:S0@REQ-1 ran=new:S0@REQ-1",
                "status=200 ran=A cookie=A"
            ),
            "ok"
        );
    }

    #[test]
    fn status_and_presence() {
        assert_eq!(check("status=400@REQ-5", "status=200"), "REQ-5");
        assert_eq!(check("status=503@LIMIT-2", ""), "LIMIT-2");
        assert_eq!(check("", "status=200"), "REQ-2");
    }

    #[test]
    fn routing_blames_the_routing_rule() {
        let e = format!("{REQ} bound=S0:A,S1:B ran=S0@TIME-3");
        assert_eq!(check(&e, "status=200 ran=B"), "TIME-3");
        assert_eq!(check(&e, "status=200"), "TIME-3");
        assert_eq!(
            check(
                "status=200@CLOSE-8 ran=new:S1@CLOSE-8 bound=S0:A",
                "status=200 ran=A"
            ),
            "CLOSE-8 also REQ-6"
        );
    }

    #[test]
    fn a_new_session_id_is_minted_plausible_and_never_the_clients() {
        let e = "status=200@REQ-3 ran=new:S1@REQ-3";
        // REQ-3: session fixation.
        assert_eq!(check(e, "status=200 ran=X sent=X"), "REQ-3");
        // REQ-6: not a cookie-safe ID.
        assert_eq!(check(e, "status=200 ran=a;b"), "REQ-6");
        // Fixation of an ID another session holds: the routing rule, REQ-6 and REQ-3.
        assert_eq!(
            check(&format!("{e} bound=S0:A"), "status=200 ran=A sent=A"),
            "REQ-3 also REQ-6"
        );
    }

    #[test]
    fn the_cookie_refresh_rule() {
        let e = format!("{REQ} bound=S0:A ran=S0@REQ-2");
        // A refresh repeating the current ID is no new ID.
        assert_eq!(check(&e, "status=200 ran=A cookie=A"), "ok");
        // Another value is.
        assert_eq!(check(&e, "status=200 ran=A cookie=B"), "REQ-2");
        // An expiry where the model keeps the cookie blames the no-op close too.
        assert_eq!(
            check(
                &format!("{e} fired=CLOSE-13"),
                "status=200 ran=A cookie=expire"
            ),
            "REQ-2 also CLOSE-13"
        );
        // A value while the request ran in no known session is a new ID (decided).
        assert_eq!(check(REQ, "status=200 cookie=B"), "REQ-2");
        assert_eq!(
            check(
                "status=200@CLOSE-4 cookie=expire@CLOSE-4 bound=S0:A ran=S0@REQ-2",
                "status=200 ran=A"
            ),
            "CLOSE-4"
        );
    }

    #[test]
    fn reads() {
        let e = format!("{REQ} bound=S0:A ran=S0@REQ-2");
        assert_eq!(
            check(
                &format!("{e} read=var:5@CLOSE-7"),
                "status=200 ran=A read=var:6"
            ),
            "CLOSE-7"
        );
        assert_eq!(
            check(
                &format!("{e} read=sid:S0@CLOSE-3"),
                "status=200 ran=A read=sid:A"
            ),
            "ok"
        );
        assert_eq!(
            check(
                &format!("{e} read=sid:-@CLOSE-3"),
                "status=200 ran=A read=sid:A"
            ),
            "CLOSE-3"
        );
        assert_eq!(
            check(
                &format!("{e} read=unchecked@CLOSE-9"),
                "status=200 ran=A read=var:1"
            ),
            "ok"
        );
        assert_eq!(
            check(&format!("{e} read=done@REQ-2"), "status=200 ran=A"),
            "protocol: 0 action results for 1 actions"
        );
    }

    #[test]
    fn hook_runs_missing_extra_or_different() {
        let e = "bound=S0:A,S1:B hook=S0/0@CLOSE-5";
        assert_eq!(check(e, "hook=A/0"), "ok");
        assert_eq!(check(e, ""), "CLOSE-5 also INV-2");
        assert_eq!(check(e, "hook=A/0:failed"), "CLOSE-14");
        assert_eq!(check(e, "snap=v1:5 hook=A/0"), "CLOSE-6 also CLOSE-5");
        // A run for a session the model knows nothing of.
        assert_eq!(check(e, "hook=A/0 hook=Z/0"), "INV-2");
    }

    #[test]
    fn hook_runs_come_in_the_order_spec_fixes() {
        // Timeouts in due order, then session, then lane: a reversal blames TIME-2.
        let timeouts = "bound=S0:A,S1:B hook=S0/0@TIME-2 hook=S1/0@TIME-2";
        assert_eq!(check(timeouts, "hook=A/0 hook=B/0"), "ok");
        assert_eq!(check(timeouts, "hook=B/0 hook=A/0"), "TIME-2");
        // 4D Mobile lanes in order.
        let lanes = "bound=S0:A hook=S0/1@MOBILE-2 hook=S0/2@MOBILE-2";
        assert_eq!(check(lanes, "hook=A/2 hook=A/1"), "MOBILE-2");
        // A nested close's hook runs after the outer hook's snapshot.
        let nested = "bound=S0:A,S1:B hook=S0/0@CLOSE-5 hook=S1/0@CLOSE-5";
        assert_eq!(check(nested, "hook=B/0 hook=A/0"), "CLOSE-5");
        // The sessions one admission evicts: SPEC.md says which, not in which order.
        let evicted = "bound=S0:A,S1:B hook=S0/0@LIMIT-1 hook=S1/0@LIMIT-1";
        assert_eq!(check(evicted, "hook=B/0 hook=A/0"), "ok");
        // An extra run before the expected one is an extra, not an order.
        assert_eq!(
            check("bound=S0:A hook=S0/0@CLOSE-5", "hook=Z/0 hook=A/0"),
            "INV-2"
        );
    }
}
