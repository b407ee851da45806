//! Internal mutants ([`super::Kind::Deviate`], [`super::Kind::Race`]): deviations of the
//! reference's internal state (IDs minted, locks kept, eviction order, clocks, the close's
//! atomicity) that no decorator at the trait boundary can express.
//!
//! Everything a mutant of these kinds needs lives here: its state ([`Deviation`]) and its
//! code. The reference ([`crate::memory`]) holds one field, `dev: Option<Box<Deviation>>`,
//! and enters this file through short seams, each one line at the branch a mutant breaks:
//! - queries on [`Deviation`] (`self.dev(|d| d.expired(now, expiration))`,
//!   `self.deviates(|d| d.keeps_id_routable())`): `None` / `false` is the reference's answer,
//!   so the reference's own code stays the whole of the correct path;
//! - `dev_*` methods on the world (`impl World` below) for the mutants that act on it.
//!
//! The race mutants' split close ([`MemorySut::non_web_split`], `race_begin`, `race_finish`)
//! reuses the reference's pieces of ending a process (`begin_ending`, `run_hook`,
//! `finish_process`) rather than a copy of them.

use super::Mutant;
use crate::memory::{Cause, Ids, MemorySut, Owner, RACE_WINDOW, Who, World};
use crate::options::Settings;
use crate::plugin::{SutError, WireAction, WireHook, WireHookRun, WireRead};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::{Builder, Uuid};
use wlcs_model::vocab::{ContextSnapshot, Ip, OptionSet, VarName};

/// The fixed bits of the REQ-6 ID mutants: random-looking (letters and digits, so a respelled
/// ID is another text), the same in every ID; the low 32 (counter, random) or 64 (clock) bits
/// vary.
const FIXED_ID_BITS: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060 << 32;
/// The low 64 bits.
const LOW_64_BITS: u128 = u64::MAX as u128;

/// The state of one internal mutant, fresh at every reset.
#[derive(Clone, Debug)]
pub struct Deviation {
    mutant: Mutant,
    /// IDs the command closed, with their session (`second-close-reruns-hook`,
    /// `recycles-closed-ids`).
    closed: HashMap<Arc<str>, u64>,
    /// Closed IDs to hand out again (`recycles-closed-ids`).
    recycled: Vec<Arc<str>>,
    /// The last counter ID (`ids-repeat-after-restart`, `ids-from-counter`) or clock reading
    /// (`ids-from-clock`).
    id_counter: u64,
    /// The last legacy session opened from each IP (`no-cookie-joins-ip-session`).
    last_by_ip: HashMap<Ip, u64>,
    /// The last reset context's variables (`vars-leak-to-new-session`).
    leaked_vars: Option<BTreeMap<VarName, i64>>,
    /// Processes whose close ran their hook and reset mid-request (`*-resets-mid-request`).
    hooked_early: BTreeSet<u64>,
    /// A race mutant's half-done close, handed to the caller (who unlocks) at once.
    race: Option<RacePlan>,
}

/// The second half of a race mutant's close, run after [`RACE_WINDOW`].
#[derive(Clone, Debug)]
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

impl Deviation {
    /// A fresh deviation for an internal mutant.
    pub(crate) fn new(mutant: Mutant) -> Deviation {
        Deviation {
            mutant,
            closed: HashMap::new(),
            recycled: Vec::new(),
            id_counter: 0,
            last_by_ip: HashMap::new(),
            leaked_vars: None,
            hooked_early: BTreeSet::new(),
            race: None,
        }
    }

    /// The same mutant with fresh state (what a reset starts from).
    pub(crate) fn fresh(&self) -> Box<Deviation> {
        Box::new(Deviation::new(self.mutant))
    }

    fn is(&self, mutant: Mutant) -> bool {
        self.mutant == mutant
    }

    /// Whether the mutant splits a non-web close in two critical sections.
    pub(crate) fn is_race(&self) -> bool {
        self.mutant.is_race()
    }

    /// MUTANT TIME-3 (`wrong-timeout-profile`): the other reading.
    pub(crate) fn keeps_id(&self, keeps: bool) -> Option<bool> {
        self.is(Mutant::WrongTimeoutProfile).then_some(!keeps)
    }

    /// MUTANT TIME-1 (`expiry-boundary-off-by-one`): the boundary instant still counts as
    /// valid.
    pub(crate) fn expired(&self, now: u64, expiration: u64) -> Option<bool> {
        self.is(Mutant::ExpiryBoundaryOffByOne)
            .then_some(now > expiration)
    }

    /// MUTANT TIME-1 (`expired-cookie-accepted`): a running process still answers its expired
    /// cookie.
    pub(crate) fn routes_expired_cookie(&self) -> bool {
        self.is(Mutant::ExpiredCookieAccepted)
    }

    /// The command invalidated `id` (CLOSE-1).
    pub(crate) fn closed_by_command(&mut self, id: &Arc<str>, key: u64) {
        if self.is(Mutant::SecondCloseRerunsHook) || self.is(Mutant::RecyclesClosedIds) {
            self.closed.insert(id.clone(), key);
        }
        if self.is(Mutant::RecyclesClosedIds) {
            // MUTANT INV-3: the closed ID goes back into a pool of IDs to hand out.
            self.recycled.push(id.clone());
        }
    }

    /// MUTANT CLOSE-13 (`hook-close-own-invalidates-id`, reading invalidates-id): a hook's
    /// close of its own session closes it like any other close (its own lane, ending, is
    /// skipped): after a process timeout the ID is invalidated.
    pub(crate) fn hook_close_own_closes(&self) -> bool {
        self.is(Mutant::HookCloseOwnInvalidatesId)
    }

    /// MUTANT INV-5 (`limit-off-by-one`): evicts only once the limit is exceeded.
    pub(crate) fn over_sessions(&self, live: usize, limit: usize) -> Option<bool> {
        self.is(Mutant::LimitOffByOne).then_some(live > limit)
    }

    /// MUTANT LIMIT-2 (`process-cap-at-max`): the cap is max processes, not max - 1.
    pub(crate) fn over_processes(&self, procs: usize, max_processes: u32) -> Option<bool> {
        self.is(Mutant::ProcessCapAtMax)
            .then(|| procs >= usize::try_from(max_processes).unwrap_or(usize::MAX))
    }

    /// MUTANT LIMIT-1 (`evicts-most-recent`): most recently active first.
    pub(crate) fn evicts_most_recent(&self) -> bool {
        self.is(Mutant::EvictsMostRecent)
    }

    /// MUTANT REQ-4 (`set-cookie-only-first-response`): the slid lifetime is not sent again.
    pub(crate) fn keeps_first_cookie(&self) -> bool {
        self.is(Mutant::SetCookieOnlyFirstResponse)
    }

    /// MUTANT REQ-4 (`option-zero-ignored`): WEB SET OPTION with 0 for selectors 71, 72 and
    /// 78 is ignored instead of restoring the default.
    pub(crate) fn ignores_zero(&self, option: &OptionSet) -> bool {
        self.is(Mutant::OptionZeroIgnored)
            && matches!(
                option,
                OptionSet::MaxSessions(0)
                    | OptionSet::CookieTimeoutMin(0)
                    | OptionSet::ProcessTimeoutMin(0)
            )
    }

    /// MUTANT LIMIT-2 (`never-503`): opens the session over the limit.
    pub(crate) fn opens_over_limit(&self) -> bool {
        self.is(Mutant::Never503)
    }

    /// Whether an ended process skips its hook: MUTANT INV-2 (`eviction-skips-hook`), MUTANT
    /// CLOSE-5 (`close-skips-hook`), MUTANT MOBILE-2 (`mobile-one-hook`: one per close,
    /// `hooked_one` says whether this close ran one).
    pub(crate) fn skips_hook(&self, cause: Cause, hooked_one: bool) -> bool {
        match cause {
            Cause::Evict => self.is(Mutant::EvictionSkipsHook),
            Cause::Close => {
                self.is(Mutant::CloseSkipsHook) || (hooked_one && self.is(Mutant::MobileOneHook))
            }
            Cause::Timeout => false,
        }
    }

    /// Whether the deferred close at a request's end skips the hook: MUTANT CLOSE-5, or the
    /// mid-request mutants' process already ran it.
    pub(crate) fn skips_deferred_hook(&mut self, pid: u64) -> bool {
        self.hooked_early.remove(&pid) || self.is(Mutant::CloseSkipsHook)
    }

    /// MUTANT INV-4 (`vars-leak-to-new-session`): a recycled context still holds the last
    /// reset process's variables.
    pub(crate) fn take_leaked_vars(&mut self) -> Option<BTreeMap<VarName, i64>> {
        self.leaked_vars.take()
    }

    /// MUTANT REQ-4 (`expiration-does-not-slide`).
    pub(crate) fn keeps_expiration(&self) -> bool {
        self.is(Mutant::ExpirationDoesNotSlide)
    }

    /// A new legacy session opened from `ip` (`no-cookie-joins-ip-session` remembers it).
    pub(crate) fn opened(&mut self, ip: Ip, key: u64) {
        if self.is(Mutant::NoCookieJoinsIpSession) {
            self.last_by_ip.insert(ip, key);
        }
    }

    /// The ID mutants of REQ-3, REQ-6 and INV-3: `None` mints the reference's ID.
    pub(crate) fn mint_id(&mut self, cookie: Option<&str>, ids: &Ids) -> Option<Arc<str>> {
        match self.mutant {
            // MUTANT INV-3: closed IDs are handed out again.
            Mutant::RecyclesClosedIds => {
                std::iter::from_fn(|| self.recycled.pop()).find(|id| !ids.contains_key(id))
            }
            // MUTANT REQ-3: session fixation, the client's value becomes the ID.
            Mutant::AdoptsClientId => cookie
                .filter(|v| !v.is_empty() && !ids.contains_key(v))
                .map(Arc::from),
            // MUTANT REQ-6: a counter that restarts with the server.
            Mutant::IdsRepeatAfterRestart => {
                self.id_counter += 1;
                Some(Arc::from(format!("{:032X}", self.id_counter)))
            }
            // MUTANT REQ-6: a counter that never repeats, dressed as a UUID v4.
            Mutant::IdsFromCounter => {
                self.id_counter += 1;
                Some(uuid_like(
                    FIXED_ID_BITS.wrapping_add(u128::from(self.id_counter)),
                ))
            }
            // MUTANT REQ-6: the wall clock in nanoseconds (strictly increasing), dressed as a
            // UUID v4.
            Mutant::IdsFromClock => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
                self.id_counter = now.max(self.id_counter.saturating_add(1));
                Some(uuid_like(
                    (FIXED_ID_BITS & !LOW_64_BITS) | u128::from(self.id_counter),
                ))
            }
            // MUTANT REQ-6: 32 random bits, the other 90 fixed, dressed as a UUID v4.
            Mutant::Ids32RandomBits => loop {
                let random = Uuid::new_v4().as_u128() & u128::from(u32::MAX);
                let id = uuid_like(FIXED_ID_BITS | random);
                if !ids.contains_key(&id) {
                    break Some(id);
                }
            },
            _ => None,
        }
    }

    /// MUTANT REQ-2 (`selections-dropped-between-requests`).
    pub(crate) fn drops_selections(&self) -> bool {
        self.is(Mutant::SelectionsDroppedBetweenRequests)
    }

    /// MUTANT CLOSE-9 (`acts-in-scalable-mode`).
    pub(crate) fn acts_in_scalable_mode(&self) -> bool {
        self.is(Mutant::ActsInScalableMode)
    }

    /// MUTANT CLOSE-1 (`close-keeps-id-routable`): the ID keeps naming the session.
    pub(crate) fn keeps_id_routable(&self) -> bool {
        self.is(Mutant::CloseKeepsIdRoutable)
    }

    /// The lanes a close ends, in order.
    pub(crate) fn close_lanes(&self, lanes: &mut Vec<u8>) {
        if self.is(Mutant::Canary) {
            // CANARY: reverse, then restore lane order; nothing observable.
            lanes.reverse();
            lanes.sort_unstable();
        }
        if self.is(Mutant::MobileCloseEndsOneLane) {
            // MUTANT MOBILE-1: only the first process ends.
            lanes.truncate(1);
        }
    }

    /// MUTANT CLOSE-6 (`hook-after-reset`): the reset comes first, the hook sees nothing.
    pub(crate) fn resets_before_hook(&self) -> bool {
        self.is(Mutant::HookAfterReset)
    }

    /// MUTANT CLOSE-7 / INV-1 / CLOSE-14: the ended process still owns its records.
    pub(crate) fn keeps_locks(&self, cause: Cause, hook_failed: bool) -> bool {
        (cause == Cause::Close && self.is(Mutant::CloseKeepsLocks))
            || (cause == Cause::Timeout && self.is(Mutant::TimeoutKeepsLocks))
            || (hook_failed && self.is(Mutant::FailingHookAbortsClose))
    }

    /// A process's context was reset (CLOSE-7).
    pub(crate) fn context_cleared(
        &mut self,
        cause: Cause,
        vars: BTreeMap<VarName, i64>,
        ipvars: &mut BTreeMap<VarName, i64>,
    ) {
        if self.is(Mutant::VarsLeakToNewSession) && !vars.is_empty() {
            // MUTANT INV-4: the context goes back to a pool uncleared.
            self.leaked_vars = Some(vars);
        }
        if cause == Cause::Close && self.is(Mutant::CloseResetsIpVars) {
            // MUTANT CLOSE-7: interprocess variables are not the session's to reset.
            ipvars.clear();
        }
    }

    /// MUTANT TIME-4 (`process-timeout-follows-cookie`): one timer for both.
    pub(crate) fn process_timeout_s(&self, options: &Settings) -> Option<u64> {
        self.is(Mutant::ProcessTimeoutFollowsCookie)
            .then(|| options.cookie_timeout_s())
    }

    /// A restart (mode change): the mutant's state goes with the world's.
    pub(crate) fn restart(&mut self) {
        let counter = self.id_counter;
        *self = Deviation::new(self.mutant);
        if !self.is(Mutant::IdsRepeatAfterRestart) {
            // Only that mutant's counter starts over (MUTANT REQ-6).
            self.id_counter = counter;
        }
    }
}

/// 128 bits formatted as the reference formats its IDs, with the version (4) and variant
/// nibbles of a UUID v4 set, so only a statistical or structural check tells them apart.
fn uuid_like(bits: u128) -> Arc<str> {
    let uuid = Builder::from_random_bytes(bits.to_be_bytes()).into_uuid();
    Arc::from(format!("{:X}", uuid.simple()))
}

impl World {
    /// MUTANT REQ-5 (`refused-request-slides-expiration`): the refused request still slides
    /// the cookie.
    pub(crate) fn dev_refused_request(&mut self, key: u64) {
        if !self
            .dev
            .as_deref()
            .is_some_and(|d| d.is(Mutant::RefusedRequestSlides))
        {
            return;
        }
        let expiration = self.now + self.options.cookie_timeout_s();
        if let Some(s) = self.sessions.get_mut(&key) {
            s.expiration = expiration;
        }
        self.sync(key);
    }

    /// MUTANT REQ-1 (`no-cookie-joins-ip-session`): a request without a cookie joins the last
    /// legacy session opened from its IP. `None`: a new session, as the reference does.
    pub(crate) fn dev_route_without_cookie(&self, ip: Ip) -> Option<u64> {
        let d = self.dev.as_deref()?;
        if !d.is(Mutant::NoCookieJoinsIpSession) {
            return None;
        }
        let key = *d.last_by_ip.get(&ip)?;
        let s = self.sessions.get(&key)?;
        let idle = s.procs.get(&0).is_some_and(|p| !p.busy);
        (s.valid && !s.mobile && idle && self.routable(&s.id) == Some(key)).then_some(key)
    }

    /// MUTANT CLOSE-10 (`second-close-reruns-hook`): a close of an ID whose close is pending
    /// runs the hook again now.
    pub(crate) fn dev_close_of_missing(&mut self, text: &str) {
        let Some(d) = self.dev.as_deref() else {
            return;
        };
        if !d.is(Mutant::SecondCloseRerunsHook) {
            return;
        }
        let Some(&key) = d.closed.get(text) else {
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

    /// MUTANT CLOSE-11 / CLOSE-12 (`self-close-resets-mid-request`,
    /// `remote-close-resets-mid-request`): a close of a busy process runs its hook and reset
    /// at once; the deferred end at the request's end then skips the hook.
    pub(crate) fn dev_closed_mid_request(&mut self, key: u64, lane: u8, self_close: bool) {
        let Some(d) = self.dev.as_deref() else {
            return;
        };
        let now = if self_close {
            d.is(Mutant::SelfCloseResetsMidRequest)
        } else {
            d.is(Mutant::RemoteCloseResetsMidRequest)
        };
        let pid = self
            .sessions
            .get(&key)
            .and_then(|s| s.procs.get(&lane))
            .map(|p| p.pid);
        let (true, Some(pid)) = (now, pid) else {
            return;
        };
        self.run_hook(key, lane);
        self.clear_context(key, lane, Cause::Close, false);
        if let Some(d) = self.dev.as_deref_mut() {
            d.hooked_early.insert(pid);
        }
    }

    /// Race mutants: the first half of a close, under the lock, when this close takes the
    /// split path. Only the plain case does (an idle legacy session, a hook that closes
    /// nothing), so everything else stays the reference's, and sequential traces see no
    /// difference. Returns whether it took the close over.
    pub(crate) fn dev_race_begin(&mut self, key: u64) -> bool {
        let Some(d) = self.dev.as_deref() else {
            return false;
        };
        if !d.is_race() || d.race.is_some() {
            return false;
        }
        if !matches!(self.hook, WireHook::Save | WireHook::Fail | WireHook::Slow) {
            return false;
        }
        let Some((pid, id, snapshot)) = self.sessions.get(&key).and_then(|s| {
            let p = s.procs.get(&0)?;
            let plain =
                !s.mobile && s.procs.len() == 1 && !p.busy && !p.ending && p.pending.is_none();
            plain.then(|| (p.pid, s.id.clone(), p.ctx.snapshot()))
        }) else {
            return false;
        };
        let mutant = d.mutant;
        let mut plan = RacePlan {
            key,
            pid,
            id,
            snapshot,
            failed: false,
        };
        match mutant {
            // MUTANT CLOSE-10: checks that the session exists and snapshots it for the hook,
            // but marks nothing: a concurrent close passes the same check.
            Mutant::RacyDoubleHook => {}
            // MUTANT CLOSE-1: the hook runs now, the ID stays valid until the second half, so
            // a request in the window still reaches the context the hook already saved.
            Mutant::RacyLateInvalidation => {
                self.begin_ending(key, 0);
                plan.failed = self.run_hook(key, 0);
            }
            // MUTANT CLOSE-6: invalidated, then the locks go back to the table before the hook
            // has run; the process's own index keeps them, so its hook still lists them.
            _ => {
                self.invalidate(key, true);
                self.begin_ending(key, 0);
                let me = Owner::Web(pid);
                self.locks.retain(|_, h| h.owner() != me);
            }
        }
        if let Some(d) = self.dev.as_deref_mut() {
            d.race = Some(plan);
        }
        true
    }

    /// Race mutants: the second half of a close, after the window, under the lock.
    fn race_finish(&mut self, plan: RacePlan) {
        let Some(mutant) = self.dev.as_deref().map(|d| d.mutant) else {
            return;
        };
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
        if mutant == Mutant::RacyDoubleHook {
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
        }
        if !alive {
            return;
        }
        match mutant {
            Mutant::RacyDoubleHook => {
                self.invalidate(key, true);
                self.begin_ending(key, 0);
            }
            Mutant::RacyLateInvalidation => self.invalidate(key, true),
            _ => failed = self.run_hook(key, 0),
        }
        // A request in the window (racy-late-invalidation) put it back in the timeout index.
        if let Some(p) = self.sessions.get(&key).and_then(|s| s.procs.get(&0))
            && !p.busy
        {
            self.idle.remove(&(p.last_active, key, 0));
        }
        // CLOSE-7: the reset and the end of the process, as `end_process` does after its hook.
        self.finish_process(key, 0, Cause::Close, failed);
    }
}

impl MemorySut {
    /// Race mutants only: one critical section per action, so that a close can leave the
    /// world unlocked between its two halves (CLOSE-10 broken on purpose). Non-web actions
    /// only touch the process's own context, so splitting them changes nothing by itself.
    pub(crate) fn non_web_split(
        &self,
        process: u8,
        actions: &[WireAction],
    ) -> Result<Vec<WireRead>, SutError> {
        let mut reads = Vec::with_capacity(actions.len());
        for action in actions {
            let (read, plan) = self.with(|w| {
                let read = w.run_action(Who::NonWeb(process), action);
                Ok((read, w.dev.as_deref_mut().and_then(|d| d.race.take())))
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
