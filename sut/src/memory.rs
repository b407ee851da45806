//! The reference implementation: legacy web sessions and WEB LEGACY CLOSE SESSION (command
//! 1208), in process, behind the [`Sut`] trait.
//!
//! It is written from SPEC.md (rules and "Precise semantics the model fixes"), independently
//! of the model: it uses only the vocabulary types of `wlcs_model`, never `Model::step`, so a
//! differential run of the model against it is a real check of both.
//!
//! Design:
//! - One `std::sync::Mutex` around the whole world: every trait call is one critical section,
//!   so the implementation is linearizable by construction (CLOSE-10). A `Slow` hook's delay is
//!   served after the lock is released, so it slows the caller without blocking others.
//! - Sessions live in a `HashMap` keyed by an internal creation number; valid IDs map to that
//!   number. Ordered indexes keep every operation O(log n): idle processes by last activity
//!   (timeouts), idle live sessions by last activity (eviction), process-less sessions by
//!   cookie expiration (`timeout-keeps-id` clean-up).
//! - Real IDs are random UUID v4, 32 uppercase hex digits, like 4D's Generate UUID (REQ-6).
//! - Mutants ([`Mutant`]) are single, marked deviations: `if self.is(Mutant::X)`.
//! - Race mutants ([`Mutant::is_race`]) split a non-web close into two critical sections with
//!   the lock released in between ([`RACE_WINDOW`]); only they ever do. Sequentially the two
//!   halves run back to back and nothing observable differs from the reference.

use crate::mutants::Mutant;
use crate::plugin::{
    Begun, Capabilities, Response, SetCookie, Sut, SutError, WireAction, WireHook, WireHookRun,
    WireId, WireProc, WireRead, WireRequest,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use uuid::Uuid;
use wlcs_model::vocab::{
    ContextSnapshot, Ip, LockState, OptionSet, Options, RecordRef, SessionMode, Slot, Table,
    TimeoutProfile, VarName, WorldConfig,
};

/// How long a `Slow` hook takes by default ([`MemorySut::with_slow_hook`] changes it).
pub const SLOW_HOOK: Duration = Duration::from_micros(50);

/// How long a race mutant's close leaves the world unlocked between its two halves: long
/// enough that a second thread reliably acts inside the window. The reference never waits
/// with a half-done close.
pub const RACE_WINDOW: Duration = Duration::from_micros(300);

/// The in-process reference implementation of legacy web sessions and command 1208.
///
/// Thread-safe (`Send + Sync`); every call is atomic with respect to the others.
#[derive(Debug)]
pub struct MemorySut {
    state: Mutex<World>,
    mutant: Option<Mutant>,
    /// How long a `Slow` hook run takes (served after the lock is released).
    slow_hook: Duration,
}

impl MemorySut {
    /// The correct implementation, with a default world ([`WorldConfig::default`]).
    pub fn new() -> MemorySut {
        MemorySut::with_mutant(None)
    }

    /// The implementation with one deliberate deviation (`None`: the correct one).
    pub fn with_mutant(mutant: Option<Mutant>) -> MemorySut {
        MemorySut {
            state: Mutex::new(World::new(WorldConfig::default(), mutant)),
            mutant,
            slow_hook: SLOW_HOOK,
        }
    }

    /// The same implementation with another `Slow` hook duration. A delay only matters when
    /// several threads call at once (it widens race windows); one caller at a time (the
    /// differential checker, the simulator's seeds) can use zero and lose nothing.
    pub fn with_slow_hook(mut self, slow_hook: Duration) -> MemorySut {
        self.slow_hook = slow_hook;
        self
    }

    /// The mutant this instance runs, if any.
    pub fn mutant(&self) -> Option<Mutant> {
        self.mutant
    }

    /// Runs `f` on the world in one critical section. A panic inside becomes
    /// `SutError::Panic` (and poisons the state until the next `reset`); a `Slow` hook's delay
    /// is served after the lock is released.
    fn with<R>(&self, f: impl FnOnce(&mut World) -> Result<R, SutError>) -> Result<R, SutError> {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut world = self.state.lock().map_err(|_| {
                SutError::Panic("state poisoned by an earlier panic; reset first".to_string())
            })?;
            let result = f(&mut world);
            let slow = std::mem::take(&mut world.slow_hooks);
            drop(world);
            if slow > 0 && !self.slow_hook.is_zero() {
                std::thread::sleep(self.slow_hook * slow);
            }
            result
        }));
        match outcome {
            Ok(result) => result,
            Err(payload) => Err(SutError::Panic(panic_text(payload.as_ref()))),
        }
    }
}

impl MemorySut {
    /// Race mutants only: one critical section per action, so that a close can leave the
    /// world unlocked between its two halves (CLOSE-10 broken on purpose). Non-web actions
    /// only touch the process's own context, so splitting them changes nothing by itself.
    fn non_web_split(
        &self,
        process: u8,
        actions: &[WireAction],
    ) -> Result<Vec<WireRead>, SutError> {
        let mut reads = Vec::with_capacity(actions.len());
        for action in actions {
            let (read, plan) = self.with(|w| {
                let read = w.run_action(Who::NonWeb(process), action);
                Ok((read, w.race.take()))
            })?;
            if let Some(plan) = plan {
                // MUTANT CLOSE-10: the window; other threads run with the close half done.
                std::thread::sleep(RACE_WINDOW);
                self.with(|w| {
                    w.race_finish(plan);
                    Ok(())
                })?;
            }
            reads.push(read);
        }
        Ok(reads)
    }
}

impl Default for MemorySut {
    fn default() -> Self {
        MemorySut::new()
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl Sut for MemorySut {
    fn name(&self) -> String {
        match self.mutant {
            None => "memory".to_string(),
            Some(m) => format!("memory+{}", m.name()),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// Each `MemorySut` is its own world.
    fn shares_world(&self) -> bool {
        false
    }

    fn reset(&self, config: &WorldConfig) -> Result<(), SutError> {
        let fresh = World::new(config.clone(), self.mutant);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // A reset is the way out of a poisoned state: the old world is discarded whole.
            let mut world = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            *world = fresh;
            drop(world);
            self.state.clear_poison();
        }));
        outcome.map_err(|payload| SutError::Panic(panic_text(payload.as_ref())))
    }

    fn request(&self, request: &WireRequest) -> Result<Response, SutError> {
        self.with(|w| match w.begin_request(request)? {
            Started::Refused(response) => Ok(response),
            Started::Running(flight, mut reads) => {
                let mut response = w.end_request(flight, &[])?;
                reads.append(&mut response.reads);
                response.reads = reads;
                Ok(response)
            }
        })
    }

    fn begin(&self, slot: Slot, request: &WireRequest) -> Result<Begun, SutError> {
        self.with(|w| {
            if w.slots.contains_key(&slot) {
                return Err(SutError::Unsupported(format!(
                    "slot {slot} is already in flight"
                )));
            }
            match w.begin_request(request)? {
                Started::Refused(response) => Ok(Begun::Done(response)),
                Started::Running(flight, reads) => {
                    let session_id = flight.id.to_string();
                    w.slots.insert(slot, flight);
                    Ok(Begun::Running { session_id, reads })
                }
            }
        })
    }

    fn end(&self, slot: Slot, actions: &[WireAction]) -> Result<Response, SutError> {
        self.with(|w| {
            let flight = w
                .slots
                .remove(&slot)
                .ok_or_else(|| SutError::Unsupported(format!("slot {slot} is empty")))?;
            w.end_request(flight, actions)
        })
    }

    fn non_web(&self, process: u8, actions: &[WireAction]) -> Result<Vec<WireRead>, SutError> {
        if self.mutant.is_some_and(Mutant::is_race) {
            return self.non_web_split(process, actions);
        }
        self.with(|w| Ok(w.run_actions(Who::NonWeb(process), actions)))
    }

    fn set_option(&self, option: &OptionSet) -> Result<(), SutError> {
        self.with(|w| w.set_option(option))
    }

    fn set_hook(&self, behavior: &WireHook) -> Result<(), SutError> {
        self.with(|w| {
            w.hook = behavior.clone();
            Ok(())
        })
    }

    fn advance(&self, seconds: u64) -> Result<(), SutError> {
        self.with(|w| {
            w.advance(seconds);
            Ok(())
        })
    }

    fn take_hook_runs(&self) -> Result<Vec<WireHookRun>, SutError> {
        self.with(|w| Ok(std::mem::take(&mut w.hook_log)))
    }

    fn locks(&self) -> Result<BTreeMap<RecordRef, WireProc>, SutError> {
        self.with(|w| {
            Ok(w.locks
                .iter()
                .map(|(record, holder)| (*record, holder.wire()))
                .collect())
        })
    }

    fn ipvars(&self) -> Result<BTreeMap<VarName, i64>, SutError> {
        self.with(|w| Ok(w.ipvars.clone()))
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// A process's context: what the hook sees and what the reset clears.
#[derive(Clone, Debug, Default)]
struct Context {
    vars: BTreeMap<VarName, i64>,
    /// Non-empty selections only, sorted and deduplicated.
    selections: BTreeMap<Table, Vec<u32>>,
    /// Records this process holds (the lock table is the authority; this is its index).
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
}

/// One web process of a session (lane 0 for legacy sessions).
#[derive(Debug)]
struct Proc {
    /// Unique over the world's life: a revived lane is a new process, so no stale lock can
    /// ever be mistaken for its own.
    pid: u64,
    ctx: Context,
    /// A request is in flight in this process.
    busy: bool,
    /// The session was closed while a request ran here: `Some(self_close)`; hook and reset
    /// run when the request ends (CLOSE-11, CLOSE-12).
    pending: Option<bool>,
    /// Mutants that reset mid-request: the response must still expire the cookie, and the
    /// process ends (without a second hook) when its request ends.
    reset_early: Option<bool>,
    /// The process's hook is running (it is being ended); closes skip it.
    ending: bool,
    /// End of its last request (or its start, while the first one runs).
    last_active: u64,
}

/// A legacy or 4D Mobile session.
#[derive(Debug)]
struct Session {
    id: Arc<str>,
    ip: Ip,
    mobile: bool,
    /// The ID still names the session (not closed, evicted or dropped).
    valid: bool,
    /// Cookie expiration, seconds on the virtual clock.
    expiration: u64,
    /// Last request begin or end in any lane (eviction order, LIMIT-1).
    last_active: u64,
    /// Running processes by lane.
    procs: BTreeMap<u8, Proc>,
    /// Index memberships, kept in step by `World::sync`.
    counted_live: bool,
    lru_entry: Option<(u64, u64)>,
    dormant_entry: Option<(u64, u64)>,
}

/// Who owns a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Web(u64),
    NonWeb(u8),
}

/// A lock table entry: who holds the record, with what `locks()` reports about it.
#[derive(Clone, Debug)]
enum Holder {
    Web { pid: u64, id: Arc<str>, lane: u8 },
    NonWeb(u8),
}

impl Holder {
    fn owner(&self) -> Owner {
        match self {
            Holder::Web { pid, .. } => Owner::Web(*pid),
            Holder::NonWeb(n) => Owner::NonWeb(*n),
        }
    }

    fn wire(&self) -> WireProc {
        match self {
            Holder::Web { id, lane, .. } => WireProc::Web {
                session_id: id.to_string(),
                lane: *lane,
            },
            Holder::NonWeb(n) => WireProc::NonWeb(*n),
        }
    }
}

/// Where actions run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Web { key: u64, lane: u8 },
    NonWeb(u8),
}

/// Who calls the command (decides `Current` and CLOSE-11/13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Web { key: u64, lane: u8 },
    NonWeb,
    Hook { key: u64 },
}

/// Why a process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// The command (at once or at the end of the running request).
    Close,
    /// Process timeout (TIME-2).
    Timeout,
    /// Eviction at the session limit (LIMIT-1).
    Evict,
}

/// A request in flight.
#[derive(Debug)]
struct Flight {
    key: u64,
    lane: u8,
    id: Arc<str>,
    /// The request opened its session (REQ-1 Set-Cookie).
    opened: bool,
    /// Mutant MOBILE-3: the new lane announces its own cookie.
    lane_cookie: bool,
    /// Mutant CLOSE-8: the new session is not announced.
    suppress_issue: bool,
}

/// The second half of a race mutant's close, run after [`RACE_WINDOW`].
#[derive(Debug)]
struct RacePlan {
    key: u64,
    /// The process the first half saw (a later process under the same key is not it).
    pid: u64,
    id: Arc<str>,
    /// `racy-double-hook`: the context the first half saw, which its hook reports.
    snapshot: ContextSnapshot,
    /// The hook failed (`racy-late-invalidation` ran it in the first half).
    failed: bool,
}

/// What beginning a request produced.
enum Started {
    Refused(Response),
    Running(Flight, Vec<WireRead>),
}

/// Whether a new process can be placed under the session limit.
enum Room {
    Ready,
    Evicted,
    Full,
}

#[derive(Debug)]
struct World {
    mutant: Option<Mutant>,
    config: WorldConfig,
    options: Options,
    now: u64,
    hook: WireHook,
    hook_log: Vec<WireHookRun>,
    next_key: u64,
    next_pid: u64,
    sessions: HashMap<u64, Session>,
    /// Valid IDs only.
    ids: HashMap<Arc<str>, u64>,
    /// Sessions with at least one running process.
    live: usize,
    /// Live sessions whose processes are all idle, by (last activity, creation).
    lru: BTreeSet<(u64, u64)>,
    /// Idle processes by (last activity, session creation, lane): due-time order for any
    /// single process timeout value.
    idle: BTreeSet<(u64, u64, u8)>,
    /// Valid sessions without a running process (`timeout-keeps-id`), by (expiration, key).
    dormant: BTreeSet<(u64, u64)>,
    locks: HashMap<RecordRef, Holder>,
    ipvars: BTreeMap<VarName, i64>,
    nonweb: HashMap<u8, Context>,
    slots: HashMap<Slot, Flight>,
    /// `Slow` hook runs of the current call, served after unlocking.
    slow_hooks: u32,
    // --- state used by mutants only ---
    tombstones: HashMap<Arc<str>, (u64, u64)>,
    recycled: Vec<Arc<str>>,
    id_counter: u64,
    last_by_ip: HashMap<Ip, u64>,
    leaked_vars: Option<BTreeMap<VarName, i64>>,
    /// A race mutant's half-done close, handed to the caller (who unlocks) at once.
    race: Option<RacePlan>,
}

fn refused(status: u16) -> Response {
    Response {
        status,
        session_id: None,
        set_cookies: Vec::new(),
        reads: Vec::new(),
    }
}

impl World {
    fn new(config: WorldConfig, mutant: Option<Mutant>) -> World {
        World {
            mutant,
            options: Options::defaults(&config),
            config,
            now: 0,
            hook: WireHook::Save,
            hook_log: Vec::new(),
            next_key: 0,
            next_pid: 0,
            sessions: HashMap::new(),
            ids: HashMap::new(),
            live: 0,
            lru: BTreeSet::new(),
            idle: BTreeSet::new(),
            dormant: BTreeSet::new(),
            locks: HashMap::new(),
            ipvars: BTreeMap::new(),
            nonweb: HashMap::new(),
            slots: HashMap::new(),
            slow_hooks: 0,
            tombstones: HashMap::new(),
            recycled: Vec::new(),
            id_counter: 0,
            last_by_ip: HashMap::new(),
            leaked_vars: None,
            race: None,
        }
    }

    /// Whether this world runs the given mutant.
    fn is(&self, mutant: Mutant) -> bool {
        self.mutant == Some(mutant)
    }

    fn legacy(&self) -> bool {
        self.options.mode == SessionMode::Legacy
    }

    /// TIME-3: which profile applies.
    fn keeps_id(&self) -> bool {
        let keeps = self.config.profile.timeout == TimeoutProfile::KeepsId;
        if self.is(Mutant::WrongTimeoutProfile) {
            // MUTANT TIME-3: the other reading.
            return !keeps;
        }
        keeps
    }

    /// TIME-1: a cookie is expired when `now >= expiration`.
    fn expired(&self, expiration: u64) -> bool {
        if self.is(Mutant::ExpiryBoundaryOffByOne) {
            // MUTANT TIME-1: the boundary instant still counts as valid.
            return self.now > expiration;
        }
        self.now >= expiration
    }

    /// The session an exact ID names, if it exists: valid and either running a process or,
    /// under `timeout-keeps-id`, with an unexpired cookie (TIME-3).
    fn existing(&self, text: &str) -> Option<u64> {
        let key = *self.ids.get(text)?;
        let s = self.sessions.get(&key)?;
        let exists = !s.procs.is_empty() || (self.keeps_id() && !self.expired(s.expiration));
        exists.then_some(key)
    }

    /// The session a cookie routes to: existing and its cookie unexpired (REQ-2, TIME-1).
    fn routable(&self, cookie: &str) -> Option<u64> {
        let key = self.existing(cookie)?;
        let s = self.sessions.get(&key)?;
        if self.expired(s.expiration) {
            if self.is(Mutant::ExpiredCookieAccepted) && !s.procs.is_empty() {
                // MUTANT TIME-1: the running process still answers the expired cookie.
                return Some(key);
            }
            // TIME-1 / TIME-4: the process may still run, but no request reaches it.
            return None;
        }
        Some(key)
    }

    // -----------------------------------------------------------------------------------------
    // Index maintenance
    // -----------------------------------------------------------------------------------------

    /// Brings a session's index memberships in line with its state, and drops it when it no
    /// longer exists (no process left, and invalidated, or `timeout-new-id`, or expired).
    fn sync(&mut self, key: u64) {
        let keeps = self.keeps_id();
        let Some(s) = self.sessions.get(&key) else {
            return;
        };
        if s.procs.is_empty() && (!s.valid || !keeps || self.expired(s.expiration)) {
            // TIME-3 (timeout-new-id) / CLOSE-1: nothing of the session remains.
            self.remove_session(key);
            return;
        }
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let live = !s.procs.is_empty();
        if live != s.counted_live {
            s.counted_live = live;
            if live {
                self.live += 1;
            } else {
                self.live = self.live.saturating_sub(1);
            }
        }
        let want_lru = (live && s.procs.values().all(|p| !p.busy)).then_some((s.last_active, key));
        if s.lru_entry != want_lru {
            if let Some(old) = s.lru_entry.take() {
                self.lru.remove(&old);
            }
            if let Some(new) = want_lru {
                self.lru.insert(new);
            }
            s.lru_entry = want_lru;
        }
        let want_dormant = (!live).then_some((s.expiration, key));
        if s.dormant_entry != want_dormant {
            if let Some(old) = s.dormant_entry.take() {
                self.dormant.remove(&old);
            }
            if let Some(new) = want_dormant {
                self.dormant.insert(new);
            }
            s.dormant_entry = want_dormant;
        }
    }

    /// Forgets a session entirely (its processes must already have ended).
    fn remove_session(&mut self, key: u64) {
        let Some(s) = self.sessions.remove(&key) else {
            return;
        };
        if s.valid && self.ids.get(&s.id) == Some(&key) {
            self.ids.remove(&s.id);
        }
        if s.counted_live {
            self.live = self.live.saturating_sub(1);
        }
        if let Some(e) = s.lru_entry {
            self.lru.remove(&e);
        }
        if let Some(e) = s.dormant_entry {
            self.dormant.remove(&e);
        }
        for (lane, p) in &s.procs {
            if !p.busy {
                self.idle.remove(&(p.last_active, key, *lane));
            }
        }
    }

    /// CLOSE-1 / LIMIT-1: the ID stops naming the session, at once.
    fn invalidate(&mut self, key: u64, by_command: bool) {
        let needs_tombstone = self.mutant.is_some_and(Mutant::needs_tombstones);
        let recycle = self.is(Mutant::RecyclesClosedIds);
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if !s.valid {
            return;
        }
        s.valid = false;
        let id = s.id.clone();
        let expiration = s.expiration;
        if self.ids.get(&id) == Some(&key) {
            self.ids.remove(&id);
        }
        if by_command && needs_tombstone {
            self.tombstones.insert(id.clone(), (key, expiration));
        }
        if by_command && recycle {
            // MUTANT INV-3: the closed ID goes back into a pool of IDs to hand out.
            self.recycled.push(id);
        }
        self.sync(key);
    }

    // -----------------------------------------------------------------------------------------
    // Requests
    // -----------------------------------------------------------------------------------------

    fn begin_request(&mut self, req: &WireRequest) -> Result<Started, SutError> {
        // Each pass either proceeds, refuses, or evicts (which strictly lowers the live count),
        // so a handful of passes always suffices; the bound only guards against a bug.
        for _ in 0..8 {
            let target = self.route(req);
            let (lane, needs_process_slot) = match target {
                Some(key) => {
                    let Some(s) = self.sessions.get_mut(&key) else {
                        return Err(SutError::Protocol("routed to a missing session".into()));
                    };
                    if self.options.ip_validation && s.ip != req.ip {
                        if self.mutant == Some(Mutant::IpValidationSkipped) {
                            // MUTANT REQ-5: the IP is not checked.
                        } else {
                            if self.mutant == Some(Mutant::RefusedRequestSlides) {
                                // MUTANT REQ-5: the refused request still slides the cookie.
                                s.expiration = self.now + self.options.cookie_timeout_s();
                                self.sync(key);
                            }
                            // REQ-5: another client IP gets 400 and changes nothing.
                            return Ok(Started::Refused(refused(400)));
                        }
                    }
                    // REQ-2 / MOBILE-3: the lane of a 4D Mobile session, lane 0 otherwise.
                    let lane = if s.mobile { req.mobile.unwrap_or(0) } else { 0 };
                    if s.procs.get(&lane).is_some_and(|p| p.busy) {
                        return Err(SutError::Unsupported(
                            "the session's process is already running a request".into(),
                        ));
                    }
                    (lane, s.procs.is_empty())
                }
                // REQ-1 / REQ-3 / CLOSE-8 / TIME-1: a new session.
                None => (req.mobile.unwrap_or(0), true),
            };
            if needs_process_slot && self.legacy() {
                match self.make_room() {
                    Room::Ready => {}
                    // An eviction hook may have closed the target: route again.
                    Room::Evicted => continue,
                    // LIMIT-2: nothing evictable: 503, nothing changes.
                    Room::Full => return Ok(Started::Refused(refused(503))),
                }
            }
            return Ok(self.start(req, target, lane));
        }
        Ok(Started::Refused(refused(503)))
    }

    /// Where a request goes: an existing session its cookie names, or `None` (new session).
    fn route(&self, req: &WireRequest) -> Option<u64> {
        match &req.cookie {
            Some(cookie) => self.routable(cookie),
            None if self.is(Mutant::NoCookieJoinsIpSession) => {
                // MUTANT REQ-1: sessions keyed by client IP when the cookie is missing.
                let key = *self.last_by_ip.get(&req.ip)?;
                let s = self.sessions.get(&key)?;
                let idle = s.procs.get(&0).is_some_and(|p| !p.busy);
                (s.valid && !s.mobile && idle && self.routable(&s.id) == Some(key)).then_some(key)
            }
            // REQ-1: no cookie, new session.
            None => None,
        }
    }

    /// LIMIT-1 / LIMIT-2: makes room for one more live session.
    fn make_room(&mut self) -> Room {
        let limit = if self.is(Mutant::LimitIgnoresMaxProcesses) {
            // MUTANT LIMIT-2: max processes does not cap max sessions.
            self.options.max_sessions
        } else {
            self.options.effective_max_sessions()
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let need = if self.is(Mutant::LimitOffByOne) {
            // MUTANT INV-5: evicts only once the limit is exceeded.
            self.live.saturating_sub(limit)
        } else {
            // LIMIT-1: `live - limit + 1` evictions when live >= limit.
            (self.live + 1).saturating_sub(limit)
        };
        if need == 0 {
            return Room::Ready;
        }
        let victims: Vec<u64> = if self.is(Mutant::EvictsMostRecent) {
            // MUTANT LIMIT-1: most recently active first.
            self.lru.iter().rev().take(need).map(|e| e.1).collect()
        } else {
            // LIMIT-1: least recent activity first, ties to the older session.
            self.lru.iter().take(need).map(|e| e.1).collect()
        };
        if victims.len() < need {
            if self.is(Mutant::Never503) {
                // MUTANT LIMIT-2: opens the session over the limit.
                return Room::Ready;
            }
            // LIMIT-2: all candidates busy: refuse.
            return Room::Full;
        }
        for key in victims {
            // An earlier victim's hook may have closed this one already.
            if self.sessions.get(&key).is_some_and(|s| s.counted_live) {
                self.evict(key);
            }
        }
        Room::Evicted
    }

    /// LIMIT-1: closes an idle session as the command would, with its hooks.
    fn evict(&mut self, key: u64) {
        self.invalidate(key, false);
        let lanes: Vec<u8> = self
            .sessions
            .get(&key)
            .map(|s| s.procs.keys().copied().collect())
            .unwrap_or_default();
        for lane in lanes {
            // INV-2: each ended process gets its hook, unless the mutant skips it.
            let hook = !self.is(Mutant::EvictionSkipsHook);
            self.end_process(key, lane, Cause::Evict, hook);
        }
        self.sync(key);
    }

    /// Places the request in its session (opening it if `target` is `None`) and runs the
    /// begin's actions.
    fn start(&mut self, req: &WireRequest, target: Option<u64>, lane: u8) -> Started {
        let (key, opened) = match target {
            Some(key) => (key, false),
            None => (self.open_session(req), true),
        };
        let suppress_issue = opened
            && self.is(Mutant::ClosedCookieNoSetCookie)
            && req
                .cookie
                .as_deref()
                .is_some_and(|c| self.tombstones.contains_key(c));
        let lane_cookie_mutant = self.is(Mutant::MobileLaneOwnCookie);
        let leaked = if opened && self.is(Mutant::VarsLeakToNewSession) {
            // MUTANT INV-4: a recycled context still holds the last reset process's vars.
            self.leaked_vars.take()
        } else {
            None
        };
        let now = self.now;
        let cookie_s = self.options.cookie_timeout_s();
        let slide = opened || !self.is(Mutant::ExpirationDoesNotSlide);
        let pid = self.next_pid;
        let Some(s) = self.sessions.get_mut(&key) else {
            return Started::Refused(refused(503));
        };
        // MUTANT MOBILE-3: a new lane of a running 4D Mobile session gets its own cookie.
        let lane_cookie = lane_cookie_mutant
            && !opened
            && s.mobile
            && !s.procs.is_empty()
            && !s.procs.contains_key(&lane);
        let proc = s.procs.entry(lane).or_insert_with(|| Proc {
            // TIME-3 / MOBILE-3: a lane without a running process gets a new, empty context.
            pid,
            ctx: Context {
                vars: leaked.unwrap_or_default(),
                ..Context::default()
            },
            busy: false,
            pending: None,
            reset_early: None,
            ending: false,
            last_active: now,
        });
        if proc.pid == pid {
            self.next_pid += 1;
        } else {
            // An idle process leaves the timeout index while it works.
            self.idle.remove(&(proc.last_active, key, lane));
        }
        proc.busy = true;
        proc.last_active = now;
        s.last_active = now;
        if slide {
            // REQ-4: each request slides the expiration to now + cookie timeout.
            s.expiration = now + cookie_s;
        }
        let id = s.id.clone();
        self.sync(key);
        let reads = self.run_actions(Who::Web { key, lane }, &req.actions);
        Started::Running(
            Flight {
                key,
                lane,
                id,
                opened,
                lane_cookie,
                suppress_issue,
            },
            reads,
        )
    }

    /// REQ-1 / REQ-3: a new session, server-minted ID, bound to the request's IP.
    fn open_session(&mut self, req: &WireRequest) -> u64 {
        let id = self.mint_id(req.cookie.as_deref());
        let key = self.next_key;
        self.next_key += 1;
        self.sessions.insert(
            key,
            Session {
                id: id.clone(),
                ip: req.ip,
                mobile: req.mobile.is_some(),
                valid: true,
                expiration: self.now + self.options.cookie_timeout_s(),
                last_active: self.now,
                procs: BTreeMap::new(),
                counted_live: false,
                lru_entry: None,
                dormant_entry: None,
            },
        );
        self.ids.insert(id, key);
        if self.is(Mutant::NoCookieJoinsIpSession) {
            self.last_by_ip.insert(req.ip, key);
        }
        key
    }

    /// REQ-6: a fresh random UUID v4, 32 uppercase hex digits, never a client's value.
    fn mint_id(&mut self, cookie: Option<&str>) -> Arc<str> {
        if self.is(Mutant::RecyclesClosedIds) {
            // MUTANT INV-3: closed IDs are handed out again.
            while let Some(id) = self.recycled.pop() {
                if !self.ids.contains_key(&id) {
                    return id;
                }
            }
        }
        if self.is(Mutant::AdoptsClientId)
            && let Some(value) = cookie
            && !value.is_empty()
            && !self.ids.contains_key(value)
        {
            // MUTANT REQ-3: session fixation, the client's value becomes the ID.
            return Arc::from(value);
        }
        loop {
            let id: Arc<str> = if self.is(Mutant::IdsRepeatAfterRestart) {
                // MUTANT REQ-6: a counter that restarts with the server.
                self.id_counter += 1;
                Arc::from(format!("{:032X}", self.id_counter))
            } else {
                Arc::from(format!("{:X}", Uuid::new_v4().simple()))
            };
            // A 122-bit collision never happens in practice; checking keeps IDs unique anyway.
            if !self.ids.contains_key(&id) {
                return id;
            }
        }
    }

    fn end_request(
        &mut self,
        flight: Flight,
        actions: &[WireAction],
    ) -> Result<Response, SutError> {
        let Flight {
            key,
            lane,
            id,
            opened,
            lane_cookie,
            suppress_issue,
        } = flight;
        let reads = self.run_actions(Who::Web { key, lane }, actions);
        let now = self.now;
        let drop_selections = self.is(Mutant::SelectionsDroppedBetweenRequests);
        let proc = self
            .sessions
            .get_mut(&key)
            .and_then(|s| {
                s.last_active = now;
                s.procs.get_mut(&lane)
            })
            .ok_or_else(|| SutError::Protocol("the in-flight process vanished".into()))?;
        proc.busy = false;
        proc.last_active = now;
        if drop_selections {
            // MUTANT REQ-2: selections do not survive the request.
            proc.ctx.selections.clear();
        }
        let pending = proc.pending.take();
        let reset_early = proc.reset_early.take();
        // CLOSE-4: the session was closed while this request ran.
        let closed_during = pending.or(reset_early);
        if pending.is_some() {
            // CLOSE-11 / CLOSE-12: the deferred hook, reset and process end.
            let hook = !self.is(Mutant::CloseSkipsHook);
            self.end_process(key, lane, Cause::Close, hook);
        } else if reset_early.is_some() {
            // (Mutants that already ran the hook and reset mid-request.)
            self.end_process(key, lane, Cause::Close, false);
        } else {
            // TIME-2: idle from the end of its request.
            self.idle.insert((now, key, lane));
            self.sync(key);
        }

        let name = self.options.cookie_name.clone();
        let mut set_cookies = Vec::new();
        if opened && !suppress_issue {
            // REQ-1: announce the new session.
            set_cookies.push(self.issue_cookie(&name, &id));
        } else if suppress_issue {
            // MUTANT CLOSE-8: the new session is not announced.
        }
        if lane_cookie {
            // MUTANT MOBILE-3.
            set_cookies.push(self.issue_cookie(&name, &format!("{id}-{lane}")));
        }
        if let Some(self_close) = closed_during {
            if self_close && self.is(Mutant::SelfCloseKeepsCookie) {
                // MUTANT CLOSE-4: the logout response leaves the cookie in place.
            } else {
                // CLOSE-4: expire the cookie, last so it decides.
                set_cookies.push(SetCookie {
                    name: name.clone(),
                    value: String::new(),
                    expiring: true,
                    raw: format!(
                        "{name}=; Path=/; SameSite=Strict; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
                    ),
                });
            }
        }
        Ok(Response {
            status: 200,
            session_id: Some(id.to_string()),
            set_cookies,
            reads,
        })
    }

    fn issue_cookie(&self, name: &str, value: &str) -> SetCookie {
        SetCookie {
            name: name.to_string(),
            value: value.to_string(),
            expiring: false,
            raw: format!(
                "{name}={value}; Path=/; SameSite=Strict; Max-Age={}",
                self.options.cookie_timeout_s()
            ),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Actions
    // -----------------------------------------------------------------------------------------

    fn ctx_mut(&mut self, who: Who) -> Option<&mut Context> {
        match who {
            Who::Web { key, lane } => self
                .sessions
                .get_mut(&key)
                .and_then(|s| s.procs.get_mut(&lane))
                .map(|p| &mut p.ctx),
            Who::NonWeb(n) => Some(self.nonweb.entry(n).or_default()),
        }
    }

    fn owner(&self, who: Who) -> Option<Owner> {
        match who {
            Who::Web { key, lane } => self
                .sessions
                .get(&key)
                .and_then(|s| s.procs.get(&lane))
                .map(|p| Owner::Web(p.pid)),
            Who::NonWeb(n) => Some(Owner::NonWeb(n)),
        }
    }

    /// WEB Get Current Session ID where `who` runs (`""` in a non-web process, D6).
    fn current_id(&self, who: Who) -> String {
        match who {
            Who::Web { key, .. } => self
                .sessions
                .get(&key)
                .map(|s| s.id.to_string())
                .unwrap_or_default(),
            Who::NonWeb(_) => String::new(),
        }
    }

    fn run_actions(&mut self, who: Who, actions: &[WireAction]) -> Vec<WireRead> {
        actions.iter().map(|a| self.run_action(who, a)).collect()
    }

    fn run_action(&mut self, who: Who, action: &WireAction) -> WireRead {
        match action {
            WireAction::SetVar { var, value } => {
                if let Some(ctx) = self.ctx_mut(who) {
                    ctx.vars.insert(*var, *value);
                }
                WireRead::Done
            }
            WireAction::GetVar { var } => {
                WireRead::Var(self.ctx_mut(who).and_then(|c| c.vars.get(var).copied()))
            }
            WireAction::SetIpVar { var, value } => {
                self.ipvars.insert(*var, *value);
                WireRead::Done
            }
            WireAction::GetIpVar { var } => WireRead::IpVar(self.ipvars.get(var).copied()),
            WireAction::Select { table, records } => {
                let mut records = records.clone();
                records.sort_unstable();
                records.dedup();
                if let Some(ctx) = self.ctx_mut(who) {
                    if records.is_empty() {
                        ctx.selections.remove(table);
                    } else {
                        ctx.selections.insert(*table, records);
                    }
                }
                WireRead::Done
            }
            WireAction::GetSelection { table } => WireRead::Selection(
                self.ctx_mut(who)
                    .and_then(|c| c.selections.get(table).cloned())
                    .unwrap_or_default(),
            ),
            WireAction::Lock { record } => WireRead::Locked(self.lock(who, *record)),
            WireAction::IsLocked { record } => {
                let me = self.owner(who);
                WireRead::LockState(match self.locks.get(record) {
                    None => LockState::Free,
                    Some(h) if Some(h.owner()) == me => LockState::Mine,
                    Some(_) => LockState::Other,
                })
            }
            WireAction::GetSessionId => WireRead::SessionId(self.current_id(who)),
            WireAction::Close { id } => {
                let text = self.resolve(who, id);
                let caller = match who {
                    Who::Web { key, lane } => Caller::Web { key, lane },
                    Who::NonWeb(_) => Caller::NonWeb,
                };
                self.close(&text, caller);
                WireRead::Done
            }
            WireAction::GetExpiration { id } => {
                let text = self.resolve(who, id);
                WireRead::Expiration(self.expiration_of(&text))
            }
        }
    }

    fn resolve(&self, who: Who, id: &WireId) -> String {
        match id {
            WireId::Text(t) => t.clone(),
            WireId::Current => self.current_id(who),
        }
    }

    /// D8: lock a free record or one this process holds; fail on another's.
    fn lock(&mut self, who: Who, record: RecordRef) -> bool {
        if let Some(h) = self.locks.get(&record) {
            return Some(h.owner()) == self.owner(who);
        }
        let holder = match who {
            Who::Web { key, lane } => {
                let Some(s) = self.sessions.get(&key) else {
                    return false;
                };
                let Some(p) = s.procs.get(&lane) else {
                    return false;
                };
                Holder::Web {
                    pid: p.pid,
                    id: s.id.clone(),
                    lane,
                }
            }
            Who::NonWeb(n) => Holder::NonWeb(n),
        };
        if let Some(ctx) = self.ctx_mut(who) {
            ctx.locks.insert(record);
        }
        self.locks.insert(record, holder);
        true
    }

    /// D5 / CLOSE-4: an existing session's expiration (even past), else the null date.
    fn expiration_of(&self, text: &str) -> Option<u64> {
        if let Some(key) = self.existing(text) {
            return self.sessions.get(&key).map(|s| s.expiration);
        }
        if self.is(Mutant::ExpirationSurvivesClose) {
            // MUTANT CLOSE-4: the closed session's expiration is still reported.
            return self.tombstones.get(text).map(|t| t.1);
        }
        None
    }

    // -----------------------------------------------------------------------------------------
    // The command
    // -----------------------------------------------------------------------------------------

    /// WEB LEGACY CLOSE SESSION (command 1208).
    fn close(&mut self, text: &str, caller: Caller) {
        if !self.legacy() && !self.is(Mutant::ActsInScalableMode) {
            // CLOSE-9: a no-op in scalable sessions mode.
            return;
        }
        if caller == Caller::NonWeb && self.is(Mutant::NonWebCloseIgnored) {
            // MUTANT CLOSE-3.
            return;
        }
        let found = self.existing(text).or_else(|| {
            if self.is(Mutant::CaseInsensitiveIds) {
                // MUTANT CLOSE-2: IDs are uppercase hex, so this matches any case.
                self.existing(&text.to_ascii_uppercase())
            } else if self.is(Mutant::TrimsIdSpaces) {
                // MUTANT CLOSE-2.
                self.existing(text.trim())
            } else {
                None
            }
        });
        let Some(key) = found else {
            if self.is(Mutant::SecondCloseRerunsHook) {
                self.rerun_pending_hooks(text);
            }
            // CLOSE-2 (unknown, closed, "", malformed, respelled) and CLOSE-10 (a close is
            // already pending: the ID no longer names an existing session): nothing happens.
            return;
        };
        if caller == (Caller::Hook { key }) {
            // CLOSE-13: a session's hook closing that session is a no-op.
            return;
        }
        if caller == Caller::NonWeb && self.race_ready(key) {
            // MUTANT CLOSE-10 / CLOSE-1 / CLOSE-6: the close's first half; the caller unlocks
            // the world, waits, and runs `race_finish`.
            self.race_begin(key);
            return;
        }
        if self.is(Mutant::CloseKeepsIdRoutable) {
            // MUTANT CLOSE-1: the ID keeps naming the session.
        } else {
            // CLOSE-1: invalidated at once, whoever calls (CLOSE-3).
            self.invalidate(key, true);
        }
        let mut lanes: Vec<u8> = match self.sessions.get(&key) {
            Some(s) if self.is(Mutant::Canary) => {
                // CANARY: collect in reverse, then restore lane order; nothing observable.
                let mut v: Vec<u8> = s.procs.keys().rev().copied().collect();
                v.sort_unstable();
                v
            }
            Some(s) => s.procs.keys().copied().collect(),
            None => Vec::new(),
        };
        if self.is(Mutant::MobileCloseEndsOneLane) {
            // MUTANT MOBILE-1: only the first process ends.
            lanes.truncate(1);
        }
        let mut hooked_one = false;
        // MOBILE-1 / MOBILE-2: every process of the session, lanes in order.
        for lane in lanes {
            let Some(p) = self.sessions.get(&key).and_then(|s| s.procs.get(&lane)) else {
                // A nested hook (an earlier lane's) already ended it.
                continue;
            };
            if p.ending {
                // Its own hook is on the stack; that frame finishes its reset (INV-2).
                continue;
            }
            if p.busy {
                let self_close = caller == Caller::Web { key, lane };
                let reset_now = if self_close {
                    self.is(Mutant::SelfCloseResetsMidRequest)
                } else {
                    self.is(Mutant::RemoteCloseResetsMidRequest)
                };
                if reset_now {
                    // MUTANT CLOSE-11 / CLOSE-12: hook and reset at once, mid-request.
                    self.run_hook(key, lane);
                    self.clear_context(key, lane, Cause::Close, false);
                    if let Some(p) = self
                        .sessions
                        .get_mut(&key)
                        .and_then(|s| s.procs.get_mut(&lane))
                    {
                        p.reset_early = Some(self_close);
                    }
                } else if let Some(p) = self
                    .sessions
                    .get_mut(&key)
                    .and_then(|s| s.procs.get_mut(&lane))
                {
                    // CLOSE-11 (self-close) / CLOSE-12 (from elsewhere): hook and reset run
                    // when the request ends; its response expires the cookie (CLOSE-4).
                    p.pending = Some(self_close);
                }
                continue;
            }
            let mut hook = !self.is(Mutant::CloseSkipsHook);
            if hooked_one && self.is(Mutant::MobileOneHook) {
                // MUTANT MOBILE-2: one hook for the whole session.
                hook = false;
            }
            // CLOSE-5 / CLOSE-6 / CLOSE-7: hook, then reset, then the process ends.
            self.end_process(key, lane, Cause::Close, hook);
            hooked_one |= hook;
        }
        // TIME-3: a session without a running process was only invalidated.
        self.sync(key);
    }

    /// Race mutants: whether this close takes the split path. Only the plain case does (an
    /// idle legacy session, a hook that closes nothing), so everything else stays the
    /// reference's, and sequential traces see no difference.
    fn race_ready(&self, key: u64) -> bool {
        if !self.mutant.is_some_and(Mutant::is_race) || self.race.is_some() {
            return false;
        }
        if !matches!(self.hook, WireHook::Save | WireHook::Fail | WireHook::Slow) {
            return false;
        }
        let Some(s) = self.sessions.get(&key) else {
            return false;
        };
        !s.mobile
            && s.procs.len() == 1
            && s.procs.get(&0).is_some_and(|p| {
                !p.busy && !p.ending && p.pending.is_none() && p.reset_early.is_none()
            })
    }

    /// Race mutants: the first half of a close, under the lock.
    fn race_begin(&mut self, key: u64) {
        let Some((pid, id, snapshot)) = self.sessions.get(&key).and_then(|s| {
            s.procs
                .get(&0)
                .map(|p| (p.pid, s.id.clone(), p.ctx.snapshot()))
        }) else {
            return;
        };
        let mut plan = RacePlan {
            key,
            pid,
            id,
            snapshot,
            failed: false,
        };
        if self.is(Mutant::RacyDoubleHook) {
            // MUTANT CLOSE-10: checks that the session exists and snapshots it for the hook,
            // but marks nothing: a concurrent close passes the same check.
        } else if self.is(Mutant::RacyLateInvalidation) {
            // MUTANT CLOSE-1: the hook runs now, the ID stays valid until the second half, so
            // a request in the window still reaches the context the hook already saved.
            self.begin_ending(key, 0);
            plan.failed = self.run_hook(key, 0);
        } else if self.is(Mutant::RacyEarlyLockRelease) {
            // MUTANT CLOSE-6: invalidated, then the locks go back to the table before the hook
            // has run; the process's own index keeps them, so its hook still lists them.
            self.invalidate(key, true);
            self.begin_ending(key, 0);
            let me = Owner::Web(pid);
            self.locks.retain(|_, h| h.owner() != me);
        }
        self.race = Some(plan);
    }

    /// Race mutants: the second half of a close, after the window, under the lock.
    fn race_finish(&mut self, plan: RacePlan) {
        let RacePlan {
            key,
            pid,
            id,
            snapshot,
            mut failed,
        } = plan;
        let alive = self
            .sessions
            .get(&key)
            .and_then(|s| s.procs.get(&0))
            .is_some_and(|p| p.pid == pid);
        if self.is(Mutant::RacyDoubleHook) {
            // MUTANT CLOSE-10: the hook runs on what the first half saw, even when another
            // close finished in the window.
            failed = self.hook == WireHook::Fail;
            if self.hook == WireHook::Slow {
                self.slow_hooks = self.slow_hooks.saturating_add(1);
            }
            self.hook_log.push(WireHookRun {
                session_id: id.to_string(),
                lane: 0,
                snapshot,
                failed,
            });
            if !alive {
                return;
            }
            self.invalidate(key, true);
            self.begin_ending(key, 0);
        } else if self.is(Mutant::RacyLateInvalidation) {
            if !alive {
                return;
            }
            self.invalidate(key, true);
        } else if self.is(Mutant::RacyEarlyLockRelease) {
            if !alive {
                return;
            }
            failed = self.run_hook(key, 0);
        }
        // CLOSE-7: the reset and the end of the process, as `end_process` does after its hook.
        self.finish_process(key, 0, failed);
    }

    /// Marks a process as ending (its hook may run; closes skip it) and takes it out of the
    /// timeout index.
    fn begin_ending(&mut self, key: u64, lane: u8) {
        let Some(p) = self
            .sessions
            .get_mut(&key)
            .and_then(|s| s.procs.get_mut(&lane))
        else {
            return;
        };
        p.ending = true;
        if !p.busy {
            self.idle.remove(&(p.last_active, key, lane));
        }
    }

    /// The reset and the end of an ending process whose hook has run.
    fn finish_process(&mut self, key: u64, lane: u8, hook_failed: bool) {
        // A request in the window (racy-late-invalidation) put it back in the timeout index.
        if let Some(p) = self.sessions.get(&key).and_then(|s| s.procs.get(&lane))
            && !p.busy
        {
            self.idle.remove(&(p.last_active, key, lane));
        }
        self.clear_context(key, lane, Cause::Close, hook_failed);
        if let Some(s) = self.sessions.get_mut(&key) {
            s.procs.remove(&lane);
        }
        self.sync(key);
    }

    /// MUTANT CLOSE-10: a close of an ID whose close is pending runs the hook again now.
    fn rerun_pending_hooks(&mut self, text: &str) {
        let Some(&(key, _)) = self.tombstones.get(text) else {
            return;
        };
        let lanes: Vec<u8> = self
            .sessions
            .get(&key)
            .map(|s| {
                s.procs
                    .iter()
                    .filter(|(_, p)| p.pending.is_some())
                    .map(|(l, _)| *l)
                    .collect()
            })
            .unwrap_or_default();
        for lane in lanes {
            self.log_hook(key, lane, false);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Ending processes: hook, reset, end
    // -----------------------------------------------------------------------------------------

    /// Ends a process: its hook (when `hook`), then the reset, then the process is gone.
    fn end_process(&mut self, key: u64, lane: u8, cause: Cause, hook: bool) {
        let Some(p) = self
            .sessions
            .get_mut(&key)
            .and_then(|s| s.procs.get_mut(&lane))
        else {
            return;
        };
        if p.ending {
            return;
        }
        p.ending = true;
        if !p.busy {
            self.idle.remove(&(p.last_active, key, lane));
        }
        let mut failed = false;
        if hook {
            if self.is(Mutant::HookAfterReset) {
                // MUTANT CLOSE-6: the reset comes first, the hook sees nothing.
                self.clear_context(key, lane, cause, false);
            }
            // CLOSE-6: the hook sees the context before the reset.
            failed = self.run_hook(key, lane);
        }
        // CLOSE-7 / CLOSE-14: the reset happens even when the hook failed.
        self.clear_context(key, lane, cause, failed);
        if let Some(s) = self.sessions.get_mut(&key) {
            s.procs.remove(&lane);
        }
        self.sync(key);
    }

    /// Logs a hook run with the process's current context.
    fn log_hook(&mut self, key: u64, lane: u8, failed: bool) -> Option<Arc<str>> {
        let s = self.sessions.get(&key)?;
        let p = s.procs.get(&lane)?;
        let run = WireHookRun {
            session_id: s.id.to_string(),
            lane,
            snapshot: p.ctx.snapshot(),
            failed,
        };
        let id = s.id.clone();
        self.hook_log.push(run);
        Some(id)
    }

    /// Runs the hook in the session's own process: snapshot first, then its behaviour.
    /// Returns whether it failed (CLOSE-14: the caller goes on regardless).
    fn run_hook(&mut self, key: u64, lane: u8) -> bool {
        let behavior = self.hook.clone();
        let failed = behavior == WireHook::Fail;
        let Some(id) = self.log_hook(key, lane, failed) else {
            return false;
        };
        match behavior {
            WireHook::Save | WireHook::Fail => {}
            WireHook::Slow => self.slow_hooks = self.slow_hooks.saturating_add(1),
            WireHook::CloseOwn => {
                if self.is(Mutant::HookCloseOwnRerunsHook) {
                    // MUTANT CLOSE-13: the nested close runs the hook again.
                    self.log_hook(key, lane, false);
                } else {
                    // CLOSE-13: `Current` in the hook is its own ID; the close is a no-op.
                    self.close(&id, Caller::Hook { key });
                }
            }
            // A nested close: that session's hook runs after this one's snapshot.
            WireHook::Close(other) => self.close(&other, Caller::Hook { key }),
        }
        failed
    }

    /// CLOSE-7: clear variables and selections, release the process's locks.
    fn clear_context(&mut self, key: u64, lane: u8, cause: Cause, hook_failed: bool) {
        let keep_locks = (cause == Cause::Close && self.is(Mutant::CloseKeepsLocks))
            || (cause == Cause::Timeout && self.is(Mutant::TimeoutKeepsLocks))
            || (hook_failed && self.is(Mutant::FailingHookAbortsClose));
        let leak = self.is(Mutant::VarsLeakToNewSession);
        let Some(p) = self
            .sessions
            .get_mut(&key)
            .and_then(|s| s.procs.get_mut(&lane))
        else {
            return;
        };
        let ctx = std::mem::take(&mut p.ctx);
        let me = Owner::Web(p.pid);
        if keep_locks {
            // MUTANT CLOSE-7 / INV-1 / CLOSE-14: the ended process still owns its records.
        } else {
            for record in &ctx.locks {
                if self.locks.get(record).is_some_and(|h| h.owner() == me) {
                    self.locks.remove(record);
                }
            }
        }
        if leak && !ctx.vars.is_empty() {
            // MUTANT INV-4: the context goes back to a pool uncleared.
            self.leaked_vars = Some(ctx.vars);
        }
        if cause == Cause::Close && self.is(Mutant::CloseResetsIpVars) {
            // MUTANT CLOSE-7: interprocess variables are not the session's to reset.
            self.ipvars.clear();
        }
    }

    // -----------------------------------------------------------------------------------------
    // Clock and options
    // -----------------------------------------------------------------------------------------

    fn advance(&mut self, seconds: u64) {
        self.now = self.now.saturating_add(seconds);
        if self.legacy() {
            let timeout = if self.is(Mutant::ProcessTimeoutFollowsCookie) {
                // MUTANT TIME-4: one timer for both.
                self.options.cookie_timeout_s()
            } else {
                self.options.process_timeout_s()
            };
            // TIME-2: idle processes whose `now - last activity >= timeout`, in due-time,
            // then session, then lane order. Hooks may end other entries; re-read each time.
            while let Some(&(last, key, lane)) = self.idle.first() {
                if self.now.saturating_sub(last) < timeout {
                    break;
                }
                self.idle.remove(&(last, key, lane));
                let hook = !self.is(Mutant::TimeoutSkipsHook);
                self.end_process(key, lane, Cause::Timeout, hook);
            }
        }
        // TIME-1 / TIME-3: process-less sessions whose cookie expired no longer exist.
        while let Some(&(expiration, key)) = self.dormant.first() {
            if !self.expired(expiration) {
                break;
            }
            self.remove_session(key);
        }
    }

    fn set_option(&mut self, option: &OptionSet) -> Result<(), SutError> {
        let before = self.options.mode;
        if let OptionSet::Mode(mode) = option
            && *mode != before
            && !self.slots.is_empty()
        {
            return Err(SutError::Unsupported(
                "a mode change restarts the server; not valid with requests in flight".into(),
            ));
        }
        // Out-of-range values (selector 18 outside 10..=32000, zero, bad names) are ignored.
        self.options.apply(option);
        if self.options.mode != before {
            self.restart();
        }
        Ok(())
    }

    /// CLOSE-9: a mode change is a restart: everything is dropped without hooks; the clock,
    /// the options, the hook behaviour and the unread hook log are kept.
    fn restart(&mut self) {
        self.sessions.clear();
        self.ids.clear();
        self.live = 0;
        self.lru.clear();
        self.idle.clear();
        self.dormant.clear();
        self.locks.clear();
        self.ipvars.clear();
        self.nonweb.clear();
        self.tombstones.clear();
        self.recycled.clear();
        self.last_by_ip.clear();
        self.leaked_vars = None;
        if self.is(Mutant::IdsRepeatAfterRestart) {
            // MUTANT REQ-6: the counter starts over.
            self.id_counter = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn memory_sut_is_send_and_sync() {
        assert_send_sync::<MemorySut>();
    }

    #[test]
    fn ids_are_32_uppercase_hex() {
        let mut w = World::new(WorldConfig::default(), None);
        let id = w.mint_id(None);
        assert_eq!(id.len(), 32);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        );
        // UUID v4: version nibble.
        assert_eq!(&id[12..13], "4");
    }

    #[test]
    fn indexes_stay_consistent() {
        let sut = MemorySut::new();
        let req = WireRequest {
            ip: 0,
            cookie: None,
            mobile: None,
            actions: vec![],
        };
        for _ in 0..5 {
            sut.request(&req).ok();
        }
        let w = sut.state.lock().ok();
        let w = w.as_deref();
        assert!(w.is_some_and(|w| w.live == 5 && w.lru.len() == 5 && w.idle.len() == 5));
    }
}
