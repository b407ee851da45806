//! The clock: moving it runs the process timeouts that fall due (TIME-2..4).

use super::{IdState, Model, Out, ScalableClaim};
use crate::rules::{RuleId, RuleSet};
use crate::vocab::TimeoutProfile;

impl Model {
    /// Moves the clock and runs the process timeouts that fall due (TIME-2), in due order.
    pub(super) fn advance(&mut self, seconds: u64, out: &mut Out) {
        self.now = self.now.saturating_add(seconds);
        if self.scalable() {
            // Scalable sessions end on their own clock, which the suite does not model (out of
            // scope beyond CLOSE-9): after time passes, nothing is said of where the cookie of a
            // session opened before goes, even if a close names it later.
            for s in &mut self.sessions {
                s.scalable = ScalableClaim::Unknown;
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
}
