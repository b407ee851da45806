//! The JSON shapes of HARNESS.md, protocol version 1, and their conversions to and from the
//! plug-in trait's wire types.
//!
//! The protocol owns its shapes: they are not the serde shapes of [`wlcs_plugin`], so a
//! rename in the Rust types cannot change what a vendor's server must speak. Every conversion
//! is an exhaustive `match`, so a new wire variant fails to compile here until the protocol
//! says how it travels. `sut/tests/http.rs` pins every shape against HARNESS.md's examples.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wlcs_model::vocab::{
    ContextSnapshot, CookieNameProfile, LockState, OptionSet, Profile, RecordRef, SessionMode,
    TimeoutProfile, VarName, WorldConfig,
};
use wlcs_plugin::{
    Capabilities, SutError, WireAction, WireHook, WireHookRun, WireId, WireProc, WireRead,
};

/// The protocol version this build speaks (the `v1` of every path).
pub const PROTOCOL_VERSION: u32 = 1;

/// The web endpoint: a real web request whose actions run in its session's context.
pub const PATH_WEB: &str = "/wlcs/v1/web";
/// `GET`: what the server implements.
pub const PATH_CAPABILITIES: &str = "/wlcs/v1/capabilities";
/// `POST`: starts an empty world.
pub const PATH_RESET: &str = "/wlcs/v1/reset";
/// `POST`: actions in a non-web process.
pub const PATH_NON_WEB: &str = "/wlcs/v1/non-web";
/// `POST`: WEB SET OPTION.
pub const PATH_OPTION: &str = "/wlcs/v1/option";
/// `POST`: what the hook does from now on.
pub const PATH_HOOK: &str = "/wlcs/v1/hook";
/// `POST`: moves the virtual clock.
pub const PATH_ADVANCE: &str = "/wlcs/v1/clock/advance";
/// `POST`: returns and forgets the hook runs.
pub const PATH_HOOK_RUNS_TAKE: &str = "/wlcs/v1/hook-runs/take";
/// `GET`: the lock table.
pub const PATH_LOCKS: &str = "/wlcs/v1/locks";
/// `GET`: the interprocess variables.
pub const PATH_IPVARS: &str = "/wlcs/v1/ipvars";
/// `POST` (optional feature `observe`): hook runs taken, and the lock table and interprocess
/// variables when asked, in one round trip.
pub const PATH_OBSERVE: &str = "/wlcs/v1/observe";
/// The name of the optional `observe` endpoint in [`CapabilitiesV1::features`].
pub const FEATURE_OBSERVE: &str = "observe";
/// The name of the optional paged takes of hook runs in [`CapabilitiesV1::features`]: a take
/// (or an observe) answers at most a page of runs with `"more": true` while runs are left, and
/// `POST /wlcs/v1/hook-runs/take?max_runs=N` bounds the page (HARNESS.md "Paged hook runs").
pub const FEATURE_HOOK_RUNS_PAGED: &str = "hook_runs_paged";
/// `features` entry: the server hosts several independent worlds, world `k` under
/// `BASE/worlds/k` (HARNESS.md "Worlds"); `"worlds"` of the answer says how many.
pub const FEATURE_WORLDS: &str = "worlds";
/// Prefix of `GET /wlcs/v1/slots/{slot}` (long poll) and `POST /wlcs/v1/slots/{slot}/end`.
pub const PATH_SLOTS: &str = "/wlcs/v1/slots";

/// Request header of a web request to hold in flight in this slot (0..=255).
pub const HEADER_SLOT: &str = "x-wlcs-slot";
/// Request header of a 4D Mobile web request: its lane (0..=255).
pub const HEADER_MOBILE: &str = "x-wlcs-mobile";

/// The `Content-Type` of every JSON body.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// One action of a web request or a non-web process (`{"op": ...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ActionV1 {
    /// Assigns a process variable.
    SetVar {
        /// The variable.
        var: VarName,
        /// The value.
        value: i64,
    },
    /// Reads a process variable.
    GetVar {
        /// The variable.
        var: VarName,
    },
    /// Assigns an interprocess variable.
    SetIpvar {
        /// The variable.
        var: VarName,
        /// The value.
        value: i64,
    },
    /// Reads an interprocess variable.
    GetIpvar {
        /// The variable.
        var: VarName,
    },
    /// Replaces a table's current selection.
    Select {
        /// The table.
        table: u8,
        /// The records, in any order, possibly repeated.
        records: Vec<u32>,
    },
    /// Reads a table's current selection.
    GetSelection {
        /// The table.
        table: u8,
    },
    /// Loads a record read-write (locks it unless another process holds it).
    Lock {
        /// The table.
        table: u8,
        /// The record number.
        record: u32,
    },
    /// Asks who holds a record's lock.
    IsLocked {
        /// The table.
        table: u8,
        /// The record number.
        record: u32,
    },
    /// WEB Get Current Session ID.
    GetSessionId,
    /// WEB LEGACY CLOSE SESSION(id).
    Close {
        /// The exact text to pass.
        id: String,
    },
    /// WEB LEGACY CLOSE SESSION(WEB Get Current Session ID).
    CloseCurrent,
    /// WEB LEGACY GET SESSION EXPIRATION(id).
    GetExpiration {
        /// The exact text to pass.
        id: String,
    },
    /// WEB LEGACY GET SESSION EXPIRATION(WEB Get Current Session ID).
    GetExpirationCurrent,
}

/// Who holds a lock, seen from the asking process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockStateV1 {
    /// Nobody.
    Free,
    /// The asking process.
    Mine,
    /// Another process.
    Other,
}

/// What one action returned (`{"kind": ..., "value": ...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReadV1 {
    /// Writes and the close command.
    Done,
    /// A process variable; `null` when unassigned.
    Var {
        /// The value.
        value: Option<i64>,
    },
    /// An interprocess variable; `null` when unassigned.
    Ipvar {
        /// The value.
        value: Option<i64>,
    },
    /// A selection, sorted and deduplicated.
    Selection {
        /// The records.
        value: Vec<u32>,
    },
    /// Whether `lock` obtained the record (or already held it).
    Locked {
        /// Obtained.
        value: bool,
    },
    /// Who holds the lock.
    LockState {
        /// The holder.
        value: LockStateV1,
    },
    /// WEB Get Current Session ID (`""` outside a web request).
    SessionId {
        /// The ID.
        value: String,
    },
    /// Expiration, seconds on the virtual clock; `null` is the null date.
    Expiration {
        /// The seconds.
        value: Option<u64>,
    },
}

/// The body of a web request and of `POST /wlcs/v1/slots/{slot}/end`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionsV1 {
    /// The actions, in order.
    #[serde(default)]
    pub actions: Vec<ActionV1>,
}

/// The body of a web request's response (any status).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebResultV1 {
    /// The session the request ran in (captured before its actions ran); `null` when refused.
    #[serde(default)]
    pub session_id: Option<String>,
    /// What the actions returned (for a held request, the end's actions only).
    #[serde(default)]
    pub reads: Vec<ReadV1>,
}

/// An error of the protocol itself (never a web outcome).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBodyV1 {
    /// The error.
    pub error: ErrorV1,
}

/// What went wrong, with a stable code (HARNESS.md lists them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorV1 {
    /// A stable, machine-readable code.
    pub code: String,
    /// What happened, for a person.
    pub message: String,
    /// For `timeout`: how long the server waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// Error codes that map back to a [`SutError`] kind on the adapter's side.
pub mod codes {
    /// The call needs a capability the server lacks, or the state does not allow it.
    pub const UNSUPPORTED: &str = "unsupported";
    /// The implementation behind the server panicked.
    pub const PANIC: &str = "panic";
    /// The implementation (or the server) did not answer in time.
    pub const TIMEOUT: &str = "timeout";
    /// The implementation behind the server could not be reached.
    pub const TRANSPORT: &str = "transport";
    /// The implementation behind the server broke its own protocol.
    pub const PROTOCOL: &str = "protocol";
    /// The body is not the JSON this endpoint takes.
    pub const BAD_JSON: &str = "bad_json";
    /// A header or path parameter is malformed.
    pub const BAD_REQUEST: &str = "bad_request";
    /// The body exceeds the server's limit.
    pub const TOO_LARGE: &str = "too_large";
    /// No such endpoint.
    pub const NOT_FOUND: &str = "not_found";
    /// The endpoint exists with another method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// The client's address is outside 127.0.0.1..=127.0.1.0.
    pub const FORBIDDEN_PEER: &str = "forbidden_peer";
    /// `end` of a slot that holds no request.
    pub const SLOT_EMPTY: &str = "slot_empty";
    /// A held request was abandoned (reset, shutdown, its client went away).
    pub const ABORTED: &str = "aborted";
    /// The server is shutting down.
    pub const SHUTTING_DOWN: &str = "shutting_down";
    /// The server failed on its own (a response it cannot encode).
    pub const INTERNAL: &str = "internal";
}

impl ErrorV1 {
    /// The [`SutError`] this error stands for on the adapter's side.
    pub fn to_sut_error(&self, status: u16, context: &str) -> SutError {
        let text = format!(
            "{context}: server answered {status} {}: {}",
            self.code, self.message
        );
        match self.code.as_str() {
            codes::UNSUPPORTED | codes::SLOT_EMPTY => SutError::Unsupported(text),
            codes::PANIC => SutError::Panic(text),
            codes::TIMEOUT => SutError::CallTimeout {
                call: format!("{context} (the server's own timeout: {})", self.message),
                ms: self.timeout_ms.unwrap_or(0),
            },
            codes::TRANSPORT => SutError::Transport(text),
            _ => SutError::Protocol(text),
        }
    }

    /// The protocol error for a [`SutError`] of the implementation behind a server, with the
    /// HTTP status it travels with.
    pub fn from_sut_error(error: &SutError) -> (u16, ErrorV1) {
        let (status, code, timeout_ms) = match error {
            SutError::Unsupported(_) => (422, codes::UNSUPPORTED, None),
            SutError::Panic(_) => (500, codes::PANIC, None),
            SutError::Timeout(ms) | SutError::CallTimeout { ms, .. } => {
                (504, codes::TIMEOUT, Some(*ms))
            }
            SutError::Transport(_) => (502, codes::TRANSPORT, None),
            SutError::Protocol(_) => (502, codes::PROTOCOL, None),
        };
        (
            status,
            ErrorV1 {
                code: code.to_string(),
                message: error.to_string(),
                timeout_ms,
            },
        )
    }
}

/// `GET /wlcs/v1/capabilities`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilitiesV1 {
    /// The protocol version the server speaks: 1.
    pub protocol: u32,
    /// A short name for reports.
    pub name: String,
    /// What the suite may use.
    pub capabilities: CapsV1,
    /// Optional endpoints the server offers (`"observe"`); absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// The independent worlds the server hosts (HARNESS.md "Worlds"); absent means one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worlds: Option<WorldsV1>,
}

/// `"worlds"` of the capabilities answer: world `k` is served under `BASE/worlds/k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldsV1 {
    /// How many worlds the server hosts (at least 2 when the field is present).
    pub count: usize,
    /// The world that answered, when asked under its own base URL `BASE/worlds/k`; absent at
    /// the server's root (which is world 0 too). A client spreads over the worlds only from
    /// the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub this: Option<usize>,
}

/// The capability flags (HARNESS.md says which rules each one gates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapsV1 {
    /// `POST /wlcs/v1/clock/advance` works.
    pub clock: bool,
    /// The server tells client IPs apart by TCP peer address.
    pub multi_ip: bool,
    /// `X-WLCS-Mobile` requests.
    pub mobile: bool,
    /// Hook behaviours other than `save`.
    pub hook_faults: bool,
    /// `X-WLCS-Slot` requests held in flight.
    pub in_flight: bool,
    /// `POST /wlcs/v1/option`.
    pub options: bool,
}

impl From<Capabilities> for CapsV1 {
    fn from(c: Capabilities) -> Self {
        CapsV1 {
            clock: c.clock,
            multi_ip: c.multi_ip,
            mobile: c.mobile,
            hook_faults: c.hook_faults,
            in_flight: c.in_flight,
            options: c.options,
        }
    }
}

impl From<CapsV1> for Capabilities {
    fn from(c: CapsV1) -> Self {
        Capabilities {
            clock: c.clock,
            multi_ip: c.multi_ip,
            mobile: c.mobile,
            hook_faults: c.hook_faults,
            in_flight: c.in_flight,
            options: c.options,
        }
    }
}

/// `POST /wlcs/v1/reset`: the world to start from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetV1 {
    /// The application name (the default cookie name is `4DSID_<app_name>`).
    pub app_name: String,
    /// TIME-3's reading: `timeout-keeps-id` or `timeout-new-id`.
    pub timeout_profile: TimeoutProfile,
    /// The default cookie name: `cookie-4DSID_AppName` or `cookie-4DSID`.
    pub cookie_name_profile: CookieNameProfile,
}

impl From<&WorldConfig> for ResetV1 {
    fn from(c: &WorldConfig) -> Self {
        ResetV1 {
            app_name: c.app_name.clone(),
            timeout_profile: c.profile.timeout,
            cookie_name_profile: c.profile.cookie_name,
        }
    }
}

impl From<ResetV1> for WorldConfig {
    fn from(r: ResetV1) -> Self {
        WorldConfig {
            app_name: r.app_name,
            profile: Profile {
                timeout: r.timeout_profile,
                cookie_name: r.cookie_name_profile,
            },
        }
    }
}

/// `POST /wlcs/v1/non-web`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonWebV1 {
    /// The non-web process (a stored procedure or worker numbered by the trace).
    pub process: u8,
    /// The actions, in order.
    #[serde(default)]
    pub actions: Vec<ActionV1>,
}

/// The answer of `POST /wlcs/v1/non-web`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadsV1 {
    /// What the actions returned.
    pub reads: Vec<ReadV1>,
}

/// The session mode of the `mode` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeV1 {
    /// Legacy sessions.
    Legacy,
    /// Scalable sessions.
    Scalable,
}

/// `POST /wlcs/v1/option`: one WEB SET OPTION call (`{"option": ..., "value": ...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "option", content = "value", rename_all = "snake_case")]
pub enum OptionV1 {
    /// Selector 18.
    MaxProcesses(u32),
    /// Selectors 70/90 (a restart).
    Mode(ModeV1),
    /// Selector 71.
    MaxSessions(u32),
    /// Selector 72, minutes.
    CookieTimeoutMin(u32),
    /// Selector 73.
    CookieName(String),
    /// Selector 78, minutes.
    ProcessTimeoutMin(u32),
    /// Selector 83.
    IpValidation(bool),
}

impl From<&OptionSet> for OptionV1 {
    fn from(o: &OptionSet) -> Self {
        match o {
            OptionSet::MaxProcesses(n) => OptionV1::MaxProcesses(*n),
            OptionSet::Mode(SessionMode::Legacy) => OptionV1::Mode(ModeV1::Legacy),
            OptionSet::Mode(SessionMode::Scalable) => OptionV1::Mode(ModeV1::Scalable),
            OptionSet::MaxSessions(n) => OptionV1::MaxSessions(*n),
            OptionSet::CookieTimeoutMin(n) => OptionV1::CookieTimeoutMin(*n),
            OptionSet::CookieName(s) => OptionV1::CookieName(s.clone()),
            OptionSet::ProcessTimeoutMin(n) => OptionV1::ProcessTimeoutMin(*n),
            OptionSet::IpValidation(b) => OptionV1::IpValidation(*b),
        }
    }
}

impl From<OptionV1> for OptionSet {
    fn from(o: OptionV1) -> Self {
        match o {
            OptionV1::MaxProcesses(n) => OptionSet::MaxProcesses(n),
            OptionV1::Mode(ModeV1::Legacy) => OptionSet::Mode(SessionMode::Legacy),
            OptionV1::Mode(ModeV1::Scalable) => OptionSet::Mode(SessionMode::Scalable),
            OptionV1::MaxSessions(n) => OptionSet::MaxSessions(n),
            OptionV1::CookieTimeoutMin(n) => OptionSet::CookieTimeoutMin(n),
            OptionV1::CookieName(s) => OptionSet::CookieName(s),
            OptionV1::ProcessTimeoutMin(n) => OptionSet::ProcessTimeoutMin(n),
            OptionV1::IpValidation(b) => OptionSet::IpValidation(b),
        }
    }
}

/// `POST /wlcs/v1/hook`: what the hook does from now on (`{"behavior": ...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "behavior", rename_all = "snake_case")]
pub enum HookV1 {
    /// Records its snapshot.
    Save,
    /// Records its snapshot, then fails.
    Fail,
    /// Records its snapshot, then closes its own session.
    CloseOwn,
    /// Records its snapshot, then closes this ID.
    Close {
        /// The exact text to pass.
        id: String,
    },
    /// Records its snapshot slowly.
    Slow,
}

impl From<&WireHook> for HookV1 {
    fn from(h: &WireHook) -> Self {
        match h {
            WireHook::Save => HookV1::Save,
            WireHook::Fail => HookV1::Fail,
            WireHook::CloseOwn => HookV1::CloseOwn,
            WireHook::Close(id) => HookV1::Close { id: id.clone() },
            WireHook::Slow => HookV1::Slow,
        }
    }
}

impl From<HookV1> for WireHook {
    fn from(h: HookV1) -> Self {
        match h {
            HookV1::Save => WireHook::Save,
            HookV1::Fail => WireHook::Fail,
            HookV1::CloseOwn => WireHook::CloseOwn,
            HookV1::Close { id } => WireHook::Close(id),
            HookV1::Slow => WireHook::Slow,
        }
    }
}

/// `POST /wlcs/v1/clock/advance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceV1 {
    /// Seconds to move the virtual clock forward.
    pub seconds: u64,
}

/// A variable and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarV1 {
    /// The variable.
    pub var: VarName,
    /// The value.
    pub value: i64,
}

/// A table's selection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionV1 {
    /// The table.
    pub table: u8,
    /// The records, sorted and deduplicated.
    pub records: Vec<u32>,
}

/// A record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordV1 {
    /// The table.
    pub table: u8,
    /// The record number.
    pub record: u32,
}

/// The context a hook saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotV1 {
    /// Assigned process variables.
    #[serde(default)]
    pub vars: Vec<VarV1>,
    /// Non-empty selections.
    #[serde(default)]
    pub selections: Vec<SelectionV1>,
    /// Records the process held.
    #[serde(default)]
    pub locks: Vec<RecordV1>,
}

/// One hook run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRunV1 {
    /// The session the hook ran for.
    pub session_id: String,
    /// The process within the session (0 for a legacy session).
    #[serde(default)]
    pub lane: u8,
    /// Whether the hook failed.
    #[serde(default)]
    pub failed: bool,
    /// What it saw.
    pub snapshot: SnapshotV1,
}

/// The answer of `POST /wlcs/v1/hook-runs/take`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRunsV1 {
    /// The runs since the last take, in order.
    pub runs: Vec<HookRunV1>,
    /// Paged takes only: more runs are left for the next take.
    #[serde(default, skip_serializing_if = "is_false")]
    pub more: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

/// A lock owner (`{"kind": "web" | "non_web", ...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OwnerV1 {
    /// A session's web process.
    Web {
        /// The session ID.
        session_id: String,
        /// The process within the session.
        #[serde(default)]
        lane: u8,
    },
    /// A non-web process.
    NonWeb {
        /// Its number.
        process: u8,
    },
}

/// One entry of the lock table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockV1 {
    /// The table.
    pub table: u8,
    /// The record number.
    pub record: u32,
    /// Who holds it.
    pub owner: OwnerV1,
}

/// The answer of `GET /wlcs/v1/locks`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocksV1 {
    /// Every locked record.
    pub locks: Vec<LockV1>,
}

/// The body of `POST /wlcs/v1/observe`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserveV1 {
    /// Whether to include the lock table and the interprocess variables.
    pub shared: bool,
    /// Paged takes only: at most this many hook runs (the rest by `hook-runs/take`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs: Option<usize>,
}

/// The answer of `POST /wlcs/v1/observe`: the three answers above in one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedV1 {
    /// The hook runs since the last take, in order (now forgotten).
    pub runs: Vec<HookRunV1>,
    /// The lock table, when `shared` was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locks: Option<Vec<LockV1>>,
    /// The interprocess variables, when `shared` was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvars: Option<Vec<VarV1>>,
    /// Paged takes only: more hook runs are left, for `POST /wlcs/v1/hook-runs/take`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub more: bool,
}

/// The answer of `GET /wlcs/v1/ipvars`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvarsV1 {
    /// Every assigned interprocess variable.
    pub ipvars: Vec<VarV1>,
}

/// The answer of `GET /wlcs/v1/slots/{slot}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotV1 {
    /// The slot.
    pub slot: u8,
    /// What is in it.
    #[serde(flatten)]
    pub state: SlotStateV1,
}

/// A slot's state (`{"state": ...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SlotStateV1 {
    /// No request arrived in the slot before the wait ran out.
    Empty,
    /// A request runs in the slot, its response held until `end`.
    Running {
        /// The session it runs in.
        session_id: String,
        /// What its actions returned.
        reads: Vec<ReadV1>,
    },
    /// The slot's request was answered at once (refused: 400, 503); reported once.
    Answered,
}

/// The answer of `POST /wlcs/v1/slots/{slot}/end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedV1 {
    /// The slot.
    pub slot: u8,
    /// Always true: the request ended and its held response was sent.
    pub ended: bool,
}

/// The answer of the control endpoints that return nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OkV1 {
    /// Always true.
    pub ok: bool,
}

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

impl From<&WireAction> for ActionV1 {
    fn from(a: &WireAction) -> Self {
        match a {
            WireAction::SetVar { var, value } => ActionV1::SetVar {
                var: *var,
                value: *value,
            },
            WireAction::GetVar { var } => ActionV1::GetVar { var: *var },
            WireAction::SetIpVar { var, value } => ActionV1::SetIpvar {
                var: *var,
                value: *value,
            },
            WireAction::GetIpVar { var } => ActionV1::GetIpvar { var: *var },
            WireAction::Select { table, records } => ActionV1::Select {
                table: *table,
                records: records.clone(),
            },
            WireAction::GetSelection { table } => ActionV1::GetSelection { table: *table },
            WireAction::Lock { record } => ActionV1::Lock {
                table: record.table,
                record: record.record,
            },
            WireAction::IsLocked { record } => ActionV1::IsLocked {
                table: record.table,
                record: record.record,
            },
            WireAction::GetSessionId => ActionV1::GetSessionId,
            WireAction::Close {
                id: WireId::Text(id),
            } => ActionV1::Close { id: id.clone() },
            WireAction::Close {
                id: WireId::Current,
            } => ActionV1::CloseCurrent,
            WireAction::GetExpiration {
                id: WireId::Text(id),
            } => ActionV1::GetExpiration { id: id.clone() },
            WireAction::GetExpiration {
                id: WireId::Current,
            } => ActionV1::GetExpirationCurrent,
        }
    }
}

impl From<ActionV1> for WireAction {
    fn from(a: ActionV1) -> Self {
        match a {
            ActionV1::SetVar { var, value } => WireAction::SetVar { var, value },
            ActionV1::GetVar { var } => WireAction::GetVar { var },
            ActionV1::SetIpvar { var, value } => WireAction::SetIpVar { var, value },
            ActionV1::GetIpvar { var } => WireAction::GetIpVar { var },
            ActionV1::Select { table, records } => WireAction::Select { table, records },
            ActionV1::GetSelection { table } => WireAction::GetSelection { table },
            ActionV1::Lock { table, record } => WireAction::Lock {
                record: RecordRef { table, record },
            },
            ActionV1::IsLocked { table, record } => WireAction::IsLocked {
                record: RecordRef { table, record },
            },
            ActionV1::GetSessionId => WireAction::GetSessionId,
            ActionV1::Close { id } => WireAction::Close {
                id: WireId::Text(id),
            },
            ActionV1::CloseCurrent => WireAction::Close {
                id: WireId::Current,
            },
            ActionV1::GetExpiration { id } => WireAction::GetExpiration {
                id: WireId::Text(id),
            },
            ActionV1::GetExpirationCurrent => WireAction::GetExpiration {
                id: WireId::Current,
            },
        }
    }
}

/// The protocol's actions for wire actions.
pub fn actions_v1(actions: &[WireAction]) -> Vec<ActionV1> {
    actions.iter().map(ActionV1::from).collect()
}

/// The wire actions of protocol actions.
pub fn wire_actions(actions: Vec<ActionV1>) -> Vec<WireAction> {
    actions.into_iter().map(WireAction::from).collect()
}

impl From<&WireRead> for ReadV1 {
    fn from(r: &WireRead) -> Self {
        match r {
            WireRead::Done => ReadV1::Done,
            WireRead::Var(v) => ReadV1::Var { value: *v },
            WireRead::IpVar(v) => ReadV1::Ipvar { value: *v },
            WireRead::Selection(v) => ReadV1::Selection { value: v.clone() },
            WireRead::Locked(b) => ReadV1::Locked { value: *b },
            WireRead::LockState(s) => ReadV1::LockState {
                value: match s {
                    LockState::Free => LockStateV1::Free,
                    LockState::Mine => LockStateV1::Mine,
                    LockState::Other => LockStateV1::Other,
                },
            },
            WireRead::SessionId(s) => ReadV1::SessionId { value: s.clone() },
            WireRead::Expiration(e) => ReadV1::Expiration { value: *e },
        }
    }
}

impl From<ReadV1> for WireRead {
    fn from(r: ReadV1) -> Self {
        match r {
            ReadV1::Done => WireRead::Done,
            ReadV1::Var { value } => WireRead::Var(value),
            ReadV1::Ipvar { value } => WireRead::IpVar(value),
            ReadV1::Selection { value } => WireRead::Selection(value),
            ReadV1::Locked { value } => WireRead::Locked(value),
            ReadV1::LockState { value } => WireRead::LockState(match value {
                LockStateV1::Free => LockState::Free,
                LockStateV1::Mine => LockState::Mine,
                LockStateV1::Other => LockState::Other,
            }),
            ReadV1::SessionId { value } => WireRead::SessionId(value),
            ReadV1::Expiration { value } => WireRead::Expiration(value),
        }
    }
}

/// The protocol's reads for wire reads.
pub fn reads_v1(reads: &[WireRead]) -> Vec<ReadV1> {
    reads.iter().map(ReadV1::from).collect()
}

/// The wire reads of protocol reads.
pub fn wire_reads(reads: Vec<ReadV1>) -> Vec<WireRead> {
    reads.into_iter().map(WireRead::from).collect()
}

impl From<&ContextSnapshot> for SnapshotV1 {
    fn from(s: &ContextSnapshot) -> Self {
        SnapshotV1 {
            vars: s
                .vars
                .iter()
                .map(|(var, value)| VarV1 {
                    var: *var,
                    value: *value,
                })
                .collect(),
            selections: s
                .selections
                .iter()
                .map(|(table, records)| SelectionV1 {
                    table: *table,
                    records: records.clone(),
                })
                .collect(),
            locks: s
                .locks
                .iter()
                .map(|r| RecordV1 {
                    table: r.table,
                    record: r.record,
                })
                .collect(),
        }
    }
}

/// A map from a list, refusing repeated keys (a snapshot or table that names a variable or
/// table twice is malformed, not "last one wins").
fn unique_map<K: Ord + Copy + std::fmt::Debug, V>(
    what: &str,
    items: impl IntoIterator<Item = (K, V)>,
) -> Result<BTreeMap<K, V>, String> {
    let mut map = BTreeMap::new();
    for (k, v) in items {
        if map.insert(k, v).is_some() {
            return Err(format!("{what} {k:?} is listed twice"));
        }
    }
    Ok(map)
}

impl SnapshotV1 {
    /// The snapshot as the wire types hold it; an error names a repeated entry.
    pub fn into_wire(self) -> Result<ContextSnapshot, String> {
        let mut locks: Vec<RecordRef> = self
            .locks
            .into_iter()
            .map(|r| RecordRef {
                table: r.table,
                record: r.record,
            })
            .collect();
        locks.sort_unstable();
        Ok(ContextSnapshot {
            vars: unique_map(
                "snapshot variable",
                self.vars.into_iter().map(|v| (v.var, v.value)),
            )?,
            selections: unique_map(
                "snapshot table",
                self.selections.into_iter().map(|s| (s.table, s.records)),
            )?,
            locks,
        })
    }
}

impl From<&WireHookRun> for HookRunV1 {
    fn from(r: &WireHookRun) -> Self {
        HookRunV1 {
            session_id: r.session_id.clone(),
            lane: r.lane,
            failed: r.failed,
            snapshot: SnapshotV1::from(&r.snapshot),
        }
    }
}

impl HookRunV1 {
    /// The run as the wire types hold it.
    pub fn into_wire(self) -> Result<WireHookRun, String> {
        Ok(WireHookRun {
            session_id: self.session_id,
            lane: self.lane,
            failed: self.failed,
            snapshot: self.snapshot.into_wire()?,
        })
    }
}

impl LocksV1 {
    /// The lock table of the wire types.
    pub fn from_wire(locks: &BTreeMap<RecordRef, WireProc>) -> LocksV1 {
        LocksV1 {
            locks: locks
                .iter()
                .map(|(r, owner)| LockV1 {
                    table: r.table,
                    record: r.record,
                    owner: match owner {
                        WireProc::Web { session_id, lane } => OwnerV1::Web {
                            session_id: session_id.clone(),
                            lane: *lane,
                        },
                        WireProc::NonWeb(n) => OwnerV1::NonWeb { process: *n },
                    },
                })
                .collect(),
        }
    }

    /// The lock table as the wire types hold it; an error names a record listed twice.
    pub fn into_wire(self) -> Result<BTreeMap<RecordRef, WireProc>, String> {
        unique_map(
            "locked record",
            self.locks.into_iter().map(|l| {
                let owner = match l.owner {
                    OwnerV1::Web { session_id, lane } => WireProc::Web { session_id, lane },
                    OwnerV1::NonWeb { process } => WireProc::NonWeb(process),
                };
                (
                    RecordRef {
                        table: l.table,
                        record: l.record,
                    },
                    owner,
                )
            }),
        )
    }
}

impl IpvarsV1 {
    /// The interprocess variables of the wire types.
    pub fn from_wire(vars: &BTreeMap<VarName, i64>) -> IpvarsV1 {
        IpvarsV1 {
            ipvars: vars
                .iter()
                .map(|(var, value)| VarV1 {
                    var: *var,
                    value: *value,
                })
                .collect(),
        }
    }

    /// The variables as the wire types hold them; an error names a variable listed twice.
    pub fn into_wire(self) -> Result<BTreeMap<VarName, i64>, String> {
        unique_map(
            "interprocess variable",
            self.ipvars.into_iter().map(|v| (v.var, v.value)),
        )
    }
}
