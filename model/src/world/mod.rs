//! The model's world and its `step` function: the executable form of SPEC.md.
//!
//! Every branch that implements a rule calls `fire(RuleId)` so the report can count how often
//! each rule's behaviour was exercised, and tags each observation with the rule that decides
//! it (`Ruled`), so a divergence names its rule.
//!
//! This file holds the state and `step`; the steps' work lives in files by job: `requests`
//! (routing, limits, a request's begin and end), `actions` (what runs in a context), `close`
//! (the command, the hook and the reset), `options` (WEB SET OPTION, the restart), `timeouts`
//! (the clock), `preconditions` (which steps are valid), `invariants` (the self-check) and
//! `queries` (what the model answers about its state).

use crate::index::{ActivityIndex, Indexed};
use crate::obs::StepObs;
use crate::rules::{RuleId, RuleSet};
use crate::vocab::{
    ContextSnapshot, HookBehavior, Ip, OptionSet, Options, ProcRef, Readings, RecordRef,
    SessionRef, Slot, Step, Table, TimeoutProfile, VarName, WorldConfig,
};
use std::collections::{BTreeMap, BTreeSet};

mod actions;
mod close;
mod invariants;
mod options;
mod preconditions;
mod queries;
mod requests;
mod timeouts;

/// How many hooks may nest (a hook closing a session whose hook closes another...). Each nested
/// close invalidates an ID first, so the depth is bounded by the session count anyway; this is
/// the named limit behind that argument.
pub const HOOK_DEPTH_MAX: usize = 64;

/// The state of a session's ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdState {
    /// Valid: requests with this cookie may reach the session.
    Valid,
    /// Invalidated by the command (CLOSE-1).
    Closed,
    /// Invalidated by an eviction (LIMIT-1).
    Evicted,
    /// Gone after its last process timed out under `timeout-new-id` (TIME-3).
    TimedOut,
    /// Dropped by a restart (a mode change).
    Dropped,
}

/// What kind of session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// A legacy web session: one process, lane 0.
    Legacy,
    /// A 4D Mobile session: one process per lane, one cookie.
    Mobile,
}

#[derive(Clone, Debug, Default)]
struct Context {
    vars: BTreeMap<VarName, i64>,
    selections: BTreeMap<Table, Vec<u32>>,
    locks: BTreeSet<RecordRef>,
}

impl Context {
    fn snapshot(&self) -> ContextSnapshot {
        ContextSnapshot {
            vars: self.vars.clone(),
            selections: self.selections.clone(),
            locks: self.locks.iter().copied().collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.selections.is_empty() && self.locks.is_empty()
    }
}

#[derive(Clone, Debug)]
struct Lane {
    running: bool,
    ctx: Context,
    busy: Option<Slot>,
    last_active: u64,
    /// Set when the session was closed while this lane ran a request: CLOSE-11 or CLOSE-12.
    pending: Option<RuleId>,
    /// Other rules the pending close's hook answers to (CLOSE-3 for a non-web closer...).
    pending_also: RuleSet,
    /// The rule that made this context (what reads of never-assigned values answer to).
    fresh_rule: RuleId,
    /// Hook runs of the current process (INV-2 self-check).
    hook_runs: u32,
    /// The hook and reset already ran mid-request (CLOSE-11/12 `reset-immediately`): the
    /// request's end ends the process without a second hook.
    hooked_early: bool,
    /// Requests this process has served: from the second on, the hook's snapshot also shows
    /// that the context persisted between requests (REQ-2).
    requests: u32,
}

impl Lane {
    fn new(now: u64, fresh_rule: RuleId) -> Lane {
        Lane {
            running: true,
            ctx: Context::default(),
            busy: None,
            last_active: now,
            pending: None,
            pending_also: RuleSet::EMPTY,
            fresh_rule,
            hook_runs: 0,
            hooked_early: false,
            requests: 0,
        }
    }
}

/// What the suite can say of a session's routing in scalable mode (SPEC.md, "Scalable
/// mode"): only that a close call leaves a session that surely still exists reachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScalableClaim {
    /// Opened since the clock last moved, and no close named it: it surely still exists.
    Fresh,
    /// Fresh when a close call named it: a request carrying its cookie runs in it (CLOSE-9).
    Named,
    /// The clock moved since it opened: it may have ended on its own clock; nothing is said.
    Unknown,
}

#[derive(Clone, Debug)]
struct Session {
    kind: SessionKind,
    ip: Ip,
    id: IdState,
    expiration: u64,
    lanes: BTreeMap<u8, Lane>,
    /// What CLOSE-9 says of this session's routing in scalable mode.
    scalable: ScalableClaim,
    /// A request was refused (REQ-5) since the last slide: an expiration that moved anyway
    /// breaks REQ-5 too.
    refused_since_slide: bool,
}

impl Session {
    #[inline]
    fn running(&self) -> bool {
        self.lanes.values().any(|l| l.running)
    }

    #[inline]
    fn busy(&self) -> bool {
        self.lanes.values().any(|l| l.busy.is_some())
    }

    fn last_active(&self) -> u64 {
        self.lanes
            .values()
            .map(|l| l.last_active)
            .max()
            .unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug)]
struct Flight {
    session: SessionRef,
    lane: u8,
    opened: bool,
    ran_rule: RuleId,
    /// The rule a new session's cookie answers to (CLOSE-8 after a closed cookie...).
    context_rule: RuleId,
}

/// Who runs an action: it decides `Current`, the context and the lock owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Web { session: SessionRef, lane: u8 },
    NonWeb(u8),
    Hook { session: SessionRef, lane: u8 },
}

impl Caller {
    #[inline]
    fn proc(self) -> ProcRef {
        match self {
            Caller::Web { session, lane } | Caller::Hook { session, lane } => {
                ProcRef::Web { session, lane }
            }
            Caller::NonWeb(n) => ProcRef::NonWeb(n),
        }
    }
}

/// Why a request goes where it goes (computed without changing anything).
enum Route {
    Existing {
        session: SessionRef,
        lane: u8,
        /// The lane has no running process: a new empty context under the same ID.
        new_context: Option<RuleId>,
    },
    New {
        /// The rule that routes the request away from the cookie's session.
        rule: RuleId,
        /// The rule an empty context answers to.
        context_rule: RuleId,
    },
    Refused400,
}

/// Whether a new process fits under the limits (`Model::make_room`).
enum Room {
    /// It fits.
    Ready,
    /// Sessions were evicted to make it fit: route again (a hook may have closed the target).
    Evicted,
    /// Nothing evictable makes it fit (LIMIT-2).
    Full,
}

/// The reference model: a world of legacy web sessions and the command that closes them.
#[derive(Clone, Debug)]
pub struct Model {
    config: WorldConfig,
    /// The readings of SHOULD rules the model follows (SPEC.md's unless a run declares or
    /// detects another).
    readings: Readings,
    options: Options,
    now: u64,
    sessions: Vec<Session>,
    nonweb: BTreeMap<u8, Context>,
    locks: BTreeMap<RecordRef, (ProcRef, u64)>,
    released_by: BTreeMap<RecordRef, (RuleId, RuleSet)>,
    ipvars: BTreeMap<VarName, (i64, u64)>,
    /// How many resets (process ends) happened: reads of things set before a later reset are
    /// CLOSE-7's negative space.
    resets: u64,
    hook: HookBehavior,
    in_flight: BTreeMap<Slot, Flight>,
    /// Processes whose hook is running, innermost last.
    hook_stack: Vec<(SessionRef, u8)>,
    /// Live and idle sessions and idle processes, ordered (kept by `reindex`), so a step's
    /// cost does not grow with the sessions the trace ever opened.
    index: ActivityIndex,
}

/// Accumulates one step's observations.
struct Out {
    obs: StepObs,
    /// Whether the step opened a session (INV-5 is checked after such steps).
    opened: bool,
}

impl Out {
    #[inline]
    fn fire(&mut self, rule: RuleId) {
        self.obs.fired.push(rule);
    }
}

impl Model {
    /// A new, empty world.
    pub fn new(config: WorldConfig) -> Model {
        Model::with_readings(config, Readings::default())
    }

    /// A new, empty world whose model follows these readings of the SHOULD rules.
    pub fn with_readings(config: WorldConfig, readings: Readings) -> Model {
        let options = Options::defaults(&config);
        Model {
            config,
            readings,
            options,
            now: 0,
            sessions: Vec::new(),
            nonweb: BTreeMap::new(),
            locks: BTreeMap::new(),
            released_by: BTreeMap::new(),
            ipvars: BTreeMap::new(),
            resets: 0,
            hook: HookBehavior::Save,
            in_flight: BTreeMap::new(),
            hook_stack: Vec::new(),
            index: ActivityIndex::default(),
        }
    }

    /// A session the trace opened.
    #[inline]
    fn session(&self, session: SessionRef) -> Option<&Session> {
        self.sessions.get(session.0 as usize)
    }

    /// Whether a session exists for the command (SPEC.md "When a session exists"): its ID is
    /// valid and a process runs, or (timeout-keeps-id) its cookie has not expired.
    #[inline]
    fn session_exists(&self, s: &Session) -> bool {
        s.id == IdState::Valid
            && (s.running()
                || (self.config.profile.timeout == TimeoutProfile::KeepsId
                    && self.now < s.expiration))
    }

    /// Brings the index up to date with a session whose processes changed (started, ended,
    /// began or finished a request).
    fn reindex(&mut self, session: SessionRef) {
        let Some(s) = self.sessions.get(session.0 as usize) else {
            return;
        };
        let now = Indexed {
            live: s.running(),
            procs: s.lanes.values().filter(|l| l.running).count(),
            idle: (s.running() && !s.busy()).then(|| s.last_active()),
            idle_lanes: s
                .lanes
                .iter()
                .filter(|(_, l)| l.running && l.busy.is_none())
                .map(|(lane, l)| (l.last_active, *lane))
                .collect(),
        };
        self.index.update(session, now);
    }

    /// Runs one step and returns what it must produce. Total: a step whose precondition does
    /// not hold changes nothing and says why in [`StepObs::invalid`].
    pub fn step(&mut self, step: &Step) -> StepObs {
        let mut out = Out {
            obs: StepObs {
                fired: Vec::with_capacity(16),
                ..StepObs::default()
            },
            opened: false,
        };
        let mut ended = None;
        if let Some(reason) = self.precondition(step) {
            out.obs.invalid = Some(reason);
            return out.obs;
        }
        match step {
            Step::Request(request) => {
                if let Some(flight) = self.begin(None, request, &mut out) {
                    self.finish(flight, &[], &mut out);
                }
            }
            Step::Begin { slot, request } => {
                self.begin(Some(*slot), request, &mut out);
            }
            Step::End { slot, actions } => {
                if let Some(flight) = self.in_flight.remove(slot) {
                    ended = Some(flight.session);
                    self.finish(flight, actions, &mut out);
                }
            }
            Step::NonWeb { process, actions } => {
                self.nonweb.entry(*process).or_default();
                for action in actions {
                    let read = self.act(Caller::NonWeb(*process), action, &mut out);
                    out.obs.reads.push(read);
                }
            }
            Step::SetOption(option) => self.set_option(option, &mut out),
            Step::SetHook(behavior) => self.hook = behavior.clone(),
            Step::Advance { seconds } => self.advance(*seconds, &mut out),
        }
        out.obs.session = out.obs.ran_in.map(|r| r.session).or(ended);
        // INV-1..5 are checked after every step: here on the model's own state (a failure is
        // a model bug), and by the differential checker on the system under test's.
        for rule in [
            RuleId::Inv1,
            RuleId::Inv2,
            RuleId::Inv3,
            RuleId::Inv4,
            RuleId::Inv5,
        ] {
            out.fire(rule);
        }
        // Only the sessions this step touched can have changed (a restart touches all).
        let mut touched: Vec<usize> = out.obs.hooks.iter().map(|h| h.session.0 as usize).collect();
        touched.extend(out.obs.ran_in.map(|r| r.session.0 as usize));
        touched.extend(ended.map(|s| s.0 as usize));
        let check = if matches!(step, Step::SetOption(OptionSet::Mode(_))) {
            self.self_check(out.opened)
        } else {
            self.check_sessions(out.opened, touched.into_iter())
        };
        if let Err((rule, what)) = check {
            out.obs.model_fault = Some(format!("{rule}: {what}"));
        }
        out.obs
    }
}
