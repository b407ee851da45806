//! The differential checker: replays a trace on the model and a system under test in
//! lockstep, compares every observation, and checks the invariants on what the system under
//! test shows. A divergence names its rule, its step, what was expected and what came back.
//!
//! The rooms: this file is the driver (step source -> `Model::step` -> [`observe`] ->
//! [`compare`] -> statistics); [`observe`] sends a step through the `Sut` trait; [`compare`]
//! is the pure comparison core the linearizer and the bench driver call too; [`ids`] binds
//! symbolic sessions to real IDs; [`capabilities`] is the table of what each capability gates.
//!
//! Architecture invariant: the checker sees the system under test only through the `Sut`
//! trait.

pub mod capabilities;
pub mod compare;
pub mod ids;
pub mod observe;

use crate::stats::RuleStats;
use crate::transcript;
pub use capabilities::{missing_capability, rules_needing};
pub use compare::Divergence;
use compare::{Context, HookSeen, Mismatch, OwnerSeen};
use ids::IdMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wlcs_model::vocab::{Action, SessionRef, Step};
use wlcs_model::{CookieEffect, Model, RuleId, StepObs, Trace};
use wlcs_sut::{Response, Sut, SutError, WireProc};

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

/// Checks one trace against a system under test.
pub struct Checker<'a> {
    sut: &'a dyn Sut,
    model: Model,
    ids: IdMap,
    /// Variable values each session's requests wrote (INV-4: values are unique per trace in
    /// generated traces, so a value seen elsewhere leaked).
    written: BTreeMap<i64, SessionRef>,
    stats: RuleStats,
    /// Whether to render the transcript (off while generating and shrinking: rendering costs
    /// more than checking; a failing case is re-run with it on).
    log: bool,
    transcript: Vec<String>,
    /// The client's cookies on the virtual clock (REQ-4's SHOULD).
    jar: crate::jar::Jar,
    /// A step since the last lock-table and interprocess-variable comparison skipped them
    /// (it could not change them, [`observe::may_change_shared`]): they are compared again
    /// before the trace passes, so a change nothing asked for is still caught.
    shared_unchecked: bool,
}

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
        Checker::run_reading(sut, trace, wlcs_model::vocab::Readings::default(), log)
    }

    fn new(sut: &'a dyn Sut, model: Model, log: bool) -> Checker<'a> {
        Checker {
            sut,
            model,
            ids: IdMap::default(),
            written: BTreeMap::new(),
            stats: RuleStats::default(),
            log,
            transcript: Vec::new(),
            jar: crate::jar::Jar::default(),
            shared_unchecked: false,
        }
    }

    /// Checks `trace` with a model that follows these readings of the SHOULD rules
    /// (`crate::readings`).
    pub fn run_reading(
        sut: &'a dyn Sut,
        trace: &Trace,
        readings: wlcs_model::vocab::Readings,
        log: bool,
    ) -> TraceRun {
        let mut checker = Checker::new(
            sut,
            Model::with_readings(trace.config.clone(), readings),
            log,
        );
        let mut run = empty_run();
        if let Some(need) = missing_capability(trace, &sut.capabilities()) {
            run.verdict = Verdict::Skipped(format!("needs {need}"));
            return run;
        }
        if let Err(error) = sut.reset(&trace.config) {
            run.verdict = Verdict::Error(HarnessError::Reset { error });
            return run;
        }
        for (index, step) in trace.steps.iter().enumerate() {
            if let Some(verdict) = checker.run_step(index, step, &mut run) {
                run.verdict = verdict;
                break;
            }
        }
        if run.verdict == Verdict::Pass
            && let Some(verdict) = checker.finish(trace.steps.len())
        {
            run.verdict = verdict;
        }
        run.stats = checker.stats;
        run.transcript = checker.transcript;
        run
    }

    /// Generates and checks a trace in one pass, the model stepping once per step: each
    /// choice is interpreted against the checker's own model ([`crate::generate`]), and the
    /// step's observations are the ones the generator's model step produced. The trace and
    /// the run are those of [`crate::generate::interpret`] then [`Checker::run_quiet`] (the
    /// model never depends on what the target answers, so after a failure the rest of the
    /// trace is interpreted alone).
    pub fn run_generated(
        sut: &'a dyn Sut,
        choices: &[crate::generate::Choice],
        cfg: &crate::generate::GenConfig,
    ) -> (Trace, TraceRun) {
        let mut checker = Checker::new(sut, Model::new(cfg.world.clone()), false);
        let mut run = empty_run();
        let mut steps = Vec::with_capacity(choices.len());
        // Checking stops at the first failure, a step the target cannot take, or a failed
        // reset; interpretation goes on to the end of the choices.
        let mut checking = match sut.reset(&cfg.world) {
            Ok(()) => true,
            Err(error) => {
                run.verdict = Verdict::Error(HarnessError::Reset { error });
                false
            }
        };
        let mut skipped = None;
        for (i, choice) in choices.iter().enumerate() {
            let Some(step) = crate::generate::make_step(i, choice, &checker.model, cfg) else {
                continue;
            };
            if skipped.is_none()
                && let Some(need) =
                    capabilities::Capability::needed_by(&step).find(|c| !c.present(&cfg.caps))
            {
                skipped = Some(need.gate().need.to_string());
                checking = false;
            }
            let obs = checker.model.step(&step);
            if obs.invalid.is_some() {
                // The generator drops it: it is not part of the trace.
                continue;
            }
            if checking && let Some(verdict) = checker.check_obs(steps.len(), &step, &obs, &mut run)
            {
                run.verdict = verdict;
                checking = false;
            }
            steps.push(step);
        }
        if checking && let Some(verdict) = checker.finish(steps.len()) {
            run.verdict = verdict;
        }
        let trace = Trace {
            config: cfg.world.clone(),
            steps,
        };
        if let Some(need) = skipped {
            // As the long way: a trace the target cannot take is skipped before its reset.
            let mut run = empty_run();
            run.verdict = Verdict::Skipped(format!("needs {need}"));
            return (trace, run);
        }
        if let Verdict::Error(HarnessError::Reset { .. }) = run.verdict {
            return (trace, run);
        }
        run.stats = checker.stats;
        run.transcript = checker.transcript;
        (trace, run)
    }

    /// Steps the model, then the system under test, and compares: `Some` ends the trace.
    fn run_step(&mut self, index: usize, step: &Step, run: &mut TraceRun) -> Option<Verdict> {
        let obs = self.model.step(step);
        if let Some(reason) = &obs.invalid {
            self.note(|| format!("#{index} skipped (not valid here: {reason})"));
            run.steps_invalid.push((index, reason.clone()));
            return None;
        }
        self.check_obs(index, step, &obs, run)
    }

    /// The system under test's half of a step the model already took (`obs`): `Some` ends
    /// the trace.
    fn check_obs(
        &mut self,
        index: usize,
        step: &Step,
        obs: &StepObs,
        run: &mut TraceRun,
    ) -> Option<Verdict> {
        if let Some(what) = obs.model_fault.clone() {
            self.note(|| transcript::step_line(index, step, obs));
            return Some(Verdict::Error(HarnessError::ModelFault {
                step: index,
                what,
            }));
        }
        self.stats.fire_all(&obs.fired);
        run.steps_run += 1;
        match self.check_step(index, step, obs) {
            Ok(()) => {
                // Every observation of the step matched: each rule whose branch ran in it
                // was checked once more.
                let mut seen = wlcs_model::RuleSet::EMPTY;
                for rule in &obs.fired {
                    if !seen.contains(*rule) {
                        seen.insert(*rule);
                        self.stats.check(*rule);
                    }
                }
                None
            }
            Err(StepFailure::Diverged(d)) => {
                self.stats.diverge_graded(d.rule, d.should);
                self.transcript.push(format!(
                    "   !! {} diverges: {}: expected {}, got {}",
                    d.rule, d.what, d.expected, d.actual
                ));
                Some(Verdict::Diverged(d))
            }
            Err(StepFailure::Error(e)) => {
                self.transcript.push(format!("   !! harness error: {e}"));
                Some(Verdict::Error(e))
            }
        }
    }

    /// Before a trace passes: the lock table and the interprocess variables once more when a
    /// step skipped them (`last` is the step count; a divergence is charged to the last step).
    fn finish(&mut self, steps: usize) -> Option<Verdict> {
        if !std::mem::take(&mut self.shared_unchecked) {
            return None;
        }
        let index = steps.saturating_sub(1);
        let none = StepObs::default();
        let observed = match self.sut.observe(true) {
            Ok(observed) => observed,
            Err(error) => {
                let e = HarnessError::Sut {
                    step: index,
                    rule: None,
                    error,
                };
                self.transcript.push(format!("   !! harness error: {e}"));
                return Some(Verdict::Error(e));
            }
        };
        match self.compare_shared(&none, &observed, false) {
            Ok(()) => None,
            Err(d) => {
                let d = d.at(index);
                self.stats.diverge(d.rule);
                self.transcript.push(format!(
                    "   !! {} diverges: {}: expected {}, got {}",
                    d.rule, d.what, d.expected, d.actual
                ));
                Some(Verdict::Diverged(d))
            }
        }
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        if self.log {
            self.transcript.push(line());
        }
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

    /// One step through the system under test, compared by [`compare`].
    fn check_step(&mut self, index: usize, step: &Step, obs: &StepObs) -> Result<(), StepFailure> {
        let err = Self::sut_err(index, obs);
        let shown = observe::send(self.sut, &self.ids, step).map_err(&err)?;
        if index == 0 {
            self.check_cookie_name()?;
        }
        self.note(|| transcript::step_line(index, step, obs));
        let failed = |m: Mismatch| match m {
            Mismatch::Diverged(d) => StepFailure::Diverged(d.at(index)),
            Mismatch::Protocol(p) => err(SutError::Protocol(p)),
        };
        let Checker {
            model,
            ids,
            written,
            stats,
            ..
        } = self;
        let cookie_name = &model.options().cookie_name;
        let got = shown.observation(cookie_name);
        let cx = Context {
            model,
            cookie_name,
            written,
            may_expire: false,
        };
        compare::request(obs, &got, ids, cx, stats).map_err(failed)?;
        self.check_jar(obs, shown.response.as_ref())
            .map_err(|d| StepFailure::Diverged(d.at(index)))?;
        let written = &mut self.written;
        // Remember who wrote which value, for INV-4.
        if let (Some(session), Some(actions)) = (obs.session, actions_of(step)) {
            for a in actions {
                if let Action::SetVar { value, .. } = a {
                    written.insert(*value, session);
                }
            }
        }
        // One call for everything observed after the step (one round trip over HTTP); the
        // lock table and the interprocess variables only when the step may change them.
        let shared = observe::may_change_shared(step, obs);
        self.shared_unchecked = !shared;
        let observed = self
            .sut
            .observe(shared)
            .map_err(Self::sut_err(index, obs))?;
        self.compare_after(step, obs, &observed)
            .map_err(|d| StepFailure::Diverged(d.at(index)))
    }

    /// REQ-1's "a `Set-Cookie` under the session cookie name": after the reset and the
    /// first step, the name the implementation gives for its session cookie
    /// ([`Sut::session_cookie_name`], what a server carrying it over HTTP reads requests'
    /// cookies by) is the model's. Asked once per trace; an implementation that does not name
    /// its cookie (`Unsupported`) is not held to it.
    fn check_cookie_name(&mut self) -> Result<(), StepFailure> {
        let name = match self.sut.session_cookie_name() {
            Ok(name) => name,
            Err(SutError::Unsupported(_)) => return Ok(()),
            Err(error) => {
                return Err(StepFailure::Error(HarnessError::Sut {
                    step: 0,
                    rule: Some(RuleId::Req1),
                    error,
                }));
            }
        };
        self.stats.check(RuleId::Req1);
        let want = &self.model.options().cookie_name;
        if &name == want {
            return Ok(());
        }
        Err(StepFailure::Diverged(Divergence::new(
            RuleId::Req1,
            wlcs_model::RuleSet::EMPTY,
            "session cookie name after the first step (Sut::session_cookie_name)",
            want.clone(),
            format!("{name:?}"),
        )))
    }

    /// REQ-4 (SHOULD): the client's cookie expires when WEB LEGACY GET SESSION EXPIRATION
    /// says the session does, so the jar keeps the session exactly as long as the server.
    fn check_jar(&mut self, obs: &StepObs, actual: Option<&Response>) -> Result<(), Divergence> {
        let Some(actual) = actual.filter(|r| r.status == 200) else {
            return Ok(());
        };
        let now = self.model.now();
        let name = self.model.options().cookie_name.clone();
        self.jar.receive(&name, &actual.set_cookies, now);
        let expire = obs
            .response
            .as_ref()
            .is_some_and(|r| r.cookie.value == CookieEffect::Expire);
        let (Some(s), false, false) = (obs.session, expire, self.model.scalable()) else {
            return Ok(());
        };
        let (Some(id), Some(server)) = (self.ids.get(s), self.model.expiration(s)) else {
            return Ok(());
        };
        if server <= now || !self.model.exists(s) {
            return Ok(());
        }
        self.stats.check(RuleId::Req4);
        let client = self.jar.expiry(id);
        if client != Some(server) {
            // REQ-4's SHOULD part (the cookie sent again with the slid lifetime): graded SHOULD.
            return Err(Divergence::new(
                RuleId::Req4,
                wlcs_model::RuleSet::EMPTY,
                format!("client cookie expiry of {s} ({name}; REQ-4's SHOULD part)"),
                format!("{server} s, as WEB LEGACY GET SESSION EXPIRATION"),
                match client {
                    Some(u64::MAX) => "a cookie without Max-Age".to_string(),
                    Some(at) => format!("{at} s"),
                    None => "no cookie".to_string(),
                },
            )
            .graded_should());
        }
        Ok(())
    }

    /// Hook runs, the lock table and the interprocess variables after a step.
    fn compare_after(
        &mut self,
        step: &Step,
        obs: &StepObs,
        observed: &wlcs_sut::Observed,
    ) -> Result<(), Divergence> {
        self.compare_hooks(obs, observed, matches!(step, Step::Advance { .. }))?;
        self.compare_shared(obs, observed, true)
    }

    /// The hook runs a step showed against the model's (`advanced`: the step moved the clock,
    /// so timeouts ran in due order).
    fn compare_hooks(
        &mut self,
        obs: &StepObs,
        observed: &wlcs_sut::Observed,
        advanced: bool,
    ) -> Result<(), Divergence> {
        let cx = Context {
            model: &self.model,
            cookie_name: &self.model.options().cookie_name,
            written: &self.written,
            may_expire: false,
        };
        let runs: Vec<HookSeen<'_, String>> = observed.hook_runs.iter().map(HookSeen::of).collect();
        compare::hooks(obs, &runs, advanced, &self.ids, cx, &mut self.stats)
    }

    /// The lock table and the interprocess variables, when observed; hook runs only when
    /// `hooks_done` is false and there are any (the last comparison of a trace: no step ran,
    /// so any run is one too many).
    fn compare_shared(
        &mut self,
        obs: &StepObs,
        observed: &wlcs_sut::Observed,
        hooks_done: bool,
    ) -> Result<(), Divergence> {
        if !hooks_done && !observed.hook_runs.is_empty() {
            self.compare_hooks(obs, observed, false)?;
        }
        if let Some(locks) = &observed.locks {
            compare::locks(
                &self.model,
                locks,
                owner_seen,
                None,
                &self.ids,
                &mut self.stats,
            )?;
        }
        if let Some(ipvars) = &observed.ipvars {
            compare::ipvars(&self.model, ipvars, &mut self.stats)?;
        }
        Ok(())
    }
}

/// A lock owner as the comparison core reads it.
pub fn owner_seen(p: &WireProc) -> OwnerSeen<'_, String> {
    match p {
        WireProc::Web { session_id, lane } => OwnerSeen::Web {
            session: session_id,
            lane: *lane,
        },
        WireProc::NonWeb(n) => OwnerSeen::NonWeb(*n),
    }
}

fn empty_run() -> TraceRun {
    TraceRun {
        verdict: Verdict::Pass,
        steps_run: 0,
        steps_invalid: Vec::new(),
        stats: RuleStats::default(),
        transcript: Vec::new(),
    }
}

fn actions_of(step: &Step) -> Option<&[Action]> {
    match step {
        Step::Request(r) | Step::Begin { request: r, .. } => Some(&r.actions),
        Step::End { actions, .. } | Step::NonWeb { actions, .. } => Some(actions),
        _ => None,
    }
}
