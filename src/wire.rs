//! The bridge between the model's symbolic vocabulary and a system under test's concrete
//! one: which real ID each symbolic session got, and steps' actions, requests and hook
//! behaviours translated to the wire types with those IDs. The differential checker and every
//! other driver of a `Sut` (benchmarks, peers) share it, so they send the same bytes.

use std::collections::HashMap;
use wlcs_model::Read;
use wlcs_model::vocab::{Action, HookBehavior, IdText, ProcRef, Request, SessionRef};
use wlcs_sut::{WireAction, WireHook, WireId, WireProc, WireRead, WireRequest};

/// Real IDs of the model's symbolic sessions, both ways.
#[derive(Clone, Debug, Default)]
pub struct IdMap {
    by_ref: Vec<Option<String>>,
    by_id: HashMap<String, SessionRef>,
}

impl IdMap {
    /// The real ID bound to a symbolic session.
    pub fn get(&self, s: SessionRef) -> Option<&str> {
        self.by_ref.get(s.0 as usize).and_then(|o| o.as_deref())
    }

    /// The symbolic session a real ID is bound to.
    pub fn find(&self, id: &str) -> Option<SessionRef> {
        self.by_id.get(id).copied()
    }

    /// Binds a symbolic session to the real ID the system under test minted for it.
    pub fn bind(&mut self, s: SessionRef, id: &str) {
        let i = s.0 as usize;
        if self.by_ref.len() <= i {
            self.by_ref.resize(i + 1, None);
        }
        self.by_ref[i] = Some(id.to_string());
        self.by_id.insert(id.to_string(), s);
    }

    /// An ID text as bytes (`Current` stays symbolic: the system under test evaluates it).
    pub fn text(&self, text: &IdText) -> WireId {
        match text {
            IdText::Session(s) => WireId::Text(self.get(*s).unwrap_or("").to_string()),
            IdText::Respelled(s, spelling) => {
                WireId::Text(spelling.apply(self.get(*s).unwrap_or("")))
            }
            IdText::Forged(n) => WireId::Text(IdText::forged_id(*n)),
            IdText::Malformed(t) => WireId::Text(t.clone()),
            IdText::Empty => WireId::Text(String::new()),
            IdText::Current => WireId::Current,
        }
    }

    /// One action.
    pub fn action(&self, action: &Action) -> WireAction {
        match action {
            Action::SetVar { var, value } => WireAction::SetVar {
                var: *var,
                value: *value,
            },
            Action::GetVar { var } => WireAction::GetVar { var: *var },
            Action::SetIpVar { var, value } => WireAction::SetIpVar {
                var: *var,
                value: *value,
            },
            Action::GetIpVar { var } => WireAction::GetIpVar { var: *var },
            Action::Select { table, records } => WireAction::Select {
                table: *table,
                records: records.clone(),
            },
            Action::GetSelection { table } => WireAction::GetSelection { table: *table },
            Action::Lock { record } => WireAction::Lock { record: *record },
            Action::IsLocked { record } => WireAction::IsLocked { record: *record },
            Action::GetSessionId => WireAction::GetSessionId,
            Action::Close { id } => WireAction::Close { id: self.text(id) },
            Action::GetExpiration { id } => WireAction::GetExpiration { id: self.text(id) },
        }
    }

    /// Several actions.
    pub fn actions(&self, actions: &[Action]) -> Vec<WireAction> {
        actions.iter().map(|a| self.action(a)).collect()
    }

    /// A request; its cookie is sent as the bytes its ID text names.
    pub fn request(&self, request: &Request) -> WireRequest {
        WireRequest {
            ip: request.ip,
            cookie: request.cookie.as_ref().map(|c| match self.text(c) {
                WireId::Text(t) => t,
                WireId::Current => String::new(),
            }),
            mobile: request.mobile,
            actions: self.actions(&request.actions),
        }
    }

    /// What a system under test read, in the model's terms (`None`: a session ID the map
    /// does not know).
    pub fn read(&self, read: &WireRead) -> Option<Read> {
        Some(match read {
            WireRead::Done => Read::Done,
            WireRead::Var(v) => Read::Var(*v),
            WireRead::IpVar(v) => Read::IpVar(*v),
            WireRead::Selection(s) => Read::Selection(s.clone()),
            WireRead::Locked(b) => Read::Locked(*b),
            WireRead::LockState(s) => Read::LockState(*s),
            WireRead::SessionId(id) if id.is_empty() => Read::SessionId(None),
            WireRead::SessionId(id) => Read::SessionId(Some(self.find(id)?)),
            WireRead::Expiration(e) => Read::Expiration(*e),
        })
    }

    /// A lock owner in the model's terms (`None`: a session ID the map does not know).
    pub fn proc(&self, p: &WireProc) -> Option<ProcRef> {
        match p {
            WireProc::NonWeb(n) => Some(ProcRef::NonWeb(*n)),
            WireProc::Web { session_id, lane } => {
                self.find(session_id).map(|session| ProcRef::Web {
                    session,
                    lane: *lane,
                })
            }
        }
    }

    /// A hook behaviour.
    pub fn hook(&self, behavior: &HookBehavior) -> WireHook {
        match behavior {
            HookBehavior::Save => WireHook::Save,
            HookBehavior::Fail => WireHook::Fail,
            HookBehavior::CloseOwn => WireHook::CloseOwn,
            HookBehavior::Slow => WireHook::Slow,
            HookBehavior::Close(id) => match self.text(id) {
                WireId::Text(t) => WireHook::Close(t),
                WireId::Current => WireHook::CloseOwn,
            },
        }
    }
}
