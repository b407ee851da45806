//! The vocabulary a conformance trace is made of: steps, actions, symbolic IDs, options.
//!
//! These types are shared by the model, every system under test and the harness. They are
//! symbolic: sessions are numbered in the order the model opens them (`SessionRef(0)` is the
//! first session of a trace); the system under test mints real IDs and the differential
//! checker maps one to the other. All of them serialize to the fixture format
//! (fixtures/README.md), so their serde shape is versioned with it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A symbolic session: the n-th session the model opened in this trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionRef(pub u32);

impl fmt::Display for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S{}", self.0)
    }
}

/// A client address, as an index into the loopback range (0 is 127.0.0.1, 1 is 127.0.0.2).
pub type Ip = u8;

/// An in-flight request slot: a trace begins a request in a slot and ends it later.
pub type Slot = u8;

/// A process or interprocess variable name (`v3`, `<>v3`).
pub type VarName = u8;

/// A table number.
pub type Table = u8;

/// A record of a table, the unit of locking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRef {
    /// The table.
    pub table: Table,
    /// The record number in that table.
    pub record: u32,
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[T{}]#{}", self.table, self.record)
    }
}

/// A process that can own locks and run actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ProcRef {
    /// The web process of a session. `lane` is 0 for a legacy session; a 4D Mobile session
    /// has one process per lane.
    Web {
        /// The session.
        session: SessionRef,
        /// The process within the session.
        lane: u8,
    },
    /// A non-web process (a stored procedure, a worker), numbered by the trace.
    NonWeb(u8),
}

impl fmt::Display for ProcRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcRef::Web { session, lane: 0 } => write!(f, "{session}"),
            ProcRef::Web { session, lane } => write!(f, "{session}/p{lane}"),
            ProcRef::NonWeb(n) => write!(f, "nonweb{n}"),
        }
    }
}

/// Another spelling of a live session's ID; the command matches IDs exactly (CLOSE-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Spelling {
    /// Every letter's case swapped (an ID without letters gets a trailing `X`).
    SwapCase,
    /// Hyphens removed, or, for an ID without hyphens, one inserted after the first character.
    Hyphens,
    /// A space before and after the ID.
    Padded,
}

impl Spelling {
    /// Applies the spelling to a real ID. The result always differs from `id`.
    pub fn apply(self, id: &str) -> String {
        match self {
            Spelling::SwapCase => {
                let swapped: String = id
                    .chars()
                    .map(|c| {
                        if c.is_ascii_lowercase() {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect();
                if swapped == id {
                    format!("{id}X")
                } else {
                    swapped
                }
            }
            Spelling::Hyphens => {
                if id.contains('-') {
                    id.replace('-', "")
                } else {
                    let mut chars = id.chars();
                    match chars.next() {
                        Some(first) => format!("{first}-{}", chars.as_str()),
                        None => "-".to_string(),
                    }
                }
            }
            Spelling::Padded => format!(" {id} "),
        }
    }
}

/// The text a close call or a cookie carries, said symbolically.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IdText {
    /// The exact ID of a session the trace saw opened (live, closed or expired).
    Session(SessionRef),
    /// Another spelling of a session's ID.
    Respelled(SessionRef, Spelling),
    /// A well-formed ID that was never issued (the n-th forgery of the trace).
    Forged(u32),
    /// Arbitrary text that is not an ID.
    Malformed(String),
    /// `""`, what WEB Get Current Session ID returns outside a web request (D6).
    Empty,
    /// `WEB Get Current Session ID` evaluated where the action runs: the running request's
    /// session in a web request, the session's own ID inside its hook, `""` in a non-web
    /// process. Only meaningful as a close or expiration argument, never as a cookie.
    Current,
}

impl IdText {
    /// The well-formed, never-issued ID of the n-th forgery. Shared by every SUT adapter so the
    /// same trace sends the same bytes everywhere.
    pub fn forged_id(n: u32) -> String {
        format!("00000000-0000-4000-8000-{n:012}")
    }
}

impl fmt::Display for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdText::Session(s) => write!(f, "id({s})"),
            IdText::Respelled(s, sp) => write!(f, "{sp:?}(id({s}))"),
            IdText::Forged(n) => write!(f, "forged#{n}"),
            IdText::Malformed(t) => write!(f, "{t:?}"),
            IdText::Empty => f.write_str("\"\""),
            IdText::Current => f.write_str("current"),
        }
    }
}

/// One thing a request (or a non-web process, or a hook) does in its process's context.
///
/// One vocabulary, parametrised by how an ID argument is said: the model's traces use
/// [`IdText`] (symbolic, the default), a system under test gets `Action<WireId>` (real bytes,
/// `wlcs_sut::WireAction`); [`Action::map_id`] translates between them, so there is one list of
/// actions to keep in step with SPEC.md.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each variant's fields are its arguments, named in its doc"
)]
pub enum Action<I = IdText> {
    /// Assigns a process variable.
    SetVar { var: VarName, value: i64 },
    /// Reads a process variable.
    GetVar { var: VarName },
    /// Assigns an interprocess (`<>`) variable.
    SetIpVar { var: VarName, value: i64 },
    /// Reads an interprocess variable.
    GetIpVar { var: VarName },
    /// Makes `records` the current selection of `table` (sorted, deduplicated on read).
    Select { table: Table, records: Vec<u32> },
    /// Reads the current selection of `table`.
    GetSelection { table: Table },
    /// Loads a record read-write, locking it unless another process holds it.
    Lock { record: RecordRef },
    /// Asks who holds a record's lock (LOCKED, D8).
    IsLocked { record: RecordRef },
    /// WEB Get Current Session ID (command 1162).
    GetSessionId,
    /// WEB LEGACY CLOSE SESSION (command 1208).
    Close { id: I },
    /// WEB LEGACY GET SESSION EXPIRATION (command 1207).
    GetExpiration { id: I },
}

impl<I> Action<I> {
    /// The same action with its ID argument (if any) said another way.
    pub fn map_id<J>(&self, f: impl FnOnce(&I) -> J) -> Action<J> {
        match self {
            Action::SetVar { var, value } => Action::SetVar {
                var: *var,
                value: *value,
            },
            Action::GetVar { var } => Action::GetVar { var: *var },
            Action::SetIpVar { var, value } => Action::SetIpVar {
                var: *var,
                value: *value,
            },
            Action::GetIpVar { var } => Action::GetIpVar { var: *var },
            Action::Select { table, records } => Action::Select {
                table: *table,
                records: records.clone(),
            },
            Action::GetSelection { table } => Action::GetSelection { table: *table },
            Action::Lock { record } => Action::Lock { record: *record },
            Action::IsLocked { record } => Action::IsLocked { record: *record },
            Action::GetSessionId => Action::GetSessionId,
            Action::Close { id } => Action::Close { id: f(id) },
            Action::GetExpiration { id } => Action::GetExpiration { id: f(id) },
        }
    }

    /// The ID argument, for the two actions that take one.
    pub fn id(&self) -> Option<&I> {
        match self {
            Action::Close { id } | Action::GetExpiration { id } => Some(id),
            _ => None,
        }
    }
}

/// A web request: where it comes from, the cookie it carries and what it does. `C` is how the
/// cookie's value is said, `I` how the actions' ID arguments are (the model: [`IdText`] both;
/// a system under test: the cookie's bytes and `WireId`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request<C = IdText, I = IdText> {
    /// The client address.
    #[serde(default)]
    pub ip: Ip,
    /// The session cookie's value, or `None` when the request carries no session cookie.
    #[serde(default = "Option::default")]
    pub cookie: Option<C>,
    /// `Some(lane)` for a 4D Mobile request: opens a 4D Mobile session when it needs a new
    /// session, and runs in that lane's process of a live 4D Mobile session.
    #[serde(default)]
    pub mobile: Option<u8>,
    /// What the request does, in order.
    #[serde(default = "Vec::new")]
    pub actions: Vec<Action<I>>,
}

impl<C, I> Request<C, I> {
    /// The same request with its cookie and ID arguments said another way.
    pub fn map_ids<D, J>(
        &self,
        mut cookie: impl FnMut(&C) -> D,
        mut id: impl FnMut(&I) -> J,
    ) -> Request<D, J> {
        Request {
            ip: self.ip,
            cookie: self.cookie.as_ref().map(&mut cookie),
            mobile: self.mobile,
            actions: self.actions.iter().map(|a| a.map_id(&mut id)).collect(),
        }
    }
}

/// The session mode (selectors 70 and 90).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SessionMode {
    /// Legacy web sessions: what the command acts on.
    Legacy,
    /// Scalable sessions: the command is ignored (CLOSE-9).
    Scalable,
}

/// A WEB SET OPTION call (D4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptionSet {
    /// Selector 18: max concurrent web processes (10..=32000; other values are ignored).
    MaxProcesses(u32),
    /// Selectors 70/90: the session mode. Takes effect at a restart, so it empties the world.
    Mode(SessionMode),
    /// Selector 71: max retained sessions.
    MaxSessions(u32),
    /// Selector 72: cookie timeout, minutes.
    CookieTimeoutMin(u32),
    /// Selector 73: session cookie name.
    CookieName(String),
    /// Selector 78: process timeout, minutes.
    ProcessTimeoutMin(u32),
    /// Selector 83: client IP validation.
    IpValidation(bool),
}

/// What the On Web Legacy Close Session hook does when it runs. It always records a snapshot
/// of the context it sees (that is how it "saves the session information"). `I` is how the ID
/// of `Close` is said: [`IdText`] in traces, its bytes for a system under test
/// (`wlcs_sut::WireHook`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookBehavior<I = IdText> {
    /// Records its snapshot and returns.
    Save,
    /// Records its snapshot, then fails (an error, a panic) (CLOSE-14).
    Fail,
    /// Records its snapshot, then calls the command on its own session (CLOSE-13).
    CloseOwn,
    /// Records its snapshot, then calls the command on another ID.
    Close(I),
    /// Records its snapshot slowly (observable only under real concurrency; the model treats
    /// it as `Save`).
    Slow,
}

impl<I> HookBehavior<I> {
    /// The same behaviour with the ID of `Close` said another way (`f` may turn it into
    /// another behaviour: `Current` inside a hook is the hook's own session, `CloseOwn`).
    pub fn map_id<J>(&self, f: impl FnOnce(&I) -> HookBehavior<J>) -> HookBehavior<J> {
        match self {
            HookBehavior::Save => HookBehavior::Save,
            HookBehavior::Fail => HookBehavior::Fail,
            HookBehavior::CloseOwn => HookBehavior::CloseOwn,
            HookBehavior::Slow => HookBehavior::Slow,
            HookBehavior::Close(id) => f(id),
        }
    }
}

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "each variant's fields are its arguments, named in its doc"
)]
pub enum Step {
    /// A whole request, begun and ended with nothing in between.
    Request(Request),
    /// Begins a request in a slot and runs its actions; the request stays in flight.
    Begin { slot: Slot, request: Request },
    /// Runs more actions in the slot's request, then ends it and sends its response.
    End {
        slot: Slot,
        #[serde(default)]
        actions: Vec<Action>,
    },
    /// A non-web process runs actions (typically a close).
    NonWeb {
        #[serde(default)]
        process: u8,
        actions: Vec<Action>,
    },
    /// WEB SET OPTION.
    SetOption(OptionSet),
    /// Sets what the hook does from now on.
    SetHook(HookBehavior),
    /// Moves the virtual clock forward.
    Advance { seconds: u64 },
}

/// Which of two documented readings of TIME-3 a run checks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TimeoutProfile {
    /// After a process timeout a valid cookie gets a new context under the same ID (D3).
    #[default]
    #[serde(rename = "timeout-keeps-id")]
    KeepsId,
    /// After a process timeout a valid cookie gets a new session with a new ID.
    #[serde(rename = "timeout-new-id")]
    NewId,
}

/// The default session cookie name's spelling.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum CookieNameProfile {
    /// `4DSID_<AppName>` (D4).
    #[default]
    #[serde(rename = "cookie-4DSID_AppName")]
    WithAppName,
    /// `4DSID`, as v13 to v18 servers name it (D3).
    #[serde(rename = "cookie-4DSID")]
    Bare,
}

/// The named settings a run checks PROFILE rules against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// TIME-3's reading.
    #[serde(default)]
    pub timeout: TimeoutProfile,
    /// The default cookie name's spelling.
    #[serde(default)]
    pub cookie_name: CookieNameProfile,
}

impl Profile {
    /// The profile's name in reports (`timeout-keeps-id+cookie-4DSID_AppName`).
    pub fn name(&self) -> String {
        let t = match self.timeout {
            TimeoutProfile::KeepsId => "timeout-keeps-id",
            TimeoutProfile::NewId => "timeout-new-id",
        };
        let c = match self.cookie_name {
            CookieNameProfile::WithAppName => "cookie-4DSID_AppName",
            CookieNameProfile::Bare => "cookie-4DSID",
        };
        format!("{t}+{c}")
    }
}

/// The world a trace starts from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldConfig {
    /// The application name, part of the default cookie name.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// The profile the trace is checked against.
    #[serde(default)]
    pub profile: Profile,
}

fn default_app_name() -> String {
    "wlcs".to_string()
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            app_name: default_app_name(),
            profile: Profile::default(),
        }
    }
}

/// A trace: a world and the steps run in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// The starting world.
    #[serde(default)]
    pub config: WorldConfig,
    /// The steps.
    pub steps: Vec<Step>,
}

/// What a process's context holds: what the hook sees and what the reset clears.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSnapshot {
    /// Assigned process variables.
    pub vars: BTreeMap<VarName, i64>,
    /// Non-empty current selections, records sorted and deduplicated.
    pub selections: BTreeMap<Table, Vec<u32>>,
    /// Records this process has locked, sorted.
    pub locks: Vec<RecordRef>,
}

impl ContextSnapshot {
    /// Whether the context holds nothing (what a new or reset context looks like).
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.selections.is_empty() && self.locks.is_empty()
    }
}

/// Who holds a record's lock, as seen by the asking process (LOCKED, D8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LockState {
    /// Nobody.
    Free,
    /// The asking process.
    Mine,
    /// Another process.
    Other,
}

/// The option values in force (selector defaults per SPEC.md "The world").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Selector 18.
    pub max_processes: u32,
    /// Selectors 70/90.
    pub mode: SessionMode,
    /// Selector 71.
    pub max_sessions: u32,
    /// Selector 72, minutes.
    pub cookie_timeout_min: u32,
    /// Selector 73.
    pub cookie_name: String,
    /// Selector 78, minutes.
    pub process_timeout_min: u32,
    /// Selector 83.
    pub ip_validation: bool,
    /// The world's default cookie name, what `""` for selector 73 restores (D4).
    #[serde(default)]
    pub default_cookie_name: String,
}

/// The accepted range of selector 18 (D4).
pub const MAX_PROCESSES_RANGE: std::ops::RangeInclusive<u32> = 10..=32000;

/// Selector 18's default (D4).
pub const MAX_PROCESSES_DEFAULT: u32 = 100;
/// Selector 71's default (D4).
pub const MAX_SESSIONS_DEFAULT: u32 = 100;
/// Selector 72's default, minutes (D4).
pub const COOKIE_TIMEOUT_DEFAULT_MIN: u32 = 480;
/// Selector 78's default, minutes (D4).
pub const PROCESS_TIMEOUT_DEFAULT_MIN: u32 = 480;

impl Options {
    /// The defaults for a world.
    pub fn defaults(config: &WorldConfig) -> Options {
        let cookie_name = match config.profile.cookie_name {
            CookieNameProfile::WithAppName => format!("4DSID_{}", config.app_name),
            CookieNameProfile::Bare => "4DSID".to_string(),
        };
        Options {
            max_processes: MAX_PROCESSES_DEFAULT,
            mode: SessionMode::Legacy,
            max_sessions: MAX_SESSIONS_DEFAULT,
            cookie_timeout_min: COOKIE_TIMEOUT_DEFAULT_MIN,
            default_cookie_name: cookie_name.clone(),
            cookie_name,
            process_timeout_min: PROCESS_TIMEOUT_DEFAULT_MIN,
            ip_validation: true,
        }
    }

    /// Applies a WEB SET OPTION call as D4 states it (SPEC.md "Option values"): `0` for
    /// selectors 71, 72 and 78 and `""` for 73 restore the default; selector 18 outside
    /// 10..=32000 and a cookie name that is not a token are ignored; in scalable mode
    /// selectors 18, 72, 73 and 78 are ignored. Returns false when the call changed nothing
    /// because it was ignored.
    pub fn apply(&mut self, option: &OptionSet) -> bool {
        let scalable = self.mode == SessionMode::Scalable;
        match option {
            // D4 selector 90: "the following options are ignored" in scalable mode.
            OptionSet::MaxProcesses(_)
            | OptionSet::CookieTimeoutMin(_)
            | OptionSet::CookieName(_)
            | OptionSet::ProcessTimeoutMin(_)
                if scalable =>
            {
                return false;
            }
            OptionSet::MaxProcesses(n) if MAX_PROCESSES_RANGE.contains(n) => {
                self.max_processes = *n
            }
            OptionSet::Mode(m) => self.mode = *m,
            OptionSet::MaxSessions(0) => self.max_sessions = MAX_SESSIONS_DEFAULT,
            OptionSet::MaxSessions(n) => self.max_sessions = *n,
            OptionSet::CookieTimeoutMin(0) => self.cookie_timeout_min = COOKIE_TIMEOUT_DEFAULT_MIN,
            OptionSet::CookieTimeoutMin(n) => self.cookie_timeout_min = *n,
            OptionSet::CookieName(name) if name.is_empty() => {
                self.cookie_name = self.default_cookie_name.clone()
            }
            OptionSet::CookieName(name) if is_cookie_name(name) => self.cookie_name = name.clone(),
            OptionSet::ProcessTimeoutMin(0) => {
                self.process_timeout_min = PROCESS_TIMEOUT_DEFAULT_MIN
            }
            OptionSet::ProcessTimeoutMin(n) => self.process_timeout_min = *n,
            OptionSet::IpValidation(on) => self.ip_validation = *on,
            _ => return false,
        }
        true
    }

    /// The process cap of selector 18 (SPEC.md "Max concurrent processes"): a new session
    /// process may start only while fewer than `max - 1` web processes run.
    pub fn processes_max(&self) -> u32 {
        self.max_processes.saturating_sub(1)
    }

    /// The cookie timeout in seconds.
    pub fn cookie_timeout_s(&self) -> u64 {
        u64::from(self.cookie_timeout_min) * 60
    }

    /// The process timeout in seconds.
    pub fn process_timeout_s(&self) -> u64 {
        u64::from(self.process_timeout_min) * 60
    }
}

/// Whether a text is a usable cookie name (an RFC 6265 token).
pub fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// CLOSE-11's readings: when a session closes itself during its own request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Close11Reading {
    /// SPEC.md's: the request runs to its end; hook and reset when it ends.
    #[default]
    #[serde(rename = "finish-request")]
    FinishRequest,
    /// The hook and the reset run at once; the rest of the request sees an empty context and
    /// its response still expires the cookie.
    #[serde(rename = "reset-immediately")]
    ResetImmediately,
}

/// CLOSE-12's readings: a close from elsewhere while the session runs a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Close12Reading {
    /// SPEC.md's: invalidation now; hook and reset when the request ends.
    #[default]
    #[serde(rename = "defer-to-request-end")]
    DeferToRequestEnd,
    /// Invalidation, hook and reset at once; the request goes on in an empty context and its
    /// response expires the cookie.
    #[serde(rename = "reset-immediately")]
    ResetImmediately,
}

/// CLOSE-13's readings: a session's hook closing that session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Close13Reading {
    /// SPEC.md's: a no-op (the hook does not run again, nothing else changes).
    #[default]
    #[serde(rename = "no-op")]
    NoOp,
    /// A close like any other, except that the running hook is not run again: the ID is
    /// invalidated (visible after a process timeout, whose hook runs while the ID is valid).
    #[serde(rename = "invalidates-id")]
    InvalidatesId,
}

/// CLOSE-14's readings: how a failing hook's failure is reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Close14Reading {
    /// SPEC.md's: the close completes and the hook run is reported as failed.
    #[default]
    #[serde(rename = "reported")]
    Reported,
    /// The close completes, but the failure is only logged by the server: the hook run is
    /// reported as not failed.
    #[serde(rename = "unreported")]
    Unreported,
}

/// LIMIT-2's readings of selector 18's process cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Limit2Reading {
    /// D4's "minus one": no new process once `max - 1` run.
    #[default]
    #[serde(rename = "cap-at-max-minus-one")]
    CapAtMaxMinusOne,
    /// No new process once `max` run.
    #[serde(rename = "cap-at-max")]
    CapAtMax,
}

/// Which reading of each SHOULD rule with another reasonable reading the model follows
/// (SPEC.md decisions: an alternative reading is a deviation from that SHOULD only). The
/// defaults are SPEC.md's readings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// CLOSE-11.
    #[serde(default)]
    pub close_11: Close11Reading,
    /// CLOSE-12.
    #[serde(default)]
    pub close_12: Close12Reading,
    /// CLOSE-13.
    #[serde(default)]
    pub close_13: Close13Reading,
    /// CLOSE-14.
    #[serde(default)]
    pub close_14: Close14Reading,
    /// LIMIT-2.
    #[serde(default)]
    pub limit_2: Limit2Reading,
}

impl Readings {
    /// The alternative readings, each with its rule and name, in SPEC.md order.
    pub const ALTERNATIVES: &'static [(&'static str, &'static str)] = &[
        ("CLOSE-11", "reset-immediately"),
        ("CLOSE-12", "reset-immediately"),
        ("CLOSE-13", "invalidates-id"),
        ("CLOSE-14", "unreported"),
        ("LIMIT-2", "cap-at-max"),
    ];

    /// Follows `RULE=reading` (as `--reading` spells it); `Err` says what is accepted.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (rule, name) = spec
            .split_once('=')
            .ok_or_else(|| format!("`{spec}`: expected RULE=READING"))?;
        match (rule.to_ascii_uppercase().as_str(), name) {
            ("CLOSE-11", "finish-request") => self.close_11 = Close11Reading::FinishRequest,
            ("CLOSE-11", "reset-immediately") => self.close_11 = Close11Reading::ResetImmediately,
            ("CLOSE-12", "defer-to-request-end") => {
                self.close_12 = Close12Reading::DeferToRequestEnd
            }
            ("CLOSE-12", "reset-immediately") => self.close_12 = Close12Reading::ResetImmediately,
            ("CLOSE-13", "no-op") => self.close_13 = Close13Reading::NoOp,
            ("CLOSE-13", "invalidates-id") => self.close_13 = Close13Reading::InvalidatesId,
            ("CLOSE-14", "reported") => self.close_14 = Close14Reading::Reported,
            ("CLOSE-14", "unreported") => self.close_14 = Close14Reading::Unreported,
            ("LIMIT-2", "cap-at-max-minus-one") => self.limit_2 = Limit2Reading::CapAtMaxMinusOne,
            ("LIMIT-2", "cap-at-max") => self.limit_2 = Limit2Reading::CapAtMax,
            _ => {
                let known: Vec<String> = Readings::ALTERNATIVES
                    .iter()
                    .map(|(r, n)| format!("{r}={n}"))
                    .collect();
                return Err(format!(
                    "`{spec}`: unknown reading (alternatives: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The readings that differ from SPEC.md's, as `RULE=reading`.
    pub fn deviations(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.close_11 == Close11Reading::ResetImmediately {
            out.push("CLOSE-11=reset-immediately".to_string());
        }
        if self.close_12 == Close12Reading::ResetImmediately {
            out.push("CLOSE-12=reset-immediately".to_string());
        }
        if self.close_13 == Close13Reading::InvalidatesId {
            out.push("CLOSE-13=invalidates-id".to_string());
        }
        if self.close_14 == Close14Reading::Unreported {
            out.push("CLOSE-14=unreported".to_string());
        }
        if self.limit_2 == Limit2Reading::CapAtMax {
            out.push("LIMIT-2=cap-at-max".to_string());
        }
        out
    }
}
