//! `wlcs-plugin`: the plug-in trait a system under test implements, and the concrete (wire)
//! vocabulary it speaks: real ID strings instead of the model's symbolic sessions. A vendor
//! implementing the trait in process depends on this crate alone (and serde): no HTTP stack,
//! no runtime, no reference implementation. [`layer`] is the one forwarding helper for
//! wrappers (decorators) of a [`Sut`].
//! The wire vocabulary is
//! the model's own types instantiated with real IDs (`WireAction = Action<WireId>`), so there
//! is one list of actions and reads; only the HTTP protocol (`wlcs_http::proto`) has its own,
//! versioned shapes.
//!
//! Architecture invariant: nothing here calls the model's `step`. The trait is what the
//! harness sees of an implementation; the harness never reaches past it.

pub mod layer;

pub use layer::Layer;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wlcs_model::Read;
use wlcs_model::vocab::{
    Action, ContextSnapshot, HookBehavior, OptionSet, RecordRef, Request, Slot, VarName,
    WorldConfig,
};

/// The text a close or expiration call passes, resolved to bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireId {
    /// This exact text.
    Text(String),
    /// `WEB Get Current Session ID` evaluated where the action runs (`""` outside a web
    /// request's session).
    Current,
}

/// One action, with IDs resolved to text: the model's [`Action`], said with real IDs.
pub type WireAction = Action<WireId>;

/// What one action returned: the model's [`Read`], with a session ID read as its text (`""`
/// outside a web request).
pub type WireRead = Read<String>;

/// A web request with its cookie resolved to text (the value sent under the current cookie
/// name) and its actions' IDs resolved: the model's [`Request`], said with real IDs.
pub type WireRequest = Request<String, WireId>;

/// A `Set-Cookie` header of a response, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetCookie {
    /// The cookie name.
    pub name: String,
    /// The cookie value.
    pub value: String,
    /// Whether it expires the cookie (`Max-Age` <= 0 or an `Expires` in the past).
    pub expiring: bool,
    /// The header as sent, for reports.
    pub raw: String,
}

/// A finished request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The ID of the session the request ran in (`None` when refused).
    pub session_id: Option<String>,
    /// The response's `Set-Cookie` headers, in order.
    pub set_cookies: Vec<SetCookie>,
    /// What the actions returned (for `end`, the end's actions only).
    pub reads: Vec<WireRead>,
}

/// The result of beginning a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Begun {
    /// The request runs and stays in flight in its slot.
    Running {
        /// The ID of the session it runs in.
        session_id: String,
        /// What the begin's actions returned.
        reads: Vec<WireRead>,
    },
    /// The request was answered at once (refused: 400, 503) and occupies no slot.
    Done(Response),
}

/// What the hook does, with the ID it closes resolved to text: the model's [`HookBehavior`].
pub type WireHook = HookBehavior<String>;

/// A hook run as the implementation logged it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHookRun {
    /// The session ID the hook ran for.
    pub session_id: String,
    /// The process within the session (0 for a legacy session).
    pub lane: u8,
    /// The context the hook saw.
    pub snapshot: ContextSnapshot,
    /// Whether the hook failed.
    pub failed: bool,
}

/// A lock owner as the implementation reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WireProc {
    /// A session's web process.
    Web {
        /// The session ID.
        session_id: String,
        /// The process within the session.
        lane: u8,
    },
    /// A non-web process.
    NonWeb(u8),
}

/// What an implementation can let the suite observe or control. Rules that need a missing
/// capability are reported as skipped with the reason, never as passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The suite controls the clock (`advance`).
    pub clock: bool,
    /// Requests can come from several client IPs.
    pub multi_ip: bool,
    /// 4D Mobile sessions.
    pub mobile: bool,
    /// The hook's behaviour can be set (failing hooks, closes from hooks).
    pub hook_faults: bool,
    /// Requests can be held in flight (`begin` / `end`).
    pub in_flight: bool,
    /// WEB SET OPTION can be called.
    pub options: bool,
}

impl Capabilities {
    /// Everything.
    pub const ALL: Capabilities = Capabilities {
        clock: true,
        multi_ip: true,
        mobile: true,
        hook_faults: true,
        in_flight: true,
        options: true,
    };
}

/// Why a call to an implementation failed. This is never a conformance verdict: the harness
/// reports it as a harness error at the step it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SutError {
    /// The implementation could not be reached or dropped the connection.
    Transport(String),
    /// The implementation did not answer in time.
    Timeout(u64),
    /// A named call did not answer in time (the HTTP adapter names every call it makes).
    CallTimeout {
        /// The call that timed out (`web request`, `begin in slot 3: poll`, ...).
        call: String,
        /// How long it was given.
        ms: u64,
    },
    /// The implementation answered something the protocol does not allow.
    Protocol(String),
    /// The implementation panicked.
    Panic(String),
    /// The call needs a capability the implementation does not declare, or the state does not
    /// allow it (ending an empty slot).
    Unsupported(String),
}

// Display by hand rather than with thiserror: the trait crate keeps serde as its only
// dependency besides the model.
impl std::fmt::Display for SutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SutError::Transport(m) => write!(f, "transport error: {m}"),
            SutError::Timeout(ms) => write!(f, "timed out after {ms} ms"),
            SutError::CallTimeout { call, ms } => write!(f, "{call}: timed out after {ms} ms"),
            SutError::Protocol(m) => write!(f, "protocol error: {m}"),
            SutError::Panic(m) => write!(f, "implementation panicked: {m}"),
            SutError::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}

impl std::error::Error for SutError {}

/// What the suite observes after a step, in one call ([`Sut::observe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The hook runs logged since the last take, in order (taken: they are forgotten).
    pub hook_runs: Vec<WireHookRun>,
    /// The lock table, when asked for.
    pub locks: Option<BTreeMap<RecordRef, WireProc>>,
    /// The interprocess variables, when asked for.
    pub ipvars: Option<BTreeMap<VarName, i64>>,
}

/// An implementation of legacy web sessions and WEB LEGACY CLOSE SESSION, plugged into the
/// suite. All methods take `&self`: implementations are shared between threads, as command
/// 1208 is thread-safe.
pub trait Sut: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> String;

    /// What the implementation supports.
    fn capabilities(&self) -> Capabilities;

    /// Whether two instances made the same way share one world (a server reached over HTTP:
    /// every adapter drives the same sessions). A simulator runs seeds in parallel only on
    /// implementations whose instances are independent; the safe default is shared.
    fn shares_world(&self) -> bool {
        true
    }

    /// Starts an empty world: no sessions, locks, variables or hook runs, default options for
    /// `config`, hook behaviour `Save`, virtual clock at 0.
    fn reset(&self, config: &WorldConfig) -> Result<(), SutError>;

    /// Runs a whole request.
    fn request(&self, request: &WireRequest) -> Result<Response, SutError>;

    /// Begins a request in `slot` and runs its actions; it stays in flight until `end`.
    fn begin(&self, slot: Slot, request: &WireRequest) -> Result<Begun, SutError>;

    /// Runs more actions in the slot's request, then ends it.
    fn end(&self, slot: Slot, actions: &[WireAction]) -> Result<Response, SutError>;

    /// Runs actions in a non-web process.
    fn non_web(&self, process: u8, actions: &[WireAction]) -> Result<Vec<WireRead>, SutError>;

    /// WEB SET OPTION.
    fn set_option(&self, option: &OptionSet) -> Result<(), SutError>;

    /// Sets what the hook does from now on.
    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError>;

    /// Moves the virtual clock forward, running the timeouts that fall due.
    fn advance(&self, seconds: u64) -> Result<(), SutError>;

    /// Returns and forgets the hook runs logged since the last call, in order.
    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError>;

    /// The lock table: record to owning process.
    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError>;

    /// The assigned interprocess variables.
    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError>;

    /// The name of the session cookie in force: the world's default (by its profile) until
    /// WEB SET OPTION selector 73 changes it. A server carrying the implementation over HTTP
    /// (`wlcs-http`) asks after every `reset` and `set_option` and reads the cookie of that
    /// name from each request's `Cookie` header, so the implementation, not the server,
    /// decides what selector 73 means. An in-process run passes the cookie's value in
    /// [`WireRequest::cookie`]; the checker asks once per trace, after its first step, and
    /// holds the answer to the model's name (REQ-1), so a name that would break the
    /// implementation once served is found in process too. The default answers
    /// [`SutError::Unsupported`]: such an implementation cannot be served by `wlcs-http`.
    fn session_cookie_name(&self) -> Result<String, SutError> {
        Err(SutError::Unsupported(
            "the implementation does not name its session cookie (Sut::session_cookie_name), \
             so it cannot be served over HTTP"
                .to_string(),
        ))
    }

    /// Everything the suite observes after a step: the hook runs (taken) and, when `shared`,
    /// the lock table and the interprocess variables. The default calls the three methods; an
    /// implementation across a network answers in one round trip.
    fn observe(&self, shared: bool) -> Result<Observed, SutError> {
        observe_by_parts(self, shared)
    }
}

/// [`Sut::observe`] made of [`Sut::take_hook_runs`], [`Sut::locks`] and [`Sut::ipvars`]: the
/// trait's default, and what an implementation falls back to when it cannot do better.
pub fn observe_by_parts<S: Sut + ?Sized>(sut: &S, shared: bool) -> Result<Observed, SutError> {
    Ok(Observed {
        hook_runs: sut.take_hook_runs()?,
        locks: if shared { Some(sut.locks()?) } else { None },
        ipvars: if shared { Some(sut.ipvars()?) } else { None },
    })
}
