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
//! - No mutant lives here. Mutants at the trait boundary wrap this implementation
//!   (`crate::mutants::perturb`); internal ones live whole in `crate::mutants::deviation` and
//!   enter through `self.dev`: one field, and one-line seams (`self.dev(..)`,
//!   `self.deviates(..)`, `self.dev_*(..)`) whose `None` / `false` is this file's own answer.
//! - Race mutants split a non-web close into two critical sections with the lock released in
//!   between ([`RACE_WINDOW`]); only they ever do. Sequentially the two halves run back to
//!   back and nothing observable differs from the reference.

mod hash;
mod ids;
mod procs;

pub(crate) use hash::FastMap;
pub(crate) use ids::Ids;
use procs::Procs;

use crate::mutants::deviation::Deviation;
use crate::options::Settings;
use crate::plugin::{
    Begun, Capabilities, Response, SetCookie, Sut, SutError, WireAction, WireHook, WireHookRun,
    WireId, WireProc, WireRead, WireRequest,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use uuid::Uuid;
use wlcs_model::vocab::{
    ContextSnapshot, Ip, LockState, OptionSet, RecordRef, SessionMode, Slot, Table, TimeoutProfile,
    VarName, WorldConfig,
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
    /// The settings beyond SPEC.md's options ([`Limits`]).
    limits: Limits,
    /// An internal mutant's deviation (fresh state at every reset); `None`: the reference.
    dev: Option<Deviation>,
    /// How long a `Slow` hook run takes (served after the lock is released).
    slow_hook: Duration,
}

/// Settings of the reference implementation beyond SPEC.md's options, for benches that need
/// populations SPEC.md's limits do not allow. The suite always runs [`Limits::SPEC`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// LIMIT-2: live sessions are capped by selector 71 *and* by selector 18 (max concurrent
    /// processes, at most 32 000). `false` lifts the second cap, so selector 71 alone decides
    /// and a bench can hold 10^6 sessions. Not conformant: it changes how many sessions an open
    /// may keep (LIMIT-2), never a close.
    pub sessions_capped_by_processes: bool,
}

impl Limits {
    /// SPEC.md's limits.
    pub const SPEC: Limits = Limits {
        sessions_capped_by_processes: true,
    };
    /// Selector 71 alone caps live sessions (benches only).
    pub const LIFTED: Limits = Limits {
        sessions_capped_by_processes: false,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::SPEC
    }
}

impl MemorySut {
    /// The correct implementation, with a default world ([`WorldConfig::default`]).
    pub fn new() -> MemorySut {
        MemorySut {
            state: Mutex::new(World::new(WorldConfig::default(), Limits::SPEC, None)),
            limits: Limits::SPEC,
            dev: None,
            slow_hook: SLOW_HOOK,
        }
    }

    /// The same implementation with other [`Limits`] (benches only), from the next reset on.
    pub fn with_limits(mut self, limits: Limits) -> MemorySut {
        self.limits = limits;
        self.reset_world(&WorldConfig::default());
        self
    }

    /// The implementation running one internal mutant (`crate::mutants::deviation`).
    pub(crate) fn deviating(dev: Deviation) -> MemorySut {
        let mut sut = MemorySut::new();
        sut.dev = Some(dev);
        sut.reset_world(&WorldConfig::default());
        sut
    }

    /// A fresh world for `config`, keeping the settings.
    fn reset_world(&mut self, config: &WorldConfig) {
        let fresh = World::new(
            config.clone(),
            self.limits,
            self.dev.as_ref().map(Deviation::fresh),
        );
        *self.state.get_mut().unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// The same implementation with another `Slow` hook duration. A delay only matters when
    /// several threads call at once (it widens race windows); one caller at a time (the
    /// differential checker, the simulator's seeds) can use zero and lose nothing.
    pub fn with_slow_hook(mut self, slow_hook: Duration) -> MemorySut {
        self.slow_hook = slow_hook;
        self
    }

    /// Runs `f` on the world in one critical section. A panic inside becomes
    /// `SutError::Panic` (and poisons the state until the next `reset`); a `Slow` hook's delay
    /// is served after the lock is released.
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut World) -> Result<R, SutError>,
    ) -> Result<R, SutError> {
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
        "memory".to_string()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// Each `MemorySut` is its own world.
    fn shares_world(&self) -> bool {
        false
    }

    fn reset(&self, config: &WorldConfig) -> Result<(), SutError> {
        let fresh = World::new(
            config.clone(),
            self.limits,
            self.dev.as_ref().map(Deviation::fresh),
        );
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
        if self.dev.as_ref().is_some_and(Deviation::is_race) {
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
        // The next log starts with room for as many runs as this one had: a bench's batch of
        // closes does not regrow it run by run.
        self.with(|w| {
            let room = w.hook_log.len();
            Ok(std::mem::replace(&mut w.hook_log, Vec::with_capacity(room)))
        })
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

    fn session_cookie_name(&self) -> Result<String, SutError> {
        self.with(|w| Ok(w.options.cookie_name.clone()))
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// A process's context: what the hook sees and what the reset clears.
#[derive(Clone, Debug, Default)]
pub(crate) struct Context {
    pub(crate) vars: BTreeMap<VarName, i64>,
    /// Non-empty selections only, sorted and deduplicated.
    pub(crate) selections: BTreeMap<Table, Vec<u32>>,
    /// Records this process holds, sorted (the lock table is the authority; this is its
    /// index).
    pub(crate) locks: Vec<RecordRef>,
}

impl Context {
    pub(crate) fn snapshot(&self) -> ContextSnapshot {
        ContextSnapshot {
            vars: self.vars.clone(),
            selections: self.selections.clone(),
            locks: self.locks.clone(),
        }
    }

    /// Adds a record to the lock index (a set: a record already there stays once).
    fn note_lock(&mut self, record: RecordRef) {
        if let Err(i) = self.locks.binary_search(&record) {
            self.locks.insert(i, record);
        }
    }
}

/// One web process of a session (lane 0 for legacy sessions).
#[derive(Debug)]
pub(crate) struct Proc {
    /// Unique over the world's life: a revived lane is a new process, so no stale lock can
    /// ever be mistaken for its own.
    pub(crate) pid: u64,
    pub(crate) ctx: Context,
    /// A request is in flight in this process.
    pub(crate) busy: bool,
    /// The session was closed while a request ran here: `Some(self_close)`; hook and reset
    /// run when the request ends (CLOSE-11, CLOSE-12).
    pub(crate) pending: Option<bool>,
    /// The process's hook is running (it is being ended); closes skip it.
    pub(crate) ending: bool,
    /// End of its last request (or its start, while the first one runs).
    pub(crate) last_active: u64,
}

/// A legacy or 4D Mobile session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: Arc<str>,
    pub(crate) ip: Ip,
    pub(crate) mobile: bool,
    /// The ID still names the session (not closed, evicted or dropped).
    pub(crate) valid: bool,
    /// Cookie expiration, seconds on the virtual clock.
    pub(crate) expiration: u64,
    /// Last request begin or end in any lane (eviction order, LIMIT-1).
    pub(crate) last_active: u64,
    /// Running processes by lane.
    pub(crate) procs: Procs,
    /// Index memberships, kept in step by `World::sync`.
    pub(crate) counted_live: bool,
    pub(crate) counted_procs: usize,
    pub(crate) lru_entry: Option<(u64, u64)>,
    pub(crate) dormant_entry: Option<(u64, u64)>,
}

/// Who owns a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Web(u64),
    NonWeb(u8),
}

/// A lock table entry: who holds the record, with what `locks()` reports about it.
#[derive(Clone, Debug)]
pub(crate) enum Holder {
    Web { pid: u64, id: Arc<str>, lane: u8 },
    NonWeb(u8),
}

impl Holder {
    pub(crate) fn owner(&self) -> Owner {
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
pub(crate) enum Who {
    Web { key: u64, lane: u8 },
    NonWeb(u8),
}

/// Who calls the command (decides `Current` and CLOSE-11/13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    Web { key: u64, lane: u8 },
    NonWeb,
    Hook { key: u64 },
}

/// Why a process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
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
pub(crate) struct World {
    pub(crate) config: WorldConfig,
    pub(crate) limits: Limits,
    pub(crate) options: Settings,
    pub(crate) now: u64,
    pub(crate) hook: WireHook,
    pub(crate) hook_log: Vec<WireHookRun>,
    pub(crate) next_key: u64,
    pub(crate) next_pid: u64,
    pub(crate) sessions: FastMap<u64, Session>,
    /// Valid IDs only.
    pub(crate) ids: Ids,
    /// Sessions with at least one running process.
    pub(crate) live: usize,
    /// Running web processes, what selector 18 caps.
    pub(crate) procs: usize,
    /// Live sessions whose processes are all idle, by (last activity, creation). Removal is
    /// lazy: entries that are not [`lru_current`] are skipped, and dropped in bulk.
    pub(crate) lru: BTreeSet<(u64, u64)>,
    /// Idle processes by (last activity, session creation, lane): due-time order for any
    /// single process timeout value. Removal is lazy, as for `lru` ([`idle_current`]).
    pub(crate) idle: BTreeSet<(u64, u64, u8)>,
    /// Valid sessions without a running process (`timeout-keeps-id`), by (expiration, key).
    pub(crate) dormant: BTreeSet<(u64, u64)>,
    pub(crate) locks: FastMap<RecordRef, Holder>,
    pub(crate) ipvars: BTreeMap<VarName, i64>,
    pub(crate) nonweb: FastMap<u8, Context>,
    slots: FastMap<Slot, Flight>,
    /// `Slow` hook runs of the current call, served after unlocking.
    pub(crate) slow_hooks: u32,
    /// An internal mutant's state and seams (`crate::mutants::deviation`); `None`: the
    /// reference.
    pub(crate) dev: Option<Box<Deviation>>,
}

/// Stale entries `lru` and `idle` may hold beyond as many as the live ones before they are
/// dropped (so small worlds do not compact on every change).
const STALE_ENTRIES_SLACK: usize = 64;

/// Whether an `lru` entry is its session's current one (removals from `lru` are lazy: a
/// session that leaves the index, or moves in it, only changes its `lru_entry`).
fn lru_current(sessions: &FastMap<u64, Session>, entry: &(u64, u64)) -> bool {
    sessions
        .get(&entry.1)
        .is_some_and(|s| s.lru_entry == Some(*entry))
}

/// Whether an `idle` entry stands for a process that is idle now, since that instant
/// (removals from `idle` are lazy: a process that starts a request or ends leaves its entry
/// behind). A process is idle when it is neither busy nor ending.
fn idle_current(sessions: &FastMap<u64, Session>, &(last, key, lane): &(u64, u64, u8)) -> bool {
    sessions
        .get(&key)
        .and_then(|s| s.procs.get(&lane))
        .is_some_and(|p| !p.busy && !p.ending && p.last_active == last)
}

/// CLOSE-7: `records` go back to the lock table, those that `me` still holds.
fn release_locks(locks: &mut FastMap<RecordRef, Holder>, records: &[RecordRef], me: Owner) {
    for record in records {
        // One probe: take the entry out, put it back in the rare case it is another's.
        if let Some(holder) = locks.remove(record)
            && holder.owner() != me
        {
            locks.insert(*record, holder);
        }
    }
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
    fn new(config: WorldConfig, limits: Limits, dev: Option<Box<Deviation>>) -> World {
        World {
            limits,
            options: Settings::new(&config),
            config,
            now: 0,
            hook: WireHook::Save,
            hook_log: Vec::new(),
            next_key: 0,
            next_pid: 0,
            sessions: FastMap::default(),
            ids: Ids::default(),
            live: 0,
            procs: 0,
            lru: BTreeSet::new(),
            idle: BTreeSet::new(),
            dormant: BTreeSet::new(),
            locks: FastMap::default(),
            ipvars: BTreeMap::new(),
            nonweb: FastMap::default(),
            slots: FastMap::default(),
            slow_hooks: 0,
            dev,
        }
    }

    /// Seam: an internal mutant's answer, if it changes this one (else `None`).
    fn dev<T>(&self, f: impl FnOnce(&Deviation) -> Option<T>) -> Option<T> {
        self.dev.as_deref().and_then(f)
    }

    /// Seam: whether an internal mutant takes this deviation (`false` for the reference).
    fn deviates(&self, f: impl FnOnce(&Deviation) -> bool) -> bool {
        self.dev.as_deref().is_some_and(f)
    }

    fn legacy(&self) -> bool {
        self.options.mode == SessionMode::Legacy
    }

    /// TIME-3: which profile applies.
    fn keeps_id(&self) -> bool {
        let keeps = self.config.profile.timeout == TimeoutProfile::KeepsId;
        self.dev(|d| d.keeps_id(keeps)).unwrap_or(keeps)
    }

    /// TIME-1: a cookie is expired when `now >= expiration`.
    fn expired(&self, expiration: u64) -> bool {
        if let Some(expired) = self.dev(|d| d.expired(self.now, expiration)) {
            return expired;
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
    pub(crate) fn routable(&self, cookie: &str) -> Option<u64> {
        let key = self.existing(cookie)?;
        let s = self.sessions.get(&key)?;
        if self.expired(s.expiration) {
            if !s.procs.is_empty() && self.deviates(Deviation::routes_expired_cookie) {
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
    pub(crate) fn sync(&mut self, key: u64) {
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
        if s.procs.len() != s.counted_procs {
            self.procs = (self.procs + s.procs.len()).saturating_sub(s.counted_procs);
            s.counted_procs = s.procs.len();
        }
        if live != s.counted_live {
            s.counted_live = live;
            if live {
                self.live += 1;
            } else {
                self.live = self.live.saturating_sub(1);
            }
        }
        let want_lru = (live && s.procs.values().all(|p| !p.busy)).then_some((s.last_active, key));
        let mut inserted = false;
        if s.lru_entry != want_lru {
            // The old entry goes stale (`lru_current`), the index drops it lazily.
            s.lru_entry = want_lru;
            if let Some(new) = want_lru {
                self.lru.insert(new);
                inserted = true;
            }
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
        if inserted {
            // What inserts pays for the bulk drop, so a close never does.
            self.compact_lru();
        }
    }

    /// Forgets a session entirely (its processes must already have ended).
    fn remove_session(&mut self, key: u64) {
        let Some(s) = self.sessions.remove(&key) else {
            return;
        };
        if s.valid {
            self.ids.remove_if_names(&s.id, key);
        }
        if s.counted_live {
            self.live = self.live.saturating_sub(1);
        }
        self.procs = self.procs.saturating_sub(s.counted_procs);
        // Its `lru` and `idle` entries go stale with it (`lru_current`, `idle_current`).
        if let Some(e) = s.dormant_entry {
            self.dormant.remove(&e);
        }
    }

    /// Drops the stale entries of `lru` once they outnumber the live ones, so the index stays
    /// within about twice the live sessions; each drop pays for many lazy removals.
    fn compact_lru(&mut self) {
        if self.lru.len() > 2 * self.live + STALE_ENTRIES_SLACK {
            let sessions = &self.sessions;
            self.lru.retain(|e| lru_current(sessions, e));
        }
    }

    /// The same for `idle`, bounded by the running processes.
    fn compact_idle(&mut self) {
        if self.idle.len() > 2 * self.procs + STALE_ENTRIES_SLACK {
            let sessions = &self.sessions;
            self.idle.retain(|e| idle_current(sessions, e));
        }
    }

    /// CLOSE-1 / LIMIT-1: the ID stops naming the session, at once.
    pub(crate) fn invalidate(&mut self, key: u64, by_command: bool) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if !s.valid {
            return;
        }
        s.valid = false;
        let id = s.id.clone();
        self.ids.remove_if_names(&id, key);
        if let (true, Some(d)) = (by_command, self.dev.as_deref_mut()) {
            d.closed_by_command(&id, key);
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
                        self.dev_refused_request(key);
                        // REQ-5: another client IP gets 400 and changes nothing.
                        return Ok(Started::Refused(refused(400)));
                    }
                    // REQ-2 / MOBILE-3: the lane of a 4D Mobile session, lane 0 otherwise.
                    let lane = if s.mobile { req.mobile.unwrap_or(0) } else { 0 };
                    if s.procs.get(&lane).is_some_and(|p| p.busy) {
                        return Err(SutError::Unsupported(
                            "the session's process is already running a request".into(),
                        ));
                    }
                    (
                        lane,
                        Some((!s.procs.contains_key(&lane), s.procs.is_empty())),
                    )
                }
                // REQ-1 / REQ-3 / CLOSE-8 / TIME-1: a new session.
                None => (req.mobile.unwrap_or(0), Some((true, true))),
            };
            // (a new process is needed, the session becomes live)
            if let Some((true, new_live)) = needs_process_slot
                && self.legacy()
            {
                match self.make_room(new_live, target) {
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
            // REQ-1: no cookie, new session (`None`), unless a mutant routes it.
            None => self.dev_route_without_cookie(req.ip),
        }
    }

    /// LIMIT-1 / LIMIT-2: makes room for one more web process, and one more live session
    /// when `new_live`; `target` (the session the request goes to) is never evicted.
    fn make_room(&mut self, new_live: bool, target: Option<u64>) -> Room {
        let limit = usize::try_from(self.options.max_sessions).unwrap_or(usize::MAX);
        let over_sessions = |live: usize| -> bool {
            // LIMIT-1: at max sessions, make room.
            new_live
                && self
                    .dev(|d| d.over_sessions(live, limit))
                    .unwrap_or(live >= limit)
        };
        // Max concurrent processes: at `max - 1` running, no new process (D4 selector 18);
        // `Limits::LIFTED` (benches) lifts this cap.
        let over_procs = |procs: usize| {
            self.limits.sessions_capped_by_processes
                && self
                    .dev(|d| d.over_processes(procs, self.options.max_processes))
                    .unwrap_or(!self.options.process_fits(procs))
        };
        let (mut live, mut procs) = (self.live, self.procs);
        if !over_sessions(live) && !over_procs(procs) {
            return Room::Ready;
        }
        // LIMIT-1: least recent activity first, ties to the older session.
        let order: Box<dyn Iterator<Item = &(u64, u64)>> =
            if self.deviates(Deviation::evicts_most_recent) {
                Box::new(self.lru.iter().rev())
            } else {
                Box::new(self.lru.iter())
            };
        let mut victims = Vec::new();
        let current = order.filter(|e| lru_current(&self.sessions, e));
        for key in current.map(|e| e.1).filter(|k| Some(*k) != target) {
            if !over_sessions(live) && !over_procs(procs) {
                break;
            }
            victims.push(key);
            live = live.saturating_sub(1);
            procs = procs.saturating_sub(self.sessions.get(&key).map_or(0, |s| s.procs.len()));
        }
        if over_sessions(live) || over_procs(procs) {
            if self.deviates(Deviation::opens_over_limit) {
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
            // INV-2: each ended process gets its hook.
            let hook = !self.deviates(|d| d.skips_hook(Cause::Evict, false));
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
        let leaked = match self.dev.as_deref_mut() {
            Some(d) if opened => d.take_leaked_vars(),
            _ => None,
        };
        let now = self.now;
        let cookie_s = self.options.cookie_timeout_s();
        let slide = opened || !self.deviates(Deviation::keeps_expiration);
        let pid = self.next_pid;
        let Some(s) = self.sessions.get_mut(&key) else {
            return Started::Refused(refused(503));
        };
        let proc = s.procs.get_or_insert_with(lane, || Proc {
            // TIME-3 / MOBILE-3: a lane without a running process gets a new, empty context.
            pid,
            ctx: Context {
                vars: leaked.unwrap_or_default(),
                ..Context::default()
            },
            busy: false,
            pending: None,
            ending: false,
            last_active: now,
        });
        if proc.pid == pid {
            self.next_pid += 1;
        }
        // An idle process leaves the timeout index while it works: busy, its entry is stale.
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
                procs: Procs::default(),
                counted_live: false,
                counted_procs: 0,
                lru_entry: None,
                dormant_entry: None,
            },
        );
        self.ids.insert(id, key);
        if let Some(d) = self.dev.as_deref_mut() {
            d.opened(req.ip, key);
        }
        key
    }

    /// REQ-6: a fresh random UUID v4, 32 uppercase hex digits, never a client's value.
    fn mint_id(&mut self, cookie: Option<&str>) -> Arc<str> {
        if let Some(d) = self.dev.as_deref_mut()
            && let Some(id) = d.mint_id(cookie, &self.ids)
        {
            return id;
        }
        let mut text = [0u8; uuid::fmt::Simple::LENGTH];
        loop {
            let id: Arc<str> = Arc::from(&*Uuid::new_v4().simple().encode_upper(&mut text));
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
        } = flight;
        let reads = self.run_actions(Who::Web { key, lane }, actions);
        let now = self.now;
        let drop_selections = self.deviates(Deviation::drops_selections);
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
            proc.ctx.selections.clear();
        }
        let pid = proc.pid;
        // CLOSE-4: the session was closed while this request ran.
        let closed_during = proc.pending.take();
        if closed_during.is_some() {
            // CLOSE-11 / CLOSE-12: the deferred hook, reset and process end.
            let hook = !self
                .dev
                .as_deref_mut()
                .is_some_and(|d| d.skips_deferred_hook(pid));
            self.end_process(key, lane, Cause::Close, hook);
        } else {
            // TIME-2: idle from the end of its request.
            self.idle.insert((now, key, lane));
            self.compact_idle();
            self.sync(key);
        }

        let name = self.options.cookie_name.clone();
        let mut set_cookies = Vec::new();
        // REQ-4 (SHOULD): the cookie's lifetime on the client is the session's slid
        // expiration, so every response of a live session sends it again.
        let lifetime_s = self
            .sessions
            .get(&key)
            .filter(|s| s.valid)
            .map_or(0, |s| s.expiration.saturating_sub(now));
        if opened {
            // REQ-1: announce the new session (a session closed or expired during its first
            // request still announces a live cookie: the expiring one, if any, follows).
            let announced_s = if lifetime_s > 0 {
                lifetime_s
            } else {
                self.options.cookie_timeout_s()
            };
            set_cookies.push(self.issue_cookie(&name, &id, announced_s));
        } else if closed_during.is_none()
            && lifetime_s > 0
            && !self.deviates(Deviation::keeps_first_cookie)
        {
            set_cookies.push(self.issue_cookie(&name, &id, lifetime_s));
        }
        if closed_during.is_some() {
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
        Ok(Response {
            status: 200,
            session_id: Some(id.to_string()),
            set_cookies,
            reads,
        })
    }

    fn issue_cookie(&self, name: &str, value: &str, lifetime_s: u64) -> SetCookie {
        SetCookie {
            name: name.to_string(),
            value: value.to_string(),
            expiring: false,
            raw: format!("{name}={value}; Path=/; SameSite=Strict; Max-Age={lifetime_s}"),
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

    pub(crate) fn run_action(&mut self, who: Who, action: &WireAction) -> WireRead {
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

    /// The ID text an action names (borrowed when the action spells it).
    fn resolve<'a>(&self, who: Who, id: &'a WireId) -> Cow<'a, str> {
        match id {
            WireId::Text(t) => Cow::Borrowed(t),
            WireId::Current => Cow::Owned(self.current_id(who)),
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
            ctx.note_lock(record);
        }
        self.locks.insert(record, holder);
        true
    }

    /// D5 / CLOSE-4: an existing session's expiration (even past), else the null date.
    fn expiration_of(&self, text: &str) -> Option<u64> {
        let key = self.existing(text)?;
        self.sessions.get(&key).map(|s| s.expiration)
    }

    // -----------------------------------------------------------------------------------------
    // The command
    // -----------------------------------------------------------------------------------------

    /// WEB LEGACY CLOSE SESSION (command 1208).
    fn close(&mut self, text: &str, caller: Caller) {
        if !self.legacy() && !self.deviates(Deviation::acts_in_scalable_mode) {
            // CLOSE-9: a no-op in scalable sessions mode.
            return;
        }
        let Some(key) = self.existing(text) else {
            self.dev_close_of_missing(text);
            // CLOSE-2 (unknown, closed, "", malformed, respelled) and CLOSE-10 (a close is
            // already pending: the ID no longer names an existing session): nothing happens.
            return;
        };
        if caller == (Caller::Hook { key }) && !self.deviates(Deviation::hook_close_own_closes) {
            // CLOSE-13: a session's hook closing that session is a no-op.
            return;
        }
        if caller == Caller::NonWeb && self.dev_race_begin(key) {
            // A race mutant took the close over; the caller unlocks, waits, finishes it.
            return;
        }
        if !self.deviates(Deviation::keeps_id_routable) {
            // CLOSE-1: invalidated at once, whoever calls (CLOSE-3).
            self.invalidate(key, true);
        }
        // A mutant may change the lanes (`close_lanes`): it gets them as a list. The reference
        // walks the live lanes in order, which is the same list: a close never starts a
        // process, and lanes a nested hook ended are skipped either way.
        let mut lanes: Option<std::vec::IntoIter<u8>> = self.dev.as_deref().map(|d| {
            let mut lanes: Vec<u8> = self
                .sessions
                .get(&key)
                .map(|s| s.procs.keys().copied().collect())
                .unwrap_or_default();
            d.close_lanes(&mut lanes);
            lanes.into_iter()
        });
        let mut from = 0u16;
        let mut hooked_one = false;
        // MOBILE-1 / MOBILE-2: every process of the session, lanes in order.
        loop {
            let next = match lanes.as_mut() {
                Some(list) => list.next(),
                None => self
                    .sessions
                    .get(&key)
                    .and_then(|s| s.procs.lane_from(from)),
            };
            let Some(lane) = next else {
                break;
            };
            from = u16::from(lane) + 1;
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
                if let Some(p) = self
                    .sessions
                    .get_mut(&key)
                    .and_then(|s| s.procs.get_mut(&lane))
                {
                    // CLOSE-11 (self-close) / CLOSE-12 (from elsewhere): hook and reset run
                    // when the request ends; its response expires the cookie (CLOSE-4).
                    p.pending = Some(self_close);
                }
                self.dev_closed_mid_request(key, lane, self_close);
                continue;
            }
            let hook = !self.deviates(|d| d.skips_hook(Cause::Close, hooked_one));
            // CLOSE-5 / CLOSE-6 / CLOSE-7: hook, then reset, then the process ends.
            self.end_process(key, lane, Cause::Close, hook);
            hooked_one |= hook;
        }
        // TIME-3: a session without a running process was only invalidated.
        self.sync(key);
    }

    // -----------------------------------------------------------------------------------------
    // Ending processes: hook, reset, end
    // -----------------------------------------------------------------------------------------

    /// Ends a process: its hook (when `hook`), then the reset, then the process is gone.
    fn end_process(&mut self, key: u64, lane: u8, cause: Cause, hook: bool) {
        if !self.begin_ending(key, lane) {
            return;
        }
        let mut failed = false;
        if hook {
            if self.deviates(Deviation::resets_before_hook) {
                self.clear_context(key, lane, cause, false);
            }
            // CLOSE-6: the hook sees the context before the reset.
            failed = self.run_hook(key, lane);
        }
        self.finish_process(key, lane, cause, failed);
    }

    /// Marks a process as ending (its hook may run; closes skip it) and takes it out of the
    /// timeout index. `false` when it is gone or already ending (INV-2: one end per process).
    pub(crate) fn begin_ending(&mut self, key: u64, lane: u8) -> bool {
        let Some(p) = self
            .sessions
            .get_mut(&key)
            .and_then(|s| s.procs.get_mut(&lane))
        else {
            return false;
        };
        if p.ending {
            return false;
        }
        // Ending, its timeout entry is stale (`idle_current`).
        p.ending = true;
        true
    }

    /// The reset and the end of an ending process whose hook has run (or was not to run).
    pub(crate) fn finish_process(&mut self, key: u64, lane: u8, cause: Cause, hook_failed: bool) {
        // CLOSE-7 / CLOSE-14: the reset happens even when the hook failed.
        self.clear_context(key, lane, cause, hook_failed);
        if let Some(s) = self.sessions.get_mut(&key) {
            s.procs.remove(&lane);
        }
        self.sync(key);
    }

    /// Logs a hook run with the process's current context.
    pub(crate) fn log_hook(&mut self, key: u64, lane: u8, failed: bool) -> Option<Arc<str>> {
        let reference = self.dev.is_none();
        let s = self.sessions.get_mut(&key)?;
        let p = s.procs.get_mut(&lane)?;
        // The reference's hook run is always followed by the reset (`end_process`), so the
        // context moves into the log, and its records go back to the lock table now: the
        // hook's own behaviour never reads its locks, and the reset would release them right
        // after it. A mutant may run a hook again or keep the context: it gets a copy.
        let snapshot = if reference {
            let ctx = std::mem::take(&mut p.ctx);
            release_locks(&mut self.locks, &ctx.locks, Owner::Web(p.pid));
            ContextSnapshot {
                vars: ctx.vars,
                selections: ctx.selections,
                locks: ctx.locks,
            }
        } else {
            p.ctx.snapshot()
        };
        let run = WireHookRun {
            session_id: s.id.to_string(),
            lane,
            snapshot,
            failed,
        };
        let id = s.id.clone();
        self.hook_log.push(run);
        Some(id)
    }

    /// Runs the hook in the session's own process: snapshot first, then its behaviour.
    /// Returns whether it failed (CLOSE-14: the caller goes on regardless).
    pub(crate) fn run_hook(&mut self, key: u64, lane: u8) -> bool {
        let behavior = self.hook.clone();
        let failed = behavior == WireHook::Fail;
        let Some(id) = self.log_hook(key, lane, failed) else {
            return false;
        };
        match behavior {
            WireHook::Save | WireHook::Fail => {}
            WireHook::Slow => self.slow_hooks = self.slow_hooks.saturating_add(1),
            // CLOSE-13: `Current` in the hook is its own ID; the close is a no-op.
            WireHook::CloseOwn => self.close(&id, Caller::Hook { key }),
            // A nested close: that session's hook runs after this one's snapshot.
            WireHook::Close(other) => self.close(&other, Caller::Hook { key }),
        }
        failed
    }

    /// CLOSE-7: clear variables and selections, release the process's locks.
    pub(crate) fn clear_context(&mut self, key: u64, lane: u8, cause: Cause, hook_failed: bool) {
        let keep_locks = self.deviates(|d| d.keeps_locks(cause, hook_failed));
        let Some(p) = self
            .sessions
            .get_mut(&key)
            .and_then(|s| s.procs.get_mut(&lane))
        else {
            return;
        };
        let ctx = std::mem::take(&mut p.ctx);
        if !keep_locks {
            release_locks(&mut self.locks, &ctx.locks, Owner::Web(p.pid));
        }
        if let Some(d) = self.dev.as_deref_mut() {
            d.context_cleared(cause, ctx.vars, &mut self.ipvars);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Clock and options
    // -----------------------------------------------------------------------------------------

    fn advance(&mut self, seconds: u64) {
        self.now = self.now.saturating_add(seconds);
        if self.legacy() {
            let timeout = self
                .dev(|d| d.process_timeout_s(&self.options))
                .unwrap_or_else(|| self.options.process_timeout_s());
            // TIME-2: idle processes whose `now - last activity >= timeout`, in due-time,
            // then session, then lane order. Hooks may end other entries; re-read each time.
            while let Some(&(last, key, lane)) = self.idle.first() {
                if !idle_current(&self.sessions, &(last, key, lane)) {
                    self.idle.pop_first();
                    continue;
                }
                if self.now.saturating_sub(last) < timeout {
                    break;
                }
                self.idle.remove(&(last, key, lane));
                self.end_process(key, lane, Cause::Timeout, true);
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
        if self.deviates(|d| d.ignores_zero(option)) {
            return Ok(());
        }
        // D4's value rules (defaults restored, ignored values) are the settings' own.
        self.options.set(option);
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
        self.procs = 0;
        self.lru.clear();
        self.idle.clear();
        self.dormant.clear();
        self.locks.clear();
        self.ipvars.clear();
        self.nonweb.clear();
        if let Some(d) = self.dev.as_deref_mut() {
            d.restart();
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
        let mut w = World::new(WorldConfig::default(), Limits::SPEC, None);
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
