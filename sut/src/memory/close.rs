//! WEB LEGACY CLOSE SESSION and the end of a process: the command (CLOSE-1..3, CLOSE-9..13,
//! MOBILE-1/2), then the hook and the reset (CLOSE-5..7, CLOSE-14).

use super::{Caller, Cause, FastMap, Holder, Owner, World};
use crate::mutants::deviation::Deviation;
use crate::plugin::{WireHook, WireHookRun};
use wlcs_model::vocab::{ContextSnapshot, RecordRef};

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

/// The lanes a close walks, one at a time: a mutant's list, or (the reference) the
/// session's live lanes in order from `from`, re-read at each step since a hook may end some.
struct CloseLanes {
    list: Option<std::vec::IntoIter<u8>>,
    from: u16,
}

impl CloseLanes {
    /// The next lane to close, if any.
    #[inline]
    fn next(&mut self, world: &World, key: u64) -> Option<u8> {
        let lane = match self.list.as_mut() {
            Some(list) => list.next(),
            None => world
                .sessions
                .get(&key)
                .and_then(|s| s.procs.lane_from(self.from)),
        }?;
        self.from = u16::from(lane) + 1;
        Some(lane)
    }
}

impl World {
    /// WEB LEGACY CLOSE SESSION (command 1208).
    pub(super) fn close(&mut self, text: &str, caller: Caller) {
        let Some(key) = self.close_target(text, caller) else {
            return;
        };
        if !self.deviates(Deviation::keeps_id_routable) {
            // CLOSE-1: invalidated at once, whoever calls (CLOSE-3).
            self.invalidate(key, true);
        }
        let mut lanes = self.close_lanes(key);
        let mut hooked_one = false;
        // MOBILE-1 / MOBILE-2: every process of the session, lanes in order.
        while let Some(lane) = lanes.next(self, key) {
            hooked_one |= self.close_lane(key, lane, caller, hooked_one);
        }
        // TIME-3: a session without a running process was only invalidated.
        self.sync(key);
    }

    /// The session a close acts on, or `None` when the close does nothing here (or a race
    /// mutant took it over).
    fn close_target(&mut self, text: &str, caller: Caller) -> Option<u64> {
        if !self.legacy() && !self.deviates(Deviation::acts_in_scalable_mode) {
            // CLOSE-9: a no-op in scalable sessions mode.
            return None;
        }
        let Some(key) = self.existing(text) else {
            self.dev_close_of_missing(text);
            // CLOSE-2 (unknown, closed, "", malformed, respelled) and CLOSE-10 (a close is
            // already pending: the ID no longer names an existing session): nothing happens.
            return None;
        };
        if caller == (Caller::Hook { key }) && !self.deviates(Deviation::hook_close_own_closes) {
            // CLOSE-13: a session's hook closing that session is a no-op.
            return None;
        }
        if caller == Caller::NonWeb && self.dev_race_begin(key) {
            // A race mutant took the close over; the caller unlocks, waits, finishes it.
            return None;
        }
        Some(key)
    }

    /// The lanes a close walks. A mutant may change the lanes (`Deviation::close_lanes`): it
    /// gets them as a list. The reference walks the live lanes in order, which is the same
    /// list: a close never starts a process, and lanes a nested hook ended are skipped either
    /// way.
    fn close_lanes(&self, key: u64) -> CloseLanes {
        let list = self.dev.as_deref().map(|d| {
            let mut lanes: Vec<u8> = self
                .sessions
                .get(&key)
                .map(|s| s.procs.keys().copied().collect())
                .unwrap_or_default();
            d.close_lanes(&mut lanes);
            lanes.into_iter()
        });
        CloseLanes { list, from: 0 }
    }

    /// Closes one lane of the session: a running request's lane gets the close pending, an
    /// idle process ends with its hook (unless `hooked_one` and a mutant skips it). Returns
    /// whether its hook ran.
    fn close_lane(&mut self, key: u64, lane: u8, caller: Caller, hooked_one: bool) -> bool {
        let Some(p) = self.sessions.get(&key).and_then(|s| s.procs.get(&lane)) else {
            // A nested hook (an earlier lane's) already ended it.
            return false;
        };
        if p.ending {
            // Its own hook is on the stack; that frame finishes its reset (INV-2).
            return false;
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
            return false;
        }
        let hook = !self.deviates(|d| d.skips_hook(Cause::Close, hooked_one));
        // CLOSE-5 / CLOSE-6 / CLOSE-7: hook, then reset, then the process ends.
        self.end_process(key, lane, Cause::Close, hook);
        hook
    }

    /// Ends a process: its hook (when `hook`), then the reset, then the process is gone.
    pub(super) fn end_process(&mut self, key: u64, lane: u8, cause: Cause, hook: bool) {
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

    /// Logs a hook run with the process's current context; `false` when the process is gone.
    pub(crate) fn log_hook(&mut self, key: u64, lane: u8, failed: bool) -> bool {
        let reference = self.dev.is_none();
        let Some(s) = self.sessions.get_mut(&key) else {
            return false;
        };
        let Some(p) = s.procs.get_mut(&lane) else {
            return false;
        };
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
        self.hook_log.push(run);
        true
    }

    /// Runs the hook in the session's own process: snapshot first, then its behaviour.
    /// Returns whether it failed (CLOSE-14: the caller goes on regardless).
    pub(crate) fn run_hook(&mut self, key: u64, lane: u8) -> bool {
        let failed = self.hook == WireHook::Fail;
        if !self.log_hook(key, lane, failed) {
            return false;
        }
        match &self.hook {
            WireHook::Save | WireHook::Fail => {}
            WireHook::Slow => self.slow_hooks = self.slow_hooks.saturating_add(1),
            // CLOSE-13: `Current` in the hook is its own ID; the close is a no-op.
            WireHook::CloseOwn => {
                if let Some(id) = self.sessions.get(&key).map(|s| s.id.clone()) {
                    self.close(&id, Caller::Hook { key });
                }
            }
            // A nested close: that session's hook runs after this one's snapshot.
            WireHook::Close(other) => {
                let other = other.clone();
                self.close(&other, Caller::Hook { key });
            }
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
}
