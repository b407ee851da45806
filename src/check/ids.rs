//! The bridge between the model's symbolic IDs and a system under test's real ones: which
//! real ID each symbolic session got, and steps' actions, requests and hook behaviours said
//! with those IDs (one vocabulary, [`Action::map_id`]). The differential checker and every
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
        action.map_id(|id| self.text(id))
    }

    /// Several actions.
    pub fn actions(&self, actions: &[Action]) -> Vec<WireAction> {
        actions.iter().map(|a| self.action(a)).collect()
    }

    /// A request; its cookie is sent as the bytes its ID text names.
    pub fn request(&self, request: &Request) -> WireRequest {
        request.map_ids(
            |c| match self.text(c) {
                WireId::Text(t) => t,
                WireId::Current => String::new(),
            },
            |id| self.text(id),
        )
    }

    /// What a system under test read, in the model's terms (`None`: a session ID the map
    /// does not know).
    pub fn read(&self, read: &WireRead) -> Option<Read> {
        read.map_session(|id| {
            if id.is_empty() {
                Some(None)
            } else {
                self.find(id).map(Some)
            }
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

    /// A hook behaviour (`Current` inside a hook is the hook's own session: `CloseOwn`).
    pub fn hook(&self, behavior: &HookBehavior) -> WireHook {
        behavior.map_id(|id| match self.text(id) {
            WireId::Text(t) => HookBehavior::Close(t),
            WireId::Current => HookBehavior::CloseOwn,
        })
    }
}

impl crate::check::compare::Binder<String> for IdMap {
    fn id_of(&self, s: SessionRef) -> Option<&String> {
        self.by_ref.get(s.0 as usize).and_then(Option::as_ref)
    }

    fn session_of(&self, id: &String) -> Option<SessionRef> {
        self.find(id)
    }

    fn bind(&mut self, s: SessionRef, id: &String) {
        IdMap::bind(self, s, id);
    }

    fn text<'a>(&'a self, id: &'a String) -> &'a str {
        id
    }
}
