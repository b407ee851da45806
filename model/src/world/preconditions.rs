//! Preconditions: why a step is not valid in the state reached (a step that fails one is an
//! outcome, `StepObs::invalid`, never a panic).

use super::{Model, Route};
use crate::vocab::{Action, HookBehavior, IdText, OptionSet, Request, Slot, Step};

impl Model {
    /// Why a step is not valid now, if it is not.
    pub(super) fn precondition(&self, step: &Step) -> Option<String> {
        let check_ids = |actions: &[Action]| -> Option<String> {
            actions.iter().find_map(|a| match a {
                Action::Close { id } | Action::GetExpiration { id } => self.check_id(id, true),
                _ => None,
            })
        };
        match step {
            Step::Request(request) => self.check_request(None, request),
            Step::Begin { slot, request } => self.check_request(Some(*slot), request),
            Step::End { slot, actions } => {
                if !self.in_flight.contains_key(slot) {
                    return Some(format!("slot {slot} has no request in flight"));
                }
                check_ids(actions)
            }
            Step::NonWeb { actions, .. } => check_ids(actions),
            Step::SetOption(OptionSet::Mode(mode))
                if *mode != self.options.mode && !self.in_flight.is_empty() =>
            {
                Some("a mode change restarts the server; no request may be in flight".into())
            }
            Step::SetOption(_) => None,
            Step::SetHook(HookBehavior::Close(id)) => self.check_id(id, true),
            Step::SetHook(_) => None,
            Step::Advance { seconds } => (*seconds > u64::from(u32::MAX))
                .then(|| format!("clock advance of {seconds} s is beyond any timeout")),
        }
    }

    fn check_id(&self, id: &IdText, current_allowed: bool) -> Option<String> {
        match id {
            IdText::Session(s) | IdText::Respelled(s, _) if self.session(*s).is_none() => {
                Some(format!("{s} has not been opened yet"))
            }
            IdText::Current if !current_allowed => {
                Some("`Current` is not a cookie value".to_string())
            }
            _ => None,
        }
    }

    fn check_request(&self, slot: Option<Slot>, request: &Request) -> Option<String> {
        if let Some(slot) = slot
            && self.in_flight.contains_key(&slot)
        {
            return Some(format!("slot {slot} already has a request in flight"));
        }
        if let Some(cookie) = &request.cookie
            && let Some(reason) = self.check_id(cookie, false)
        {
            return Some(reason);
        }
        if let Some(reason) = request.actions.iter().find_map(|a| match a {
            Action::Close { id } | Action::GetExpiration { id } => self.check_id(id, true),
            _ => None,
        }) {
            return Some(reason);
        }
        if let Route::Existing { session, lane, .. } = self.route(request)
            && self
                .session(session)
                .and_then(|s| s.lanes.get(&lane))
                .is_some_and(|l| l.busy.is_some())
        {
            return Some(format!(
                "{session} lane {lane} is already running a request"
            ));
        }
        None
    }
}
