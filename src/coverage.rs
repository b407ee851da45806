//! What the generator reaches below the rule level (issue 13.2): a coverage matrix computed
//! from the model's state as choices are interpreted into a trace. Pure and cheap: it reads
//! the model's public queries before and after each step and counts cells; no system under
//! test is involved, so it measures the generator, not a target.
//!
//! Two parts:
//! - **the ID matrix**: for every operation that takes an ID text (a request's cookie, the
//!   command, the expiration query), each [`Kind`] of text crossed with each [`Caller`] and each
//!   [`State`] of the session the text names;
//! - **edge cells**: step kinds at their edge values (a 0 s clock advance, one landing exactly
//!   on a timeout, one passing both; limits at 0, at their minimum, at their default...), hook
//!   behaviours by the cause of the hook run, eviction ties.
//!
//! Every cell either has a meaning SPEC.md gives it (the rule that decides it) or is listed in
//! [`UNREACHABLE`] with the reason no valid trace can produce it. `tests/coverage.rs` asserts
//! that the default run's generator reaches every meaningful cell and none of the listed ones.

use crate::generate::GenConfig;
use std::collections::BTreeMap;
use std::fmt;
use wlcs_model::vocab::{
    Action, HookBehavior, IdText, OptionSet, Request, SessionMode, Spelling, Step,
};
use wlcs_model::world::IdState;
use wlcs_model::{Model, RuleId, SessionRef, StepObs};

/// An operation that takes an ID text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// The session cookie of a web request (REQ-*).
    Cookie,
    /// WEB LEGACY CLOSE SESSION (CLOSE-*).
    Close,
    /// WEB LEGACY GET SESSION EXPIRATION (REQ-4, CLOSE-4).
    Expiration,
}

/// The kind of ID text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A session's exact ID.
    Exact,
    /// Its case swapped.
    SwapCase,
    /// Its hyphens removed.
    Hyphens,
    /// Padded with spaces.
    Padded,
    /// A well-formed ID never issued.
    Forged,
    /// Text that is not an ID.
    Malformed,
    /// `""`.
    Empty,
    /// WEB Get Current Session ID where the operation runs.
    Current,
}

/// Who performs the operation, relative to the session the text names. For a cookie, "own"
/// means a request from the session's client IP and "other" one from another IP (REQ-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Caller {
    /// A web request of the named session itself.
    OwnWeb,
    /// A web request of another session (or, for a cookie, from another client IP).
    OtherWeb,
    /// A process that is not a web process.
    NonWeb,
    /// The named session's own close hook.
    OwnHook,
    /// The close hook of another session.
    OtherHook,
}

/// The state of the named session when the operation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// The text names no session (forged, malformed, empty, `Current` outside a request).
    NoSession,
    /// Live, no request in flight.
    LiveIdle,
    /// Live, a request in flight.
    LiveRunning,
    /// Closed while a request of it runs: the hook waits for the request's end (CLOSE-12).
    PendingClose,
    /// Closed by the command (CLOSE-1).
    Closed,
    /// Its cookie expired (the process may still run, TIME-4).
    CookieExpired,
    /// Its process timed out (TIME-2, TIME-3).
    ProcessTimedOut,
    /// Evicted (LIMIT-1).
    Evicted,
    /// Dropped by a restart (a mode change).
    Dropped,
}

const OPS: [Op; 3] = [Op::Cookie, Op::Close, Op::Expiration];
const KINDS: [Kind; 8] = [
    Kind::Exact,
    Kind::SwapCase,
    Kind::Hyphens,
    Kind::Padded,
    Kind::Forged,
    Kind::Malformed,
    Kind::Empty,
    Kind::Current,
];
const CALLERS: [Caller; 5] = [
    Caller::OwnWeb,
    Caller::OtherWeb,
    Caller::NonWeb,
    Caller::OwnHook,
    Caller::OtherHook,
];
const STATES: [State; 9] = [
    State::NoSession,
    State::LiveIdle,
    State::LiveRunning,
    State::PendingClose,
    State::Closed,
    State::CookieExpired,
    State::ProcessTimedOut,
    State::Evicted,
    State::Dropped,
];

macro_rules! kebab {
    ($t:ty { $($v:ident = $s:literal),* $(,)? }) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(Self::$v => $s),* })
            }
        }
    };
}
kebab!(Op { Cookie = "cookie", Close = "close", Expiration = "expiration" });
kebab!(Kind {
    Exact = "exact", SwapCase = "swapcase", Hyphens = "hyphens", Padded = "padded",
    Forged = "forged", Malformed = "malformed", Empty = "empty", Current = "current",
});
kebab!(Caller {
    OwnWeb = "own-web", OtherWeb = "other-web", NonWeb = "non-web", OwnHook = "own-hook",
    OtherHook = "other-hook",
});
kebab!(State {
    NoSession = "no-session", LiveIdle = "live-idle", LiveRunning = "live-running",
    PendingClose = "pending-close", Closed = "closed", CookieExpired = "cookie-expired",
    ProcessTimedOut = "process-timed-out", Evicted = "evicted", Dropped = "dropped",
});

/// One cell of the ID matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    /// The operation.
    pub op: Op,
    /// The text's kind.
    pub kind: Kind,
    /// Who performs it.
    pub caller: Caller,
    /// The named session's state.
    pub state: State,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.op, self.kind, self.caller, self.state
        )
    }
}

/// Why a class of cells cannot be produced by any valid trace: `(name, reason)`. Every cell
/// of the matrix without a meaning falls under exactly one of these (see [`meaning`]).
pub const UNREACHABLE: &[(&str, &str)] = &[
    (
        "cookie-outside-web",
        "a cookie travels only in a web request: never from a non-web process or a hook",
    ),
    (
        "cookie-current",
        "`Current` is not a cookie value (the model refuses such a step)",
    ),
    (
        "cookie-padded",
        "spaces cannot cross HTTP in a cookie value (HARNESS.md); the generator sends only \
         portable cookies, and a padded cookie is the same case as a malformed one",
    ),
    (
        "no-session-has-no-owner",
        "forged, malformed and empty texts name no session: there is no own caller and no \
         session state but no-session",
    ),
    (
        "named-text-names-a-session",
        "an exact or respelled text names a session the trace opened: its state is never \
         no-session",
    ),
    (
        "current-is-the-callers",
        "`Current` names the caller's own session (\"\" in a non-web process): never another's",
    ),
    (
        "expiration-not-in-hooks",
        "a hook's behaviour only closes (HookBehavior has no expiration query)",
    ),
    (
        "own-request-runs",
        "a web request's own session is running that request: live-running, pending-close \
         after a close earlier in the same request, or cookie-expired while it was held",
    ),
    (
        "hook-runs-for-a-closing-process",
        "a hook runs while its process ends, so its session had a process in the step: never \
         one evicted or dropped before the step (such an ID never gets a process again); \
         closed means closed earlier in the step by another hook (nested), process-timed-out \
         means revived by the step's request under timeout-keeps-id",
    ),
    (
        "nested-close-is-exact",
        "a hook's session is closed earlier in the step only by an outer hook closing it by \
         its exact ID; every hook of a step shares one behaviour, so the inner hook's text is \
         that exact ID, never `Current` or a respelling",
    ),
];

/// Cells that can be reached but carry no meaning of their own: each class behaves exactly
/// as a covered cell does, so reaching them is neither required nor an error.
pub const EQUIVALENT: &[(&str, &str)] = &[
    (
        "respelled-dead",
        "a respelling of an ID that no longer exists (closed, evicted, dropped) names nothing \
         under exact and lenient matching alike: no implementation can differ there from the \
         same respelling of a live ID, which is covered",
    ),
    (
        "respelled-own-expired",
        "a respelling names nothing whatever the state; the own session's expired cookie \
         is TIME-4's case, which exact and current texts carry, and a lenient matcher is \
         caught on the own session live",
    ),
];

/// What a cell means: the rule that decides it, or the name of its [`UNREACHABLE`] or
/// [`EQUIVALENT`] entry.
pub fn meaning(cell: Cell) -> Result<RuleId, &'static str> {
    use Kind::*;
    let Cell {
        op,
        kind,
        caller,
        state,
    } = cell;
    if let Some(why) = outside_op(op, kind, caller) {
        return Err(why);
    }
    match kind {
        Forged | Malformed | Empty => no_session_text(op, caller, state),
        Current => current_text(op, caller, state),
        Exact | SwapCase | Hyphens | Padded => named_text(cell),
    }
}

/// The classes an operation rules out whatever the state: a cookie only in a web request
/// and never `Current` or padded, no expiration query in a hook.
fn outside_op(op: Op, kind: Kind, caller: Caller) -> Option<&'static str> {
    use Caller::*;
    if op == Op::Cookie {
        if matches!(caller, NonWeb | OwnHook | OtherHook) {
            return Some("cookie-outside-web");
        }
        if kind == Kind::Current {
            return Some("cookie-current");
        }
        if kind == Kind::Padded {
            return Some("cookie-padded");
        }
    }
    if op == Op::Expiration && matches!(caller, OwnHook | OtherHook) {
        return Some("expiration-not-in-hooks");
    }
    None
}

/// A forged, malformed or empty text: it names no session, so only a caller other than the
/// session's own, with no session, is a case (REQ-3 for a cookie, CLOSE-2 otherwise).
fn no_session_text(op: Op, caller: Caller, state: State) -> Result<RuleId, &'static str> {
    if state == State::NoSession && !matches!(caller, Caller::OwnWeb | Caller::OwnHook) {
        Ok(if op == Op::Cookie {
            RuleId::Req3
        } else {
            RuleId::Close2
        })
    } else {
        Err("no-session-has-no-owner")
    }
}

/// `Current`: the caller's own session (none in a non-web process).
fn current_text(op: Op, caller: Caller, state: State) -> Result<RuleId, &'static str> {
    use Caller::*;
    use State::*;
    match (caller, state) {
        (NonWeb, NoSession) => Ok(RuleId::Close2),
        (OwnWeb, CookieExpired) => Ok(RuleId::Time4),
        (OwnWeb, LiveRunning) => Ok(if op == Op::Close {
            RuleId::Close11
        } else {
            RuleId::Req4
        }),
        (OwnWeb, PendingClose) => Ok(if op == Op::Close {
            RuleId::Close10
        } else {
            RuleId::Close4
        }),
        (OwnHook, LiveIdle | LiveRunning | PendingClose | CookieExpired) => Ok(RuleId::Close13),
        (OwnHook, Closed) => Err("nested-close-is-exact"),
        (OwnWeb, _) => Err("own-request-runs"),
        (OwnHook, _) => Err("hook-runs-for-a-closing-process"),
        _ => Err("current-is-the-callers"),
    }
}

/// An exact or respelled text naming a session the trace opened.
fn named_text(cell: Cell) -> Result<RuleId, &'static str> {
    use Caller::*;
    use State::*;
    let Cell {
        op,
        kind,
        caller,
        state,
    } = cell;
    if state == NoSession {
        return Err("named-text-names-a-session");
    }
    let respelled = kind != Kind::Exact;
    if respelled && matches!(state, Closed | Evicted | Dropped) {
        return Err("respelled-dead");
    }
    if respelled && state == CookieExpired && matches!(caller, OwnWeb | OwnHook) {
        return Err("respelled-own-expired");
    }
    if respelled && state == Closed && caller == OwnHook {
        return Err("nested-close-is-exact");
    }
    if op == Op::Cookie {
        return Ok(named_cookie(respelled, caller, state));
    }
    if state == Dropped && op == Op::Expiration && caller != OwnWeb {
        // After a restart a dropped session's expiration is the null date (CLOSE-2); reads in
        // scalable mode are not compared, so the case exists only back in legacy mode.
        return if matches!(caller, OwnHook | OtherHook) {
            Err("expiration-not-in-hooks")
        } else {
            Ok(RuleId::Close2)
        };
    }
    named_command(op, respelled, caller, state)
}

/// A request's cookie naming a session: the rule the routing of that request answers to.
fn named_cookie(respelled: bool, caller: Caller, state: State) -> RuleId {
    use Caller::*;
    use State::*;
    if state == LiveRunning && caller == OwnWeb {
        // Only another 4D Mobile lane (MOBILE-3) or a respelling (REQ-3) gets there.
        return if respelled {
            RuleId::Req3
        } else {
            RuleId::Mobile3
        };
    }
    if state == Dropped && caller == OtherWeb && respelled {
        return RuleId::Req3;
    }
    match (respelled, caller, state) {
        (true, _, _) => RuleId::Req3,
        (false, OtherWeb, LiveIdle | LiveRunning) => RuleId::Req5,
        (false, _, LiveIdle) => RuleId::Req2,
        (false, _, PendingClose) => RuleId::Close12,
        (false, _, Closed) => RuleId::Close8,
        (false, _, CookieExpired) => RuleId::Time1,
        (false, _, ProcessTimedOut) => RuleId::Time3,
        (false, _, Evicted) => RuleId::Limit1,
        (false, _, _) => RuleId::Req3,
    }
}

/// The close command or the expiration query naming a session, by who calls it: its own
/// request, its own hook, or anyone else.
fn named_command(
    op: Op,
    respelled: bool,
    caller: Caller,
    state: State,
) -> Result<RuleId, &'static str> {
    use Caller::*;
    use State::*;
    match caller {
        OwnWeb => match state {
            LiveRunning if respelled => Ok(RuleId::Close2),
            LiveRunning => Ok(if op == Op::Close {
                RuleId::Close11
            } else {
                RuleId::Req4
            }),
            PendingClose => Ok(if respelled {
                RuleId::Close2
            } else if op == Op::Close {
                RuleId::Close10
            } else {
                RuleId::Close4
            }),
            // A held request whose cookie expired while it ran (TIME-4).
            CookieExpired => Ok(RuleId::Time4),
            _ => Err("own-request-runs"),
        },
        OwnHook => match state {
            LiveIdle | LiveRunning | PendingClose | Closed | CookieExpired => Ok(if respelled {
                RuleId::Close2
            } else {
                RuleId::Close13
            }),
            _ => Err("hook-runs-for-a-closing-process"),
        },
        OtherWeb | NonWeb | OtherHook if respelled => Ok(RuleId::Close2),
        OtherWeb | NonWeb | OtherHook => Ok(others_command(op, state)),
    }
}

/// The close command or the expiration query, exact, from a caller other than the named
/// session's own request or hook.
fn others_command(op: Op, state: State) -> RuleId {
    use State::*;
    match (op, state) {
        (Op::Close, LiveIdle) => RuleId::Close3,
        (Op::Close, LiveRunning) => RuleId::Close12,
        (Op::Close, PendingClose) => RuleId::Close10,
        (Op::Close, CookieExpired) => RuleId::Time4,
        (Op::Close, ProcessTimedOut) => RuleId::Time3,
        (Op::Close, Closed | Evicted | Dropped) => RuleId::Close2,
        (_, LiveIdle | LiveRunning) => RuleId::Req4,
        (_, PendingClose | Closed) => RuleId::Close4,
        (_, CookieExpired) => RuleId::Time4,
        (_, ProcessTimedOut) => RuleId::Time3,
        (_, _) => RuleId::Close2,
    }
}

/// Edge cells: step kinds at their edge values, hook behaviours by cause, limits and ties.
/// `(name, meaning)`; every one has a meaning in SPEC.md and must be reached.
pub const EDGES: &[(&str, &str)] = &[
    ("advance/0s", "a 0 s advance moves nothing"),
    (
        "advance/0s-fires-due",
        "a 0 s advance fires a timeout already due (the process timeout was lowered)",
    ),
    (
        "advance/at-process-timeout",
        "the clock lands exactly on a process's timeout: it fires (>=)",
    ),
    (
        "advance/at-cookie-expiration",
        "the clock lands exactly on a cookie's expiration: it is expired (>=)",
    ),
    (
        "advance/past-both",
        "one advance passes both a session's process timeout and its cookie expiration",
    ),
    (
        "advance/timeout-tie",
        "two processes time out at one instant: due order, then session, then lane",
    ),
    (
        "option/max-sessions-0",
        "max sessions 0 restores the default",
    ),
    ("option/max-sessions-1", "max sessions at its minimum, 1"),
    (
        "option/max-sessions-default",
        "max sessions set to its default, 100",
    ),
    (
        "option/max-sessions-below-live",
        "max sessions lowered below the live count evicts nothing by itself",
    ),
    ("option/max-processes-0", "max processes 0 is ignored"),
    (
        "option/max-processes-below-min",
        "max processes under 10 is ignored",
    ),
    (
        "option/max-processes-min",
        "max processes at its minimum, 10",
    ),
    (
        "option/max-processes-default",
        "max processes set to its default, 100",
    ),
    (
        "option/max-processes-max",
        "max processes at its maximum, 32000",
    ),
    (
        "option/max-processes-above-max",
        "max processes over 32000 is ignored",
    ),
    (
        "option/cookie-timeout-0",
        "cookie timeout 0 restores the default",
    ),
    (
        "option/cookie-timeout-min",
        "cookie timeout at its minimum, 1 min",
    ),
    (
        "option/cookie-timeout-default",
        "cookie timeout set to its default, 480 min",
    ),
    (
        "option/process-timeout-0",
        "process timeout 0 restores the default",
    ),
    (
        "option/process-timeout-min",
        "process timeout at its minimum, 1 min",
    ),
    (
        "option/process-timeout-default",
        "process timeout set to its default, 480 min",
    ),
    (
        "option/mode-same",
        "setting the mode already in force is not a restart",
    ),
    ("option/mode-switch", "a mode switch restarts the world"),
    (
        "option/ip-validation-off",
        "IP validation off: another IP reaches the session",
    ),
    ("option/cookie-name-other", "another cookie name"),
    (
        "option/cookie-name-empty",
        "an empty cookie name restores the default",
    ),
    (
        "option/cookie-name-not-a-token",
        "a cookie name that is not an RFC 6265 token (or too long) is ignored",
    ),
    (
        "request/other-ip-scalable",
        "a request from another IP in scalable mode (IP validation applies)",
    ),
    (
        "limit/evict-one",
        "a new session at the limit evicts the least recent idle session",
    ),
    (
        "limit/evict-several",
        "after lowering max sessions, one new session evicts several",
    ),
    (
        "limit/evict-tie",
        "two idle sessions share the least recent activity: the older one is evicted",
    ),
    (
        "limit/503",
        "a new session at the limit with none idle gets 503",
    ),
    (
        "limit/pending-close-counts",
        "a closed session still running its request counts as live for the limit",
    ),
    ("hook/save/command", "a saving hook run by the command"),
    ("hook/save/deferred", "a saving hook run at a request's end"),
    (
        "hook/save/timeout",
        "a saving hook run by a process timeout",
    ),
    ("hook/save/eviction", "a saving hook run by an eviction"),
    ("hook/fail/command", "a failing hook run by the command"),
    (
        "hook/fail/deferred",
        "a failing hook run at a request's end",
    ),
    (
        "hook/fail/timeout",
        "a failing hook run by a process timeout",
    ),
    ("hook/fail/eviction", "a failing hook run by an eviction"),
    (
        "hook/close-own/command",
        "a hook closing its own session, run by the command",
    ),
    (
        "hook/close-own/deferred",
        "a hook closing its own session, run at a request's end",
    ),
    (
        "hook/close-own/timeout",
        "a hook closing its own session, run by a process timeout",
    ),
    (
        "hook/close-own/eviction",
        "a hook closing its own session, run by an eviction",
    ),
    (
        "hook/close-id/command",
        "a hook closing an ID, run by the command",
    ),
    (
        "hook/close-id/deferred",
        "a hook closing an ID, run at a request's end",
    ),
    (
        "hook/close-id/timeout",
        "a hook closing an ID, run by a timeout",
    ),
    (
        "hook/close-id/eviction",
        "a hook closing an ID, run by an eviction",
    ),
    (
        "hook/nested-2",
        "a hook's close runs a second hook in the same step",
    ),
    ("hook/nested-3", "three hooks nested in one step"),
    ("hook/mobile", "a hook per 4D Mobile process"),
    (
        "request/mobile-new-lane",
        "a 4D Mobile request in a new lane of a live session",
    ),
    ("request/in-flight-3", "three requests in flight at once"),
];

/// Counts of every cell the generator reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// ID matrix cells.
    pub cells: BTreeMap<Cell, u64>,
    /// Edge cells, by name.
    pub edges: BTreeMap<&'static str, u64>,
    /// Traces and steps measured.
    pub traces: u64,
    /// Steps measured.
    pub steps: u64,
    hook: Option<HookBehavior>,
}

/// The state of a session as [`State`] says it.
pub fn state_of(model: &Model, s: SessionRef) -> State {
    let lanes = model.running_lanes(s);
    let busy = lanes.iter().any(|(_, b)| *b);
    match model.id_state(s) {
        None => State::NoSession,
        Some(IdState::Dropped) => State::Dropped,
        Some(IdState::Evicted) => State::Evicted,
        Some(IdState::TimedOut) => State::ProcessTimedOut,
        Some(IdState::Closed) if busy => State::PendingClose,
        Some(IdState::Closed) => State::Closed,
        Some(IdState::Valid) if lanes.is_empty() => {
            if model.exists(s) {
                State::ProcessTimedOut
            } else {
                State::CookieExpired
            }
        }
        Some(IdState::Valid) if !model.routable(s) => State::CookieExpired,
        Some(IdState::Valid) if busy => State::LiveRunning,
        Some(IdState::Valid) => State::LiveIdle,
    }
}

fn kind_of(text: &IdText) -> (Kind, Option<SessionRef>) {
    match text {
        IdText::Session(s) => (Kind::Exact, Some(*s)),
        IdText::Respelled(s, Spelling::SwapCase) => (Kind::SwapCase, Some(*s)),
        IdText::Respelled(s, Spelling::Hyphens) => (Kind::Hyphens, Some(*s)),
        IdText::Respelled(s, Spelling::Padded) => (Kind::Padded, Some(*s)),
        IdText::Forged(_) => (Kind::Forged, None),
        IdText::Malformed(_) => (Kind::Malformed, None),
        IdText::Empty => (Kind::Empty, None),
        IdText::Current => (Kind::Current, None),
    }
}

/// What [`Coverage::before`] computes from the state before a step.
pub struct Before {
    states: BTreeMap<SessionRef, State>,
    live: usize,
    idle_at: Vec<(u64, SessionRef)>,
    in_flight: Vec<(u8, SessionRef)>,
    due: Vec<u64>,
    expirations: Vec<(u64, u64)>,
    now: u64,
    scalable: bool,
}

/// The states of the sessions a step names, as the step's own closes change them, while
/// [`Coverage::after`] walks its ID operations in order.
struct Tracked {
    /// Session -> its state at this point of the step.
    states: BTreeMap<SessionRef, State>,
    /// The sessions with a request in flight before the step.
    busy: Vec<SessionRef>,
}

/// The state an exact close leaves a session in: pending-close while a request of it runs
/// (`running`: the caller's own request or one in flight), closed otherwise.
fn closed_state(state: State, running: bool) -> State {
    match state {
        State::LiveRunning => State::PendingClose,
        State::LiveIdle | State::CookieExpired | State::ProcessTimedOut if running => {
            State::PendingClose
        }
        State::LiveIdle | State::CookieExpired | State::ProcessTimedOut => State::Closed,
        other => other,
    }
}

/// What ran a hook, as the edge cells name it: a timeout, an eviction, a request's end
/// (deferred), or the command.
fn hook_cause(h: &wlcs_model::HookRun) -> &'static str {
    match h.cause {
        RuleId::Time2 => "timeout",
        RuleId::Limit1 => "eviction",
        RuleId::Close11 | RuleId::Close12 => "deferred",
        RuleId::Mobile2 if h.also.contains(RuleId::Close11) => "deferred",
        RuleId::Mobile2 if h.also.contains(RuleId::Close12) => "deferred",
        _ => "command",
    }
}

impl Before {
    /// The scan of every session opened so far, for the steps that can evict or time out:
    /// the states of the live ones, when each idle one last ran, when every idle process
    /// times out, and each timeout beside its session's cookie expiration.
    fn scan(&mut self, model: &Model) {
        // Generated traces open few sessions; this scan is the coverage run's only cost that
        // grows with them.
        let timeout_s = u64::from(model.options().process_timeout_min) * 60;
        for i in 0..model.sessions_opened() {
            let s = SessionRef(i);
            let st = state_of(model, s);
            if matches!(
                st,
                State::LiveIdle | State::LiveRunning | State::CookieExpired
            ) {
                self.states.insert(s, st);
            }
            let idle = model.idle_lanes(s);
            if !idle.is_empty() && !model.running_lanes(s).iter().any(|(_, b)| *b) {
                let at = idle.iter().map(|(_, at)| *at).max().unwrap_or(0);
                self.idle_at.push((at, s));
            }
            self.due
                .extend(idle.iter().map(|(_, at)| at.saturating_add(timeout_s)));
            if let (true, Some(exp)) = (model.exists(s), model.expiration(s)) {
                for (_, at) in &idle {
                    self.expirations.push((exp, at.saturating_add(timeout_s)));
                }
            }
        }
    }

    /// The state of session `s` when a hook's close names it: closed if an earlier hook of
    /// the step closed it; pending-close for the hook's `own` session that had timed out.
    fn hook_state(&self, s: SessionRef, closed: &[SessionRef], own: bool) -> State {
        match self.states.get(&s).copied().unwrap_or(State::LiveIdle) {
            _ if closed.contains(&s) => State::Closed,
            // Its hook runs, so the step's request revived it (TIME-3) and closed it while it
            // ran: the hook runs at that request's end.
            State::ProcessTimedOut if own => State::PendingClose,
            st => st,
        }
    }
}

impl Coverage {
    fn hit(&mut self, cell: Cell) {
        *self.cells.entry(cell).or_default() += 1;
    }

    fn edge(&mut self, name: &'static str) {
        *self.edges.entry(name).or_default() += 1;
    }

    /// Starts a new trace (the hook behaviour is `Save` after a reset).
    pub fn start_trace(&mut self) {
        self.traces += 1;
        self.hook = None;
    }

    /// What the step needs of the state before it runs. Costs O(live sessions) only for steps
    /// that can evict or time out; O(sessions named) otherwise.
    pub fn before(&self, model: &Model, step: &Step) -> Before {
        let mut before = Before {
            states: self.named_states(model, step),
            live: model.live_sessions(),
            idle_at: Vec::new(),
            in_flight: model
                .in_flight()
                .iter()
                .map(|(slot, s, _)| (*slot, *s))
                .collect(),
            due: Vec::new(),
            expirations: Vec::new(),
            now: model.now(),
            scalable: model.scalable(),
        };
        let wide = matches!(
            step,
            Step::Advance { .. } | Step::Request(_) | Step::Begin { .. }
        ) || self.hook.is_some();
        if wide {
            before.scan(model);
        }
        before
    }

    /// The states of the sessions the step's ID texts name (its cookie, its closes and
    /// expiration queries, the hook behaviour's close).
    fn named_states(&self, model: &Model, step: &Step) -> BTreeMap<SessionRef, State> {
        let mut states = BTreeMap::new();
        let mut name = |t: &IdText| {
            if let (_, Some(s)) = kind_of(t) {
                states.insert(s, state_of(model, s));
            }
        };
        let mut actions: Vec<&Action> = Vec::new();
        match step {
            Step::Request(r) | Step::Begin { request: r, .. } => {
                if let Some(c) = &r.cookie {
                    name(c);
                }
                actions.extend(&r.actions);
            }
            Step::End { actions: a, .. } | Step::NonWeb { actions: a, .. } => actions.extend(a),
            _ => {}
        }
        for a in actions {
            if let Action::Close { id } | Action::GetExpiration { id } = a {
                name(id);
            }
        }
        if let Some(HookBehavior::Close(id)) = &self.hook {
            name(id);
        }
        states
    }

    /// Counts the cells a step reached, given the state before it and what the model said.
    pub fn after(&mut self, model: &Model, step: &Step, obs: &StepObs, before: Before) {
        self.steps += 1;
        let mut track = Tracked {
            states: before.states.clone(),
            busy: before.in_flight.iter().map(|(_, s)| *s).collect(),
        };
        match step {
            Step::Request(r) | Step::Begin { request: r, .. } => {
                self.request(model, step, r, obs, &before, &mut track);
            }
            Step::End { slot, actions } => {
                let s = before
                    .in_flight
                    .iter()
                    .find(|(sl, _)| sl == slot)
                    .map(|(_, s)| *s);
                if let Some(s) = s {
                    track.states.entry(s).or_insert(State::LiveRunning);
                    if model.id_state(s) == Some(IdState::Closed) && !before.states.contains_key(&s)
                    {
                        track.states.insert(s, State::PendingClose);
                    }
                    for a in actions {
                        self.action(a, Some(s), false, &mut track);
                    }
                }
            }
            Step::NonWeb { actions, .. } => {
                for a in actions {
                    self.action(a, None, true, &mut track);
                }
            }
            Step::SetOption(o) => self.option(o, &before),
            Step::SetHook(b) => {
                self.hook = (*b != HookBehavior::Save).then(|| b.clone());
            }
            Step::Advance { seconds } => self.advance(*seconds, obs, &before),
        }
        self.hooks(obs, &before);
    }

    /// The cells and edges of a request (or a request held in flight): its cookie, the
    /// actions it ran, its IP, lane and limits.
    fn request(
        &mut self,
        model: &Model,
        step: &Step,
        r: &Request,
        obs: &StepObs,
        before: &Before,
        track: &mut Tracked,
    ) {
        if let Some(c) = &r.cookie {
            self.cookie(model, c, r.ip, before);
        }
        if let Some(s) = obs.ran_in.map(|r| r.session) {
            track.states.insert(s, State::LiveRunning);
            for a in &r.actions {
                self.action(a, Some(s), false, track);
            }
        }
        if r.ip != 0 && model.scalable() {
            self.edge("request/other-ip-scalable");
        }
        if r.mobile.is_some()
            && obs.ran_in.is_some_and(|ri| !ri.opened)
            && obs.fired.contains(&RuleId::Mobile3)
        {
            self.edge("request/mobile-new-lane");
        }
        self.limits(step, obs, before);
        if matches!(step, Step::Begin { .. }) && before.in_flight.len() == 2 {
            self.edge("request/in-flight-3");
        }
    }

    /// The cell of a request's cookie: own when the request comes from the named session's
    /// client IP.
    fn cookie(&mut self, model: &Model, c: &IdText, ip: u8, before: &Before) {
        let (kind, named) = kind_of(c);
        let state = named.map_or(State::NoSession, |s| {
            before.states.get(&s).copied().unwrap_or(State::NoSession)
        });
        let own = named.is_some_and(|s| model.session_ip(s) == Some(ip));
        self.hit(Cell {
            op: Op::Cookie,
            kind,
            caller: if own {
                Caller::OwnWeb
            } else {
                Caller::OtherWeb
            },
            state,
        });
    }

    /// The cell of an action that takes an ID text (a close or an expiration query), run by
    /// the request of `caller` or by a non-web process.
    fn action(
        &mut self,
        a: &Action,
        caller: Option<SessionRef>,
        non_web: bool,
        track: &mut Tracked,
    ) {
        match a {
            Action::Close { id } => self.id_op(Op::Close, id, caller, non_web, track),
            Action::GetExpiration { id } => self.id_op(Op::Expiration, id, caller, non_web, track),
            _ => {}
        }
    }

    /// One ID operation, in the step's order: its cell, with the named session's state as
    /// the step's own earlier closes left it; an exact close then updates that state (a close
    /// earlier in a request makes its session pending-close).
    fn id_op(
        &mut self,
        op: Op,
        text: &IdText,
        caller_session: Option<SessionRef>,
        non_web: bool,
        track: &mut Tracked,
    ) {
        let (kind, named) = kind_of(text);
        let named = match (kind, caller_session) {
            (Kind::Current, Some(s)) => Some(s),
            _ => named,
        };
        let state = match named {
            Some(s) => track.states.get(&s).copied().unwrap_or(State::LiveRunning),
            None => State::NoSession,
        };
        let caller = match (non_web, named, caller_session) {
            (true, _, _) => Caller::NonWeb,
            (false, Some(n), Some(c)) if n == c => Caller::OwnWeb,
            _ => Caller::OtherWeb,
        };
        self.hit(Cell {
            op,
            kind,
            caller,
            state,
        });
        if op == Op::Close
            && matches!(kind, Kind::Exact | Kind::Current)
            && let Some(s) = named
        {
            let running = caller == Caller::OwnWeb || track.busy.contains(&s);
            track.states.insert(s, closed_state(state, running));
        }
    }

    /// The hook runs of a step: the edge of each behaviour by cause, the cell of each hook's
    /// close, and the nesting edges.
    fn hooks(&mut self, obs: &StepObs, before: &Before) {
        if obs.hooks.is_empty() {
            return;
        }
        let behavior = match &self.hook {
            None => "save",
            Some(HookBehavior::Save | HookBehavior::Slow) => "save",
            Some(HookBehavior::Fail) => "fail",
            Some(HookBehavior::CloseOwn) => "close-own",
            Some(HookBehavior::Close(_)) => "close-id",
        };
        let mut closed: Vec<SessionRef> = Vec::new();
        for h in &obs.hooks {
            let cause = hook_cause(h);
            if let Some(name) = EDGES
                .iter()
                .map(|(n, _)| *n)
                .find(|n| *n == format!("hook/{behavior}/{cause}"))
            {
                self.edge(name);
            }
            if h.cause == RuleId::Mobile2 {
                self.edge("hook/mobile");
            }
            self.hook_close(h.session, before, &mut closed);
        }
        let nested = obs.fired.iter().filter(|r| **r == RuleId::Close1).count();
        let hook_closes = match &self.hook {
            Some(HookBehavior::Close(_)) => obs.hooks.len().min(nested),
            _ => 0,
        };
        if hook_closes >= 1 && obs.hooks.len() >= 2 {
            self.edge("hook/nested-2");
        }
        if hook_closes >= 2 && obs.hooks.len() >= 3 {
            self.edge("hook/nested-3");
        }
    }

    /// The cell of the close a hook of session `own` makes under the current behaviour, if
    /// it closes; `closed` collects the sessions the step's hooks closed by exact ID so far.
    fn hook_close(&mut self, own: SessionRef, before: &Before, closed: &mut Vec<SessionRef>) {
        match &self.hook {
            Some(HookBehavior::CloseOwn | HookBehavior::Close(IdText::Current)) => {
                let state = before.hook_state(own, closed, true);
                self.hit(Cell {
                    op: Op::Close,
                    kind: Kind::Current,
                    caller: Caller::OwnHook,
                    state,
                });
            }
            Some(HookBehavior::Close(id)) => {
                let (kind, named) = kind_of(id);
                let is_own = named == Some(own);
                let state =
                    named.map_or(State::NoSession, |s| before.hook_state(s, closed, is_own));
                let caller = if is_own {
                    Caller::OwnHook
                } else {
                    Caller::OtherHook
                };
                self.hit(Cell {
                    op: Op::Close,
                    kind,
                    caller,
                    state,
                });
                if let (Kind::Exact, Some(s)) = (kind, named) {
                    closed.push(s);
                }
            }
            _ => {}
        }
    }

    fn limits(&mut self, step: &Step, obs: &StepObs, before: &Before) {
        let evicted = obs
            .hooks
            .iter()
            .filter(|h| h.cause == RuleId::Limit1)
            .count();
        if evicted >= 1 {
            self.edge("limit/evict-one");
            let mut at: Vec<u64> = before.idle_at.iter().map(|(a, _)| *a).collect();
            at.sort_unstable();
            if at.len() >= 2 && at[0] == at[1] {
                self.edge("limit/evict-tie");
            }
        }
        if evicted >= 2 {
            self.edge("limit/evict-several");
        }
        if obs.response.as_ref().is_some_and(|r| r.status.value == 503) {
            self.edge("limit/503");
        }
        let needs = obs.ran_in.is_some_and(|r| r.opened)
            || obs.response.as_ref().is_some_and(|r| r.status.value == 503);
        if needs && before.states.values().any(|s| *s == State::PendingClose) {
            self.edge("limit/pending-close-counts");
        }
        let _ = (step, before.live);
    }

    fn option(&mut self, o: &OptionSet, before: &Before) {
        let name = match o {
            OptionSet::MaxSessions(0) => "option/max-sessions-0",
            OptionSet::MaxSessions(1) => "option/max-sessions-1",
            OptionSet::MaxSessions(100) => "option/max-sessions-default",
            OptionSet::MaxProcesses(0) => "option/max-processes-0",
            OptionSet::MaxProcesses(n) if *n < 10 => "option/max-processes-below-min",
            OptionSet::MaxProcesses(10) => "option/max-processes-min",
            OptionSet::MaxProcesses(100) => "option/max-processes-default",
            OptionSet::MaxProcesses(32000) => "option/max-processes-max",
            OptionSet::MaxProcesses(n) if *n > 32000 => "option/max-processes-above-max",
            OptionSet::CookieTimeoutMin(0) => "option/cookie-timeout-0",
            OptionSet::CookieTimeoutMin(1) => "option/cookie-timeout-min",
            OptionSet::CookieTimeoutMin(480) => "option/cookie-timeout-default",
            OptionSet::ProcessTimeoutMin(0) => "option/process-timeout-0",
            OptionSet::ProcessTimeoutMin(1) => "option/process-timeout-min",
            OptionSet::ProcessTimeoutMin(480) => "option/process-timeout-default",
            OptionSet::Mode(m) if (*m == SessionMode::Scalable) == before.scalable => {
                "option/mode-same"
            }
            OptionSet::Mode(_) => "option/mode-switch",
            OptionSet::IpValidation(false) => "option/ip-validation-off",
            OptionSet::CookieName(n) if n.is_empty() => "option/cookie-name-empty",
            OptionSet::CookieName(n) if !wlcs_model::vocab::is_cookie_name(n) => {
                "option/cookie-name-not-a-token"
            }
            OptionSet::CookieName(_) => "option/cookie-name-other",
            _ => "",
        };
        if !name.is_empty() {
            self.edge(name);
        }
        if let OptionSet::MaxSessions(n) = o
            && *n > 0
            && (*n as usize) < before.live
        {
            self.edge("option/max-sessions-below-live");
        }
    }

    fn advance(&mut self, seconds: u64, obs: &StepObs, before: &Before) {
        let now = before.now.saturating_add(seconds);
        let fired = obs.hooks.iter().any(|h| h.cause == RuleId::Time2);
        if seconds == 0 {
            self.edge("advance/0s");
            if fired {
                self.edge("advance/0s-fires-due");
            }
        }
        if before.due.contains(&now) {
            self.edge("advance/at-process-timeout");
        }
        if before.expirations.iter().any(|(exp, _)| *exp == now) {
            self.edge("advance/at-cookie-expiration");
        }
        if before
            .expirations
            .iter()
            .any(|(exp, due)| *exp > before.now && *due > before.now && *exp <= now && *due <= now)
        {
            self.edge("advance/past-both");
        }
        let mut due: Vec<u64> = before.due.iter().copied().filter(|d| *d <= now).collect();
        due.sort_unstable();
        if due.windows(2).any(|w| w[0] == w[1]) && fired {
            self.edge("advance/timeout-tie");
        }
    }

    /// Every meaningful cell the generator did not reach, and every unreachable one it did.
    pub fn holes(&self) -> (Vec<String>, Vec<String>) {
        let mut missing = Vec::new();
        let mut impossible = Vec::new();
        for cell in all_cells() {
            let n = self.cells.get(&cell).copied().unwrap_or(0);
            match meaning(cell) {
                Ok(_) if n == 0 => missing.push(cell.to_string()),
                Err(reason) if n > 0 && !is_equivalent(reason) => {
                    impossible.push(format!("{cell} ({reason}): {n}"))
                }
                _ => {}
            }
        }
        for (name, _) in EDGES {
            if self.edges.get(name).copied().unwrap_or(0) == 0 {
                missing.push((*name).to_string());
            }
        }
        (missing, impossible)
    }

    /// The matrix as text: one line per meaningful cell with its count and rule, the edge
    /// cells, then the unreachable classes with their reasons and cell counts.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "coverage of the generator: {} traces, {} steps\n\nID matrix (operation/text/caller/state: count, the rule that decides it)\n",
            self.traces, self.steps
        ));
        let mut unreachable: BTreeMap<&str, u64> = BTreeMap::new();
        for cell in all_cells() {
            let n = self.cells.get(&cell).copied().unwrap_or(0);
            match meaning(cell) {
                Ok(rule) => out.push_str(&format!("  {cell:<48} {n:>8}  {rule}\n")),
                Err(reason) => *unreachable.entry(reason).or_default() += 1,
            }
        }
        out.push_str("\nedge cells\n");
        for (name, what) in EDGES {
            let n = self.edges.get(name).copied().unwrap_or(0);
            out.push_str(&format!("  {name:<34} {n:>8}  {what}\n"));
        }
        out.push_str("\nunreachable (cells: reason)\n");
        for (name, reason) in UNREACHABLE {
            let n = unreachable.get(name).copied().unwrap_or(0);
            out.push_str(&format!("  {name} ({n} cells): {reason}\n"));
        }
        out.push_str("\nno meaning of their own (cells, times reached: reason)\n");
        for (name, reason) in EQUIVALENT {
            let n = unreachable.get(name).copied().unwrap_or(0);
            let hits: u64 = self
                .cells
                .iter()
                .filter(|(c, _)| meaning(**c) == Err(*name))
                .map(|(_, n)| n)
                .sum();
            out.push_str(&format!("  {name} ({n} cells, {hits}): {reason}\n"));
        }
        let (missing, impossible) = self.holes();
        out.push_str(&format!(
            "\nmeaningful cells not reached: {}\n",
            if missing.is_empty() {
                "none".to_string()
            } else {
                missing.join(", ")
            }
        ));
        if !impossible.is_empty() {
            out.push_str(&format!(
                "cells listed unreachable but reached: {}\n",
                impossible.join(", ")
            ));
        }
        out
    }
}

fn is_equivalent(name: &str) -> bool {
    EQUIVALENT.iter().any(|(n, _)| *n == name)
}

/// Every cell of the ID matrix.
pub fn all_cells() -> impl Iterator<Item = Cell> {
    OPS.into_iter().flat_map(|op| {
        KINDS.into_iter().flat_map(move |kind| {
            CALLERS.into_iter().flat_map(move |caller| {
                STATES.into_iter().map(move |state| Cell {
                    op,
                    kind,
                    caller,
                    state,
                })
            })
        })
    })
}

/// The coverage of a run's generated cases: the same traces `wlcs run --seed seed --cases
/// cases --steps steps` generates (same seeds, same interpretation), measured.
pub fn measure(seed: u64, cases: u64, steps: usize, cfg: &GenConfig) -> Coverage {
    let mut cov = Coverage::default();
    for case_seed in crate::runner::case_seeds(seed, cases) {
        if let Some(choices) = crate::runner::case_choices(case_seed, steps) {
            cov.start_trace();
            crate::generate::interpret_measured(&choices, cfg, &mut cov);
        }
    }
    cov
}

/// `wlcs coverage`'s flags: the run whose generated cases are measured.
#[derive(clap::Args, Clone, Debug)]
pub struct CoverageArgs {
    /// The run's seed (decimal).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Generated cases (the in-process default run's count).
    #[arg(long, default_value_t = DEFAULT_CASES)]
    pub cases: u64,
    /// Choices per generated trace, at most (the default run's).
    #[arg(long, default_value_t = DEFAULT_STEPS)]
    pub steps: usize,
}

/// Cases of the default in-process run (`wlcs run`).
pub const DEFAULT_CASES: u64 = 30_000;
/// Choices per trace of the default run.
pub const DEFAULT_STEPS: usize = 40;

/// The generator configuration of the default run against a target that supports everything
/// (the reference implementation).
pub fn default_gen_config() -> GenConfig {
    GenConfig {
        world: Default::default(),
        caps: wlcs_sut::Capabilities::ALL,
        weights: Default::default(),
    }
}

/// Runs `wlcs coverage`: prints the matrix; the exit code is 1 when a meaningful cell was not
/// reached or a cell listed unreachable was, 0 otherwise.
pub fn command(args: &CoverageArgs) -> i32 {
    let cov = measure(args.seed, args.cases, args.steps, &default_gen_config());
    print!("{}", cov.render());
    let (missing, impossible) = cov.holes();
    i32::from(!missing.is_empty() || !impossible.is_empty())
}

/// The coverage of one hand-written trace (every step must be valid in the state reached).
pub fn measure_trace(trace: &wlcs_model::Trace) -> Coverage {
    let mut cov = Coverage::default();
    cov.start_trace();
    let mut model = Model::new(trace.config.clone());
    for step in &trace.steps {
        let before = cov.before(&model, step);
        let obs = model.step(step);
        if obs.invalid.is_none() {
            cov.after(&model, step, &obs, before);
        }
    }
    cov
}
