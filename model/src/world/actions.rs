//! Actions run in a caller's context: variables, selections, locks, interprocess variables,
//! the session ID and the expiration (reads tagged with the rule that decides them).

use super::{Caller, Context, IdState, Lane, Model, Out, ScalableClaim};
use crate::obs::{ExpectedRead, Read, Ruled};
use crate::rules::{RuleId, RuleSet};
use crate::vocab::{Action, IdText, LockState, RecordRef, SessionRef, Table};

impl Model {
    /// Runs an action in a caller's context.
    pub(super) fn act(
        &mut self,
        caller: Caller,
        action: &Action,
        out: &mut Out,
    ) -> Ruled<ExpectedRead> {
        if self.scalable() {
            // CLOSE-9: in scalable mode the command does nothing and reads are not compared
            // (scalable sessions keep data elsewhere and pool their processes); other actions
            // still run so shared state (interprocess variables) stays comparable.
            match action {
                Action::Close { id } => {
                    out.fire(RuleId::Close9);
                    if let Some(s) = self.resolve(id, caller) {
                        let claim = &mut self.sessions[s.0 as usize].scalable;
                        if *claim == ScalableClaim::Fresh {
                            *claim = ScalableClaim::Named;
                        }
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

    /// Runs an action in legacy sessions mode; the read answers to the rule that decides it.
    fn act_legacy(&mut self, caller: Caller, action: &Action, out: &mut Out) -> Ruled<Read> {
        match action {
            Action::SetVar { var, value } => {
                if let Some(ctx) = self.ctx_mut(caller) {
                    ctx.vars.insert(*var, *value);
                }
                Ruled::new(Read::Done, RuleId::Req2)
            }
            Action::GetVar { var } => {
                let value = self.ctx(caller).and_then(|c| c.vars.get(var).copied());
                let rule = self.context_rule(caller, value.is_some());
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
            Action::Select { table, records } => self.select(caller, *table, records),
            Action::GetSelection { table } => {
                let sel = self
                    .ctx(caller)
                    .and_then(|c| c.selections.get(table).cloned());
                let rule = self.context_rule(caller, sel.is_some());
                Ruled::new(Read::Selection(sel.unwrap_or_default()), rule)
            }
            Action::Lock { record } => self.lock(caller, *record, out),
            Action::IsLocked { record } => self.is_locked(caller, *record),
            Action::GetSessionId => match caller {
                Caller::Web { session, .. } | Caller::Hook { session, .. } => Ruled::new(
                    Read::SessionId(Some(session)),
                    self.pending(caller).unwrap_or(RuleId::Req2),
                ),
                // D6: "" outside a web request.
                Caller::NonWeb(_) => Ruled::new(Read::SessionId(None), RuleId::Close3),
            },
            Action::Close { id } => {
                self.close(id, caller, out);
                Ruled::new(Read::Done, RuleId::Close3)
            }
            Action::GetExpiration { id } => self.get_expiration(id, caller, out),
        }
    }

    /// The close pending on the caller's lane, if its session was closed while the request
    /// runs (CLOSE-11 / CLOSE-12): what its reads answer to.
    #[inline]
    fn pending(&self, caller: Caller) -> Option<RuleId> {
        self.lane(caller).and_then(|l| l.pending)
    }

    /// The rule a read of the caller's own context answers to: a pending close's, REQ-2 for
    /// a value the context holds (`assigned`), else the rule that made the context (what a
    /// never-assigned value answers to); CLOSE-7 in a non-web process.
    #[inline]
    fn context_rule(&self, caller: Caller, assigned: bool) -> RuleId {
        match (caller, self.lane(caller)) {
            (Caller::NonWeb(_), _) => RuleId::Close7,
            (_, Some(l)) if l.pending.is_some() => l.pending.unwrap_or(RuleId::Req2),
            (_, Some(_)) if assigned => RuleId::Req2,
            (_, Some(l)) => l.fresh_rule,
            (_, None) => RuleId::Req2,
        }
    }

    /// A selection: the caller's selection of `table` becomes `records`, sorted and deduplicated
    /// (an empty one is no selection).
    fn select(&mut self, caller: Caller, table: Table, records: &[u32]) -> Ruled<Read> {
        let mut sorted = records.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if let Some(ctx) = self.ctx_mut(caller) {
            if sorted.is_empty() {
                ctx.selections.remove(&table);
            } else {
                ctx.selections.insert(table, sorted);
            }
        }
        Ruled::new(Read::Done, RuleId::Req2)
    }

    /// Locks a record (D8): a free record becomes the caller's; a record it holds stays locked; another's
    /// fails. The read answers to the rule that decides the lock entry.
    fn lock(&mut self, caller: Caller, record: RecordRef, out: &mut Out) -> Ruled<Read> {
        let proc = caller.proc();
        let (rule, also) = self.lock_rule(record);
        let rule = self.pending(caller).unwrap_or(rule);
        let locked = match self.locks.get(&record) {
            Some((owner, _)) => *owner == proc,
            None => {
                self.locks.insert(record, (proc, self.resets));
                out.obs.lock_changes.push((record, Some(proc)));
                if let Some(ctx) = self.ctx_mut(caller) {
                    ctx.locks.insert(record);
                }
                true
            }
        };
        Ruled::new(Read::Locked(locked), rule).also(also)
    }

    /// Whether a record is locked (D8): free, the caller's own, or another's.
    fn is_locked(&self, caller: Caller, record: RecordRef) -> Ruled<Read> {
        let proc = caller.proc();
        let (rule, also) = self.lock_rule(record);
        let rule = self.pending(caller).unwrap_or(rule);
        let state = match self.locks.get(&record) {
            None => LockState::Free,
            Some((owner, _)) if *owner == proc => LockState::Mine,
            Some(_) => LockState::Other,
        };
        Ruled::new(Read::LockState(state), rule).also(also)
    }

    /// WEB LEGACY GET SESSION EXPIRATION (D5): an existing session's expiration (REQ-4, TIME-3/4), the
    /// null date for a closed ID (CLOSE-4) or one that names nothing (CLOSE-2).
    fn get_expiration(&self, id: &IdText, caller: Caller, out: &mut Out) -> Ruled<Read> {
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

    /// The session an ID text names exactly, if any was ever opened under it.
    #[inline]
    pub(super) fn resolve(&self, id: &IdText, caller: Caller) -> Option<SessionRef> {
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

    #[inline]
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
}
