//! The deterministic simulator (`wlcs sim`): one seed per run of many interleaved clients,
//! requests held in flight, non-web processes and clock jumps over a virtual clock, checked
//! step by step against the model and its invariants. Swarm testing: each seed also picks its
//! own mix of step kinds (and so of faults: closes during requests, hooks that fail, are slow
//! or close sessions, timeouts, IP changes, clients without cookies, eviction, 4D Mobile, mode
//! switches). Seeds run single-threaded each and in parallel across worker threads. A failing
//! seed shrinks to a minimal trace, saved as a fixture, with the one command that replays it.
//! The simulator checks its own determinism: a seed run twice must give the same event log.

use crate::check::{TraceRun, Verdict as TraceVerdict};
use crate::generate::{GenConfig, Weights, interpret};
use crate::guard::Guarded;
use crate::replay::ReplayCommand;
use crate::report::Counterexample;
use crate::runner::{
    Progress, case_choices, case_tree, check, check_generated, check_quiet, shrink_until,
};
use proptest::strategy::ValueTree;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use wlcs_model::vocab::Step;
use wlcs_model::{Trace, WorldConfig};
use wlcs_sut::{Capabilities, Sut, SutError};

/// Shrink attempts per failing seed, at most.
pub const SHRINK_ITERS_MAX: u32 = 4000;
/// Failing seeds kept in a report (each shrunk), at most.
pub const FAILURES_KEPT_MAX: usize = 8;

/// How a simulation is set up.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The first seed; seeds `first_seed .. first_seed + seeds` run.
    pub first_seed: u64,
    /// How many seeds.
    pub seeds: u64,
    /// Choices per seed (steps after interpretation may be fewer).
    pub steps: usize,
    /// Worker threads across seeds.
    pub workers: usize,
    /// The world (profile).
    pub world: WorldConfig,
    /// Run every `determinism_every`-th seed twice and compare event logs (0: never).
    pub determinism_every: u64,
    /// The command that replays a seed.
    pub replay: ReplayCommand,
    /// Harness errors after which no more seeds start.
    pub harness_errors_max: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            first_seed: 0,
            seeds: 100,
            steps: 200,
            workers: 2,
            world: WorldConfig::default(),
            determinism_every: 10,
            replay: ReplayCommand::default(),
            harness_errors_max: crate::gate::HARNESS_ERRORS_MAX,
        }
    }
}

/// What one seed is: its swarm weights and its trace.
pub fn seed_trace(
    seed: u64,
    steps: usize,
    world: &WorldConfig,
    caps: Capabilities,
) -> (GenConfig, Trace) {
    let cfg = seed_config(seed, world, caps);
    let trace = match case_tree(seed, steps) {
        Some(tree) => interpret(&tree.current(), &cfg),
        None => Trace {
            config: world.clone(),
            steps: Vec::new(),
        },
    };
    (cfg, trace)
}

/// A seed's generator settings: its swarm weights.
pub fn seed_config(seed: u64, world: &WorldConfig, caps: Capabilities) -> GenConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5741_524d_5357_4152);
    GenConfig {
        world: world.clone(),
        caps,
        weights: Weights::swarm(&mut rng),
    }
}

/// A 64-bit FNV-1a hash: stable across Rust versions and platforms, unlike `DefaultHasher`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The event-log hash of a run: the trace and every event the checker logged.
pub fn event_hash(trace: &Trace, run: &TraceRun) -> u64 {
    let mut text = serde_json::to_string(trace).unwrap_or_default();
    for line in &run.transcript {
        text.push('\n');
        text.push_str(line);
    }
    text.push_str(&format!("\n{:?}", run.verdict));
    fnv1a(text.as_bytes())
}

/// The result of a simulation.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    /// Seeds run.
    pub seeds_run: u64,
    /// Steps checked.
    pub steps: u64,
    /// Seeds run twice for the determinism check.
    pub determinism_checked: u64,
    /// Seeds whose two runs differed (a bug in wlcs or a nondeterministic target).
    pub nondeterministic: Vec<u64>,
    /// Failing seeds, shrunk, in seed order.
    pub failures: Vec<SimFailure>,
    /// Seeds that failed beyond those kept.
    pub failures_dropped: u64,
    /// Failing seeds per rule (or "harness error"): identical failures counted, not repeated.
    pub failing_by_rule: std::collections::BTreeMap<String, u64>,
    /// Worker threads used (1 on a target whose instances share one world).
    pub workers: usize,
    /// Seeds not run (the harness-error limit stopped the run).
    pub not_run: u64,
    /// Wall time, milliseconds.
    pub millis: u64,
}

/// A failing seed, shrunk.
#[derive(Clone, Debug)]
pub struct SimFailure {
    /// The seed.
    pub seed: u64,
    /// The swarm weights it picked.
    pub swarm: String,
    /// The counterexample (a divergence), or `None` with `error` for a harness error.
    pub counterexample: Option<Counterexample>,
    /// A harness error (the target panicked, answered garbage).
    pub error: Option<String>,
    /// The shrunk trace rendered as a timeline.
    pub timeline: String,
}

/// Makes one instance of the target per worker.
pub type MakeSut<'a> = dyn Fn() -> Result<Box<dyn Sut>, SutError> + Sync + 'a;

/// Runs `cfg.seeds` seeds against implementations made by `make_sut`: one per worker when
/// instances are independent worlds ([`Sut::shares_world`] false), else every seed on one
/// instance, one at a time (two workers on one server world would see each other's
/// sessions). A target that cannot be made is an error, never replaced by another.
pub fn run(make_sut: &MakeSut<'_>, cfg: &SimConfig) -> Result<SimReport, SutError> {
    run_observed(make_sut, cfg, &|_| {})
}

/// [`run`], calling `progress` after every seed (from the worker threads).
pub fn run_observed(
    make_sut: &MakeSut<'_>,
    cfg: &SimConfig,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<SimReport, SutError> {
    let started = std::time::Instant::now();
    let suts = make_suts(make_sut, cfg)?;
    let sim = Sim {
        cfg,
        progress,
        next: AtomicU64::new(0),
        report: Mutex::new(SimReport::default()),
        errors: AtomicU64::new(0),
        errors_max: u64::from(cfg.harness_errors_max.max(1)),
    };
    std::thread::scope(|scope| {
        for sut in &suts {
            let sim = &sim;
            scope.spawn(move || sim.worker(&Guarded(sut.as_ref())));
        }
    });
    let mut report = sim.report.into_inner().unwrap_or_default();
    report.failures.sort_by_key(|f| f.seed);
    report.nondeterministic.sort_unstable();
    report.workers = suts.len();
    report.not_run = cfg.seeds.saturating_sub(report.seeds_run);
    report.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// One instance of the target per worker, or a single one when instances share one world
/// (two workers on one server world would see each other's sessions).
fn make_suts(make_sut: &MakeSut<'_>, cfg: &SimConfig) -> Result<Vec<Box<dyn Sut>>, SutError> {
    let first = make_sut()?;
    let workers = if first.shares_world() {
        1
    } else {
        cfg.workers.clamp(1, 64)
    };
    let mut suts = vec![first];
    for _ in 1..workers {
        suts.push(make_sut()?);
    }
    Ok(suts)
}

/// What the worker threads of a simulation share: the next seed to take, the report they
/// fill in, and the harness errors so far (at `errors_max` no more seeds start).
struct Sim<'a> {
    cfg: &'a SimConfig,
    progress: &'a (dyn Fn(&Progress) + Sync),
    next: AtomicU64,
    report: Mutex<SimReport>,
    errors: AtomicU64,
    errors_max: u64,
}

/// One seed checked: what the report records of it.
struct SeedRun {
    seed: u64,
    steps_run: usize,
    /// Run twice for the determinism check.
    checked: bool,
    /// Its two runs differed.
    nondeterministic: bool,
    /// Its failure, shrunk.
    failure: Option<SimFailure>,
}

impl Sim<'_> {
    /// One worker: takes the next seed until there are none, or the harness errors reach the
    /// limit (or the report's lock is poisoned).
    fn worker(&self, sut: &dyn Sut) {
        let caps = sut.capabilities();
        loop {
            if self.errors.load(Ordering::Relaxed) >= self.errors_max {
                break;
            }
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.cfg.seeds {
                break;
            }
            let done = self.run_seed(sut, caps, i);
            let Some(seen) = self.record(done) else {
                break;
            };
            (self.progress)(&seen);
        }
    }

    /// Runs seed number `i`: checked (twice, every `determinism_every`-th seed), a failure
    /// shrunk, a harness error counted.
    fn run_seed(&self, sut: &dyn Sut, caps: Capabilities, i: u64) -> SeedRun {
        let cfg = self.cfg;
        let seed = cfg.first_seed.wrapping_add(i);
        let checked = cfg.determinism_every > 0 && i.is_multiple_of(cfg.determinism_every);
        let (gen_cfg, trace, run) = check_seed(sut, seed, checked, cfg, caps);
        let mut nondeterministic = false;
        if checked {
            let again = check(sut, &trace);
            nondeterministic = event_hash(&trace, &run) != event_hash(&trace, &again);
        }
        if matches!(run.verdict, TraceVerdict::Error(_)) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let steps_run = run.steps_run;
        let failure = failed(&run).then(|| shrink_seed(sut, seed, &gen_cfg, trace, run, cfg));
        SeedRun {
            seed,
            steps_run,
            checked,
            nondeterministic,
            failure,
        }
    }

    /// Adds a seed to the report; the counts so far for the progress display (`None`: the
    /// report's lock is poisoned, a worker panicked).
    fn record(&self, done: SeedRun) -> Option<Progress> {
        let Ok(mut r) = self.report.lock() else {
            return None;
        };
        r.seeds_run += 1;
        r.steps += done.steps_run as u64;
        r.determinism_checked += u64::from(done.checked);
        if done.nondeterministic {
            r.nondeterministic.push(done.seed);
        }
        if let Some(f) = done.failure {
            *r.failing_by_rule
                .entry(
                    f.counterexample
                        .as_ref()
                        .map_or("harness error".to_string(), |c| c.rule.as_str().to_string()),
                )
                .or_insert(0) += 1;
            if r.failures.len() < FAILURES_KEPT_MAX {
                r.failures.push(f);
            } else {
                r.failures_dropped += 1;
            }
        }
        Some(Progress {
            cases_done: r.seeds_run,
            cases_total: self.cfg.seeds,
            steps: r.steps,
            divergences: (r.failures.len() as u64 + r.failures_dropped),
            errors: u32::try_from(self.errors.load(Ordering::Relaxed)).unwrap_or(u32::MAX),
            ..Progress::default()
        })
    }
}

/// Checks one seed's trace: with its event log (transcript) when it is `checked` twice for
/// determinism, else generated and checked in one pass.
fn check_seed(
    sut: &dyn Sut,
    seed: u64,
    checked: bool,
    cfg: &SimConfig,
    caps: Capabilities,
) -> (GenConfig, Trace, TraceRun) {
    if checked {
        let (gen_cfg, trace) = seed_trace(seed, cfg.steps, &cfg.world, caps);
        let run = check(sut, &trace);
        return (gen_cfg, trace, run);
    }
    let gen_cfg = seed_config(seed, &cfg.world, caps);
    let (trace, run) = match case_choices(seed, cfg.steps) {
        Some(choices) => check_generated(sut, &choices, &gen_cfg),
        None => {
            let trace = Trace {
                config: cfg.world.clone(),
                steps: Vec::new(),
            };
            let run = check_quiet(sut, &trace);
            (trace, run)
        }
    };
    (gen_cfg, trace, run)
}

fn failed(run: &TraceRun) -> bool {
    matches!(
        run.verdict,
        TraceVerdict::Diverged(_) | TraceVerdict::Error(_)
    )
}

fn shrink_seed(
    sut: &dyn Sut,
    seed: u64,
    gen_cfg: &GenConfig,
    trace: Trace,
    run: TraceRun,
    cfg: &SimConfig,
) -> SimFailure {
    let before = trace.steps.len();
    // A harness error shrinks within a small time budget (a stalled target pays the call
    // timeout on every attempt).
    let deadline = matches!(run.verdict, TraceVerdict::Error(_)).then(|| {
        std::time::Instant::now() + std::time::Duration::from_millis(crate::gate::ERROR_SHRINK_MS)
    });
    let (trace, run) = match case_tree(seed, cfg.steps) {
        Some(mut tree) => shrink_until(
            sut,
            &mut tree,
            gen_cfg,
            (trace, run),
            SHRINK_ITERS_MAX,
            deadline,
            wlcs_model::vocab::Readings::default(),
        ),
        None => (trace, run),
    };
    let replay = cfg.replay.sim(seed, 1, cfg.steps);
    let timeline = timeline(&trace, &run);
    match run.verdict {
        TraceVerdict::Diverged(d) => SimFailure {
            seed,
            swarm: gen_cfg.weights.describe(),
            counterexample: Some(Counterexample {
                rule: d.rule,
                source: format!("sim seed {seed:#x}"),
                case_seed: Some(seed),
                replay,
                steps: trace.steps.len(),
                steps_before_shrink: before,
                divergence: d,
                transcript: run.transcript,
                trace,
            }),
            error: None,
            timeline,
        },
        TraceVerdict::Error(e) => SimFailure {
            seed,
            swarm: gen_cfg.weights.describe(),
            counterexample: None,
            error: Some(format!("{e} (replay: {replay})")),
            timeline,
        },
        _ => SimFailure {
            seed,
            swarm: gen_cfg.weights.describe(),
            counterexample: None,
            error: Some(format!(
                "the failure did not reproduce on a second run (replay: {replay})"
            )),
            timeline,
        },
    }
}

/// Column width of a timeline cell.
const CELL_WIDTH: usize = 40;

/// The actor column of a step: whole requests, in-flight slot n, non-web process n, the
/// world (options, hook behaviour, clock).
fn actor(step: &Step) -> String {
    match step {
        Step::Request(_) => "web request".into(),
        Step::Begin { slot, .. } | Step::End { slot, .. } => format!("slot {slot}"),
        Step::NonWeb { process, .. } => format!("non-web {process}"),
        Step::SetOption(_) | Step::SetHook(_) | Step::Advance { .. } => "world".into(),
    }
}

/// A trace and its run as a timeline: one line per step in its actor's column (only the
/// actors the trace uses), and the checker's lines (outcome, hook runs, the divergence)
/// under the step they belong to.
pub fn timeline(trace: &Trace, run: &TraceRun) -> String {
    let mut actors: Vec<String> = trace.steps.iter().map(actor).collect();
    // Web requests first, then slots, non-web processes, the world.
    let rank = |a: &String| {
        ["web", "slot", "non-web", "world"]
            .iter()
            .position(|p| a.starts_with(p))
            .unwrap_or(4)
    };
    actors.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    actors.dedup();
    let col = |step: &Step| actors.iter().position(|a| *a == actor(step)).unwrap_or(0);
    let mut out = String::from("step  ");
    for a in &actors {
        out.push_str(&format!("{a:<CELL_WIDTH$}"));
    }
    out = out.trim_end().to_string();
    out.push('\n');
    let mut lines = run.transcript.iter().peekable();
    for (i, step) in trace.steps.iter().enumerate() {
        let indent = " ".repeat(col(step) * CELL_WIDTH);
        let text = crate::transcript::step_text(step);
        let cell: String = if text.chars().count() > CELL_WIDTH - 1 {
            let mut c: String = text.chars().take(CELL_WIDTH - 2).collect();
            c.push('~');
            c
        } else {
            text
        };
        out.push_str(&format!("#{i:<4} {indent}{cell}\n"));
        // The checker's line for this step, then the indented lines under it.
        let prefix = format!("#{i} ");
        while let Some(line) = lines.peek() {
            if line.starts_with('#') && !line.starts_with(&prefix) {
                break;
            }
            let line = lines.next().map(String::as_str).unwrap_or_default();
            for (j, part) in line.split('\n').enumerate() {
                if j == 0 && part.starts_with(&prefix) {
                    if let Some((_, outcome)) = part.split_once(" => ") {
                        out.push_str(&format!("      {indent}=> {outcome}\n"));
                    }
                } else {
                    out.push_str(&format!("      {indent}{}\n", part.trim()));
                }
            }
        }
    }
    out
}

/// The report as text.
pub fn render_text(report: &SimReport, cfg: &SimConfig) -> String {
    let mut out = summary_text(report, cfg);
    for f in &report.failures {
        failure_text(f, &mut out);
    }
    if report.failures_dropped > 0 {
        out.push_str(&format!(
            "\n{} more failing seeds not shown\n",
            report.failures_dropped
        ));
    }
    if !report.failing_by_rule.is_empty() {
        let counts: Vec<String> = report
            .failing_by_rule
            .iter()
            .map(|(rule, n)| format!("{rule} x{n}"))
            .collect();
        out.push_str(&format!("failing seeds by rule: {}\n", counts.join(", ")));
    }
    if report.not_run > 0 {
        out.push_str(&format!(
            "stopped early: harness errors (the limit); {} seeds not run\n",
            report.not_run
        ));
    }
    let verdict = if !report.nondeterministic.is_empty() {
        "ERROR (nondeterminism)"
    } else if report.failures.is_empty() {
        "PASS"
    } else {
        "FAIL"
    };
    out.push_str(&format!("\nverdict: {verdict}\n"));
    out
}

/// The report's first lines: seeds, steps and rates, and the determinism check.
fn summary_text(report: &SimReport, cfg: &SimConfig) -> String {
    let mut out = String::new();
    let secs = report.millis as f64 / 1000.0;
    out.push_str(&format!(
        "wlcs sim: seeds {:#x}..{:#x} ({} run, {} steps of up to {} choices) in {:.2} s: {:.0} steps/s, {:.0} seeds/s\n",
        cfg.first_seed,
        cfg.first_seed.wrapping_add(cfg.seeds),
        report.seeds_run,
        report.steps,
        cfg.steps,
        secs,
        report.steps as f64 / secs.max(1e-9),
        report.seeds_run as f64 / secs.max(1e-9),
    ));
    out.push_str(&format!(
        "determinism: {} seeds run twice, {} differed{}\n",
        report.determinism_checked,
        report.nondeterministic.len(),
        if report.nondeterministic.is_empty() {
            String::new()
        } else {
            format!(" ({:x?})", report.nondeterministic)
        }
    ));
    out
}

/// One failing seed: its swarm, the divergence (or error) with its replay command, and the
/// timeline.
fn failure_text(f: &SimFailure, out: &mut String) {
    out.push_str(&format!(
        "\nseed {:#x} FAILED (swarm: {})\n",
        f.seed, f.swarm
    ));
    if let Some(c) = &f.counterexample {
        let d = &c.divergence;
        out.push_str(&format!(
            "  {} {}: step {}: {}: expected {}, got {}\n  shrunk from {} to {} steps\n  replay: {}\n",
            c.rule,
            c.rule.grade().as_str(),
            d.step,
            d.what,
            d.expected,
            d.actual,
            c.steps_before_shrink,
            c.steps,
            c.replay
        ));
    }
    if let Some(e) = &f.error {
        out.push_str(&format!("  error: {e}\n"));
    }
    for line in f.timeline.lines() {
        out.push_str(&format!("  {line}\n"));
    }
}

/// The process exit code: 0 pass, 1 a seed failed, 2 nondeterminism or harness errors.
pub fn exit_code(report: &SimReport) -> i32 {
    if !report.nondeterministic.is_empty()
        || report.failures.iter().any(|f| f.counterexample.is_none())
    {
        2
    } else if report.failures.is_empty() {
        0
    } else {
        1
    }
}
