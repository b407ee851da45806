//! Runs a suite: fixtures, then generated cases, each checked by the differential checker;
//! failing generated cases are shrunk with proptest's value trees. All randomness flows from
//! one `u64` seed through `ChaCha8Rng`: the seed gives each case its own seed, and a case
//! seed gives proptest's generator its bytes, so one case replays alone.

use crate::checker::{Checker, TraceRun, Verdict as TraceVerdict, rules_needing};
use crate::fixture::Fixture;
use crate::generate::{GenConfig, Weights, choices, interpret};
use crate::guard::Guarded;
use crate::report::{self, Counterexample, ErrorCase, Report};
use crate::stats::RuleStats;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::time::Instant;
use wlcs_model::{RuleId, Trace, WorldConfig};
use wlcs_sut::Sut;

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
    /// Rule ID prefixes to report and gate on; empty: every rule.
    pub rules: Vec<String>,
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
    /// The command prefix that replays a case (`wlcs run --target ...`).
    pub replay_base: String,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            seed: 0,
            cases: 256,
            steps: 40,
            strict: false,
            rules: Vec::new(),
            case_seed: None,
            world: WorldConfig::default(),
            shrink_iters_max: 2000,
            counterexamples_max: 8,
            stop_at_first_failure: false,
            replay_base: "wlcs run".to_string(),
        }
    }
}

impl RunConfig {
    /// Whether a rule is selected by `--rule` prefixes.
    pub fn selected(&self, rule: RuleId) -> bool {
        self.rules.is_empty()
            || self
                .rules
                .iter()
                .any(|p| rule.as_str().starts_with(&p.to_ascii_uppercase()))
    }
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
        TraceVerdict::Error(crate::checker::HarnessError::Sut { step, .. })
        | TraceVerdict::Error(crate::checker::HarnessError::ModelFault { step, .. }) => *step,
        TraceVerdict::Pass | TraceVerdict::Skipped(_) => return,
    };
    trace.steps.truncate(step + 1);
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
    let Some(key) = failure_key(&first.1) else {
        return first;
    };
    let mut best = first;
    cut_after_failure(&mut best.0, &best.1);
    if !tree.simplify() {
        return best;
    }
    for _ in 0..iters_max {
        let mut trace = interpret(&tree.current(), gen_cfg);
        let run = Checker::run_quiet(sut, &trace);
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
    // The final counterexample is re-run with its transcript; a failure that does not come
    // back (a flaky target) keeps its first, transcript-less run rather than vanish.
    let run = Checker::run(sut, &best.0);
    if failure_key(&run) == Some(key) {
        (best.0, run)
    } else {
        best
    }
}

/// Runs fixtures and generated cases against a target and builds the report.
pub fn run(sut: &dyn Sut, fixtures: &[Fixture], cfg: &RunConfig, target: &str) -> Report {
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
    let mut errors: Vec<String> = Vec::new();
    let mut error_cases: Vec<ErrorCase> = Vec::new();
    let mut steps: u64 = 0;
    let mut fixtures_run = 0;
    let mut cases_run: u64 = 0;
    let mut failed = false;

    let keep = |c: Counterexample, counterexamples: &mut Vec<Counterexample>| {
        if counterexamples.len() < cfg.counterexamples_max
            && !counterexamples.iter().any(|k| k.rule == c.rule)
        {
            counterexamples.push(c);
        }
    };

    if cfg.case_seed.is_none() {
        for fixture in fixtures {
            if !fixture.rules.iter().any(|r| cfg.selected(*r)) {
                continue;
            }
            // A fixture carries its own world and profile; the run's profile is for generated
            // traces.
            let trace = fixture.trace.clone();
            let run = Checker::run(sut, &trace);
            fixtures_run += 1;
            steps += run.steps_run as u64;
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
                    failed = true;
                    keep(
                        Counterexample {
                            rule: d.rule,
                            source: format!("fixture:{}", fixture.name),
                            case_seed: None,
                            replay: format!("{} --fixture {}", replay_cmd(cfg), fixture.name),
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
                    failed = true;
                    errors.push(format!("fixture {}: {e}", fixture.name));
                    error_cases.push(ErrorCase {
                        rule: error_rule(e),
                        source: format!("fixture:{}", fixture.name),
                        steps: trace.steps.len(),
                        message: e.to_string(),
                        replay: format!("{} --fixture {}", replay_cmd(cfg), fixture.name),
                    });
                }
            }
            if failed && cfg.stop_at_first_failure {
                break;
            }
        }
    }

    let seeds: Vec<u64> = match cfg.case_seed {
        Some(s) => vec![s],
        None => case_seeds(cfg.seed, cfg.cases).collect(),
    };
    for case_seed in seeds {
        if failed && cfg.stop_at_first_failure {
            break;
        }
        let Some(mut tree) = case_tree(case_seed, cfg.steps) else {
            errors.push(format!(
                "case {case_seed:#x}: the generator could not start"
            ));
            continue;
        };
        let trace = interpret(&tree.current(), &gen_cfg);
        let run = Checker::run_quiet(sut, &trace);
        cases_run += 1;
        steps += run.steps_run as u64;
        stats.merge(&run.stats);
        let Some(key) = failure_key(&run) else {
            continue;
        };
        failed = true;
        let already = counterexamples.iter().any(|c| match key {
            FailureKey::Rule(r) => c.rule == r,
            FailureKey::Error => false,
        });
        if already || counterexamples.len() >= cfg.counterexamples_max {
            if let TraceVerdict::Error(e) = &run.verdict {
                errors.push(format!("case {case_seed:#x}: {e}"));
            }
            continue;
        }
        let before = trace.steps.len();
        let (trace, run) = shrink(sut, &mut tree, &gen_cfg, (trace, run), cfg.shrink_iters_max);
        match &run.verdict {
            TraceVerdict::Diverged(d) => keep(
                Counterexample {
                    rule: d.rule,
                    source: "generated".into(),
                    case_seed: Some(case_seed),
                    replay: format!(
                        "{} --case-seed {case_seed:#x} --steps {}",
                        replay_cmd(cfg),
                        cfg.steps
                    ),
                    steps: trace.steps.len(),
                    steps_before_shrink: before,
                    divergence: d.clone(),
                    transcript: run.transcript.clone(),
                    trace,
                },
                &mut counterexamples,
            ),
            TraceVerdict::Error(e) => {
                let replay = format!(
                    "{} --case-seed {case_seed:#x} --steps {}",
                    replay_cmd(cfg),
                    cfg.steps
                );
                errors.push(format!(
                    "case {case_seed:#x} (replay: {replay}): {e}\n  | {}",
                    run.transcript.join("\n  | ")
                ));
                error_cases.push(ErrorCase {
                    rule: error_rule(e),
                    source: "generated".into(),
                    steps: trace.steps.len(),
                    message: e.to_string(),
                    replay,
                });
            }
            _ => {}
        }
    }

    let skipped = rules_needing(&caps);
    let mut rows = report::rule_rows(&stats, &|r| cfg.selected(r), &skipped, cfg.strict);
    // A generated trace that diverged early leaves later rules unchecked: when the target
    // failed, "unreached" would blame the generator for the target's failure. A replay of one
    // case or one fixture is not meant to reach every rule.
    let targeted = cfg.case_seed.is_some() || (cfg.cases == 0 && fixtures_run <= 1);
    if failed || targeted {
        let why = if failed {
            "not reached: traces stopped at earlier divergences"
        } else {
            "not reached by this replay"
        };
        for row in &mut rows {
            if row.status == report::Status::Unreached {
                row.status = report::Status::Skip;
                row.skip_reason = Some(why.into());
            }
        }
    }
    let verdict = report::verdict(&rows, &errors);
    Report {
        schema: 1,
        wlcs_version: env!("CARGO_PKG_VERSION").to_string(),
        target: target.to_string(),
        seed: cfg.seed,
        profile: cfg.world.profile.name(),
        strict: cfg.strict,
        verdict,
        fixtures: fixtures_run,
        cases: cases_run,
        steps,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        rules: rows,
        counterexamples,
        errors,
        error_cases,
    }
}

fn error_rule(e: &crate::checker::HarnessError) -> Option<RuleId> {
    match e {
        crate::checker::HarnessError::Sut { rule, .. } => *rule,
        crate::checker::HarnessError::ModelFault { .. } => None,
    }
}

fn replay_cmd(cfg: &RunConfig) -> String {
    let mut cmd = cfg.replay_base.clone();
    if cfg.strict {
        cmd.push_str(" --strict");
    }
    cmd
}
