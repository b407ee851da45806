//! Actions run where a request or a non-web process runs: variables, selections, locks,
//! interprocess variables, the session ID, the expiration and the command.

use super::{Caller, Context, Holder, Owner, Who, World};
use crate::plugin::{WireAction, WireId, WireRead};
use std::borrow::Cow;
use wlcs_model::vocab::{LockState, RecordRef};

impl World {
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

    #[inline]
    pub(super) fn run_actions(&mut self, who: Who, actions: &[WireAction]) -> Vec<WireRead> {
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
                if !records.is_sorted_by(|a, b| a < b) {
                    records.sort_unstable();
                    records.dedup();
                }
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
                    key,
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
}
