//! WEB SET OPTION in the model: a mode change is a restart (CLOSE-9); the limits answer to
//! LIMIT-2.

use super::{Context, IdState, Model, Out};
use crate::rules::RuleId;
use crate::vocab::{OptionSet, SessionRef};

impl Model {
    pub(super) fn set_option(&mut self, option: &OptionSet, out: &mut Out) {
        if let OptionSet::Mode(mode) = option
            && *mode != self.options.mode
        {
            // A mode change takes effect at a restart: the world starts empty (CLOSE-9).
            out.fire(RuleId::Close9);
            for s in &mut self.sessions {
                s.id = IdState::Dropped;
                for l in s.lanes.values_mut() {
                    l.running = false;
                    l.ctx = Context::default();
                    l.pending = None;
                }
            }
            for record in std::mem::take(&mut self.locks).into_keys() {
                out.obs.lock_changes.push((record, None));
            }
            self.released_by.clear();
            self.ipvars.clear();
            self.nonweb.clear();
            self.resets += 1;
            for i in 0..self.sessions_opened() {
                self.reindex(SessionRef(i));
            }
        }
        if matches!(
            option,
            OptionSet::MaxProcesses(_) | OptionSet::MaxSessions(_)
        ) {
            out.fire(RuleId::Limit2);
        }
        self.options.apply(option);
    }
}
