//! WEB LEGACY CLOSE SESSION and the end of a process: the command (CLOSE-1..3, CLOSE-9..13,
//! MOBILE-1), then the hook and the reset (CLOSE-5..7, CLOSE-14).

use super::{Caller, Context, HOOK_DEPTH_MAX, IdState, Model, Out, SessionKind};
use crate::obs::HookRun;
use crate::rules::{RuleId, RuleSet};
use crate::vocab::{
    Close11Reading, Close12Reading, Close13Reading, Close14Reading, HookBehavior, IdText, ProcRef,
    SessionRef,
};

/// One close under way, past its no-op checks: what each of its lanes' ends needs to know.
struct Closing {
    target: SessionRef,
    caller: Caller,
    kind: SessionKind,
    /// A non-web caller, or the web process of another session (CLOSE-3).
    other_caller: bool,
    /// What every hook of this close answers to besides its cause.
    also: RuleSet,
}

impl Model {
    /// WEB LEGACY CLOSE SESSION.
    pub(super) fn close(&mut self, id: &IdText, caller: Caller, out: &mut Out) {
        let Some(target) = self.close_target(id, caller, out) else {
            return;
        };
        let closing = self.invalidate(target, caller, out);
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
                self.close_mid_request(&closing, lane, out);
            } else {
                let cause = match closing.kind {
                    SessionKind::Mobile => RuleId::Mobile2,
                    _ if closing.other_caller => RuleId::Close3,
                    _ => RuleId::Close5,
                };
                self.end_process(target, lane, cause, RuleId::Close7, closing.also, out);
            }
        }
    }

    /// The session a close acts on, or `None` when the close is a no-op (the rule that says
    /// so has fired): an ID naming nothing, a session that no longer exists, a session's own
    /// hook closing it.
    fn close_target(&self, id: &IdText, caller: Caller, out: &mut Out) -> Option<SessionRef> {
        let target = self.resolve(id, caller);
        let Some(target) = target else {
            // CLOSE-2: names no session at all.
            out.fire(RuleId::Close2);
            return None;
        };
        if matches!(caller, Caller::Hook { session, .. } if session == target) {
            // CLOSE-13: a close from inside the session's own hook is a no-op; under the
            // reading invalidates-id it is a close like any other, except that the running
            // hook is not run again (its lane is on the hook stack: `close` skips it).
            out.fire(RuleId::Close13);
            if self.readings.close_13 == Close13Reading::NoOp {
                return None;
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
            return None;
        }
        Some(target)
    }

    /// The close's first effect, the ID invalidated (CLOSE-1), and what its hooks answer to:
    /// another caller's close (CLOSE-3), a 4D Mobile session's (MOBILE-1).
    fn invalidate(&mut self, target: SessionRef, caller: Caller, out: &mut Out) -> Closing {
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
        let mut also = RuleSet::of(&[RuleId::Close5]);
        if other_caller {
            also.insert(RuleId::Close3);
        }
        if kind == SessionKind::Mobile {
            also.insert(RuleId::Mobile1);
        }
        Closing {
            target,
            caller,
            kind,
            other_caller,
            also,
        }
    }

    /// A close of a lane running a request: its own request's (CLOSE-11) or another's
    /// (CLOSE-12). The hook and reset wait for the request's end, or run now under the
    /// reading reset-immediately; either way the lane remembers the pending close.
    fn close_mid_request(&mut self, closing: &Closing, lane: u8, out: &mut Out) {
        let target = closing.target;
        let own = closing.caller
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
            self.end_process(target, lane, rule, RuleId::Close7, closing.also, out);
        }
        if let Some(l) = self.sessions[target.0 as usize].lanes.get_mut(&lane) {
            if immediate {
                l.running = true;
                l.hooked_early = true;
            }
            l.pending = Some(rule);
            l.pending_also = closing.also;
        }
        // The process runs on (its request goes on): the index must count it again.
        self.reindex(target);
    }

    /// Runs the hook of a process, then resets and ends it (CLOSE-5, CLOSE-6, CLOSE-7).
    pub(super) fn end_process(
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
}
