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
//!   `self.deviates(..)`, `self.dev_*(..)`) whose `None` / `false` is the reference's own answer.
//! - Race mutants split a non-web close into two critical sections with the lock released in
//!   between ([`RACE_WINDOW`]); only they ever do. Sequentially the two halves run back to
//!   back and nothing observable differs from the reference.
//!
//! Files: this one holds the trait's implementation, the state, the clock and the options;
//! `requests.rs` routing, the limits and a request's begin and end; `actions.rs` what runs in
//! a context; `close.rs` the command, the hook and the reset; `index.rs` the upkeep of the
//! counts and ordered indexes; `hash.rs`, `ids.rs` and `procs.rs` the containers.

mod actions;
mod close;
mod hash;
mod ids;
mod index;
mod procs;
mod requests;

pub(crate) use hash::FastMap;
pub(crate) use ids::Ids;
use index::idle_current;
use procs::Procs;

use crate::mutants::deviation::Deviation;
use crate::options::Settings;
use crate::plugin::{
    Begun, Capabilities, Response, Sut, SutError, WireAction, WireHook, WireHookRun, WireProc,
    WireRead, WireRequest,
};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wlcs_model::vocab::{
    ContextSnapshot, Ip, OptionSet, RecordRef, SessionMode, Slot, Table, TimeoutProfile, VarName,
    WorldConfig,
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
                .map(|(record, holder)| (*record, holder.wire(w)))
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
    #[inline]
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

/// A lock table entry: who holds the record, with what `locks()` reports about it (a web
/// holder's session by key: its ID is read when the table is asked for, so taking and
/// releasing a lock touches no reference count).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Holder {
    Web { pid: u64, key: u64, lane: u8 },
    NonWeb(u8),
}

impl Holder {
    #[inline]
    pub(crate) fn owner(&self) -> Owner {
        match self {
            Holder::Web { pid, .. } => Owner::Web(*pid),
            Holder::NonWeb(n) => Owner::NonWeb(*n),
        }
    }

    /// What `locks()` reports: a web holder's session ID is its session's, or, for a session
    /// already forgotten (only a mutant keeps locks past its session's end), the retired ID.
    fn wire(&self, world: &World) -> WireProc {
        match self {
            Holder::Web { key, lane, .. } => WireProc::Web {
                session_id: world
                    .sessions
                    .get(key)
                    .map(|s| &s.id)
                    .or_else(|| world.retired_ids.get(key))
                    .map_or_else(|| format!("<forgotten session {key}>"), |id| id.to_string()),
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
    /// lazy: entries that are not [`lru_current`](index::lru_current) are skipped, and
    /// dropped in bulk.
    pub(crate) lru: BTreeSet<(u64, u64)>,
    /// Idle processes by (last activity, session creation, lane): due-time order for any
    /// single process timeout value. Removal is lazy, as for `lru` ([`idle_current`]).
    pub(crate) idle: BTreeSet<(u64, u64, u8)>,
    /// Valid sessions without a running process (`timeout-keeps-id`), by (expiration, key).
    pub(crate) dormant: BTreeSet<(u64, u64)>,
    pub(crate) locks: FastMap<RecordRef, Holder>,
    /// The IDs of forgotten sessions, kept for a mutant's lock holders only (the reference
    /// releases every lock before a session is forgotten: CLOSE-7).
    pub(crate) retired_ids: FastMap<u64, Arc<str>>,
    pub(crate) ipvars: BTreeMap<VarName, i64>,
    pub(crate) nonweb: FastMap<u8, Context>,
    slots: FastMap<Slot, Flight>,
    /// `Slow` hook runs of the current call, served after unlocking.
    pub(crate) slow_hooks: u32,
    /// An internal mutant's state and seams (`crate::mutants::deviation`); `None`: the
    /// reference.
    pub(crate) dev: Option<Box<Deviation>>,
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
            retired_ids: FastMap::default(),
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

    #[inline]
    fn legacy(&self) -> bool {
        self.options.mode == SessionMode::Legacy
    }

    /// TIME-3: which profile applies.
    #[inline]
    fn keeps_id(&self) -> bool {
        let keeps = self.config.profile.timeout == TimeoutProfile::KeepsId;
        self.dev(|d| d.keeps_id(keeps)).unwrap_or(keeps)
    }

    /// TIME-1: a cookie is expired when `now >= expiration`.
    #[inline]
    fn expired(&self, expiration: u64) -> bool {
        if let Some(expired) = self.dev(|d| d.expired(self.now, expiration)) {
            return expired;
        }
        self.now >= expiration
    }

    /// The session an exact ID names, if it exists: valid and either running a process or,
    /// under `timeout-keeps-id`, with an unexpired cookie (TIME-3).
    #[inline]
    fn existing(&self, text: &str) -> Option<u64> {
        let key = *self.ids.get(text)?;
        let s = self.sessions.get(&key)?;
        let exists = !s.procs.is_empty() || (self.keeps_id() && !self.expired(s.expiration));
        exists.then_some(key)
    }

    /// The session a cookie routes to: existing and its cookie unexpired (REQ-2, TIME-1).
    #[inline]
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
        self.retired_ids.clear();
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
