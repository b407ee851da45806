//! One run of a suite, step by step: the fixtures, then the generated cases (checked ahead on
//! the workers, read in case order), each failing case counted and shrunk or grouped, the
//! harness-error and time budgets, and the report the counters end in. [`run_workers`] names
//! the steps; [`Suite`] holds what they share.

use super::ahead::{CASES_AHEAD_MAX, Quick, quick_cases};
use super::{
    FailureKey, Progress, RunConfig, case_seeds, case_tree, check_reading, failure_key,
    shrink_until,
};
use crate::check::{Divergence, HarnessError, TraceRun, Verdict as TraceVerdict};
use crate::fixture::Fixture;
use crate::generate::{Choice, GenConfig, Weights, interpret};
use crate::guard::Guarded;
use crate::report::{self, Counterexample, ErrorCase, FixtureRun, Report};
use crate::stats::RuleStats;
use proptest::strategy::ValueTree;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wlcs_model::{RuleId, Trace};
use wlcs_sut::{Capabilities, Sut};

/// [`super::run_observed`], with more instances of the same target to check generated cases
/// on, in parallel (`workers`: independent worlds, [`Sut::shares_world`] false; the caller
/// decides). The report is the same whatever the number of workers: cases are read in case
/// order, and a case that does not pass is checked again, the long way, on `sut`.
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
    let mut suite = Suite::new(&guarded, cfg, started, progress);
    let (fixtures_in_run, fixtures) = selected_fixtures(fixtures, cfg);
    let (seeds, seeds_total) = planned_seeds(cfg);
    suite.seen.fixtures_total = fixtures.len();
    suite.seen.cases_total = seeds_total;
    suite.run_fixtures(&fixtures);
    let fixtures_ms = suite.elapsed_ms();
    let security = suite.run_cases_and_security(workers, seeds);
    suite.into_report(target, fixtures_in_run, fixtures_ms, security)
}

/// Instances of the target a run needs before one of them checks security while the cases
/// run on the others: with fewer, the checks run after the cases.
const SECURITY_ALONGSIDE_INSTANCES_MIN: usize = 3;

/// Whether fixture or case `i` (its index in the whole run) belongs to this run's partition:
/// partitions split fixtures and cases by that index.
#[inline]
fn in_partition(cfg: &RunConfig, i: usize) -> bool {
    cfg.partition.is_none_or(|p| p.holds(i as u64))
}

/// The fixtures the run selects (`--rule`; none when one case is replayed): how many in the
/// whole run, and this partition's, each with its index in the whole run.
fn selected_fixtures<'f>(
    fixtures: &'f [Fixture],
    cfg: &RunConfig,
) -> (usize, Vec<(usize, &'f Fixture)>) {
    if cfg.case_seed.is_some() {
        return (0, Vec::new());
    }
    let all: Vec<(usize, &Fixture)> = fixtures
        .iter()
        .filter(|f| f.rules.iter().any(|r| cfg.selected(*r)))
        .enumerate()
        .collect();
    let in_run = all.len();
    let mine = all
        .into_iter()
        .filter(|(i, _)| in_partition(cfg, *i))
        .collect();
    (in_run, mine)
}

/// This partition's case seeds, lazily (a run of many cases must not hold every seed at once),
/// and how many there are.
fn planned_seeds(cfg: &RunConfig) -> (Box<dyn Iterator<Item = u64> + '_>, u64) {
    if let Some(s) = cfg.case_seed {
        return (Box::new(std::iter::once(s)), 1);
    }
    let seeds = case_seeds(cfg.seed, cfg.cases)
        .enumerate()
        .filter(move |(i, _)| in_partition(cfg, *i))
        .map(|(_, s)| s);
    let total = match cfg.partition {
        None => cfg.cases,
        // Indices i < cases with i % count == index - 1.
        Some(p) => (cfg.cases + u64::from(p.count) - u64::from(p.index)) / u64::from(p.count),
    };
    (Box::new(seeds), total)
}

/// What the steps of one run share: the target, the configuration, the counters and findings
/// so far, and whether (and why) the run has stopped.
struct Suite<'a, 'p> {
    /// The target, behind the panic guard.
    sut: &'a dyn Sut,
    cfg: &'a RunConfig,
    caps: Capabilities,
    gen_cfg: GenConfig,
    started: Instant,
    /// Wall-clock start, seconds since the Unix epoch (for the report).
    started_at: u64,
    progress: &'p mut dyn FnMut(&Progress),
    /// Counts so far, as the progress display sees them.
    seen: Progress,
    stats: RuleStats,
    counterexamples: Vec<Counterexample>,
    /// Errors of the suite itself (a fixture that does not exercise what it names).
    errors: Vec<String>,
    /// Errors of the target, grouped.
    target_errors: ErrorGroups,
    error_cases: Vec<ErrorCase>,
    fixture_runs: Vec<FixtureRun>,
    diverged: bool,
    /// Why the run stopped early.
    stopped: Option<String>,
    /// Only the first harness error is shrunk.
    shrunk_an_error: bool,
}

impl<'a, 'p> Suite<'a, 'p> {
    fn new(
        sut: &'a dyn Sut,
        cfg: &'a RunConfig,
        started: Instant,
        progress: &'p mut dyn FnMut(&Progress),
    ) -> Self {
        let caps = sut.capabilities();
        let started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Suite {
            sut,
            cfg,
            caps,
            gen_cfg: GenConfig {
                world: cfg.world.clone(),
                caps,
                weights: Weights::default(),
            },
            started,
            started_at,
            progress,
            seen: Progress::default(),
            stats: RuleStats::default(),
            counterexamples: Vec::new(),
            errors: Vec::new(),
            target_errors: ErrorGroups::default(),
            error_cases: Vec::new(),
            fixture_runs: Vec::new(),
            diverged: false,
            stopped: None,
            shrunk_an_error: false,
        }
    }

    /// Milliseconds since the run started.
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Shows the counts so far.
    #[inline]
    fn report_progress(&mut self) {
        (self.progress)(&self.seen);
    }

    /// Whether the run stops before its next fixture or case: it stopped (the error budget),
    /// it diverged and stops at the first failure, or its time budget just ran out.
    fn halts(&mut self) -> bool {
        if (self.diverged && self.cfg.stop_at_first_failure) || self.stopped.is_some() {
            return true;
        }
        let budget_used = self
            .cfg
            .time_budget_ms
            .is_some_and(|ms| self.started.elapsed().as_millis() >= u128::from(ms));
        if budget_used {
            self.stopped = Some(time_budget_text(self.cfg));
        }
        budget_used
    }

    /// Counts a checked trace's steps and rule counters.
    #[inline]
    fn count(&mut self, run: &TraceRun) {
        self.seen.steps += run.steps_run as u64;
        self.stats.merge(&run.stats);
    }

    /// Keeps a counterexample: the first per rule, up to the run's limit.
    fn keep(&mut self, c: Counterexample) {
        if self.counterexamples.len() < self.cfg.counterexamples_max
            && !self.counterexamples.iter().any(|k| k.rule == c.rule)
        {
            self.counterexamples.push(c);
        }
    }

    /// Counts one more harness error; at the budget (`--harness-errors-max`) the run stops.
    fn count_error(&mut self) {
        self.seen.errors += 1;
        if self.seen.errors >= self.cfg.harness_errors_max.max(1) {
            self.stopped = Some(errors_text(self.seen.errors));
        }
    }

    /// Replays the selected fixtures, in order, until the run halts.
    fn run_fixtures(&mut self, fixtures: &[(usize, &Fixture)]) {
        for &(index, fixture) in fixtures {
            if self.halts() {
                break;
            }
            self.run_fixture(index, fixture);
        }
    }

    /// Replays one fixture with its transcript, counts it and records its outcome.
    fn run_fixture(&mut self, index: usize, fixture: &Fixture) {
        let fixture_started = Instant::now();
        let errors_before = self.errors.len();
        // A fixture carries its own world and profile; the run's profile is for generated
        // traces.
        let run = check_reading(self.sut, &fixture.trace, self.cfg.readings, true);
        self.seen.fixtures_done += 1;
        self.count(&run);
        for (i, why) in &run.steps_invalid {
            self.errors.push(format!(
                "fixture {}: step {i} is not valid in the state reached: {why}",
                fixture.name
            ));
        }
        match &run.verdict {
            TraceVerdict::Pass => self.unexercised_rules(fixture, &run),
            TraceVerdict::Skipped(_) => {}
            TraceVerdict::Diverged(d) => self.fixture_diverged(fixture, &run, d),
            TraceVerdict::Error(e) => self.fixture_error(fixture, e),
        }
        self.fixture_runs.push(report::fixture_run(
            index,
            fixture,
            &run,
            &self.errors[errors_before..],
            self.cfg.fixture_replay(&fixture.name),
            fixture_started.elapsed(),
        ));
        self.report_progress();
    }

    /// A passing fixture must exercise every rule it names: one that does not is an error of
    /// the suite.
    fn unexercised_rules(&mut self, fixture: &Fixture, run: &TraceRun) {
        for rule in &fixture.rules {
            if run.stats.get(*rule).fired == 0 {
                self.errors.push(format!(
                    "fixture {}: names {rule} but never exercises it",
                    fixture.name
                ));
            }
        }
    }

    /// A fixture that diverged: its whole trace is the counterexample (fixtures are not
    /// shrunk).
    fn fixture_diverged(&mut self, fixture: &Fixture, run: &TraceRun, d: &Divergence) {
        self.diverged = true;
        self.seen.divergences += 1;
        let trace = &fixture.trace;
        self.keep(Counterexample {
            rule: d.rule,
            source: format!("fixture:{}", fixture.name),
            case_seed: None,
            replay: self.cfg.fixture_replay(&fixture.name),
            steps: trace.steps.len(),
            steps_before_shrink: trace.steps.len(),
            divergence: d.clone(),
            transcript: run.transcript.clone(),
            trace: trace.clone(),
        });
    }

    /// A harness error on a fixture: grouped, listed, and counted against the budget.
    fn fixture_error(&mut self, fixture: &Fixture, e: &HarnessError) {
        let replay = self.cfg.fixture_replay(&fixture.name);
        self.target_errors.add(
            e.to_string(),
            format!("fixture {} (replay: {replay}): {e}", fixture.name),
            format!("fixture {}", fixture.name),
        );
        self.error_cases.push(ErrorCase {
            rule: error_rule(e),
            source: format!("fixture:{}", fixture.name),
            case_seed: None,
            steps: fixture.trace.steps.len(),
            message: e.to_string(),
            replay,
        });
        self.count_error();
    }

    /// Checks the generated cases, in case order, until the run halts: a batch checked ahead
    /// (on the workers, when there are any), then read one by one.
    fn run_cases(&mut self, workers: &[&dyn Sut], mut seeds: Box<dyn Iterator<Item = u64> + '_>) {
        let ahead = if workers.is_empty() {
            1
        } else {
            CASES_AHEAD_MAX
        };
        let mut batch: VecDeque<(u64, Quick)> = VecDeque::new();
        loop {
            if self.halts() {
                break;
            }
            if batch.is_empty() {
                let next: Vec<u64> = seeds.by_ref().take(ahead).collect();
                let quick = quick_cases(self.sut, workers, &next, self.cfg, &self.gen_cfg);
                batch.extend(next.into_iter().zip(quick));
            }
            let Some((case_seed, quick)) = batch.pop_front() else {
                break;
            };
            match quick {
                Some((_, run)) if failure_key(&run).is_none() => self.case_passed(&run),
                quick => self.case_not_passed(case_seed, quick),
            }
        }
    }

    /// The generated cases and, when the run plans the security checks and has instances to
    /// spare, those checks meanwhile on the last worker, the cases on the others. The checks
    /// made so are kept only if the run still makes them after its cases
    /// (`crate::security::runs_in`); the report is the same as when they run after the cases.
    fn run_cases_and_security(
        &mut self,
        workers: &[&dyn Sut],
        seeds: Box<dyn Iterator<Item = u64> + '_>,
    ) -> Option<crate::security::SecurityReport> {
        let alongside = workers.len() + 1 >= SECURITY_ALONGSIDE_INSTANCES_MIN
            && crate::security::planned(self.cfg);
        let (Some((last, case_workers)), true) = (workers.split_last(), alongside) else {
            self.run_cases(workers, seeds);
            return None;
        };
        std::thread::scope(|s| {
            let checking = s.spawn(|| {
                let config = crate::security::SecurityConfig::default();
                crate::security::check(&Guarded(*last), &config)
            });
            self.run_cases(case_workers, seeds);
            checking.join().ok()
        })
    }

    /// A case that passed ahead: counted, nothing more.
    #[inline]
    fn case_passed(&mut self, run: &TraceRun) {
        self.seen.cases_done += 1;
        self.count(run);
        self.report_progress();
    }

    /// A case that failed ahead, or is to be checked the long way (on `sut`, with the declared
    /// readings): counted, and a failure shrunk or grouped.
    fn case_not_passed(&mut self, case_seed: u64, quick: Quick) {
        // Its value tree, for shrinking.
        let Some(mut tree) = case_tree(case_seed, self.cfg.steps) else {
            self.errors.push(format!(
                "case {case_seed:#x}: the generator could not start"
            ));
            return;
        };
        let (trace, run) = match quick {
            Some(checked) => checked,
            None => {
                let trace = interpret(&tree.current(), &self.gen_cfg);
                let run = check_reading(self.sut, &trace, self.cfg.readings, false);
                (trace, run)
            }
        };
        self.seen.cases_done += 1;
        self.count(&run);
        if let Some(key) = failure_key(&run) {
            self.case_failed(case_seed, key, &mut tree, (trace, run));
        }
        self.report_progress();
    }

    /// A failing case: counted (a divergence, or a harness error against the budget), then
    /// shrunk to a counterexample, or grouped as it came when it is not to be shrunk.
    fn case_failed(
        &mut self,
        case_seed: u64,
        key: FailureKey,
        tree: &mut impl ValueTree<Value = Vec<Choice>>,
        failed: (Trace, TraceRun),
    ) {
        let replay = self.cfg.replay.case(case_seed, self.cfg.steps);
        match key {
            FailureKey::Rule(_) => {
                self.diverged = true;
                self.seen.divergences += 1;
            }
            FailureKey::Error => self.count_error(),
        }
        if !self.shrinks(key) {
            if let TraceVerdict::Error(e) = &failed.1.verdict {
                self.target_errors.add(
                    e.to_string(),
                    format!("case {case_seed:#x} (replay: {replay}): {e}"),
                    format!("case {case_seed:#x}"),
                );
            }
            return;
        }
        let before = failed.0.steps.len();
        let deadline = match key {
            FailureKey::Error => {
                self.shrunk_an_error = true;
                Some(Instant::now() + Duration::from_millis(self.cfg.error_shrink_ms))
            }
            FailureKey::Rule(_) => None,
        };
        let (trace, run) = shrink_until(
            self.sut,
            tree,
            &self.gen_cfg,
            failed,
            self.cfg.shrink_iters_max,
            deadline,
            self.cfg.readings,
        );
        self.shrunk(case_seed, replay, before, trace, run);
    }

    /// Whether a failure is shrunk: a divergence on a rule without a counterexample yet (under
    /// the limit); only the first harness error, within its time budget (the others are
    /// grouped as they came).
    fn shrinks(&self, key: FailureKey) -> bool {
        match key {
            FailureKey::Rule(r) => {
                !self.counterexamples.iter().any(|c| c.rule == r)
                    && self.counterexamples.len() < self.cfg.counterexamples_max
            }
            FailureKey::Error => !self.shrunk_an_error,
        }
    }

    /// Records a shrunk case: a counterexample, or a harness error with its transcript.
    fn shrunk(
        &mut self,
        case_seed: u64,
        replay: String,
        before: usize,
        trace: Trace,
        run: TraceRun,
    ) {
        match &run.verdict {
            TraceVerdict::Diverged(d) => self.keep(Counterexample {
                rule: d.rule,
                source: "generated".into(),
                case_seed: Some(case_seed),
                replay,
                steps: trace.steps.len(),
                steps_before_shrink: before,
                divergence: d.clone(),
                transcript: run.transcript.clone(),
                trace,
            }),
            TraceVerdict::Error(e) => {
                let transcript = if run.transcript.is_empty() {
                    String::new()
                } else {
                    format!("\n  | {}", run.transcript.join("\n  | "))
                };
                self.target_errors.add(
                    e.to_string(),
                    format!("case {case_seed:#x} (replay: {replay}): {e}{transcript}"),
                    format!("case {case_seed:#x}"),
                );
                self.error_cases.push(ErrorCase {
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
    }

    /// The security checks, when the run makes them (REQ-6 ID quality and REQ-3 fixation
    /// probes, src/security.rs), counted on their rules.
    /// `made`: the checks already made alongside the cases, if they were.
    fn security(
        &mut self,
        made: Option<crate::security::SecurityReport>,
    ) -> crate::security::RunSecurity {
        if !crate::security::runs_in(self.cfg, self.seen.errors, self.stopped.is_some()) {
            return crate::security::RunSecurity::default();
        }
        let sec = made.unwrap_or_else(|| {
            crate::security::check(self.sut, &crate::security::SecurityConfig::default())
        });
        crate::security::counted(sec, self.cfg, &mut self.stats, &mut self.diverged)
    }

    /// The run's facts the rule rows and the verdict are decided on.
    fn facts(&self, harness_errors: u32, fixtures_in_run: usize) -> report::RunFacts {
        let cfg = self.cfg;
        // Counted over the whole run, not this partition, so partitions merge to its verdict.
        let targeted = cfg.case_seed.is_some() || (cfg.cases == 0 && fixtures_in_run <= 1);
        report::RunFacts {
            diverged: self.diverged,
            harness_errors: harness_errors > 0,
            stopped_early: self.stopped.is_some(),
            replay_only: targeted && cfg.rules.is_empty(),
            fail_on_skip: cfg.fail_on_skip,
            require: cfg.require,
        }
    }

    /// Ends the run: the security checks, the rule rows, the verdict and the report.
    fn into_report(
        mut self,
        target: &str,
        fixtures_in_run: usize,
        fixtures_ms: u64,
        security: Option<crate::security::SecurityReport>,
    ) -> Report {
        let cfg = self.cfg;
        // Failures before deviations: a SHOULD reading that explains one case
        // (src/readings.rs) must not hide another case's MUST failure from the first
        // counterexample.
        self.counterexamples
            .sort_by_key(|c| c.rule.grade() == wlcs_model::Grade::Should);
        let security = self.security(security);
        let harness_errors = self.seen.errors + security.errors.len() as u32;
        let mut errors = std::mem::take(&mut self.errors);
        errors.extend(std::mem::take(&mut self.target_errors).into_lines());
        errors.extend(security.errors);
        let seen = self.seen;
        let not_run = (seen.fixtures_total - seen.fixtures_done) as u64
            + (seen.cases_total - seen.cases_done);
        let facts = self.facts(harness_errors, fixtures_in_run);
        let stats = &self.stats;
        let rows = report::decide_rows(
            &|r| stats.get(r),
            &|r| cfg.selected(r),
            self.caps,
            &facts,
            cfg.strict,
        );
        let verdict = report::verdict(&rows, &errors);
        let millis = self.elapsed_ms();
        Report {
            schema: report::SCHEMA,
            wlcs_version: env!("CARGO_PKG_VERSION").to_string(),
            spec_revision: report::spec_revision(),
            target: target.to_string(),
            capabilities: self.caps,
            partition: cfg.partition.filter(|_| cfg.case_seed.is_none()),
            started_at: report::rfc3339_utc(self.started_at),
            durations: report::Durations {
                fixtures_ms,
                cases_ms: millis.saturating_sub(fixtures_ms),
            },
            facts,
            fixture_runs: self.fixture_runs,
            baseline: None,
            strict_baseline: false,
            seed: cfg.seed,
            profile: cfg.world.profile.name(),
            readings_declared: cfg.readings.deviations(),
            readings_detected: report::detected_readings(&self.counterexamples),
            strict: cfg.strict,
            verdict,
            fixtures: seen.fixtures_done,
            cases: seen.cases_done,
            steps: seen.steps,
            millis,
            rules: rows,
            counterexamples: self.counterexamples,
            errors,
            error_cases: self.error_cases,
            not_run,
            stopped: self.stopped,
            security: security.rows,
        }
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
