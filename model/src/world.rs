//! The model's world and its `step` function: the executable form of SPEC.md.
//!
//! Every branch that implements a rule calls `fire(RuleId)` so the report can count how often
//! each rule's behaviour was exercised, and tags each observation with the rule that decides
//! it (`Ruled`), so a divergence names its rule.

use crate::index::{ActivityIndex, Indexed};
use crate::obs::{CookieEffect, ExpectedRead, HookRun, RanIn, Read, ResponseObs, Ruled, StepObs};
use crate::rules::{RuleId, RuleSet};
use crate::vocab::{
    Action, Close11Reading, Close12Reading, Close13Reading, Close14Reading, ContextSnapshot,
    HookBehavior, IdText, Ip, Limit2Reading, LockState, OptionSet, Options, ProcRef, Readings,
    RecordRef, Request, SessionMode, SessionRef, Slot, Step, Table, TimeoutProfile, VarName,
    WorldConfig,
};
use std::collections::{BTreeMap, BTreeSet};

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

#[derive(Clone, Debug)]
struct Session {
    kind: SessionKind,
    ip: Ip,
    id: IdState,
    expiration: u64,
    lanes: BTreeMap<u8, Lane>,
    /// A close call named this session in scalable mode (CLOSE-9 decides its routing).
    scalable_close_attempted: bool,
    /// A request was refused (REQ-5) since the last slide: an expiration that moved anyway
    /// breaks REQ-5 too.
    refused_since_slide: bool,
}

impl Session {
    fn running(&self) -> bool {
        self.lanes.values().any(|l| l.running)
    }

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

    // ---------------------------------------------------------------- queries

    /// The world this model started from.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// The readings of SHOULD rules this model follows.
    pub fn readings(&self) -> Readings {
        self.readings
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The virtual clock, seconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Whether scalable sessions mode is on (CLOSE-9).
    pub fn scalable(&self) -> bool {
        self.options.mode == SessionMode::Scalable
    }

    /// How many sessions the trace has opened so far (`SessionRef`s `0..n` exist).
    pub fn sessions_opened(&self) -> u32 {
        u32::try_from(self.sessions.len()).unwrap_or(u32::MAX)
    }

    /// The state of a session's ID, if the session was ever opened.
    pub fn id_state(&self, session: SessionRef) -> Option<IdState> {
        self.session(session).map(|s| s.id)
    }

    /// The kind of a session.
    pub fn session_kind(&self, session: SessionRef) -> Option<SessionKind> {
        self.session(session).map(|s| s.kind)
    }

    /// The client IP a session is bound to.
    pub fn session_ip(&self, session: SessionRef) -> Option<Ip> {
        self.session(session).map(|s| s.ip)
    }

    /// Whether a session exists for the command (SPEC.md "When a session exists").
    pub fn exists(&self, session: SessionRef) -> bool {
        self.session(session)
            .is_some_and(|s| self.session_exists(s))
    }

    /// Whether a request with this session's cookie would reach it.
    pub fn routable(&self, session: SessionRef) -> bool {
        self.session(session)
            .is_some_and(|s| self.session_exists(s) && self.now < s.expiration)
    }

    /// The lanes of a session with a running process, and whether each is busy.
    pub fn running_lanes(&self, session: SessionRef) -> Vec<(u8, bool)> {
        self.session(session)
            .map(|s| {
                s.lanes
                    .iter()
                    .filter(|(_, l)| l.running)
                    .map(|(k, l)| (*k, l.busy.is_some()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The running processes of a session with no request in flight, with their last
    /// activity (what their process timeout counts from).
    pub fn idle_lanes(&self, session: SessionRef) -> Vec<(u8, u64)> {
        self.session(session)
            .map(|s| {
                s.lanes
                    .iter()
                    .filter(|(_, l)| l.running && l.busy.is_none())
                    .map(|(k, l)| (*k, l.last_active))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether an idle process is due to time out at the current clock without having been
    /// ended: only after the process timeout (selector 78) was lowered, since timeouts fire
    /// only when the clock moves (TIME-2; an advance of 0 s ends it).
    pub fn timeout_due(&self) -> bool {
        !self.scalable()
            && self.index.first_idle_lane().is_some_and(|(at, _, _)| {
                at.saturating_add(self.options.process_timeout_s()) <= self.now
            })
    }

    /// The expiration of a session's cookie (meaningful while it exists).
    pub fn expiration(&self, session: SessionRef) -> Option<u64> {
        self.session(session).map(|s| s.expiration)
    }

    /// Whether a process is running (non-web processes always are).
    pub fn process_running(&self, proc: ProcRef) -> bool {
        match proc {
            ProcRef::NonWeb(_) => true,
            ProcRef::Web { session, lane } => self
                .session(session)
                .and_then(|s| s.lanes.get(&lane))
                .is_some_and(|l| l.running),
        }
    }

    /// Sessions with at least one running process (SPEC.md "Limits").
    pub fn live_sessions(&self) -> usize {
        self.index.live()
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

    /// The slots holding a request in flight, with the session and lane each runs in.
    pub fn in_flight(&self) -> Vec<(Slot, SessionRef, u8)> {
        self.in_flight
            .iter()
            .map(|(slot, f)| (*slot, f.session, f.lane))
            .collect()
    }

    /// The lock table.
    pub fn locks(&self) -> BTreeMap<RecordRef, ProcRef> {
        self.locks.iter().map(|(r, (p, _))| (*r, *p)).collect()
    }

    /// The interprocess variables.
    pub fn ipvars(&self) -> BTreeMap<VarName, i64> {
        self.ipvars.iter().map(|(k, (v, _))| (*k, *v)).collect()
    }

    /// The rules that decide a record's lock entry (who holds it, or why it is free).
    pub fn lock_rule(&self, record: RecordRef) -> (RuleId, RuleSet) {
        match self.locks.get(&record) {
            Some((_, epoch)) if *epoch < self.resets => (RuleId::Close7, RuleSet::EMPTY),
            Some(_) => (RuleId::Req2, RuleSet::EMPTY),
            None => self
                .released_by
                .get(&record)
                .copied()
                .unwrap_or((RuleId::Req2, RuleSet::EMPTY)),
        }
    }

    /// The rule that decides an interprocess variable's value.
    pub fn ipvar_rule(&self, var: VarName) -> RuleId {
        match self.ipvars.get(&var) {
            Some((_, epoch)) if *epoch < self.resets => RuleId::Close7,
            _ => RuleId::Req2,
        }
    }

    /// Which rule a hook run that the model did not expect in a step violates. `fired` is the
    /// step's fired list; the model state is the one after the step.
    pub fn explain_extra_hook(&self, session: SessionRef, lane: u8, fired: &[RuleId]) -> RuleId {
        if self.scalable() || fired.contains(&RuleId::Close9) {
            return RuleId::Close9;
        }
        if fired.contains(&RuleId::Close13) {
            return RuleId::Close13;
        }
        if fired.contains(&RuleId::Close10) {
            return RuleId::Close10;
        }
        let Some(s) = self.session(session) else {
            return RuleId::Inv2;
        };
        if let Some(l) = s.lanes.get(&lane) {
            if let Some(rule) = l.pending {
                return rule;
            }
            if !l.running && s.id == IdState::Closed {
                return RuleId::Close5;
            }
        }
        if fired.contains(&RuleId::Close2) {
            return RuleId::Close2;
        }
        if s.kind == SessionKind::Mobile {
            return RuleId::Mobile1;
        }
        RuleId::Inv2
    }

    fn session(&self, session: SessionRef) -> Option<&Session> {
        self.sessions.get(session.0 as usize)
    }

    fn session_exists(&self, s: &Session) -> bool {
        s.id == IdState::Valid
            && (s.running()
                || (self.config.profile.timeout == TimeoutProfile::KeepsId
                    && self.now < s.expiration))
    }

    // ---------------------------------------------------------------- step

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

    /// Why a step is not valid now, if it is not.
    fn precondition(&self, step: &Step) -> Option<String> {
        let check_ids = |actions: &[Action]| -> Option<String> {
            actions.iter().find_map(|a| match a {
                Action::Close { id } | Action::GetExpiration { id } => self.check_id(id, true),
                _ => None,
            })
        };
        match step {
            Step::Request(request) => self.check_request(None, request),
            Step::Begin { slot, request } => self.check_request(Some(*slot), request),
            Step::End { slot, actions } => {
                if !self.in_flight.contains_key(slot) {
                    return Some(format!("slot {slot} has no request in flight"));
                }
                check_ids(actions)
            }
            Step::NonWeb { actions, .. } => check_ids(actions),
            Step::SetOption(OptionSet::Mode(mode))
                if *mode != self.options.mode && !self.in_flight.is_empty() =>
            {
                Some("a mode change restarts the server; no request may be in flight".into())
            }
            Step::SetOption(_) => None,
            Step::SetHook(HookBehavior::Close(id)) => self.check_id(id, true),
            Step::SetHook(_) => None,
            Step::Advance { seconds } => (*seconds > u64::from(u32::MAX))
                .then(|| format!("clock advance of {seconds} s is beyond any timeout")),
        }
    }

    fn check_id(&self, id: &IdText, current_allowed: bool) -> Option<String> {
        match id {
            IdText::Session(s) | IdText::Respelled(s, _) if self.session(*s).is_none() => {
                Some(format!("{s} has not been opened yet"))
            }
            IdText::Current if !current_allowed => {
                Some("`Current` is not a cookie value".to_string())
            }
            _ => None,
        }
    }

    fn check_request(&self, slot: Option<Slot>, request: &Request) -> Option<String> {
        if let Some(slot) = slot
            && self.in_flight.contains_key(&slot)
        {
            return Some(format!("slot {slot} already has a request in flight"));
        }
        if let Some(cookie) = &request.cookie
            && let Some(reason) = self.check_id(cookie, false)
        {
            return Some(reason);
        }
        if let Some(reason) = request.actions.iter().find_map(|a| match a {
            Action::Close { id } | Action::GetExpiration { id } => self.check_id(id, true),
            _ => None,
        }) {
            return Some(reason);
        }
        if let Route::Existing { session, lane, .. } = self.route(request)
            && self
                .session(session)
                .and_then(|s| s.lanes.get(&lane))
                .is_some_and(|l| l.busy.is_some())
        {
            return Some(format!(
                "{session} lane {lane} is already running a request"
            ));
        }
        None
    }

    /// Where a request goes (SPEC.md "Routing a request").
    fn route(&self, request: &Request) -> Route {
        let named = match &request.cookie {
            None => {
                return Route::New {
                    rule: RuleId::Req1,
                    context_rule: RuleId::Req1,
                };
            }
            Some(IdText::Session(s)) => *s,
            Some(_) => {
                // REQ-3: forged, malformed, respelled or empty values name no session.
                return Route::New {
                    rule: RuleId::Req3,
                    context_rule: RuleId::Req3,
                };
            }
        };
        let Some(s) = self.session(named) else {
            return Route::New {
                rule: RuleId::Req3,
                context_rule: RuleId::Req3,
            };
        };
        if self.session_exists(s) && self.now < s.expiration {
            if self.options.ip_validation && s.ip != request.ip {
                return Route::Refused400;
            }
            let lane = match s.kind {
                SessionKind::Legacy => 0,
                SessionKind::Mobile => request.mobile.unwrap_or(0),
            };
            let new_context = match s.lanes.get(&lane) {
                Some(l) if l.running => None,
                _ if !s.running() => Some(RuleId::Time3),
                _ => Some(RuleId::Mobile3),
            };
            return Route::Existing {
                session: named,
                lane,
                new_context,
            };
        }
        let (rule, context_rule) = match s.id {
            IdState::Valid => (RuleId::Time1, RuleId::Time1),
            IdState::Closed => {
                let pending = s.lanes.values().find_map(|l| l.pending);
                let rule = match (pending, s.kind) {
                    (Some(p), _) => p,
                    (None, SessionKind::Mobile) => RuleId::Mobile3,
                    (None, SessionKind::Legacy) => RuleId::Close1,
                };
                (rule, RuleId::Close8)
            }
            IdState::Evicted => (RuleId::Limit1, RuleId::Limit1),
            IdState::TimedOut => (RuleId::Time3, RuleId::Time3),
            IdState::Dropped => (RuleId::Req3, RuleId::Req3),
        };
        Route::New { rule, context_rule }
    }

    /// Begins a request: routing, limits, the expiration slide, the begin's actions. Returns
    /// where it runs, or `None` when it was refused (the response is then in `out`).
    fn begin(&mut self, slot: Option<Slot>, request: &Request, out: &mut Out) -> Option<Flight> {
        let scalable = self.scalable();
        // Route, making room first when the request needs a new process. An eviction's hook
        // may close the very session the cookie names, so the route is computed again after
        // each round of evictions (each round evicts at least one session: bounded).
        let route = loop {
            let route = self.route(request);
            // A new session needs a process and a session; a new lane of a running 4D Mobile
            // session needs a process only.
            let (needs_process, needs_session, target) = match &route {
                Route::New { .. } => (true, true, None),
                Route::Existing {
                    session,
                    new_context,
                    ..
                } => (
                    new_context.is_some(),
                    new_context.is_some() && self.session(*session).is_some_and(|s| !s.running()),
                    Some(*session),
                ),
                Route::Refused400 => (false, false, None),
            };
            if let Route::Refused400 = route {
                // REQ-5: another client IP with IP validation on: 400, nothing changes.
                out.fire(RuleId::Req5);
                if let Some(IdText::Session(named)) = &request.cookie {
                    self.sessions[named.0 as usize].refused_since_slide = true;
                }
                out.obs.response = Some(ResponseObs {
                    status: Ruled::new(400, RuleId::Req5),
                    cookie: Ruled::new(CookieEffect::Keep, RuleId::Req5),
                });
                return None;
            }
            if !needs_process || scalable {
                break route;
            }
            match self.make_room(needs_session, target, out) {
                Room::Ready => break route,
                Room::Evicted => continue,
                Room::Full => {
                    // LIMIT-2: nothing can be evicted: 503, nothing changes.
                    out.fire(RuleId::Limit2);
                    out.obs.response = Some(ResponseObs {
                        status: Ruled::new(503, RuleId::Limit2),
                        cookie: Ruled::new(CookieEffect::Keep, RuleId::Limit2),
                    });
                    return None;
                }
            }
        };
        let now = self.now;
        let mut context_rule = RuleId::Req2;
        let (session, lane, ran_in) = match route {
            Route::Existing {
                session,
                lane,
                new_context,
            } => {
                let sess = &mut self.sessions[session.0 as usize];
                let rule = match new_context {
                    Some(rule) => {
                        // TIME-3 (timed-out process, same ID) or MOBILE-3 (a new lane of a
                        // 4D Mobile session shares its cookie): a new empty context.
                        sess.lanes.insert(lane, Lane::new(now, rule));
                        out.fire(rule);
                        rule
                    }
                    None => {
                        // REQ-2: the live session's context.
                        out.fire(RuleId::Req2);
                        if scalable && sess.scalable_close_attempted {
                            out.fire(RuleId::Close9);
                            RuleId::Close9
                        } else {
                            RuleId::Req2
                        }
                    }
                };
                (
                    session,
                    lane,
                    RanIn {
                        session,
                        opened: false,
                        rule,
                    },
                )
            }
            Route::New {
                rule,
                context_rule: fresh,
            } => {
                context_rule = fresh;
                out.fire(rule);
                if context_rule != rule {
                    out.fire(context_rule);
                }
                if rule == RuleId::Time1
                    && let Some(IdText::Session(old)) = &request.cookie
                    && self.session(*old).is_some_and(|s| s.running())
                {
                    // TIME-4: the cookie expired first; the old process still runs.
                    out.fire(RuleId::Time4);
                }
                // REQ-6: a new session is a new symbol; the checker holds the system under test
                // to a never-seen ID for it.
                out.fire(RuleId::Req6);
                let session = SessionRef(self.sessions_opened());
                let lane = request.mobile.unwrap_or(0);
                let kind = if request.mobile.is_some() {
                    SessionKind::Mobile
                } else {
                    SessionKind::Legacy
                };
                let mut lanes = BTreeMap::new();
                lanes.insert(lane, Lane::new(now, context_rule));
                self.sessions.push(Session {
                    kind,
                    ip: request.ip,
                    id: IdState::Valid,
                    expiration: now,
                    lanes,
                    scalable_close_attempted: false,
                    refused_since_slide: false,
                });
                out.opened = true;
                (
                    session,
                    lane,
                    RanIn {
                        session,
                        opened: true,
                        rule,
                    },
                )
            }
            Route::Refused400 => return None,
        };
        // REQ-4: each request slides the expiration.
        let cookie_timeout_s = self.options.cookie_timeout_s();
        let sess = &mut self.sessions[session.0 as usize];
        sess.expiration = now + cookie_timeout_s;
        sess.refused_since_slide = false;
        out.fire(RuleId::Req4);
        if let Some(l) = sess.lanes.get_mut(&lane) {
            l.busy = Some(slot.unwrap_or(u8::MAX));
            l.last_active = now;
            l.requests += 1;
        }
        self.reindex(session);
        out.obs.ran_in = Some(ran_in);
        let flight = Flight {
            session,
            lane,
            opened: ran_in.opened,
            ran_rule: ran_in.rule,
            context_rule,
        };
        if let Some(slot) = slot {
            self.in_flight.insert(slot, flight);
        }
        for action in &request.actions {
            let read = self.act(Caller::Web { session, lane }, action, out);
            out.obs.reads.push(read);
        }
        Some(flight)
    }

    /// Ends a request: the end's actions, the response, then a pending close's hook and reset.
    fn finish(&mut self, flight: Flight, actions: &[Action], out: &mut Out) {
        let Flight {
            session,
            lane,
            opened,
            ran_rule,
            context_rule,
        } = flight;
        for action in actions {
            let read = self.act(Caller::Web { session, lane }, action, out);
            out.obs.reads.push(read);
        }
        let now = self.now;
        let Some(l) = self.sessions[session.0 as usize].lanes.get_mut(&lane) else {
            return;
        };
        l.busy = None;
        l.last_active = now;
        let pending = l.pending;
        self.reindex(session);
        let cookie = if let Some(rule) = pending {
            // CLOSE-4: the response of a request during which its session was closed expires
            // the cookie (CLOSE-11 self-close, CLOSE-12 close from elsewhere).
            out.fire(RuleId::Close4);
            out.fire(rule);
            Ruled::new(CookieEffect::Expire, RuleId::Close4)
        } else if opened {
            // The new session's Set-Cookie answers to the rule that made its context (CLOSE-8
            // after a closed cookie) and to the routing rule.
            Ruled::new(CookieEffect::Issue(session), context_rule).also(RuleSet::of(&[ran_rule]))
        } else {
            Ruled::new(CookieEffect::Keep, ran_rule)
        };
        out.obs.response = Some(ResponseObs {
            status: Ruled::new(200, ran_rule),
            cookie,
        });
        if let Some(rule) = pending {
            // CLOSE-11 / CLOSE-12: hook and reset run when the request ends.
            let pending_also = self.sessions[session.0 as usize]
                .lanes
                .get(&lane)
                .map_or(RuleSet::EMPTY, |l| l.pending_also);
            let (cause, also) = if self.sessions[session.0 as usize].kind == SessionKind::Mobile {
                (RuleId::Mobile2, pending_also.with(rule))
            } else {
                (rule, pending_also)
            };
            self.end_process(session, lane, cause, RuleId::Close7, also, out);
        }
    }

    /// Web processes running (legacy mode): what selector 18 caps.
    pub fn running_processes(&self) -> usize {
        self.index.procs()
    }

    /// Makes room for a new process (and a new live session when `needs_session`): evicts
    /// the fewest least recently active idle sessions (never `target`) after which both
    /// limits hold, live sessions under max sessions (LIMIT-1) and running web processes
    /// under `max processes - 1` (SPEC.md "Max concurrent processes"). `Full` when no such
    /// set exists: nothing is evicted (LIMIT-2).
    fn make_room(
        &mut self,
        needs_session: bool,
        target: Option<SessionRef>,
        out: &mut Out,
    ) -> Room {
        let sessions_max = self.options.max_sessions as usize;
        let procs_max = match self.readings.limit_2 {
            Limit2Reading::CapAtMaxMinusOne => self.options.processes_max() as usize,
            // LIMIT-2 (reading cap-at-max): no new process once `max` run.
            Limit2Reading::CapAtMax => self.options.max_processes as usize,
        };
        let mut live = self.live_sessions();
        let mut procs = self.running_processes();
        let fits = |live: usize, procs: usize| {
            (!needs_session || live < sessions_max) && procs < procs_max
        };
        if fits(live, procs) {
            return Room::Ready;
        }
        let capped = procs >= procs_max;
        // Least recent activity first, ties: the older session (the index's order).
        let idle: Vec<SessionRef> = self
            .index
            .idle_sessions()
            .filter(|v| Some(*v) != target)
            .collect();
        let mut victims = Vec::new();
        for victim in idle {
            if fits(live, procs) {
                break;
            }
            let lanes = self
                .session(victim)
                .map_or(0, |s| s.lanes.values().filter(|l| l.running).count());
            victims.push(victim);
            live -= 1;
            procs -= lanes;
        }
        if !fits(live, procs) {
            return Room::Full;
        }
        let mut also = RuleSet::of(&[RuleId::Inv5]);
        if capped {
            // LIMIT-2: the cap by max processes is what made this eviction necessary.
            also.insert(RuleId::Limit2);
        }
        for victim in victims {
            // LIMIT-1: the least recently active idle session is closed, with its hook, and
            // its ID invalidated as by the command.
            out.fire(RuleId::Limit1);
            self.sessions[victim.0 as usize].id = IdState::Evicted;
            for lane in self.running_lane_ids(victim) {
                self.end_process(victim, lane, RuleId::Limit1, RuleId::Limit1, also, out);
            }
        }
        Room::Evicted
    }

    fn running_lane_ids(&self, session: SessionRef) -> Vec<u8> {
        self.session(session)
            .map(|s| {
                s.lanes
                    .iter()
                    .filter(|(_, l)| l.running)
                    .map(|(k, _)| *k)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs an action in a caller's context.
    fn act(&mut self, caller: Caller, action: &Action, out: &mut Out) -> Ruled<ExpectedRead> {
        if self.scalable() {
            // CLOSE-9: in scalable mode the command does nothing and reads are not compared
            // (scalable sessions keep data elsewhere and pool their processes); other actions
            // still run so shared state (interprocess variables) stays comparable.
            match action {
                Action::Close { id } => {
                    out.fire(RuleId::Close9);
                    if let Some(s) = self.resolve(id, caller) {
                        self.sessions[s.0 as usize].scalable_close_attempted = true;
                    }
                }
                Action::GetExpiration { .. } => {}
                other => {
                    self.act_legacy(caller, other, out);
                }
            }
            return Ruled::new(None, RuleId::Close9);
        }
        self.act_legacy(caller, action, out).map(Some)
    }

    fn act_legacy(&mut self, caller: Caller, action: &Action, out: &mut Out) -> Ruled<Read> {
        let proc = caller.proc();
        let pending = self.lane(caller).and_then(|l| l.pending);
        let context_rule = |assigned: bool, lane: Option<&Lane>| -> RuleId {
            match (caller, lane) {
                (Caller::NonWeb(_), _) => RuleId::Close7,
                (_, Some(l)) if l.pending.is_some() => l.pending.unwrap_or(RuleId::Req2),
                (_, Some(_)) if assigned => RuleId::Req2,
                (_, Some(l)) => l.fresh_rule,
                (_, None) => RuleId::Req2,
            }
        };
        match action {
            Action::SetVar { var, value } => {
                if let Some(ctx) = self.ctx_mut(caller) {
                    ctx.vars.insert(*var, *value);
                }
                Ruled::new(Read::Done, RuleId::Req2)
            }
            Action::GetVar { var } => {
                let value = self.ctx(caller).and_then(|c| c.vars.get(var).copied());
                let rule = context_rule(value.is_some(), self.lane(caller));
                Ruled::new(Read::Var(value), rule)
            }
            Action::SetIpVar { var, value } => {
                self.ipvars.insert(*var, (*value, self.resets));
                Ruled::new(Read::Done, RuleId::Req2)
            }
            Action::GetIpVar { var } => {
                let value = self.ipvars.get(var).map(|(v, _)| *v);
                Ruled::new(Read::IpVar(value), self.ipvar_rule(*var))
            }
            Action::Select { table, records } => {
                let mut sorted = records.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if let Some(ctx) = self.ctx_mut(caller) {
                    if sorted.is_empty() {
                        ctx.selections.remove(table);
                    } else {
                        ctx.selections.insert(*table, sorted);
                    }
                }
                Ruled::new(Read::Done, RuleId::Req2)
            }
            Action::GetSelection { table } => {
                let sel = self
                    .ctx(caller)
                    .and_then(|c| c.selections.get(table).cloned());
                let rule = context_rule(sel.is_some(), self.lane(caller));
                Ruled::new(Read::Selection(sel.unwrap_or_default()), rule)
            }
            Action::Lock { record } => {
                let (rule, also) = self.lock_rule(*record);
                let rule = pending.unwrap_or(rule);
                let locked = match self.locks.get(record) {
                    Some((owner, _)) => *owner == proc,
                    None => {
                        self.locks.insert(*record, (proc, self.resets));
                        out.obs.lock_changes.push((*record, Some(proc)));
                        if let Some(ctx) = self.ctx_mut(caller) {
                            ctx.locks.insert(*record);
                        }
                        true
                    }
                };
                Ruled::new(Read::Locked(locked), rule).also(also)
            }
            Action::IsLocked { record } => {
                let (rule, also) = self.lock_rule(*record);
                let rule = pending.unwrap_or(rule);
                let state = match self.locks.get(record) {
                    None => LockState::Free,
                    Some((owner, _)) if *owner == proc => LockState::Mine,
                    Some(_) => LockState::Other,
                };
                Ruled::new(Read::LockState(state), rule).also(also)
            }
            Action::GetSessionId => match caller {
                Caller::Web { session, .. } | Caller::Hook { session, .. } => Ruled::new(
                    Read::SessionId(Some(session)),
                    pending.unwrap_or(RuleId::Req2),
                ),
                // D6: "" outside a web request.
                Caller::NonWeb(_) => Ruled::new(Read::SessionId(None), RuleId::Close3),
            },
            Action::Close { id } => {
                self.close(id, caller, out);
                Ruled::new(Read::Done, RuleId::Close3)
            }
            Action::GetExpiration { id } => {
                let target = self.resolve(id, caller);
                match target.and_then(|s| self.session(s).map(|sess| (s, sess))) {
                    Some((_, sess)) if self.session_exists(sess) => {
                        let rule = if !sess.running() {
                            // TIME-3 (timeout-keeps-id): the ID outlives its timed-out process.
                            RuleId::Time3
                        } else if self.now >= sess.expiration {
                            RuleId::Time4
                        } else {
                            RuleId::Req4
                        };
                        let also = if sess.refused_since_slide {
                            RuleSet::of(&[RuleId::Req5])
                        } else {
                            RuleSet::EMPTY
                        };
                        Ruled::new(Read::Expiration(Some(sess.expiration)), rule).also(also)
                    }
                    Some((_, sess)) if sess.id == IdState::Closed => {
                        // CLOSE-4 (SHOULD reading): a closed ID's expiration is the null date.
                        out.fire(RuleId::Close4);
                        Ruled::new(Read::Expiration(None), RuleId::Close4)
                    }
                    _ => Ruled::new(Read::Expiration(None), RuleId::Close2),
                }
            }
        }
    }

    /// The session an ID text names exactly, if any was ever opened under it.
    fn resolve(&self, id: &IdText, caller: Caller) -> Option<SessionRef> {
        match id {
            IdText::Session(s) => Some(*s),
            IdText::Current => match caller {
                Caller::Web { session, .. } | Caller::Hook { session, .. } => Some(session),
                Caller::NonWeb(_) => None,
            },
            // CLOSE-2: exact match only; other spellings, forgeries, "" name nothing.
            IdText::Respelled(..) | IdText::Forged(_) | IdText::Malformed(_) | IdText::Empty => {
                None
            }
        }
    }

    fn lane(&self, caller: Caller) -> Option<&Lane> {
        match caller {
            Caller::Web { session, lane } | Caller::Hook { session, lane } => {
                self.session(session).and_then(|s| s.lanes.get(&lane))
            }
            Caller::NonWeb(_) => None,
        }
    }

    fn ctx(&self, caller: Caller) -> Option<&Context> {
        match caller {
            Caller::NonWeb(n) => self.nonweb.get(&n),
            _ => self.lane(caller).map(|l| &l.ctx),
        }
    }

    fn ctx_mut(&mut self, caller: Caller) -> Option<&mut Context> {
        match caller {
            Caller::NonWeb(n) => Some(self.nonweb.entry(n).or_default()),
            Caller::Web { session, lane } | Caller::Hook { session, lane } => self
                .sessions
                .get_mut(session.0 as usize)
                .and_then(|s| s.lanes.get_mut(&lane))
                .map(|l| &mut l.ctx),
        }
    }

    /// WEB LEGACY CLOSE SESSION.
    fn close(&mut self, id: &IdText, caller: Caller, out: &mut Out) {
        let target = self.resolve(id, caller);
        let Some(target) = target else {
            // CLOSE-2: names no session at all.
            out.fire(RuleId::Close2);
            return;
        };
        if matches!(caller, Caller::Hook { session, .. } if session == target) {
            // CLOSE-13: a close from inside the session's own hook is a no-op; under the
            // reading invalidates-id it is a close like any other, except that the running
            // hook is not run again (its lane is on the hook stack, below).
            out.fire(RuleId::Close13);
            if self.readings.close_13 == Close13Reading::NoOp {
                return;
            }
        }
        if !self.exists(target) {
            let under_way = self.hook_stack.iter().any(|(s, _)| *s == target)
                || self
                    .session(target)
                    .is_some_and(|s| s.lanes.values().any(|l| l.pending.is_some()));
            // CLOSE-10: the session's close is already under way: its hook runs once.
            // CLOSE-2: closed, evicted, timed out or dropped: nothing happens.
            out.fire(if under_way {
                RuleId::Close10
            } else {
                RuleId::Close2
            });
            return;
        }
        // CLOSE-1: the ID is invalid from now on.
        out.fire(RuleId::Close1);
        let kind = self.sessions[target.0 as usize].kind;
        self.sessions[target.0 as usize].id = IdState::Closed;
        // CLOSE-3: a non-web caller, or the web process of another session, gets the same
        // effects as the session itself.
        let other_caller = match caller {
            Caller::NonWeb(_) => true,
            Caller::Web { session, .. } => session != target,
            Caller::Hook { .. } => false,
        };
        if other_caller {
            out.fire(RuleId::Close3);
        }
        if kind == SessionKind::Mobile {
            // MOBILE-1: every process of the 4D Mobile session ends.
            out.fire(RuleId::Mobile1);
        }
        // What every hook of this close answers to besides its cause.
        let mut close_also = RuleSet::of(&[RuleId::Close5]);
        if other_caller {
            close_also.insert(RuleId::Close3);
        }
        if kind == SessionKind::Mobile {
            close_also.insert(RuleId::Mobile1);
        }
        let lanes = self.running_lanes(target);
        if lanes.is_empty() {
            // TIME-3 (timeout-keeps-id): the process already ended; only the ID goes.
            out.fire(RuleId::Time3);
        }
        for (lane, busy) in lanes {
            if self.hook_stack.contains(&(target, lane)) {
                // The process is running its hook right now (a timeout or an eviction whose
                // hook closed another session whose hook closed this one): the ID goes, the
                // hook does not run twice (INV-2); the outer reset ends the process.
                out.fire(RuleId::Close10);
                continue;
            }
            if busy {
                let own = caller
                    == Caller::Web {
                        session: target,
                        lane,
                    };
                let rule = if own {
                    RuleId::Close11
                } else {
                    RuleId::Close12
                };
                out.fire(rule);
                let immediate = if own {
                    self.readings.close_11 == Close11Reading::ResetImmediately
                } else {
                    self.readings.close_12 == Close12Reading::ResetImmediately
                };
                if immediate {
                    // CLOSE-11 / CLOSE-12 (reading reset-immediately): hook and reset now; the
                    // request goes on in an empty context until it ends.
                    self.end_process(target, lane, rule, RuleId::Close7, close_also, out);
                }
                if let Some(l) = self.sessions[target.0 as usize].lanes.get_mut(&lane) {
                    if immediate {
                        l.running = true;
                        l.hooked_early = true;
                    }
                    l.pending = Some(rule);
                    l.pending_also = close_also;
                }
                // The process runs on (its request goes on): the index must count it again.
                self.reindex(target);
            } else {
                let cause = match kind {
                    SessionKind::Mobile => RuleId::Mobile2,
                    _ if other_caller => RuleId::Close3,
                    _ => RuleId::Close5,
                };
                self.end_process(target, lane, cause, RuleId::Close7, close_also, out);
            }
        }
    }

    /// Runs the hook of a process, then resets and ends it (CLOSE-5, CLOSE-6, CLOSE-7).
    fn end_process(
        &mut self,
        session: SessionRef,
        lane: u8,
        cause: RuleId,
        release_rule: RuleId,
        also: RuleSet,
        out: &mut Out,
    ) {
        let Some(l) = self.sessions[session.0 as usize].lanes.get_mut(&lane) else {
            return;
        };
        if !l.running {
            return;
        }
        if l.hooked_early {
            // The hook already ran mid-request (reading reset-immediately): end quietly.
            self.release(session, lane, release_rule, RuleSet::EMPTY, out);
            return;
        }
        l.hook_runs += 1;
        // CLOSE-6: the hook sees the context as the last request left it.
        let snapshot = l.ctx.snapshot();
        let also = if l.requests > 1 {
            also.with(RuleId::Req2)
        } else {
            also
        };
        out.fire(cause);
        out.fire(RuleId::Close5);
        out.fire(RuleId::Close6);
        let behavior = self.hook.clone();
        let failed = behavior == HookBehavior::Fail;
        out.obs.hooks.push(HookRun {
            session,
            lane,
            snapshot,
            // CLOSE-14 (reading unreported): the close completes, the failure goes unreported.
            failed: failed && self.readings.close_14 == Close14Reading::Reported,
            cause,
            also,
        });
        if self.hook_stack.len() < HOOK_DEPTH_MAX {
            self.hook_stack.push((session, lane));
            let hook = Caller::Hook { session, lane };
            match &behavior {
                HookBehavior::Save | HookBehavior::Slow => {}
                // CLOSE-14: the failure is reported in the hook log; the close goes on.
                HookBehavior::Fail => out.fire(RuleId::Close14),
                HookBehavior::CloseOwn => self.close(&IdText::Current, hook, out),
                HookBehavior::Close(id) => self.close(id, hook, out),
            }
            self.hook_stack.pop();
        }
        // CLOSE-7: selections cleared, locks released, variables reset, process ended.
        out.fire(release_rule);
        if release_rule != RuleId::Close7 {
            out.fire(RuleId::Close7);
        }
        // CLOSE-14: a release after a failing hook is that rule's too; CLOSE-3: so is one by
        // another caller's close (its effects answer to CLOSE-3).
        let mut release_also = RuleSet::EMPTY;
        if failed {
            release_also.insert(RuleId::Close14);
        }
        if also.contains(RuleId::Close3) {
            release_also.insert(RuleId::Close3);
        }
        self.release(session, lane, release_rule, release_also, out);
    }

    /// The reset: locks released, context cleared, process ended (CLOSE-7).
    fn release(
        &mut self,
        session: SessionRef,
        lane: u8,
        release_rule: RuleId,
        release_also: RuleSet,
        out: &mut Out,
    ) {
        let proc = ProcRef::Web { session, lane };
        let sess = &mut self.sessions[session.0 as usize];
        let Some(l) = sess.lanes.get_mut(&lane) else {
            return;
        };
        for record in std::mem::take(&mut l.ctx.locks) {
            if self
                .locks
                .get(&record)
                .is_some_and(|(owner, _)| *owner == proc)
            {
                self.locks.remove(&record);
                out.obs.lock_changes.push((record, None));
                self.released_by
                    .insert(record, (release_rule, release_also));
            }
        }
        l.ctx = Context::default();
        l.running = false;
        l.pending = None;
        l.hooked_early = false;
        self.resets += 1;
        self.reindex(session);
    }

    fn set_option(&mut self, option: &OptionSet, out: &mut Out) {
        if let OptionSet::Mode(mode) = option
            && *mode != self.options.mode
        {
            // A mode change takes effect at a restart: the world starts empty (CLOSE-9).
            out.fire(RuleId::Close9);
            for s in &mut self.sessions {
                s.id = IdState::Dropped;
                for l in s.lanes.values_mut() {
                    l.running = false;
                    l.ctx = Context::default();
                    l.pending = None;
                }
            }
            for record in std::mem::take(&mut self.locks).into_keys() {
                out.obs.lock_changes.push((record, None));
            }
            self.released_by.clear();
            self.ipvars.clear();
            self.nonweb.clear();
            self.resets += 1;
            for i in 0..self.sessions_opened() {
                self.reindex(SessionRef(i));
            }
        }
        if matches!(
            option,
            OptionSet::MaxProcesses(_) | OptionSet::MaxSessions(_)
        ) {
            out.fire(RuleId::Limit2);
        }
        self.options.apply(option);
    }

    /// Moves the clock and runs the process timeouts that fall due (TIME-2), in due order.
    fn advance(&mut self, seconds: u64, out: &mut Out) {
        self.now = self.now.saturating_add(seconds);
        if self.scalable() {
            // Scalable sessions end on their own clock, which the suite does not model (out of
            // scope beyond CLOSE-9): after time passes, nothing is said of where a cookie goes.
            for s in &mut self.sessions {
                s.scalable_close_attempted = false;
            }
            return;
        }
        let timeout_s = self.options.process_timeout_s();
        loop {
            // Every process shares one timeout, so the due order (due time, session, lane) is
            // the index's order of idle processes by last activity.
            let due = self
                .index
                .first_idle_lane()
                .filter(|(at, _, _)| at.saturating_add(timeout_s) <= self.now);
            let Some((_, session, lane)) = due else {
                break;
            };
            // TIME-2: an idle process reaching the process timeout ends, with its hook.
            let mut also = RuleSet::EMPTY;
            if self.now < self.sessions[session.0 as usize].expiration {
                // TIME-4: the process timeout fired while the cookie is still valid.
                out.fire(RuleId::Time4);
                also.insert(RuleId::Time4);
            }
            self.end_process(session, lane, RuleId::Time2, RuleId::Time2, also, out);
            let sess = &mut self.sessions[session.0 as usize];
            if !sess.running() && sess.id == IdState::Valid {
                // TIME-3: under timeout-new-id the ID goes with its last process; under
                // timeout-keeps-id it stays valid until the cookie expires.
                out.fire(RuleId::Time3);
                if self.config.profile.timeout == TimeoutProfile::NewId {
                    sess.id = IdState::TimedOut;
                }
            }
        }
    }

    /// Checks the model's own invariants (INV-1..5); `Err` names the broken one. A failure is
    /// a bug in the model, not in a system under test.
    pub fn self_check(&self, opened_in_step: bool) -> Result<(), (RuleId, String)> {
        self.check_sessions(opened_in_step, 0..self.sessions.len())
    }

    /// The self-check over some sessions (the ones a step touched: the others did not change,
    /// so their invariants still hold); locks and the limit are always checked.
    fn check_sessions(
        &self,
        opened_in_step: bool,
        sessions: impl Iterator<Item = usize>,
    ) -> Result<(), (RuleId, String)> {
        // INV-1: no lock outlives its process.
        for (record, (owner, _)) in &self.locks {
            if !self.process_running(*owner) {
                return Err((RuleId::Inv1, format!("{record} held by ended {owner}")));
            }
        }
        for i in sessions {
            let Some(s) = self.sessions.get(i) else {
                continue;
            };
            for (lane, l) in &s.lanes {
                // INV-2: an ended process had exactly one hook run.
                let expected = u32::from(!l.running);
                if l.hook_runs > 1
                    || (!l.running && l.hook_runs != expected && s.id != IdState::Dropped)
                {
                    return Err((
                        RuleId::Inv2,
                        format!("S{i} lane {lane} had {} hook runs", l.hook_runs),
                    ));
                }
                // INV-4: an ended process keeps no context to leak.
                if !l.running && !l.ctx.is_empty() {
                    return Err((RuleId::Inv4, format!("S{i} lane {lane} kept its context")));
                }
            }
            // INV-3: a closed ID never names a live session again.
            let unclosed_flight = self.in_flight.values().any(|f| {
                f.session.0 as usize == i
                    && s.lanes.get(&f.lane).is_some_and(|l| l.pending.is_none())
            });
            if s.id == IdState::Closed && unclosed_flight {
                return Err((RuleId::Inv3, format!("closed S{i} runs a request")));
            }
        }
        // INV-5: live sessions stay within the maximum.
        if opened_in_step
            && !self.scalable()
            && self.live_sessions() > self.options.max_sessions as usize
        {
            return Err((
                RuleId::Inv5,
                format!(
                    "{} live sessions over the limit {}",
                    self.live_sessions(),
                    self.options.max_sessions
                ),
            ));
        }
        Ok(())
    }
}
