//! The differential checker: replays a trace on the model and a system under test in
//! lockstep, compares every observation, and checks the invariants on what the system under
//! test shows. A divergence names its rule, its step, what was expected and what came back.
//!
//! Architecture invariant: the checker sees the system under test only through the `Sut`
//! trait.

use crate::stats::RuleStats;
use crate::transcript;
use crate::wire::IdMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use wlcs_model::vocab::{Action, HookBehavior, ProcRef, RecordRef, SessionRef, Step, VarName};
use wlcs_model::{CookieEffect, Model, Read, RuleId, RuleSet, Ruled, StepObs, Trace};
use wlcs_sut::{
    Begun, Capabilities, Response, SetCookie, Sut, SutError, WireHookRun, WireProc, WireRead,
};

/// A behaviour of the system under test that the model says is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    /// The step index in the trace.
    pub step: usize,
    /// The rule the observation answers to.
    pub rule: RuleId,
    /// Other rules the same observation breaks (invariants).
    pub also: Vec<RuleId>,
    /// What was compared.
    pub what: String,
    /// What the model expected.
    pub expected: String,
    /// What the system under test did.
    pub actual: String,
}

impl Divergence {
    /// Whether this divergence is about `rule`, as its main rule or one it also breaks.
    pub fn breaks(&self, rule: RuleId) -> bool {
        self.rule == rule || self.also.contains(&rule)
    }
}

/// Why a trace could not be checked: never a verdict on conformance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum HarnessError {
    /// The system under test failed to answer (transport, timeout, panic, protocol).
    #[error("step {step}{}: the system under test failed: {error}", at_rule(.rule))]
    Sut {
        /// The step index.
        step: usize,
        /// The rule the step was checking (its routing or status rule), when there is one.
        rule: Option<RuleId>,
        /// What went wrong.
        error: SutError,
    },
    /// The reset before the trace's first step failed (`Sut::reset`; over HTTP,
    /// `POST /wlcs/v1/reset`).
    #[error("the reset call before step 0 failed: {error}")]
    Reset {
        /// What went wrong.
        error: SutError,
    },
    /// The model broke one of its own invariants: a bug in wlcs.
    #[error("step {step}: the model broke its own invariant ({what}); please report this")]
    ModelFault {
        /// The step index.
        step: usize,
        /// The invariant and what broke it.
        what: String,
    },
}

fn at_rule(rule: &Option<RuleId>) -> String {
    rule.map(|r| format!(" ({r})")).unwrap_or_default()
}

/// The rule a step mainly checks: where its request was routed, its status, or the first
/// non-invariant rule its model branch fired.
fn primary_rule(obs: &StepObs) -> Option<RuleId> {
    obs.ran_in
        .map(|r| r.rule)
        .or_else(|| obs.response.as_ref().map(|r| r.status.rule))
        .or_else(|| {
            obs.fired
                .iter()
                .copied()
                .find(|r| r.grade() != wlcs_model::Grade::Invariant)
        })
}

/// How checking a trace ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Every step matched.
    Pass,
    /// The system under test diverged.
    Diverged(Divergence),
    /// The harness could not finish the trace.
    Error(HarnessError),
    /// The trace needs a capability the system under test lacks.
    Skipped(String),
}

/// The result of checking one trace.
#[derive(Clone, Debug)]
pub struct TraceRun {
    /// How it ended.
    pub verdict: Verdict,
    /// Steps sent to the system under test.
    pub steps_run: usize,
    /// Steps skipped because their precondition did not hold (hand-written fixtures only).
    pub steps_invalid: Vec<(usize, String)>,
    /// Per-rule counts for this trace.
    pub stats: RuleStats,
    /// One line per event, for reports and snapshots.
    pub transcript: Vec<String>,
}

/// What a trace needs of the system under test; `None` when the capabilities cover it.
pub fn missing_capability(trace: &Trace, caps: &Capabilities) -> Option<String> {
    for step in &trace.steps {
        let need = match step {
            Step::Advance { .. } if !caps.clock => Some("clock control"),
            Step::Begin { .. } | Step::End { .. } if !caps.in_flight => Some("requests in flight"),
            Step::SetOption(_) if !caps.options => Some("WEB SET OPTION"),
            Step::SetHook(b) if *b != HookBehavior::Save && !caps.hook_faults => {
                Some("hook behaviour control")
            }
            Step::Request(r) | Step::Begin { request: r, .. } => {
                if r.mobile.is_some() && !caps.mobile {
                    Some("4D Mobile sessions")
                } else if r.ip != 0 && !caps.multi_ip {
                    Some("several client IPs")
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(need) = need {
            return Some(need.to_string());
        }
    }
    None
}

/// The rules a missing capability leaves unchecked, with the reason.
pub fn rules_needing(caps: &Capabilities) -> Vec<(RuleId, &'static str)> {
    let mut out = Vec::new();
    if !caps.clock {
        for r in [RuleId::Time1, RuleId::Time2, RuleId::Time3, RuleId::Time4] {
            out.push((r, "the target does not let the suite control its clock"));
        }
    }
    if !caps.multi_ip {
        out.push((RuleId::Req5, "the target cannot see several client IPs"));
    }
    if !caps.mobile {
        for r in [RuleId::Mobile1, RuleId::Mobile2, RuleId::Mobile3] {
            out.push((r, "the target has no 4D Mobile sessions"));
        }
    }
    if !caps.hook_faults {
        for r in [RuleId::Close13, RuleId::Close14] {
            out.push((r, "the target cannot set the hook's behaviour"));
        }
    }
    if !caps.in_flight {
        out.push((
            RuleId::Close12,
            "the target cannot hold a request in flight",
        ));
    }
    if !caps.options {
        for r in [RuleId::Limit1, RuleId::Limit2, RuleId::Close9, RuleId::Inv5] {
            out.push((r, "the target does not accept WEB SET OPTION"));
        }
    }
    out
}

/// Checks one trace against a system under test.
pub struct Checker<'a> {
    sut: &'a dyn Sut,
    model: Model,
    ids: IdMap,
    /// IDs the command closed (INV-3).
    closed_ids: BTreeSet<String>,
    /// Variable values each session's requests wrote (INV-4: values are unique per trace in
    /// generated traces, so a value seen elsewhere leaked).
    written: BTreeMap<i64, SessionRef>,
    stats: RuleStats,
    /// Whether to render the transcript (off while generating and shrinking: rendering costs
    /// more than checking; a failing case is re-run with it on).
    log: bool,
    transcript: Vec<String>,
}

type StepResult = Result<(), StepFailure>;

enum StepFailure {
    Diverged(Divergence),
    Error(HarnessError),
}

impl<'a> Checker<'a> {
    /// Checks `trace` against `sut`, from a reset, with a transcript.
    pub fn run(sut: &'a dyn Sut, trace: &Trace) -> TraceRun {
        Checker::run_with(sut, trace, true)
    }

    /// Checks `trace` against `sut` without rendering a transcript (the verdict and counts are
    /// the same as [`Checker::run`]'s).
    pub fn run_quiet(sut: &'a dyn Sut, trace: &Trace) -> TraceRun {
        Checker::run_with(sut, trace, false)
    }

    fn run_with(sut: &'a dyn Sut, trace: &Trace, log: bool) -> TraceRun {
        let caps = sut.capabilities();
        let mut checker = Checker {
            sut,
            model: Model::new(trace.config.clone()),
            ids: IdMap::default(),
            closed_ids: BTreeSet::new(),
            written: BTreeMap::new(),
            stats: RuleStats::default(),
            log,
            transcript: Vec::new(),
        };
        let mut run = TraceRun {
            verdict: Verdict::Pass,
            steps_run: 0,
            steps_invalid: Vec::new(),
            stats: RuleStats::default(),
            transcript: Vec::new(),
        };
        if let Some(need) = missing_capability(trace, &caps) {
            run.verdict = Verdict::Skipped(format!("needs {need}"));
            return run;
        }
        if let Err(error) = sut.reset(&trace.config) {
            run.verdict = Verdict::Error(HarnessError::Reset { error });
            return run;
        }
        for (index, step) in trace.steps.iter().enumerate() {
            let flight = match step {
                Step::End { slot, .. } => checker
                    .model
                    .in_flight()
                    .into_iter()
                    .find(|f| f.0 == *slot)
                    .map(|f| f.1),
                _ => None,
            };
            let obs = checker.model.step(step);
            let session = obs.ran_in.map(|r| r.session).or(flight);
            if let Some(reason) = &obs.invalid {
                if checker.log {
                    checker
                        .transcript
                        .push(format!("#{index} skipped (not valid here: {reason})"));
                }
                run.steps_invalid.push((index, reason.clone()));
                continue;
            }
            if let Some(what) = obs.model_fault.clone() {
                if checker.log {
                    checker
                        .transcript
                        .push(transcript::step_line(index, step, &obs));
                }
                run.verdict = Verdict::Error(HarnessError::ModelFault { step: index, what });
                break;
            }
            checker.stats.fire_all(&obs.fired);
            run.steps_run += 1;
            let result = checker.check_step(index, step, &obs, session);
            match result {
                Ok(()) => {
                    // Every observation of the step matched: each rule whose branch ran in it
                    // was checked once more.
                    let mut seen = wlcs_model::RuleSet::EMPTY;
                    for rule in &obs.fired {
                        if !seen.contains(*rule) {
                            seen.insert(*rule);
                            checker.stats.check(*rule);
                        }
                    }
                }
                Err(StepFailure::Diverged(d)) => {
                    checker.stats.diverge(d.rule);
                    checker.transcript.push(format!(
                        "   !! {} diverges: {}: expected {}, got {}",
                        d.rule, d.what, d.expected, d.actual
                    ));
                    run.verdict = Verdict::Diverged(d);
                    break;
                }
                Err(StepFailure::Error(e)) => {
                    checker.transcript.push(format!("   !! harness error: {e}"));
                    run.verdict = Verdict::Error(e);
                    break;
                }
            }
        }
        run.stats = checker.stats;
        run.transcript = checker.transcript;
        run
    }

    fn sut_err(index: usize, obs: &StepObs) -> impl Fn(SutError) -> StepFailure + use<> {
        let rule = primary_rule(obs);
        move |error| {
            StepFailure::Error(HarnessError::Sut {
                step: index,
                rule,
                error,
            })
        }
    }

    fn check_step(
        &mut self,
        index: usize,
        step: &Step,
        obs: &StepObs,
        session: Option<SessionRef>,
    ) -> StepResult {
        let err = Self::sut_err(index, obs);
        let mut reads: Vec<WireRead> = Vec::new();
        let mut response: Option<Response> = None;
        let mut ran_in_id: Option<String> = None;
        let mut sent_cookie: Option<String> = None;
        match step {
            Step::Request(request) => {
                let wire = self.ids.request(request);
                sent_cookie = wire.cookie.clone();
                let resp = self.sut.request(&wire).map_err(err)?;
                ran_in_id = resp.session_id.clone();
                reads = resp.reads.clone();
                response = Some(resp);
            }
            Step::Begin { slot, request } => {
                let wire = self.ids.request(request);
                sent_cookie = wire.cookie.clone();
                match self.sut.begin(*slot, &wire).map_err(err)? {
                    Begun::Running {
                        session_id,
                        reads: r,
                    } => {
                        ran_in_id = Some(session_id);
                        reads = r;
                    }
                    Begun::Done(resp) => {
                        ran_in_id = resp.session_id.clone();
                        reads = resp.reads.clone();
                        response = Some(resp);
                    }
                }
            }
            Step::End { slot, actions } => {
                let wire = self.ids.actions(actions);
                let resp = self.sut.end(*slot, &wire).map_err(err)?;
                reads = resp.reads.clone();
                response = Some(resp);
            }
            Step::NonWeb { process, actions } => {
                let wire = self.ids.actions(actions);
                reads = self.sut.non_web(*process, &wire).map_err(err)?;
            }
            Step::SetOption(option) => self.sut.set_option(option).map_err(err)?,
            Step::SetHook(behavior) => {
                let wire = self.ids.hook(behavior);
                self.sut.set_hook(&wire).map_err(err)?;
            }
            Step::Advance { seconds } => self.sut.advance(*seconds).map_err(err)?,
        }
        if self.log {
            self.transcript
                .push(transcript::step_line(index, step, obs));
        }
        self.check_status(index, obs, response.as_ref())?;
        self.check_routing(
            index,
            obs,
            response.as_ref(),
            ran_in_id.as_deref(),
            sent_cookie,
        )?;
        self.check_reads(index, step, obs, session, &reads)?;
        self.check_cookie(index, obs, session, response.as_ref())?;
        self.note_closes(obs);
        // One call for everything observed after the step (one round trip over HTTP).
        let observed = self
            .sut
            .observe(touches_shared_state(step))
            .map_err(Self::sut_err(index, obs))?;
        self.check_hooks(index, step, obs, &observed.hook_runs)?;
        if let Some(locks) = &observed.locks {
            self.check_locks(index, locks)?;
        }
        if let Some(ipvars) = &observed.ipvars {
            self.check_ipvars(index, ipvars)?;
        }
        Ok(())
    }

    fn diverge(
        &self,
        step: usize,
        rule: RuleId,
        what: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> StepFailure {
        self.diverge_also(step, rule, RuleSet::EMPTY, what, expected, actual)
    }

    fn diverge_also(
        &self,
        step: usize,
        rule: RuleId,
        also: RuleSet,
        what: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> StepFailure {
        StepFailure::Diverged(Divergence {
            step,
            rule,
            also: also.iter().filter(|r| *r != rule).collect(),
            what: what.into(),
            expected: expected.into(),
            actual: actual.into(),
        })
    }

    /// Which session a request ran in: REQ-1/2/3, CLOSE-1, CLOSE-8, TIME-1/3, LIMIT-1,
    /// MOBILE-3... as the model's routing says; INV-3 and REQ-6 on the IDs themselves.
    fn check_routing(
        &mut self,
        index: usize,
        obs: &StepObs,
        response: Option<&Response>,
        actual: Option<&str>,
        sent_cookie: Option<String>,
    ) -> StepResult {
        let status_refused = response.is_some_and(|r| r.status != 200);
        let Some(ran_in) = obs.ran_in else {
            // Refused by the model: the status comparison reports it.
            return Ok(());
        };
        if status_refused {
            return Ok(());
        }
        self.stats.check(ran_in.rule);
        let Some(actual) = actual else {
            return Err(self.diverge(
                index,
                ran_in.rule,
                "session the request ran in",
                ran_in.session.to_string(),
                "no session reported",
            ));
        };
        let expected = if ran_in.opened {
            "a new session".to_string()
        } else {
            format!(
                "{} ({})",
                ran_in.session,
                self.ids.get(ran_in.session).unwrap_or("?")
            )
        };
        if ran_in.opened {
            self.stats.check(RuleId::Req6);
            self.stats.check(RuleId::Inv3);
            if let Some(old) = self.ids.find(actual) {
                let mut d = Divergence {
                    step: index,
                    rule: ran_in.rule,
                    also: Vec::new(),
                    what: "session the request ran in".into(),
                    expected,
                    actual: format!("{old} ({actual}), an existing session"),
                };
                if self.closed_ids.contains(actual) {
                    d.also.push(RuleId::Inv3);
                }
                // REQ-6: an ID is never issued twice, whatever the client sent.
                d.also.push(RuleId::Req6);
                if sent_cookie.as_deref() == Some(actual) {
                    // REQ-3: the client's value was adopted (session fixation).
                    d.also.push(RuleId::Req3);
                }
                return Err(StepFailure::Diverged(d));
            }
            if sent_cookie.as_deref() == Some(actual) {
                // REQ-3 (SHOULD): the server mints the new ID; it never adopts the client's.
                return Err(self.diverge(
                    index,
                    RuleId::Req3,
                    "new session ID (session fixation)",
                    "a server-minted ID",
                    format!("the client's cookie value {actual:?}"),
                ));
            }
            if !is_plausible_id(actual) {
                return Err(self.diverge(
                    index,
                    RuleId::Req6,
                    "new session ID",
                    "a non-empty cookie-safe ID",
                    format!("{actual:?}"),
                ));
            }
            self.ids.bind(ran_in.session, actual);
            Ok(())
        } else if self.ids.get(ran_in.session) == Some(actual) {
            Ok(())
        } else {
            let got = match self.ids.find(actual) {
                Some(other) => format!("{other} ({actual})"),
                None => format!("a new session ({actual})"),
            };
            Err(self.diverge(
                index,
                ran_in.rule,
                "session the request ran in",
                expected,
                got,
            ))
        }
    }

    fn check_reads(
        &mut self,
        index: usize,
        step: &Step,
        obs: &StepObs,
        session: Option<SessionRef>,
        actual: &[WireRead],
    ) -> StepResult {
        if actual.len() != obs.reads.len() {
            let refused = obs.response.as_ref().is_some_and(|r| r.status.value != 200);
            if !refused {
                return Err(StepFailure::Error(HarnessError::Sut {
                    step: index,
                    rule: primary_rule(obs),
                    error: SutError::Protocol(format!(
                        "{} action results for {} actions",
                        actual.len(),
                        obs.reads.len()
                    )),
                }));
            }
            return Ok(());
        }
        let ran_in = session;
        for (i, (expected, got)) in obs.reads.iter().zip(actual).enumerate() {
            if expected.value == Read::Unchecked {
                continue;
            }
            self.stats.check(expected.rule);
            let got_read = self.ids.read(got);
            if got_read.as_ref() != Some(&expected.value) {
                let mut d = Divergence {
                    step: index,
                    rule: expected.rule,
                    also: expected.also.iter().collect(),
                    what: format!("result of action {i}"),
                    expected: transcript::read(&expected.value),
                    actual: format!("{got:?}"),
                };
                if let WireRead::Var(Some(v)) = got
                    && let Some(writer) = self.written.get(v)
                    && Some(*writer) != ran_in
                {
                    d.also.push(RuleId::Inv4);
                }
                return Err(StepFailure::Diverged(d));
            }
            self.stats.check(RuleId::Inv4);
        }
        // Remember who wrote which value, for INV-4.
        if let (Some(session), Some(actions)) = (ran_in, actions_of(step)) {
            for a in actions {
                if let Action::SetVar { value, .. } = a {
                    self.written.insert(*value, session);
                }
            }
        }
        Ok(())
    }

    /// The response's status, and whether there is a response at all.
    fn check_status(
        &mut self,
        index: usize,
        obs: &StepObs,
        actual: Option<&Response>,
    ) -> StepResult {
        let (Some(expected), Some(actual)) = (&obs.response, actual) else {
            if obs.response.is_some() != actual.is_some() {
                let rule = obs
                    .response
                    .as_ref()
                    .map_or(RuleId::Req2, |r| r.status.rule);
                return Err(self.diverge(
                    index,
                    rule,
                    "response",
                    if obs.response.is_some() {
                        "an immediate response"
                    } else {
                        "a request in flight"
                    },
                    if actual.is_some() {
                        "an immediate response"
                    } else {
                        "a request in flight"
                    },
                ));
            }
            return Ok(());
        };
        self.stats.check(expected.status.rule);
        if expected.status.value != actual.status {
            return Err(self.diverge_also(
                index,
                expected.status.rule,
                expected.status.also,
                "HTTP status",
                expected.status.value.to_string(),
                actual.status.to_string(),
            ));
        }
        Ok(())
    }

    /// The session cookie effect of a 200 response.
    fn check_cookie(
        &mut self,
        index: usize,
        obs: &StepObs,
        session: Option<SessionRef>,
        actual: Option<&Response>,
    ) -> StepResult {
        let (Some(expected), Some(actual)) = (&obs.response, actual) else {
            return Ok(());
        };
        if actual.status != 200 {
            return Ok(());
        }
        let name = &self.model.options().cookie_name;
        let got = last_session_cookie(name, &actual.set_cookies);
        self.stats.check(expected.cookie.rule);
        let own = session.and_then(|s| self.ids.get(s));
        if !cookie_matches(&expected.cookie, &got, own, &self.ids) {
            let mut also = expected.cookie.also;
            if matches!(got, GotCookie::Expire) {
                // The target closed a session the model did not: the step's no-op close is
                // what it got wrong.
                if let Some(rule) = noop_close_rule(&obs.fired) {
                    also.insert(rule);
                }
            }
            let shown = actual
                .set_cookies
                .iter()
                .map(|c| c.raw.clone())
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(self.diverge_also(
                index,
                expected.cookie.rule,
                also,
                format!("session cookie ({name})"),
                transcript::cookie(&expected.cookie.value),
                if shown.is_empty() {
                    "no Set-Cookie".to_string()
                } else {
                    shown
                },
            ));
        }
        Ok(())
    }

    /// Remembers the IDs the command closed in this step, for INV-3.
    fn note_closes(&mut self, obs: &StepObs) {
        if !obs.fired.contains(&RuleId::Close1) {
            return;
        }
        for i in 0..self.model.sessions_opened() {
            let s = SessionRef(i);
            if self.model.id_state(s) == Some(wlcs_model::world::IdState::Closed)
                && let Some(id) = self.ids.get(s)
            {
                if self.closed_ids.contains(id) {
                    continue;
                }
                self.closed_ids.insert(id.to_string());
            }
        }
    }

    /// Hook runs, compared as a multiset per step: CLOSE-5/6/14, MOBILE-2, TIME-2, LIMIT-1,
    /// CLOSE-11/12 timing; INV-2 on every one.
    fn check_hooks(
        &mut self,
        index: usize,
        step: &Step,
        obs: &StepObs,
        actual: &[WireHookRun],
    ) -> StepResult {
        self.stats.check(RuleId::Inv2);
        let mut unmatched: Vec<&WireHookRun> = actual.iter().collect();
        for expected in &obs.hooks {
            self.stats.check(expected.cause);
            let want_id = self.ids.get(expected.session).unwrap_or("");
            // Prefer the run that saw exactly the expected context: with two runs for one
            // process (one too many), the wrong one is the extra.
            let same = |h: &&WireHookRun| h.session_id == want_id && h.lane == expected.lane;
            let pos = unmatched
                .iter()
                .position(|h| same(h) && h.snapshot == expected.snapshot)
                .or_else(|| unmatched.iter().position(same));
            let Some(pos) = pos else {
                return Err(self.diverge_also(
                    index,
                    expected.cause,
                    expected.also.with(RuleId::Inv2),
                    format!("hook run for {} lane {}", expected.session, expected.lane),
                    transcript::hook(expected),
                    "no hook run",
                ));
            };
            let got = unmatched.remove(pos);
            self.stats.check(RuleId::Close6);
            if got.snapshot != expected.snapshot {
                // The hook saw the wrong context: CLOSE-6, and the rule that ended the
                // process says the hook sees the context as its last request left it.
                let mut also = expected.also.with(expected.cause);
                let leaked = got.snapshot.vars.values().any(|v| {
                    self.written
                        .get(v)
                        .is_some_and(|writer| *writer != expected.session)
                });
                if leaked {
                    also.insert(RuleId::Inv4);
                }
                return Err(self.diverge_also(
                    index,
                    RuleId::Close6,
                    also,
                    format!("context the hook of {} saw", expected.session),
                    transcript::snapshot(&expected.snapshot),
                    transcript::snapshot(&got.snapshot),
                ));
            }
            if got.failed != expected.failed {
                self.stats.check(RuleId::Close14);
                return Err(self.diverge(
                    index,
                    RuleId::Close14,
                    format!("hook failure of {}", expected.session),
                    expected.failed.to_string(),
                    got.failed.to_string(),
                ));
            }
        }
        if let Some(extra) = unmatched.first() {
            let (rule, who) = match self.ids.find(&extra.session_id) {
                Some(s)
                    if matches!(step, Step::Advance { .. })
                        && self.model.process_running(ProcRef::Web {
                            session: s,
                            lane: extra.lane,
                        }) =>
                {
                    // A clock move ended a process the model keeps running: it timed out on
                    // another clock than its own idle time (TIME-4).
                    (RuleId::Time4, s.to_string())
                }
                Some(s) => (
                    self.model.explain_extra_hook(s, extra.lane, &obs.fired),
                    s.to_string(),
                ),
                None => (
                    RuleId::Inv2,
                    format!("unknown session {:?}", extra.session_id),
                ),
            };
            return Err(StepFailure::Diverged(Divergence {
                step: index,
                rule,
                also: if rule == RuleId::Inv2 {
                    vec![]
                } else {
                    vec![RuleId::Inv2]
                },
                what: "hook runs".into(),
                expected: format!("no hook run for {who} lane {}", extra.lane),
                actual: format!(
                    "a hook run seeing {}",
                    transcript::snapshot(&extra.snapshot)
                ),
            }));
        }
        Ok(())
    }

    /// The lock table: CLOSE-7, TIME-2, LIMIT-1 releases; INV-1 on every owner.
    fn check_locks(&mut self, index: usize, actual: &BTreeMap<RecordRef, WireProc>) -> StepResult {
        if self.model.scalable() {
            return Ok(());
        }
        let expected = self.model.locks();
        self.stats.check(RuleId::Inv1);
        let mut records: BTreeSet<_> = expected.keys().copied().collect();
        records.extend(actual.keys().copied());
        for record in records {
            let want = expected.get(&record).copied();
            let got = actual.get(&record).map(|p| self.ids.proc(p));
            let (rule, rule_also) = self.model.lock_rule(record);
            self.stats.check(rule);
            if want.map(Some) != got {
                let mut also: Vec<RuleId> = rule_also.iter().collect();
                if let Some(Some(owner)) = got
                    && !self.model.process_running(owner)
                {
                    also.push(RuleId::Inv1);
                }
                if let Some(None) = got {
                    also.push(RuleId::Inv1);
                }
                return Err(StepFailure::Diverged(Divergence {
                    step: index,
                    rule,
                    also,
                    what: format!("lock of {record}"),
                    expected: want.map_or("free".to_string(), |p| format!("held by {p}")),
                    actual: match actual.get(&record) {
                        None => "free".to_string(),
                        Some(p) => format!("held by {}", self.show_proc(p)),
                    },
                }));
            }
        }
        Ok(())
    }

    fn show_proc(&self, p: &WireProc) -> String {
        match self.ids.proc(p) {
            Some(proc) => proc.to_string(),
            None => format!("{p:?}"),
        }
    }

    /// Interprocess variables: CLOSE-7's negative space.
    fn check_ipvars(&mut self, index: usize, actual: &BTreeMap<VarName, i64>) -> StepResult {
        let expected = self.model.ipvars();
        let mut vars: BTreeSet<_> = expected.keys().copied().collect();
        vars.extend(actual.keys().copied());
        for var in vars {
            let rule = self.model.ipvar_rule(var);
            self.stats.check(rule);
            if expected.get(&var) != actual.get(&var) {
                return Err(self.diverge(
                    index,
                    rule,
                    format!("interprocess variable <>v{var}"),
                    format!("{:?}", expected.get(&var)),
                    format!("{:?}", actual.get(&var)),
                ));
            }
        }
        Ok(())
    }
}

/// The session cookie a response set, as the last `Set-Cookie` under the cookie name says.
enum GotCookie {
    None,
    Expire,
    Value(String),
}

fn last_session_cookie(name: &str, cookies: &[SetCookie]) -> GotCookie {
    match cookies.iter().rev().find(|c| c.name == name) {
        None => GotCookie::None,
        Some(c) if c.expiring => GotCookie::Expire,
        Some(c) => GotCookie::Value(c.value.clone()),
    }
}

fn cookie_matches(
    expected: &Ruled<CookieEffect>,
    got: &GotCookie,
    own: Option<&str>,
    ids: &IdMap,
) -> bool {
    match (&expected.value, got) {
        (CookieEffect::Expire, GotCookie::Expire) => true,
        (CookieEffect::Issue(s), GotCookie::Value(v)) => ids.get(*s) == Some(v.as_str()),
        (CookieEffect::Keep, GotCookie::None) => true,
        // A refresh that repeats the current ID is still "no new ID".
        (CookieEffect::Keep, GotCookie::Value(v)) => own.is_none() || own == Some(v.as_str()),
        _ => false,
    }
}

/// The no-op close a step ran, if any: what a target that closed anyway got wrong.
fn noop_close_rule(fired: &[RuleId]) -> Option<RuleId> {
    [
        RuleId::Close9,
        RuleId::Close13,
        RuleId::Close10,
        RuleId::Close2,
    ]
    .into_iter()
    .find(|r| fired.contains(r))
}

fn actions_of(step: &Step) -> Option<&[Action]> {
    match step {
        Step::Request(r) | Step::Begin { request: r, .. } => Some(&r.actions),
        Step::End { actions, .. } | Step::NonWeb { actions, .. } => Some(actions),
        _ => None,
    }
}

fn touches_shared_state(step: &Step) -> bool {
    !matches!(step, Step::SetHook(_))
}

/// A session ID a client can carry in a cookie (REQ-6's minimum).
fn is_plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
}
