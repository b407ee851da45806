//! Requests: routing (REQ-1..3, TIME-1), room under the limits (LIMIT-1/2), the begin of a
//! request (REQ-4, new sessions and their IDs, REQ-6) and its end (the response's cookies,
//! CLOSE-4, CLOSE-11/12).

use super::index::lru_current;
use super::{Cause, Context, Flight, Proc, Procs, Session, Started, Who, World};
use crate::mutants::deviation::Deviation;
use crate::plugin::{Response, SetCookie, SutError, WireAction, WireRequest};
use std::fmt::Write as _;
use std::sync::Arc;
use uuid::Uuid;

fn refused(status: u16) -> Response {
    Response {
        status,
        session_id: None,
        set_cookies: Vec::new(),
        reads: Vec::new(),
    }
}

/// Whether a new process can be placed under the session limit.
enum Room {
    Ready,
    Evicted,
    Full,
}

impl World {
    pub(super) fn begin_request(&mut self, req: &WireRequest) -> Result<Started, SutError> {
        // Each pass either proceeds, refuses, or evicts (which strictly lowers the live count),
        // so a handful of passes always suffices; the bound only guards against a bug.
        for _ in 0..8 {
            let target = self.route(req);
            let (lane, needs_process_slot) = match target {
                Some(key) => {
                    let Some(s) = self.sessions.get_mut(&key) else {
                        return Err(SutError::Protocol("routed to a missing session".into()));
                    };
                    if self.options.ip_validation && s.ip != req.ip {
                        self.dev_refused_request(key);
                        // REQ-5: another client IP gets 400 and changes nothing.
                        return Ok(Started::Refused(refused(400)));
                    }
                    // REQ-2 / MOBILE-3: the lane of a 4D Mobile session, lane 0 otherwise.
                    let lane = if s.mobile { req.mobile.unwrap_or(0) } else { 0 };
                    if s.procs.get(&lane).is_some_and(|p| p.busy) {
                        return Err(SutError::Unsupported(
                            "the session's process is already running a request".into(),
                        ));
                    }
                    (
                        lane,
                        Some((!s.procs.contains_key(&lane), s.procs.is_empty())),
                    )
                }
                // REQ-1 / REQ-3 / CLOSE-8 / TIME-1: a new session.
                None => (req.mobile.unwrap_or(0), Some((true, true))),
            };
            // (a new process is needed, the session becomes live)
            if let Some((true, new_live)) = needs_process_slot
                && self.legacy()
            {
                match self.make_room(new_live, target) {
                    Room::Ready => {}
                    // An eviction hook may have closed the target: route again.
                    Room::Evicted => continue,
                    // LIMIT-2: nothing evictable: 503, nothing changes.
                    Room::Full => return Ok(Started::Refused(refused(503))),
                }
            }
            return Ok(self.start(req, target, lane));
        }
        Ok(Started::Refused(refused(503)))
    }

    /// Where a request goes: an existing session its cookie names, or `None` (new session).
    fn route(&self, req: &WireRequest) -> Option<u64> {
        match &req.cookie {
            Some(cookie) => self.routable(cookie),
            // REQ-1: no cookie, new session (`None`), unless a mutant routes it.
            None => self.dev_route_without_cookie(req.ip),
        }
    }

    /// LIMIT-1 / LIMIT-2: makes room for one more web process, and one more live session
    /// when `new_live`; `target` (the session the request goes to) is never evicted.
    fn make_room(&mut self, new_live: bool, target: Option<u64>) -> Room {
        let limit = usize::try_from(self.options.max_sessions).unwrap_or(usize::MAX);
        let over_sessions = |live: usize| -> bool {
            // LIMIT-1: at max sessions, make room.
            new_live
                && self
                    .dev(|d| d.over_sessions(live, limit))
                    .unwrap_or(live >= limit)
        };
        // Max concurrent processes: at `max - 1` running, no new process (D4 selector 18);
        // `Limits::LIFTED` (benches) lifts this cap.
        let over_procs = |procs: usize| {
            self.limits.sessions_capped_by_processes
                && self
                    .dev(|d| d.over_processes(procs, self.options.max_processes))
                    .unwrap_or(!self.options.process_fits(procs))
        };
        let (mut live, mut procs) = (self.live, self.procs);
        if !over_sessions(live) && !over_procs(procs) {
            return Room::Ready;
        }
        // LIMIT-1: least recent activity first, ties to the older session.
        let order: Box<dyn Iterator<Item = &(u64, u64)>> =
            if self.deviates(Deviation::evicts_most_recent) {
                Box::new(self.lru.iter().rev())
            } else {
                Box::new(self.lru.iter())
            };
        let mut victims = Vec::new();
        let current = order.filter(|e| lru_current(&self.sessions, e));
        for key in current.map(|e| e.1).filter(|k| Some(*k) != target) {
            if !over_sessions(live) && !over_procs(procs) {
                break;
            }
            victims.push(key);
            live = live.saturating_sub(1);
            procs = procs.saturating_sub(self.sessions.get(&key).map_or(0, |s| s.procs.len()));
        }
        if over_sessions(live) || over_procs(procs) {
            if self.deviates(Deviation::opens_over_limit) {
                return Room::Ready;
            }
            // LIMIT-2: all candidates busy: refuse.
            return Room::Full;
        }
        for key in victims {
            // An earlier victim's hook may have closed this one already.
            if self.sessions.get(&key).is_some_and(|s| s.counted_live) {
                self.evict(key);
            }
        }
        Room::Evicted
    }

    /// LIMIT-1: closes an idle session as the command would, with its hooks.
    fn evict(&mut self, key: u64) {
        self.invalidate(key, false);
        let lanes: Vec<u8> = self
            .sessions
            .get(&key)
            .map(|s| s.procs.keys().copied().collect())
            .unwrap_or_default();
        for lane in lanes {
            // INV-2: each ended process gets its hook.
            let hook = !self.deviates(|d| d.skips_hook(Cause::Evict, false));
            self.end_process(key, lane, Cause::Evict, hook);
        }
        self.sync(key);
    }

    /// Places the request in its session (opening it if `target` is `None`) and runs the
    /// begin's actions.
    fn start(&mut self, req: &WireRequest, target: Option<u64>, lane: u8) -> Started {
        let (key, opened) = match target {
            Some(key) => (key, false),
            None => (self.open_session(req), true),
        };
        let leaked = match self.dev.as_deref_mut() {
            Some(d) if opened => d.take_leaked_vars(),
            _ => None,
        };
        let now = self.now;
        let cookie_s = self.options.cookie_timeout_s();
        let slide = opened || !self.deviates(Deviation::keeps_expiration);
        let pid = self.next_pid;
        let Some(s) = self.sessions.get_mut(&key) else {
            return Started::Refused(refused(503));
        };
        let proc = s.procs.get_or_insert_with(lane, || Proc {
            // TIME-3 / MOBILE-3: a lane without a running process gets a new, empty context.
            pid,
            ctx: Context {
                vars: leaked.unwrap_or_default(),
                ..Context::default()
            },
            busy: false,
            pending: None,
            ending: false,
            last_active: now,
        });
        if proc.pid == pid {
            self.next_pid += 1;
        }
        // An idle process leaves the timeout index while it works: busy, its entry is stale.
        proc.busy = true;
        proc.last_active = now;
        s.last_active = now;
        if slide {
            // REQ-4: each request slides the expiration to now + cookie timeout.
            s.expiration = now + cookie_s;
        }
        let id = s.id.clone();
        self.sync(key);
        let reads = self.run_actions(Who::Web { key, lane }, &req.actions);
        Started::Running(
            Flight {
                key,
                lane,
                id,
                opened,
            },
            reads,
        )
    }

    /// REQ-1 / REQ-3: a new session, server-minted ID, bound to the request's IP.
    fn open_session(&mut self, req: &WireRequest) -> u64 {
        let id = self.mint_id(req.cookie.as_deref());
        let key = self.next_key;
        self.next_key += 1;
        self.sessions.insert(
            key,
            Session {
                id: id.clone(),
                ip: req.ip,
                mobile: req.mobile.is_some(),
                valid: true,
                expiration: self.now + self.options.cookie_timeout_s(),
                last_active: self.now,
                procs: Procs::default(),
                counted_live: false,
                counted_procs: 0,
                lru_entry: None,
                dormant_entry: None,
            },
        );
        self.ids.insert(id, key);
        if let Some(d) = self.dev.as_deref_mut() {
            d.opened(req.ip, key);
        }
        key
    }

    /// REQ-6: a fresh random UUID v4, 32 uppercase hex digits, never a client's value.
    pub(super) fn mint_id(&mut self, cookie: Option<&str>) -> Arc<str> {
        if let Some(d) = self.dev.as_deref_mut()
            && let Some(id) = d.mint_id(cookie, &self.ids)
        {
            return id;
        }
        let mut text = [0u8; uuid::fmt::Simple::LENGTH];
        loop {
            let id: Arc<str> = Arc::from(&*Uuid::new_v4().simple().encode_upper(&mut text));
            // A 122-bit collision never happens in practice; checking keeps IDs unique anyway.
            if !self.ids.contains_key(&id) {
                return id;
            }
        }
    }

    /// Ends a request: the end's actions, then the process's request is over (idle, or its
    /// deferred close runs), then the response with its cookies.
    pub(super) fn end_request(
        &mut self,
        flight: Flight,
        actions: &[WireAction],
    ) -> Result<Response, SutError> {
        let Flight {
            key,
            lane,
            id,
            opened,
        } = flight;
        let reads = self.run_actions(Who::Web { key, lane }, actions);
        let closed_during = self.finish_request(key, lane)?;
        let set_cookies = self.response_cookies(key, &id, opened, closed_during);
        Ok(Response {
            status: 200,
            session_id: Some(id.to_string()),
            set_cookies,
            reads,
        })
    }

    /// The process's request is over: it is idle from now on (TIME-2), or, when its session
    /// was closed while the request ran, the deferred hook, reset and end run (CLOSE-11 /
    /// CLOSE-12). Returns whether it was closed during the request (CLOSE-4).
    fn finish_request(&mut self, key: u64, lane: u8) -> Result<bool, SutError> {
        let now = self.now;
        let drop_selections = self.deviates(Deviation::drops_selections);
        let proc = self
            .sessions
            .get_mut(&key)
            .and_then(|s| {
                s.last_active = now;
                s.procs.get_mut(&lane)
            })
            .ok_or_else(|| SutError::Protocol("the in-flight process vanished".into()))?;
        proc.busy = false;
        proc.last_active = now;
        if drop_selections {
            proc.ctx.selections.clear();
        }
        let pid = proc.pid;
        // CLOSE-4: the session was closed while this request ran.
        let closed_during = proc.pending.take().is_some();
        if closed_during {
            // CLOSE-11 / CLOSE-12: the deferred hook, reset and process end.
            let hook = !self
                .dev
                .as_deref_mut()
                .is_some_and(|d| d.skips_deferred_hook(pid));
            self.end_process(key, lane, Cause::Close, hook);
        } else {
            // TIME-2: idle from the end of its request.
            self.idle.insert((now, key, lane));
            self.compact_idle();
            self.sync(key);
        }
        Ok(closed_during)
    }

    /// The response's `Set-Cookie` headers: the new session's cookie (REQ-1), the live
    /// session's cookie again with its slid lifetime (REQ-4), the expiring cookie of a session
    /// closed during the request (CLOSE-4).
    fn response_cookies(
        &self,
        key: u64,
        id: &str,
        opened: bool,
        closed_during: bool,
    ) -> Vec<SetCookie> {
        let name = &self.options.cookie_name;
        let mut set_cookies = Vec::new();
        // REQ-4 (SHOULD): the cookie's lifetime on the client is the session's slid
        // expiration, so every response of a live session sends it again.
        let lifetime_s = self
            .sessions
            .get(&key)
            .filter(|s| s.valid)
            .map_or(0, |s| s.expiration.saturating_sub(self.now));
        if opened {
            // REQ-1: announce the new session (a session closed or expired during its first
            // request still announces a live cookie: the expiring one, if any, follows).
            let announced_s = if lifetime_s > 0 {
                lifetime_s
            } else {
                self.options.cookie_timeout_s()
            };
            set_cookies.push(self.issue_cookie(name, id, announced_s));
        } else if !closed_during && lifetime_s > 0 && !self.deviates(Deviation::keeps_first_cookie)
        {
            set_cookies.push(self.issue_cookie(name, id, lifetime_s));
        }
        if closed_during {
            // CLOSE-4: expire the cookie, last so it decides.
            set_cookies.push(SetCookie {
                name: name.clone(),
                value: String::new(),
                expiring: true,
                raw: format!(
                    "{name}=; Path=/; SameSite=Strict; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
                ),
            });
        }
        set_cookies
    }

    fn issue_cookie(&self, name: &str, value: &str, lifetime_s: u64) -> SetCookie {
        // Pushed into one buffer of the right size: `format!` of the whole header was about 8%
        // of an open.
        const ATTRIBUTES: &str = "; Path=/; SameSite=Strict; Max-Age=";
        // 21: the `=`, and the 20 digits of the largest `u64`.
        let mut raw = String::with_capacity(name.len() + value.len() + ATTRIBUTES.len() + 21);
        raw.push_str(name);
        raw.push('=');
        raw.push_str(value);
        raw.push_str(ATTRIBUTES);
        // Writing to a `String` cannot fail.
        let _ = write!(raw, "{lifetime_s}");
        SetCookie {
            name: name.to_string(),
            value: value.to_string(),
            expiring: false,
            raw,
        }
    }
}
