//! What the model answers about its state: read-only queries for the generator, the
//! checker and the linearizability search (nothing here changes the world).

use super::{IdState, Model, SessionKind};
use crate::rules::{RuleId, RuleSet};
use crate::vocab::{
    Ip, Options, ProcRef, Readings, RecordRef, SessionMode, SessionRef, Slot, VarName, WorldConfig,
};
use std::collections::BTreeMap;

impl Model {
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
    #[inline]
    pub fn scalable(&self) -> bool {
        self.options.mode == SessionMode::Scalable
    }

    /// How many sessions the trace has opened so far (`SessionRef`s `0..n` exist).
    #[inline]
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
    #[inline]
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
    #[inline]
    pub fn live_sessions(&self) -> usize {
        self.index.live()
    }

    /// Web processes running (legacy mode): what selector 18 caps.
    #[inline]
    pub fn running_processes(&self) -> usize {
        self.index.procs()
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
}
