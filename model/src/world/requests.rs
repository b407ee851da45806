//! Requests: routing (REQ-1..3, TIME-1/3, CLOSE-8), the limits (LIMIT-1/2), the begin of a
//! request (REQ-4, REQ-6) and its end (CLOSE-4, CLOSE-11/12).

use super::{
    Caller, Flight, IdState, Lane, Model, Out, Room, Route, ScalableClaim, Session, SessionKind,
};
use crate::obs::{CookieEffect, RanIn, ResponseObs, Ruled};
use crate::rules::{RuleId, RuleSet};
use crate::vocab::{Action, IdText, Limit2Reading, Request, SessionRef, Slot};
use std::collections::BTreeMap;

/// What placing a routed request takes (`Model::needs`).
struct Needs {
    /// A new process.
    process: bool,
    /// A new live session (a process of a session that runs none).
    session: bool,
    /// The session the request goes to, never evicted to make room for it.
    target: Option<SessionRef>,
}

/// Where a begun request runs, and what its routing says (`Model::enter`, `Model::open`).
struct Placed {
    session: SessionRef,
    lane: u8,
    ran_in: RanIn,
}

/// A refused request's response: `status`, the cookie kept, both answering to `rule`.
#[inline]
fn refuse(out: &mut Out, status: u16, rule: RuleId) {
    out.obs.response = Some(ResponseObs {
        status: Ruled::new(status, rule),
        cookie: Ruled::new(CookieEffect::Keep, rule),
    });
}

impl Model {
    /// Where a request goes (SPEC.md "Routing a request").
    pub(super) fn route(&self, request: &Request) -> Route {
        let named = match &request.cookie {
            None => {
                return Route::New {
                    rule: RuleId::Req1,
                    context_rule: RuleId::Req1,
                };
            }
            Some(IdText::Session(s)) => *s,
            Some(_) => {
                // REQ-3: forged, malformed, respelled or empty values name no session.
                return Route::New {
                    rule: RuleId::Req3,
                    context_rule: RuleId::Req3,
                };
            }
        };
        let Some(s) = self.session(named) else {
            return Route::New {
                rule: RuleId::Req3,
                context_rule: RuleId::Req3,
            };
        };
        if self.session_exists(s) && self.now < s.expiration {
            if self.options.ip_validation && s.ip != request.ip {
                return Route::Refused400;
            }
            let lane = match s.kind {
                SessionKind::Legacy => 0,
                SessionKind::Mobile => request.mobile.unwrap_or(0),
            };
            let new_context = match s.lanes.get(&lane) {
                Some(l) if l.running => None,
                _ if !s.running() => Some(RuleId::Time3),
                _ => Some(RuleId::Mobile3),
            };
            return Route::Existing {
                session: named,
                lane,
                new_context,
            };
        }
        let (rule, context_rule) = match s.id {
            IdState::Valid => (RuleId::Time1, RuleId::Time1),
            IdState::Closed => {
                let pending = s.lanes.values().find_map(|l| l.pending);
                let rule = match (pending, s.kind) {
                    (Some(p), _) => p,
                    (None, SessionKind::Mobile) => RuleId::Mobile3,
                    (None, SessionKind::Legacy) => RuleId::Close1,
                };
                (rule, RuleId::Close8)
            }
            IdState::Evicted => (RuleId::Limit1, RuleId::Limit1),
            IdState::TimedOut => (RuleId::Time3, RuleId::Time3),
            IdState::Dropped => (RuleId::Req3, RuleId::Req3),
        };
        Route::New { rule, context_rule }
    }

    /// Begins a request: routing, limits, the expiration slide, the begin's actions. Returns
    /// where it runs, or `None` when it was refused (the response is then in `out`).
    pub(super) fn begin(
        &mut self,
        slot: Option<Slot>,
        request: &Request,
        out: &mut Out,
    ) -> Option<Flight> {
        let route = self.route_making_room(request, out)?;
        let mut context_rule = RuleId::Req2;
        let placed = match route {
            Route::Existing {
                session,
                lane,
                new_context,
            } => self.enter(session, lane, new_context, out),
            Route::New {
                rule,
                context_rule: fresh,
            } => {
                context_rule = fresh;
                self.open(request, rule, fresh, out)
            }
            Route::Refused400 => return None,
        };
        let Placed {
            session,
            lane,
            ran_in,
        } = placed;
        self.slide(session, lane, slot, out);
        out.obs.ran_in = Some(ran_in);
        let flight = Flight {
            session,
            lane,
            opened: ran_in.opened,
            ran_rule: ran_in.rule,
            context_rule,
        };
        if let Some(slot) = slot {
            self.in_flight.insert(slot, flight);
        }
        for action in &request.actions {
            let read = self.act(Caller::Web { session, lane }, action, out);
            out.obs.reads.push(read);
        }
        Some(flight)
    }

    /// Routes a request, making room first when it needs a new process. An eviction's hook
    /// may close the very session the cookie names, so the route is computed again after
    /// each round of evictions (each round evicts at least one session: bounded). `None`:
    /// refused (REQ-5 or LIMIT-2), the response is in `out` and nothing else changed.
    fn route_making_room(&mut self, request: &Request, out: &mut Out) -> Option<Route> {
        let scalable = self.scalable();
        loop {
            let route = self.route(request);
            let Some(needs) = self.needs(&route) else {
                // REQ-5: another client IP with IP validation on: 400, nothing changes.
                out.fire(RuleId::Req5);
                if let Some(IdText::Session(named)) = &request.cookie {
                    self.sessions[named.0 as usize].refused_since_slide = true;
                }
                refuse(out, 400, RuleId::Req5);
                return None;
            };
            if !needs.process || scalable {
                return Some(route);
            }
            match self.make_room(needs.session, needs.target, out) {
                Room::Ready => return Some(route),
                Room::Evicted => {}
                Room::Full => {
                    // LIMIT-2: nothing can be evicted: 503, nothing changes.
                    out.fire(RuleId::Limit2);
                    refuse(out, 503, RuleId::Limit2);
                    return None;
                }
            }
        }
    }

    /// What placing a routed request takes: a new session needs a process and a session; a
    /// new lane of a running 4D Mobile session needs a process only. `None` for a refused
    /// route.
    #[inline]
    fn needs(&self, route: &Route) -> Option<Needs> {
        match route {
            Route::New { .. } => Some(Needs {
                process: true,
                session: true,
                target: None,
            }),
            Route::Existing {
                session,
                new_context,
                ..
            } => Some(Needs {
                process: new_context.is_some(),
                session: new_context.is_some()
                    && self.session(*session).is_some_and(|s| !s.running()),
                target: Some(*session),
            }),
            Route::Refused400 => None,
        }
    }

    /// Enters an existing session's lane: its live context (REQ-2), or a new empty one when
    /// the lane runs no process (`new_context`: TIME-3, MOBILE-3).
    fn enter(
        &mut self,
        session: SessionRef,
        lane: u8,
        new_context: Option<RuleId>,
        out: &mut Out,
    ) -> Placed {
        let now = self.now;
        let scalable = self.scalable();
        let sess = &mut self.sessions[session.0 as usize];
        let rule = match new_context {
            Some(rule) => {
                // TIME-3 (timed-out process, same ID) or MOBILE-3 (a new lane of a
                // 4D Mobile session shares its cookie): a new empty context.
                sess.lanes.insert(lane, Lane::new(now, rule));
                out.fire(rule);
                rule
            }
            None => {
                // REQ-2: the live session's context.
                out.fire(RuleId::Req2);
                if scalable && sess.scalable == ScalableClaim::Named {
                    out.fire(RuleId::Close9);
                    RuleId::Close9
                } else {
                    RuleId::Req2
                }
            }
        };
        Placed {
            session,
            lane,
            ran_in: RanIn {
                session,
                opened: false,
                rule,
            },
        }
    }

    /// Opens a new session for a request routed away from its cookie by `rule`, with an
    /// empty context answering to `context_rule` (REQ-1, REQ-3, CLOSE-8, TIME-1, LIMIT-1).
    fn open(
        &mut self,
        request: &Request,
        rule: RuleId,
        context_rule: RuleId,
        out: &mut Out,
    ) -> Placed {
        out.fire(rule);
        if context_rule != rule {
            out.fire(context_rule);
        }
        if rule == RuleId::Time1
            && let Some(IdText::Session(old)) = &request.cookie
            && self.session(*old).is_some_and(|s| s.running())
        {
            // TIME-4: the cookie expired first; the old process still runs.
            out.fire(RuleId::Time4);
        }
        // REQ-6: a new session is a new symbol; the checker holds the system under test
        // to a never-seen ID for it.
        out.fire(RuleId::Req6);
        let now = self.now;
        let session = SessionRef(self.sessions_opened());
        let lane = request.mobile.unwrap_or(0);
        let kind = if request.mobile.is_some() {
            SessionKind::Mobile
        } else {
            SessionKind::Legacy
        };
        let mut lanes = BTreeMap::new();
        lanes.insert(lane, Lane::new(now, context_rule));
        self.sessions.push(Session {
            kind,
            ip: request.ip,
            id: IdState::Valid,
            expiration: now,
            lanes,
            scalable: ScalableClaim::Fresh,
            refused_since_slide: false,
        });
        out.opened = true;
        Placed {
            session,
            lane,
            ran_in: RanIn {
                session,
                opened: true,
                rule,
            },
        }
    }

    /// The request starts in its lane: the expiration slides (REQ-4) and the lane is busy
    /// (in `slot`, or the slot of a whole request) from now.
    fn slide(&mut self, session: SessionRef, lane: u8, slot: Option<Slot>, out: &mut Out) {
        let now = self.now;
        // REQ-4: each request slides the expiration.
        let cookie_timeout_s = self.options.cookie_timeout_s();
        let sess = &mut self.sessions[session.0 as usize];
        sess.expiration = now + cookie_timeout_s;
        sess.refused_since_slide = false;
        out.fire(RuleId::Req4);
        if let Some(l) = sess.lanes.get_mut(&lane) {
            l.busy = Some(slot.unwrap_or(u8::MAX));
            l.last_active = now;
            l.requests += 1;
        }
        self.reindex(session);
    }

    /// Ends a request: the end's actions, the response, then a pending close's hook and reset.
    pub(super) fn finish(&mut self, flight: Flight, actions: &[Action], out: &mut Out) {
        let Flight {
            session,
            lane,
            opened,
            ran_rule,
            context_rule,
        } = flight;
        for action in actions {
            let read = self.act(Caller::Web { session, lane }, action, out);
            out.obs.reads.push(read);
        }
        let now = self.now;
        let Some(l) = self.sessions[session.0 as usize].lanes.get_mut(&lane) else {
            return;
        };
        l.busy = None;
        l.last_active = now;
        let pending = l.pending;
        self.reindex(session);
        let cookie = if let Some(rule) = pending {
            // CLOSE-4: the response of a request during which its session was closed expires
            // the cookie (CLOSE-11 self-close, CLOSE-12 close from elsewhere).
            out.fire(RuleId::Close4);
            out.fire(rule);
            Ruled::new(CookieEffect::Expire, RuleId::Close4)
        } else if opened {
            // The new session's Set-Cookie answers to the rule that made its context (CLOSE-8
            // after a closed cookie) and to the routing rule.
            Ruled::new(CookieEffect::Issue(session), context_rule).also(RuleSet::of(&[ran_rule]))
        } else {
            Ruled::new(CookieEffect::Keep, ran_rule)
        };
        out.obs.response = Some(ResponseObs {
            status: Ruled::new(200, ran_rule),
            cookie,
        });
        if let Some(rule) = pending {
            // CLOSE-11 / CLOSE-12: hook and reset run when the request ends.
            let pending_also = self.sessions[session.0 as usize]
                .lanes
                .get(&lane)
                .map_or(RuleSet::EMPTY, |l| l.pending_also);
            let (cause, also) = if self.sessions[session.0 as usize].kind == SessionKind::Mobile {
                (RuleId::Mobile2, pending_also.with(rule))
            } else {
                (rule, pending_also)
            };
            self.end_process(session, lane, cause, RuleId::Close7, also, out);
        }
    }

    /// Makes room for a new process (and a new live session when `needs_session`): evicts
    /// the fewest least recently active idle sessions (never `target`) after which both
    /// limits hold, live sessions under max sessions (LIMIT-1) and running web processes
    /// under `max processes - 1` (SPEC.md "Max concurrent processes"). `Full` when no such
    /// set exists: nothing is evicted (LIMIT-2).
    fn make_room(
        &mut self,
        needs_session: bool,
        target: Option<SessionRef>,
        out: &mut Out,
    ) -> Room {
        let sessions_max = self.options.max_sessions as usize;
        let procs_max = match self.readings.limit_2 {
            Limit2Reading::CapAtMaxMinusOne => self.options.processes_max() as usize,
            // LIMIT-2 (reading cap-at-max): no new process once `max` run.
            Limit2Reading::CapAtMax => self.options.max_processes as usize,
        };
        let mut live = self.live_sessions();
        let mut procs = self.running_processes();
        let fits = |live: usize, procs: usize| {
            (!needs_session || live < sessions_max) && procs < procs_max
        };
        if fits(live, procs) {
            return Room::Ready;
        }
        let capped = procs >= procs_max;
        // Least recent activity first, ties: the older session (the index's order).
        let idle: Vec<SessionRef> = self
            .index
            .idle_sessions()
            .filter(|v| Some(*v) != target)
            .collect();
        let mut victims = Vec::new();
        for victim in idle {
            if fits(live, procs) {
                break;
            }
            let lanes = self
                .session(victim)
                .map_or(0, |s| s.lanes.values().filter(|l| l.running).count());
            victims.push(victim);
            live -= 1;
            procs -= lanes;
        }
        if !fits(live, procs) {
            return Room::Full;
        }
        let mut also = RuleSet::of(&[RuleId::Inv5]);
        if capped {
            // LIMIT-2: the cap by max processes is what made this eviction necessary.
            also.insert(RuleId::Limit2);
        }
        for victim in victims {
            // LIMIT-1: the least recently active idle session is closed, with its hook, and
            // its ID invalidated as by the command.
            out.fire(RuleId::Limit1);
            self.sessions[victim.0 as usize].id = IdState::Evicted;
            for lane in self.running_lane_ids(victim) {
                self.end_process(victim, lane, RuleId::Limit1, RuleId::Limit1, also, out);
            }
        }
        Room::Evicted
    }

    fn running_lane_ids(&self, session: SessionRef) -> Vec<u8> {
        self.session(session)
            .map(|s| {
                s.lanes
                    .iter()
                    .filter(|(_, l)| l.running)
                    .map(|(k, _)| *k)
                    .collect()
            })
            .unwrap_or_default()
    }
}
