//! One step to a system under test: the step said with real IDs ([`IdMap`]), sent through
//! the `Sut` trait, and what came back kept as it came ([`Shown`]), ready to be compared as an
//! [`Observation`]. The only place the checker calls a `Sut` for a step.

use super::compare::{Observation, ResponseSeen, last_session_cookie};
use super::ids::IdMap;
use wlcs_model::vocab::{Action, Step};
use wlcs_model::{Read, StepObs};
use wlcs_sut::{Begun, Response, Sut, SutError, WireRead};

/// What a system under test answered to one step.
#[derive(Clone, Debug, Default)]
pub struct Shown {
    /// The response, when the step produced one.
    pub response: Option<Response>,
    /// The session the system under test says the request ran in.
    pub ran_in: Option<String>,
    /// The cookie value the request sent.
    pub sent_cookie: Option<String>,
    raw_reads: Vec<WireRead>,
    /// What each action returned (a session ID read is `None` for `""`).
    pub reads: Vec<Read<Option<String>>>,
}

/// Sends one step. The cookie is the one the trace names, even where a browser's jar would
/// have dropped it: TIME-1 is about a client that sends an expired cookie anyway (a replayed
/// or stolen one); the jar's own expiry is compared separately (REQ-4, `Checker::check_jar`).
pub fn send(sut: &dyn Sut, ids: &IdMap, step: &Step) -> Result<Shown, SutError> {
    let mut shown = send_raw(sut, ids, step)?;
    shown.reads = std::mem::take(&mut shown.raw_reads)
        .into_iter()
        .map(|r| r.into_session(|id| (!id.is_empty()).then_some(id)))
        .collect();
    Ok(shown)
}

fn send_raw(sut: &dyn Sut, ids: &IdMap, step: &Step) -> Result<Shown, SutError> {
    let mut shown = Shown::default();
    match step {
        Step::Request(request) => {
            let wire = ids.request(request);
            let mut resp = sut.request(&wire)?;
            shown.sent_cookie = wire.cookie;
            shown.ran_in = resp.session_id.clone();
            shown.raw_reads = std::mem::take(&mut resp.reads);
            shown.response = Some(resp);
        }
        Step::Begin { slot, request } => {
            let wire = ids.request(request);
            match sut.begin(*slot, &wire)? {
                Begun::Running { session_id, reads } => {
                    shown.ran_in = Some(session_id);
                    shown.raw_reads = reads;
                }
                Begun::Done(mut resp) => {
                    shown.ran_in = resp.session_id.clone();
                    shown.raw_reads = std::mem::take(&mut resp.reads);
                    shown.response = Some(resp);
                }
            }
            shown.sent_cookie = wire.cookie;
        }
        Step::End { slot, actions } => {
            let mut resp = sut.end(*slot, &ids.actions(actions))?;
            shown.raw_reads = std::mem::take(&mut resp.reads);
            shown.response = Some(resp);
        }
        Step::NonWeb { process, actions } => {
            shown.raw_reads = sut.non_web(*process, &ids.actions(actions))?;
        }
        Step::SetOption(option) => sut.set_option(option)?,
        Step::SetHook(behavior) => sut.set_hook(&ids.hook(behavior))?,
        Step::Advance { seconds } => sut.advance(*seconds)?,
    }
    Ok(shown)
}

impl Shown {
    /// The answer as the comparison core reads it.
    pub fn observation(&self, cookie_name: &str) -> Observation<'_, String> {
        Observation {
            response: self.response.as_ref().map(|r| ResponseSeen {
                status: r.status,
                cookie: last_session_cookie(cookie_name, &r.set_cookies),
                set_cookies: &r.set_cookies,
            }),
            ran_in: self.ran_in.as_ref(),
            sent_cookie: self.sent_cookie.as_ref(),
            reads: &self.reads,
        }
    }
}

/// Whether the step may change the lock table or the interprocess variables, so the checker
/// asks for them after it. Only these steps may: a clock move or an option (timeouts,
/// evictions, a mode change), a step the model says changed a lock or ended a process (a
/// hook run), and a step with an action that locks, writes an interprocess variable or
/// closes (whatever the model says it did: a wrong close is the likeliest place for a wrong
/// release). A hook change, and requests and calls that only read or touch their own context,
/// cannot; the checker still compares both before a trace passes, so a change nothing asked
/// for is caught, at a later step.
pub fn may_change_shared(step: &Step, obs: &StepObs) -> bool {
    let actions = match step {
        Step::SetHook(_) => return false,
        Step::Advance { .. } | Step::SetOption(_) => return true,
        Step::Request(r) | Step::Begin { request: r, .. } => &r.actions,
        Step::End { actions, .. } | Step::NonWeb { actions, .. } => actions,
    };
    !obs.hooks.is_empty()
        || !obs.lock_changes.is_empty()
        || actions.iter().any(|a| {
            matches!(
                a,
                Action::Lock { .. } | Action::SetIpVar { .. } | Action::Close { .. }
            )
        })
}
