//! Runs a suite: fixtures, then generated cases, each checked by the differential checker;
//! failing generated cases are shrunk with proptest's value trees. All randomness flows from
//! one `u64` seed through `ChaCha8Rng`: the seed gives each case its own seed, and a case
//! seed gives proptest's generator its bytes, so one case replays alone.

use crate::check::{Divergence, HarnessError, TraceRun, Verdict as TraceVerdict};
use crate::fixture::Fixture;
use crate::gate;
use crate::generate::{GenConfig, Weights, choices, interpret};
use crate::guard::Guarded;
use crate::replay::ReplayCommand;
use crate::report::{self, Counterexample, ErrorCase, FixtureRun, Report};
use crate::stats::RuleStats;
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

/// Harness errors grouped by their text (the same error on many cases prints once, with a
/// count and the first few sources).
#[derive(Default)]
struct ErrorGroups {
    groups: Vec<(String, String, Vec<String>)>,
}

/// Sources listed under a grouped error, at most.
const GROUPED_SOURCES_SHOWN_MAX: usize = 4;

impl ErrorGroups {
    /// Adds an error: `key` groups (the error without its case), `text` is shown for the
    /// first of a group, `source` names the case or fixture.
    fn add(&mut self, key: String, text: String, source: String) {
        match self.groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.2.push(source),
            None => self.groups.push((key, text, Vec::new())),
        }
    }

    fn into_lines(self) -> Vec<String> {
        self.groups
            .into_iter()
            .map(|(_, text, more)| {
                if more.is_empty() {
                    return text;
                }
                let shown: Vec<&str> = more
                    .iter()
                    .take(GROUPED_SOURCES_SHOWN_MAX)
                    .map(String::as_str)
                    .collect();
                let rest = more.len().saturating_sub(GROUPED_SOURCES_SHOWN_MAX);
                format!(
                    "{text}\n  (x{} in all: the same error also on {}{})",
                    more.len() + 1,
                    shown.join(", "),
                    if rest > 0 {
                        format!(" and {rest} more")
                    } else {
                        String::new()
                    }
                )
            })
            .collect()
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

/// Generated cases checked ahead on the workers, at most, before the run reads their results
/// in case order (a stop, a budget or a failure wastes at most this many).
pub const CASES_AHEAD_MAX: usize = 256;

/// A generated case, checked in one pass ([`Checker::run_generated`]): its trace and run, as
/// [`interpret`] then [`check_reading`] without a transcript give them. `None` when declared
/// readings differ from the generator's model's (the run then checks the case the long way)
/// or the generator could not start.
fn quick_case(
    sut: &dyn Sut,
    case_seed: u64,
    cfg: &RunConfig,
    gen_cfg: &GenConfig,
) -> Option<(Trace, TraceRun)> {
    if cfg.readings != Readings::default() {
        return None;
    }
    let choices = case_choices(case_seed, cfg.steps)?;
    Some(check_generated(sut, &choices, gen_cfg))
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

/// A case checked ahead: its trace and run, `None` for the long way.
type Quick = Option<(Trace, TraceRun)>;

/// [`quick_case`] on each seed, shared out over `sut` (this thread) and `workers` (a thread
/// each), each taking the next seed when it is free (a thread the scheduler holds back does
/// not hold up the others): results in seed order, whatever the scheduling.
fn quick_cases(
    sut: &dyn Sut,
    workers: &[&dyn Sut],
    seeds: &[u64],
    cfg: &RunConfig,
    gen_cfg: &GenConfig,
) -> Vec<Quick> {
    if workers.is_empty() {
        return seeds
            .iter()
            .map(|s| quick_case(sut, *s, cfg, gen_cfg))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let take = |sut: &dyn Sut| -> Vec<(usize, Quick)> {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(seed) = seeds.get(i) else {
                return done;
            };
            done.push((i, quick_case(sut, *seed, cfg, gen_cfg)));
        }
    };
    let mut out: Vec<Quick> = Vec::new();
    out.resize_with(seeds.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter()
            .map(|w| {
                let guarded = Guarded(*w);
                let take = &take;
                scope.spawn(move || take(&guarded))
            })
            .collect();
        let mut all = take(sut);
        for h in handles {
            // A worker that panicked leaves its cases to the long way (`None`).
            all.extend(h.join().unwrap_or_default());
        }
        for (i, quick) in all {
            out[i] = quick;
        }
    });
    out
}

/// [`run_observed`], with more instances of the same target to check generated cases on, in
/// parallel (`workers`: independent worlds, [`Sut::shares_world`] false; the caller decides).
/// The report is the same whatever the number of workers: cases are read in case order, and
/// a case that does not pass is checked again, the long way, on `sut`.
pub fn run_workers(
    sut: &dyn Sut,
    workers: &[&dyn Sut],
    fixtures: &[Fixture],
    cfg: &RunConfig,
    target: &str,
    progress: &mut dyn FnMut(&Progress),
) -> Report {
    let started = Instant::now();
    let guarded = Guarded(sut);
    let sut: &dyn Sut = &guarded;
    let caps = sut.capabilities();
    let gen_cfg = GenConfig {
        world: cfg.world.clone(),
        caps,
        weights: Weights::default(),
    };
    let mut stats = RuleStats::default();
    let mut counterexamples: Vec<Counterexample> = Vec::new();
    // Errors of the suite itself (a fixture that does not exercise what it names).
    let mut errors: Vec<String> = Vec::new();
    // Errors of the target, grouped.
    let mut target_errors = ErrorGroups::default();
    let mut error_cases: Vec<ErrorCase> = Vec::new();
    let mut fixtures_run = 0;
    let mut cases_run: u64 = 0;
    let mut diverged = false;
    let mut stopped: Option<String> = None;
    let mut shrunk_an_error = false;
    let budget_used = || {
        cfg.time_budget_ms
            .is_some_and(|ms| started.elapsed().as_millis() >= u128::from(ms))
    };
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut fixture_runs: Vec<FixtureRun> = Vec::new();
    // Partitions split fixtures and cases by their index in the whole run.
    let in_partition = |i: usize| cfg.partition.is_none_or(|p| p.holds(i as u64));
    let all_selected: Vec<(usize, &Fixture)> = if cfg.case_seed.is_some() {
        Vec::new()
    } else {
        fixtures
            .iter()
            .filter(|f| f.rules.iter().any(|r| cfg.selected(*r)))
            .enumerate()
            .collect()
    };
    let fixtures_in_run = all_selected.len();
    let selected_fixtures: Vec<(usize, &Fixture)> = all_selected
        .into_iter()
        .filter(|(i, _)| in_partition(*i))
        .collect();
    // Lazily: a run of many cases must not hold every seed at once.
    let (seeds, seeds_total): (Box<dyn Iterator<Item = u64> + '_>, u64) = match cfg.case_seed {
        Some(s) => (Box::new(std::iter::once(s)), 1),
        None => (
            Box::new(
                case_seeds(cfg.seed, cfg.cases)
                    .enumerate()
                    .filter(move |(i, _)| in_partition(*i))
                    .map(|(_, s)| s),
            ),
            match cfg.partition {
                None => cfg.cases,
                // Indices i < cases with i % count == index - 1.
                Some(p) => {
                    (cfg.cases + u64::from(p.count) - u64::from(p.index)) / u64::from(p.count)
                }
            },
        ),
    };
    let mut seen = Progress {
        fixtures_total: selected_fixtures.len(),
        cases_total: seeds_total,
        ..Progress::default()
    };

    let keep = |c: Counterexample, counterexamples: &mut Vec<Counterexample>| {
        if counterexamples.len() < cfg.counterexamples_max
            && !counterexamples.iter().any(|k| k.rule == c.rule)
        {
            counterexamples.push(c);
        }
    };
    let over_errors = |n: u32| n >= cfg.harness_errors_max.max(1);

    for &(index, fixture) in &selected_fixtures {
        if (diverged && cfg.stop_at_first_failure) || stopped.is_some() {
            break;
        }
        let fixture_started = Instant::now();
        let errors_before = errors.len();
        if budget_used() {
            stopped = Some(time_budget_text(cfg));
            break;
        }
        // A fixture carries its own world and profile; the run's profile is for generated
        // traces.
        let trace = &fixture.trace;
        let run = check_reading(sut, trace, cfg.readings, true);
        fixtures_run += 1;
        seen.fixtures_done = fixtures_run;
        seen.steps += run.steps_run as u64;
        stats.merge(&run.stats);
        for (i, why) in &run.steps_invalid {
            errors.push(format!(
                "fixture {}: step {i} is not valid in the state reached: {why}",
                fixture.name
            ));
        }
        match &run.verdict {
            TraceVerdict::Pass => {
                for rule in &fixture.rules {
                    if run.stats.get(*rule).fired == 0 {
                        errors.push(format!(
                            "fixture {}: names {rule} but never exercises it",
                            fixture.name
                        ));
                    }
                }
            }
            TraceVerdict::Skipped(_) => {}
            TraceVerdict::Diverged(d) => {
                diverged = true;
                seen.divergences += 1;
                keep(
                    Counterexample {
                        rule: d.rule,
                        source: format!("fixture:{}", fixture.name),
                        case_seed: None,
                        replay: cfg.fixture_replay(&fixture.name),
                        steps: trace.steps.len(),
                        steps_before_shrink: trace.steps.len(),
                        divergence: d.clone(),
                        transcript: run.transcript.clone(),
                        trace: trace.clone(),
                    },
                    &mut counterexamples,
                );
            }
            TraceVerdict::Error(e) => {
                seen.errors += 1;
                let replay = cfg.fixture_replay(&fixture.name);
                target_errors.add(
                    e.to_string(),
                    format!("fixture {} (replay: {replay}): {e}", fixture.name),
                    format!("fixture {}", fixture.name),
                );
                error_cases.push(ErrorCase {
                    rule: error_rule(e),
                    source: format!("fixture:{}", fixture.name),
                    case_seed: None,
                    steps: trace.steps.len(),
                    message: e.to_string(),
                    replay,
                });
                if over_errors(seen.errors) {
                    stopped = Some(errors_text(seen.errors));
                }
            }
        }
        fixture_runs.push(report::fixture_run(
            index,
            fixture,
            &run,
            &errors[errors_before..],
            cfg.fixture_replay(&fixture.name),
            fixture_started.elapsed(),
        ));
        progress(&seen);
    }
    let fixtures_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

    let mut seeds = seeds;
    let ahead = if workers.is_empty() {
        1
    } else {
        CASES_AHEAD_MAX
    };
    let mut batch: std::collections::VecDeque<(u64, Quick)> = std::collections::VecDeque::new();
    loop {
        if (diverged && cfg.stop_at_first_failure) || stopped.is_some() {
            break;
        }
        if budget_used() {
            stopped = Some(time_budget_text(cfg));
            break;
        }
        if batch.is_empty() {
            let next: Vec<u64> = seeds.by_ref().take(ahead).collect();
            let quick = quick_cases(sut, workers, &next, cfg, &gen_cfg);
            batch.extend(next.into_iter().zip(quick));
        }
        let Some((case_seed, quick)) = batch.pop_front() else {
            break;
        };
        if let Some((_, run)) = &quick
            && failure_key(run).is_none()
        {
            cases_run += 1;
            seen.cases_done = cases_run;
            seen.steps += run.steps_run as u64;
            stats.merge(&run.stats);
            progress(&seen);
            continue;
        }
        // A failing case (or one checked the long way): its value tree, for shrinking.
        let Some(mut tree) = case_tree(case_seed, cfg.steps) else {
            errors.push(format!(
                "case {case_seed:#x}: the generator could not start"
            ));
            continue;
        };
        let (trace, run) = match quick {
            Some(checked) => checked,
            None => {
                let trace = interpret(&tree.current(), &gen_cfg);
                let run = check_reading(sut, &trace, cfg.readings, false);
                (trace, run)
            }
        };
        cases_run += 1;
        seen.cases_done = cases_run;
        seen.steps += run.steps_run as u64;
        stats.merge(&run.stats);
        let Some(key) = failure_key(&run) else {
            progress(&seen);
            continue;
        };
        let replay = cfg.replay.case(case_seed, cfg.steps);
        match key {
            FailureKey::Rule(_) => {
                diverged = true;
                seen.divergences += 1;
            }
            FailureKey::Error => {
                seen.errors += 1;
                if over_errors(seen.errors) {
                    stopped = Some(errors_text(seen.errors));
                }
            }
        }
        let already = counterexamples.iter().any(|c| match key {
            FailureKey::Rule(r) => c.rule == r,
            FailureKey::Error => false,
        });
        // Only the first harness error is shrunk, within its time budget: the others are
        // grouped as they came.
        let shrink_this = match key {
            FailureKey::Rule(_) => !already && counterexamples.len() < cfg.counterexamples_max,
            FailureKey::Error => !shrunk_an_error,
        };
        if !shrink_this {
            if let TraceVerdict::Error(e) = &run.verdict {
                target_errors.add(
                    e.to_string(),
                    format!("case {case_seed:#x} (replay: {replay}): {e}"),
                    format!("case {case_seed:#x}"),
                );
            }
            progress(&seen);
            continue;
        }
        let before = trace.steps.len();
        let deadline = match key {
            FailureKey::Error => {
                shrunk_an_error = true;
                Some(Instant::now() + std::time::Duration::from_millis(cfg.error_shrink_ms))
            }
            FailureKey::Rule(_) => None,
        };
        let (trace, run) = shrink_until(
            sut,
            &mut tree,
            &gen_cfg,
            (trace, run),
            cfg.shrink_iters_max,
            deadline,
            cfg.readings,
        );
        match &run.verdict {
            TraceVerdict::Diverged(d) => keep(
                Counterexample {
                    rule: d.rule,
                    source: "generated".into(),
                    case_seed: Some(case_seed),
                    replay,
                    steps: trace.steps.len(),
                    steps_before_shrink: before,
                    divergence: d.clone(),
                    transcript: run.transcript.clone(),
                    trace,
                },
                &mut counterexamples,
            ),
            TraceVerdict::Error(e) => {
                let transcript = if run.transcript.is_empty() {
                    String::new()
                } else {
                    format!("\n  | {}", run.transcript.join("\n  | "))
                };
                target_errors.add(
                    e.to_string(),
                    format!("case {case_seed:#x} (replay: {replay}): {e}{transcript}"),
                    format!("case {case_seed:#x}"),
                );
                error_cases.push(ErrorCase {
                    rule: error_rule(e),
                    source: "generated".into(),
                    case_seed: Some(case_seed),
                    steps: trace.steps.len(),
                    message: e.to_string(),
                    replay,
                });
            }
            _ => {}
        }
        progress(&seen);
    }

    // Failures before deviations: a SHOULD reading that explains one case (src/readings.rs)
    // must not hide another case's MUST failure from the first counterexample.
    counterexamples.sort_by_key(|c| c.rule.grade() == wlcs_model::Grade::Should);
    // REQ-6 ID quality and REQ-3 fixation probes (src/security.rs), counted on their rules.
    let security = match crate::security::runs_in(cfg, seen.errors, stopped.is_some()) {
        true => crate::security::for_run(sut, cfg, &mut stats, &mut diverged),
        false => crate::security::RunSecurity::default(),
    };
    let harness_errors = seen.errors + security.errors.len() as u32;
    errors.extend(target_errors.into_lines());
    errors.extend(security.errors);
    let not_run = (selected_fixtures.len() - fixtures_run) as u64 + (seeds_total - cases_run);
    // Counted over the whole run, not this partition, so partitions merge to its verdict.
    let targeted = cfg.case_seed.is_some() || (cfg.cases == 0 && fixtures_in_run <= 1);
    let facts = report::RunFacts {
        diverged,
        harness_errors: harness_errors > 0,
        stopped_early: stopped.is_some(),
        replay_only: targeted && cfg.rules.is_empty(),
        fail_on_skip: cfg.fail_on_skip,
        require: cfg.require,
    };
    let rows = report::decide_rows(
        &|r| stats.get(r),
        &|r| cfg.selected(r),
        caps,
        &facts,
        cfg.strict,
    );
    let verdict = report::verdict(&rows, &errors);
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Report {
        schema: report::SCHEMA,
        wlcs_version: env!("CARGO_PKG_VERSION").to_string(),
        spec_revision: report::spec_revision(),
        target: target.to_string(),
        capabilities: caps,
        partition: cfg.partition.filter(|_| cfg.case_seed.is_none()),
        started_at: report::rfc3339_utc(started_at),
        durations: report::Durations {
            fixtures_ms,
            cases_ms: millis.saturating_sub(fixtures_ms),
        },
        facts,
        fixture_runs,
        baseline: None,
        strict_baseline: false,
        seed: cfg.seed,
        profile: cfg.world.profile.name(),
        readings_declared: cfg.readings.deviations(),
        readings_detected: report::detected_readings(&counterexamples),
        strict: cfg.strict,
        verdict,
        fixtures: fixtures_run,
        cases: cases_run,
        steps: seen.steps,
        millis,
        rules: rows,
        counterexamples,
        errors,
        error_cases,
        not_run,
        stopped,
        security: security.rows,
    }
}

fn time_budget_text(cfg: &RunConfig) -> String {
    format!(
        "the time budget of {:.1} s ran out",
        cfg.time_budget_ms.unwrap_or(0) as f64 / 1000.0
    )
}

fn errors_text(errors: u32) -> String {
    format!("{errors} harness errors (the limit: --harness-errors-max)")
}

fn error_rule(e: &HarnessError) -> Option<RuleId> {
    match e {
        HarnessError::Sut { rule, .. } => *rule,
        HarnessError::Reset { .. } | HarnessError::ModelFault { .. } => None,
    }
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
