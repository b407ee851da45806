//! What the model says a step must produce: observations, each tagged with the rule that
//! decides it, so a divergence names its rule.

use crate::rules::{RuleId, RuleSet};
use crate::vocab::{ContextSnapshot, LockState, ProcRef, RecordRef, SessionRef};
use serde::{Deserialize, Serialize};

/// A value together with the rule that determines it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruled<T> {
    /// The expected value.
    pub value: T,
    /// The rule a different value would violate.
    pub rule: RuleId,
    /// Other rules a different value would violate too (a lock kept after a failing hook
    /// breaks CLOSE-7 and CLOSE-14).
    #[serde(default, skip_serializing_if = "RuleSet::is_empty")]
    pub also: RuleSet,
}

impl<T> Ruled<T> {
    /// Tags a value with its rule.
    pub fn new(value: T, rule: RuleId) -> Self {
        Ruled {
            value,
            rule,
            also: RuleSet::EMPTY,
        }
    }

    /// The same rules around another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Ruled<U> {
        Ruled {
            value: f(self.value),
            rule: self.rule,
            also: self.also,
        }
    }

    /// Adds rules a different value would also violate.
    pub fn also(mut self, also: RuleSet) -> Self {
        self.also = self.also.union(also);
        self
    }
}

/// What one action returns. Writes and the close command return `Done`.
///
/// `S` is how a session ID read is said: `Option<SessionRef>` for the model (the default;
/// `None` for `""`), the ID's text for a system under test (`wlcs_sut::WireRead`, `""` outside
/// a web request). [`Read::map_session`] translates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Read<S = Option<SessionRef>> {
    /// The action returns nothing.
    Done,
    /// A process variable's value; `None` when unassigned in this context.
    Var(Option<i64>),
    /// An interprocess variable's value; `None` when unassigned.
    IpVar(Option<i64>),
    /// The current selection, sorted and deduplicated.
    Selection(Vec<u32>),
    /// Whether the lock was obtained (or already held by this process).
    Locked(bool),
    /// Who holds the record's lock.
    LockState(LockState),
    /// WEB Get Current Session ID.
    SessionId(S),
    /// WEB LEGACY GET SESSION EXPIRATION, seconds on the virtual clock; `None` is the null date.
    Expiration(Option<u64>),
}

impl<S> Read<S> {
    /// The same read with its session ID said another way; `None` when `f` cannot say it
    /// (an ID nobody was told).
    pub fn map_session<T>(&self, f: impl FnOnce(&S) -> Option<T>) -> Option<Read<T>> {
        Some(match self {
            Read::Done => Read::Done,
            Read::Var(v) => Read::Var(*v),
            Read::IpVar(v) => Read::IpVar(*v),
            Read::Selection(s) => Read::Selection(s.clone()),
            Read::Locked(b) => Read::Locked(*b),
            Read::LockState(s) => Read::LockState(*s),
            Read::SessionId(s) => Read::SessionId(f(s)?),
            Read::Expiration(e) => Read::Expiration(*e),
        })
    }
}

impl<S> Read<S> {
    /// The same read, taken, with its session ID said another way.
    pub fn into_session<T>(self, f: impl FnOnce(S) -> T) -> Read<T> {
        match self {
            Read::Done => Read::Done,
            Read::Var(v) => Read::Var(v),
            Read::IpVar(v) => Read::IpVar(v),
            Read::Selection(s) => Read::Selection(s),
            Read::Locked(b) => Read::Locked(b),
            Read::LockState(s) => Read::LockState(s),
            Read::SessionId(s) => Read::SessionId(f(s)),
            Read::Expiration(e) => Read::Expiration(e),
        }
    }
}

/// What the model expects an action to return: a read, or `None` when the result is not
/// compared (CLOSE-9: reads in scalable mode).
pub type ExpectedRead = Option<Read>;

/// What a response does to the session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CookieEffect {
    /// No new ID: no session Set-Cookie, or one that repeats the current value.
    Keep,
    /// A Set-Cookie under the session cookie name carrying the new session's ID.
    Issue(SessionRef),
    /// A Set-Cookie under the session cookie name that expires it (CLOSE-4).
    Expire,
}

/// The end of a request as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseObs {
    /// The HTTP status.
    pub status: Ruled<u16>,
    /// The session cookie effect (meaningful for status 200 only).
    pub cookie: Ruled<CookieEffect>,
}

/// One run of the On Web Legacy Close Session hook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRun {
    /// The session whose process ended.
    pub session: SessionRef,
    /// The process within the session (0 for a legacy session).
    pub lane: u8,
    /// What the hook could see: the context before the reset (CLOSE-6).
    pub snapshot: ContextSnapshot,
    /// Whether the hook failed (CLOSE-14).
    pub failed: bool,
    /// Why the process ended: CLOSE-5 (the command), TIME-2 (process timeout), LIMIT-1
    /// (eviction), MOBILE-2 (a 4D Mobile process), CLOSE-11/12 (deferred to a request's end).
    pub cause: RuleId,
    /// Other rules a missing or different run would violate (CLOSE-5 "exactly once", CLOSE-3
    /// for a non-web caller, MOBILE-1 for a 4D Mobile close, TIME-4 for a timeout while the
    /// cookie is valid).
    #[serde(default, skip_serializing_if = "RuleSet::is_empty")]
    pub also: RuleSet,
}

/// Where a request ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RanIn {
    /// The session.
    pub session: SessionRef,
    /// Whether the request opened it.
    pub opened: bool,
    /// The rule that routed the request there (REQ-1, REQ-2, REQ-3, CLOSE-8, TIME-1, ...).
    pub rule: RuleId,
}

/// Everything one step must produce.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepObs {
    /// `Some(reason)` when the step is not valid in the current state (its precondition does
    /// not hold); the world is unchanged and the step is not sent to a system under test.
    pub invalid: Option<String>,
    /// For a request or a begin: the session it ran in (`None` when refused).
    pub ran_in: Option<RanIn>,
    /// The session the step's request ran in: `ran_in`'s for a request or a begin, the
    /// session its slot held for an end (what a read of the session ID, or a cookie refresh,
    /// is compared against).
    pub session: Option<SessionRef>,
    /// For a request, an end, or a refused begin: the response.
    pub response: Option<ResponseObs>,
    /// What each action returned, in order (begin's then end's for a whole request); `None`
    /// where the result is not compared.
    pub reads: Vec<Ruled<ExpectedRead>>,
    /// The hook runs this step caused, in order.
    pub hooks: Vec<HookRun>,
    /// Lock-table changes, in order: a record and its new owner (`None`: released).
    pub lock_changes: Vec<(RecordRef, Option<ProcRef>)>,
    /// Every rule whose branch ran in this step, in order (repeats allowed).
    pub fired: Vec<RuleId>,
    /// A broken invariant of the model's own state: a bug in the model, reported by the
    /// harness as a harness error, never as a verdict on a system under test.
    pub model_fault: Option<String>,
}
