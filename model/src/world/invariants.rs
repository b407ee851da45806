//! The model's self-check of its own invariants (INV-1..5) after every step.

use super::{IdState, Model};
use crate::rules::RuleId;

impl Model {
    /// Checks the model's own invariants (INV-1..5); `Err` names the broken one. A failure is
    /// a bug in the model, not in a system under test.
    pub fn self_check(&self, opened_in_step: bool) -> Result<(), (RuleId, String)> {
        self.check_sessions(opened_in_step, 0..self.sessions.len())
    }

    /// The self-check over some sessions (the ones a step touched: the others did not change,
    /// so their invariants still hold); locks and the limit are always checked.
    pub(super) fn check_sessions(
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
