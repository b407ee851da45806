//! Runs a suite: fixtures, then generated cases, each checked by the differential checker;
//! failing generated cases are shrunk with proptest's value trees. All randomness flows from
//! one `u64` seed through `ChaCha8Rng`: the seed gives each case its own seed, and a case
//! seed gives proptest's generator its bytes, so one case replays alone.
//!
//! This file holds the configuration, the seeds, checking and shrinking one trace;
//! `suite.rs` the run's steps (fixtures, cases in case order, the budgets, the report);
//! `ahead.rs` the cases checked ahead on the workers.

mod ahead;
mod suite;

pub use ahead::CASES_AHEAD_MAX;
pub use suite::run_workers;

use crate::check::{Divergence, HarnessError, TraceRun, Verdict as TraceVerdict};
use crate::fixture::Fixture;
use crate::gate;
use crate::generate::{GenConfig, choices, interpret};
use crate::replay::ReplayCommand;
use crate::report::{self, Report};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::path::PathBuf;
use std::time::Instant;
use wlcs_model::vocab::Readings;
use wlcs_model::{RuleId, Trace, WorldConfig};
use wlcs_sut::{Capabilities, Sut, SutError};

/// How a run is set up.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The seed every generated case derives from.
    pub seed: u64,
    /// Generated cases.
    pub cases: u64,
    /// Choices per generated trace, at most (steps after interpretation may be fewer).
    pub steps: usize,
    /// SHOULD divergences fail.
    pub strict: bool,
    /// Rules to report and gate on: exact IDs or globs (`CLOSE-*`, see
    /// [`crate::gate::select_rules`]); empty: every rule.
    pub rules: Vec<String>,
    /// Rules left out of the selection (exact IDs or globs).
    pub exclude_rules: Vec<String>,
    /// Replay only this generated case.
    pub case_seed: Option<u64>,
    /// The world (profile, application name).
    pub world: WorldConfig,
    /// Shrink attempts per counterexample, at most.
    pub shrink_iters_max: u32,
    /// Counterexamples kept (one per rule), at most.
    pub counterexamples_max: usize,
    /// Stop at the first failing case (after shrinking it).
    pub stop_at_first_failure: bool,
    /// The command that replays a case, a fixture or the run.
    pub replay: ReplayCommand,
    /// Fixtures are replayed by `wlcs replay PATH` (a `wlcs replay` of this file).
    pub replay_file: Option<PathBuf>,
    /// Harness errors after which the run stops (the rest is reported as not run).
    pub harness_errors_max: u32,
    /// Wall time spent shrinking the first harness error, at most.
    pub error_shrink_ms: u64,
    /// Stop generating cases after this much wall time (the rest is reported as not run).
    pub time_budget_ms: Option<u64>,
    /// Skipped rules fail the run.
    pub fail_on_skip: bool,
    /// Capabilities the run requires: rules skipped for lack of one of them fail.
    pub require: Capabilities,
    /// Run only this share of the fixtures and generated cases (`--partition K/N`).
    pub partition: Option<report::Partition>,
    /// Declared readings of SHOULD rules (`--reading`); others are detected (`crate::readings`).
    pub readings: wlcs_model::vocab::Readings,
    /// Run the security checks after the cases (`crate::security::runs_in` says when they
    /// run); `--no-security` turns them off.
    pub security: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            seed: 0,
            cases: 256,
            steps: 40,
            strict: false,
            rules: Vec::new(),
            exclude_rules: Vec::new(),
            case_seed: None,
            world: WorldConfig::default(),
            shrink_iters_max: 2000,
            counterexamples_max: report::COUNTEREXAMPLES_KEPT_MAX,
            stop_at_first_failure: false,
            replay: ReplayCommand::default(),
            replay_file: None,
            harness_errors_max: gate::HARNESS_ERRORS_MAX,
            error_shrink_ms: gate::ERROR_SHRINK_MS,
            time_budget_ms: None,
            fail_on_skip: false,
            require: gate::NO_CAPABILITIES,
            partition: None,
            readings: wlcs_model::vocab::Readings::default(),
            security: true,
        }
    }
}

impl RunConfig {
    /// Whether a rule is selected by `--rule` and not left out by `--exclude-rule`.
    pub fn selected(&self, rule: RuleId) -> bool {
        (self.rules.is_empty() || self.rules.iter().any(|p| gate::rule_matches(p, rule)))
            && !self
                .exclude_rules
                .iter()
                .any(|p| gate::rule_matches(p, rule))
    }

    fn fixture_replay(&self, name: &str) -> String {
        match &self.replay_file {
            Some(path) => self.replay.file(path),
            None => self.replay.fixture(name),
        }
    }
}

/// How far a run has got, for progress displays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Fixtures run so far.
    pub fixtures_done: usize,
    /// Fixtures the run will try.
    pub fixtures_total: usize,
    /// Generated cases run so far.
    pub cases_done: u64,
    /// Generated cases the run will try.
    pub cases_total: u64,
    /// Steps sent to the target so far.
    pub steps: u64,
    /// Failing traces so far (divergences).
    pub divergences: u64,
    /// Harness errors so far.
    pub errors: u32,
}

/// The seeds of a run's generated cases, in order.
pub fn case_seeds(seed: u64, cases: u64) -> impl Iterator<Item = u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..cases).map(move |_| rng.next_u64())
}

/// The proptest value tree of one generated case.
pub fn case_tree(
    case_seed: u64,
    steps: usize,
) -> Option<impl ValueTree<Value = Vec<crate::generate::Choice>>> {
    let mut bytes = [0u8; 32];
    ChaCha8Rng::seed_from_u64(case_seed).fill_bytes(&mut bytes);
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    choices(steps).new_tree(&mut runner).ok()
}

/// The trace of one generated case, before any shrinking.
pub fn generated_trace(case_seed: u64, steps: usize, gen_cfg: &GenConfig) -> Trace {
    match case_choices(case_seed, steps) {
        Some(choices) => interpret(&choices, gen_cfg),
        None => Trace {
            config: gen_cfg.world.clone(),
            steps: Vec::new(),
        },
    }
}

/// The choices of one generated case, before any shrinking (what [`generated_trace`]
/// interprets).
pub fn case_choices(case_seed: u64, steps: usize) -> Option<Vec<crate::generate::Choice>> {
    case_tree(case_seed, steps).map(|tree| tree.current())
}

/// What makes a failure "the same failure" while shrinking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailureKey {
    Rule(RuleId),
    Error,
}

fn failure_key(run: &TraceRun) -> Option<FailureKey> {
    match &run.verdict {
        TraceVerdict::Diverged(d) => Some(FailureKey::Rule(d.rule)),
        TraceVerdict::Error(_) => Some(FailureKey::Error),
        TraceVerdict::Pass | TraceVerdict::Skipped(_) => None,
    }
}

/// Cuts a failing trace after the step that failed: what follows never ran.
fn cut_after_failure(trace: &mut Trace, run: &TraceRun) {
    let step = match &run.verdict {
        TraceVerdict::Diverged(d) => d.step,
        TraceVerdict::Error(HarnessError::Sut { step, .. })
        | TraceVerdict::Error(HarnessError::ModelFault { step, .. }) => *step,
        TraceVerdict::Error(HarnessError::Reset { .. }) => 0,
        TraceVerdict::Pass | TraceVerdict::Skipped(_) => return,
    };
    trace.steps.truncate(step + 1);
}

/// A target that refuses (`Unsupported`, HTTP 422) a step the model says is valid, whose
/// capability it declares (the trace would have been skipped otherwise), has diverged at the
/// step's rule: it failed to serve what the rule says must be served. Not a harness error.
fn refusal_as_divergence(run: &mut TraceRun) {
    if let TraceVerdict::Error(HarnessError::Sut {
        step,
        rule: Some(rule),
        error: SutError::Unsupported(why),
    }) = &run.verdict
    {
        let d = Divergence {
            step: *step,
            rule: *rule,
            also: Vec::new(),
            what: "the target refused a valid step whose capability it declares".into(),
            expected: "the step served (the model says it is valid here)".into(),
            actual: format!("refused: {why}"),
            should: false,
        };
        run.stats.diverge(*rule);
        // The checker logged it as a harness error: it is the divergence instead.
        if run
            .transcript
            .last()
            .is_some_and(|l| l.starts_with("   !! harness error"))
        {
            run.transcript.pop();
        }
        run.transcript.push(format!(
            "   !! {} diverges: {}: expected {}, got {}",
            d.rule, d.what, d.expected, d.actual
        ));
        run.verdict = TraceVerdict::Diverged(d);
    }
}

/// Checks one trace with its transcript ([`Checker::run`]), a refused valid step counted as
/// a divergence.
pub fn check(sut: &dyn Sut, trace: &Trace) -> TraceRun {
    check_reading(sut, trace, Readings::default(), true)
}

/// [`check`] without the transcript.
pub fn check_quiet(sut: &dyn Sut, trace: &Trace) -> TraceRun {
    check_reading(sut, trace, Readings::default(), false)
}

/// [`check`] with declared readings of the SHOULD rules, the others detected
/// ([`crate::readings::run`]); `log` renders the transcript.
pub fn check_reading(sut: &dyn Sut, trace: &Trace, readings: Readings, log: bool) -> TraceRun {
    let mut run = crate::readings::run(sut, trace, readings, log);
    refusal_as_divergence(&mut run);
    run
}

/// Shrinks a failing generated case to a minimal trace that fails the same way (the same
/// rule, or a harness error again), cut after its failing step. `first` is the case as
/// generated; `tree` is its proptest value tree.
pub fn shrink(
    sut: &dyn Sut,
    tree: &mut impl ValueTree<Value = Vec<crate::generate::Choice>>,
    gen_cfg: &GenConfig,
    first: (Trace, TraceRun),
    iters_max: u32,
) -> (Trace, TraceRun) {
    shrink_until(
        sut,
        tree,
        gen_cfg,
        first,
        iters_max,
        None,
        Readings::default(),
    )
}

/// [`shrink`] that also stops at `deadline` (checked before each attempt; the transcript
/// re-run is skipped past it): a harness error against a stalled target costs a call
/// timeout per attempt.
pub fn shrink_until(
    sut: &dyn Sut,
    tree: &mut impl ValueTree<Value = Vec<crate::generate::Choice>>,
    gen_cfg: &GenConfig,
    first: (Trace, TraceRun),
    iters_max: u32,
    deadline: Option<Instant>,
    readings: Readings,
) -> (Trace, TraceRun) {
    let Some(key) = failure_key(&first.1) else {
        return first;
    };
    let late = || deadline.is_some_and(|d| Instant::now() >= d);
    let mut best = first;
    cut_after_failure(&mut best.0, &best.1);
    if !tree.simplify() {
        return best;
    }
    for _ in 0..iters_max {
        if late() {
            return best;
        }
        let mut trace = interpret(&tree.current(), gen_cfg);
        let run = check_reading(sut, &trace, readings, false);
        if failure_key(&run) == Some(key) {
            cut_after_failure(&mut trace, &run);
            if trace.steps.len() <= best.0.steps.len() {
                best = (trace, run);
            }
            if !tree.simplify() {
                break;
            }
        } else if !tree.complicate() {
            break;
        }
    }
    if late() {
        return best;
    }
    // The final counterexample is re-run with its transcript; a failure that does not come
    // back (a flaky target) keeps its first, transcript-less run rather than vanish.
    let run = check_reading(sut, &best.0, readings, true);
    if failure_key(&run) == Some(key) {
        (best.0, run)
    } else {
        best
    }
}

/// Runs fixtures and generated cases against a target and builds the report.
pub fn run(sut: &dyn Sut, fixtures: &[Fixture], cfg: &RunConfig, target: &str) -> Report {
    run_observed(sut, fixtures, cfg, target, &mut |_| {})
}

/// [`run`], calling `progress` after every fixture and case.
pub fn run_observed(
    sut: &dyn Sut,
    fixtures: &[Fixture],
    cfg: &RunConfig,
    target: &str,
    progress: &mut dyn FnMut(&Progress),
) -> Report {
    run_workers(sut, &[], fixtures, cfg, target, progress)
}

/// Interprets `choices` and checks the trace without a transcript, in one pass
/// ([`Checker::run_generated`]): the trace and the run [`interpret`] then [`check_quiet`]
/// give.
pub fn check_generated(
    sut: &dyn Sut,
    choices: &[crate::generate::Choice],
    gen_cfg: &GenConfig,
) -> (Trace, TraceRun) {
    let (trace, first) = crate::check::Checker::run_generated(sut, choices, gen_cfg);
    let mut run = crate::readings::explain(sut, &trace, Readings::default(), false, first);
    refusal_as_divergence(&mut run);
    (trace, run)
}

/// A target that could not be built: every call fails with the same error.
struct Unreachable(SutError);

impl Sut for Unreachable {
    fn name(&self) -> String {
        "unreachable".into()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
    fn reset(&self, _: &WorldConfig) -> Result<(), SutError> {
        Err(self.0.clone())
    }
    fn request(&self, _: &wlcs_sut::WireRequest) -> Result<wlcs_sut::Response, SutError> {
        Err(self.0.clone())
    }
    fn begin(
        &self,
        _: wlcs_model::vocab::Slot,
        _: &wlcs_sut::WireRequest,
    ) -> Result<wlcs_sut::Begun, SutError> {
        Err(self.0.clone())
    }
    fn end(
        &self,
        _: wlcs_model::vocab::Slot,
        _: &[wlcs_sut::WireAction],
    ) -> Result<wlcs_sut::Response, SutError> {
        Err(self.0.clone())
    }
    fn non_web(
        &self,
        _: u8,
        _: &[wlcs_sut::WireAction],
    ) -> Result<Vec<wlcs_sut::WireRead>, SutError> {
        Err(self.0.clone())
    }
    fn set_option(&self, _: &wlcs_model::vocab::OptionSet) -> Result<(), SutError> {
        Err(self.0.clone())
    }
    fn set_hook(&self, _: &wlcs_sut::WireHook) -> Result<(), SutError> {
        Err(self.0.clone())
    }
    fn advance(&self, _: u64) -> Result<(), SutError> {
        Err(self.0.clone())
    }
    fn take_hook_runs(&self) -> Result<Vec<wlcs_sut::WireHookRun>, SutError> {
        Err(self.0.clone())
    }
    fn locks(
        &self,
    ) -> Result<
        std::collections::BTreeMap<wlcs_model::vocab::RecordRef, wlcs_sut::WireProc>,
        SutError,
    > {
        Err(self.0.clone())
    }
    fn ipvars(
        &self,
    ) -> Result<std::collections::BTreeMap<wlcs_model::vocab::VarName, i64>, SutError> {
        Err(self.0.clone())
    }
}

/// The report of a run whose target could not be built (connecting failed): a harness error,
/// with every rule unchecked, so CI gets its report file and exit code 2 like any run.
pub fn unreachable_report(cfg: &RunConfig, target: &str, error: SutError) -> Report {
    let planned = if cfg.case_seed.is_some() {
        1
    } else {
        cfg.cases
    };
    let one = RunConfig {
        cases: 1,
        case_seed: None,
        harness_errors_max: 1,
        ..cfg.clone()
    };
    let message = format!("connecting to the target (reading its capabilities): {error}");
    let mut report = run(&Unreachable(error), &[], &one, target);
    report.errors = vec![message.clone()];
    for e in &mut report.error_cases {
        e.message = message.clone();
    }
    report.stopped = Some("the target could not be reached".into());
    report.cases = 0;
    report.not_run = planned;
    report
}
