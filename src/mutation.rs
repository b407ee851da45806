//! Mutation testing of the suite itself: run it against every deliberately broken variant of
//! the reference implementation and report, per mutant, whether it was killed, by which
//! rule, with how short a counterexample and how fast. The reference implementation and the
//! canary must pass: a suite that fails them has false failures. Race mutants are not run
//! here: only concurrent histories show them (`crate::linearize`).

use crate::concurrent::{self, ConcurrentConfig, run_concurrent};
use crate::fixture::Fixture;
use crate::linearize::Verdict;
use crate::report::Counterexample;
use crate::runner::{self, RunConfig};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use wlcs_model::RuleId;
use wlcs_sut::mutants::{self, Mutant};

/// How hard to try per mutant.
#[derive(Clone, Debug)]
pub struct MutationConfig {
    /// The seed of the generated cases.
    pub seed: u64,
    /// Generated cases per mutant, at most (a kill stops early).
    pub cases: u64,
    /// Steps per generated trace, at most.
    pub steps: usize,
}

/// One mutant's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutantRow {
    /// The mutant's name (`reference` for the unmutated implementation).
    pub name: String,
    /// The rule it declares it breaks (`None`: the reference and the canary).
    pub breaks: Option<RuleId>,
    /// Whether the suite caught it.
    pub killed: bool,
    /// The rule of the divergence that caught it (or of the step where it failed to answer).
    pub caught_by: Option<RuleId>,
    /// Caught because it failed to answer (an error), not by a divergence.
    #[serde(default)]
    pub by_error: bool,
    /// Whether the divergence names the declared rule (as its rule or one it also breaks).
    pub caught_by_declared: bool,
    /// Steps of the shrunk counterexample.
    pub steps: Option<usize>,
    /// Time to kill (or to give up), milliseconds.
    pub millis: u64,
    /// The counterexample's transcript.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub transcript: Vec<String>,
    /// Harness errors met (a panicking mutant).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<String>,
}

impl MutantRow {
    /// Whether this row is what it should be: mutants killed, reference and canary not.
    pub fn as_expected(&self) -> bool {
        match self.breaks {
            Some(_) => self.killed,
            None => !self.killed && self.errors.is_empty(),
        }
    }
}

/// Every mutant's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationReport {
    /// The schema version (1).
    pub schema: u32,
    /// The rows, the reference first.
    pub mutants: Vec<MutantRow>,
}

fn check_one(mutant: Option<Mutant>, fixtures: &[Fixture], cfg: &MutationConfig) -> MutantRow {
    let started = Instant::now();
    // One call at a time: a slow hook's sleep would only cost wall time.
    let sut = mutants::sut(mutant).with_slow_hook(std::time::Duration::ZERO);
    let name = mutant.map_or("reference".to_string(), |m| m.name().to_string());
    let run_cfg = RunConfig {
        seed: cfg.seed,
        cases: cfg.cases,
        steps: cfg.steps,
        strict: true,
        stop_at_first_failure: true,
        counterexamples_max: 1,
        replay: crate::replay::ReplayCommand {
            mutant: mutant.map(|m| m.name().to_string()),
            strict: true,
            ..crate::replay::ReplayCommand::default()
        },
        // Checked below, only where no trace caught the mutant.
        security: false,
        ..RunConfig::default()
    };
    let report = runner::run(&sut, fixtures, &run_cfg, &name);
    let first: Option<&Counterexample> = report.counterexamples.first();
    let breaks = mutant.and_then(|m| m.expected_break());
    // A mutant that makes the target fail to answer (its bug left it in a state it cannot
    // serve) is caught too, at the step and rule where it failed.
    let error = report.error_cases.first().filter(|_| first.is_none());
    // What no trace can show, the security checks can: ID quality under REQ-6 (a counter, a
    // clock or 32 random bits give unique, well-formed IDs) and fixation probes (REQ-3). The
    // reference and the canary must pass them too.
    if first.is_none() && error.is_none() {
        let sec = crate::security::check(&sut, &crate::security::SecurityConfig::default());
        if let Some(row) = sec
            .rows
            .iter()
            .find(|r| r.status == crate::security::SecStatus::Fail)
        {
            let rule = RuleId::parse(&row.rule);
            return MutantRow {
                name,
                breaks,
                killed: true,
                caught_by: rule,
                by_error: false,
                caught_by_declared: breaks.is_some() && rule == breaks,
                steps: None,
                millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                transcript: vec![format!("security check {}: {}", row.id, row.detail)],
                errors: report.errors,
            };
        }
    }
    MutantRow {
        name,
        breaks,
        killed: first.is_some() || error.is_some(),
        caught_by: first.map(|c| c.rule).or(error.and_then(|e| e.rule)),
        by_error: error.is_some(),
        caught_by_declared: match (first, error, breaks) {
            (Some(c), _, Some(rule)) => c.divergence.breaks(rule),
            (None, Some(e), Some(rule)) => e.rule == Some(rule),
            _ => false,
        },
        steps: first.map(|c| c.steps).or(error.map(|e| e.steps)),
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        transcript: first.map(|c| c.transcript.clone()).unwrap_or_default(),
        errors: report.errors,
    }
}

/// Concurrent rounds tried on a race mutant, at most.
pub const RACE_ROUNDS_MAX: u64 = 8;
/// Operations per concurrent round.
pub const RACE_ROUND_OPS: u64 = 1_500;

/// A race mutant is the reference exactly when called from one thread at a time, so the
/// sequential suite cannot kill it: real threads and the linearizability checker do. Rounds
/// of a small hot workload (2 threads, 2 keys) until a history is not linearizable.
fn check_race(mutant: Mutant, cfg: &MutationConfig) -> MutantRow {
    let started = Instant::now();
    let sut = mutant.sut();
    let mut row = MutantRow {
        name: mutant.name().to_string(),
        breaks: mutant.expected_break(),
        killed: false,
        caught_by: None,
        by_error: false,
        caught_by_declared: false,
        steps: None,
        millis: 0,
        transcript: Vec::new(),
        errors: Vec::new(),
    };
    for round in 0..RACE_ROUNDS_MAX {
        let run_cfg = ConcurrentConfig {
            seed: cfg.seed.wrapping_add(round),
            threads: 2,
            keys: 2,
            ops_max: RACE_ROUND_OPS,
            ..ConcurrentConfig::default()
        };
        let report = run_concurrent(&sut, &run_cfg);
        if let Some(Verdict::NotLinearizable(violations)) = report.verdict()
            && let Some(v) = violations.first()
        {
            row.killed = true;
            row.caught_by = Some(v.rule);
            row.caught_by_declared = row
                .breaks
                .is_some_and(|r| report.verdict().is_some_and(|vd| vd.breaks(r)));
            // A history's "length": the operations involved in the violation (those that
            // failed and those concurrent with them).
            row.steps = Some(v.involved.len());
            row.transcript = concurrent::render_text(&report)
                .lines()
                .map(str::to_string)
                .collect();
            break;
        }
        row.errors.extend(report.harness_error.clone());
    }
    row.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    row
}

/// Runs the reference and then each mutant, calling `progress` after each. Race mutants
/// ([`Mutant::is_race`]) are run from real threads and judged by the linearizability checker
/// (`crate::concurrent`): sequentially they are the reference exactly.
pub fn run_all(
    mutants: &[Mutant],
    fixtures: &[Fixture],
    cfg: &MutationConfig,
    progress: &mut dyn FnMut(&MutantRow),
) -> MutationReport {
    let mut rows = Vec::with_capacity(mutants.len() + 1);
    let reference = check_one(None, fixtures, cfg);
    progress(&reference);
    rows.push(reference);
    for m in mutants {
        let row = if m.is_race() {
            check_race(*m, cfg)
        } else {
            check_one(Some(*m), fixtures, cfg)
        };
        progress(&row);
        rows.push(row);
    }
    MutationReport {
        schema: 1,
        mutants: rows,
    }
}

/// One line per mutant.
pub fn render_row(row: &MutantRow) -> String {
    let verdict = match (row.breaks, row.killed) {
        (None, false) => "passes (as it must)".to_string(),
        (None, true) => "FALSE FAILURE".to_string(),
        (Some(_), true) if row.by_error => "killed (error)".to_string(),
        (Some(_), true) => "killed".to_string(),
        (Some(_), false) => "SURVIVED".to_string(),
    };
    format!(
        "{:<36} breaks {:<9} {:<20} by {:<9}{} {:>3} steps {:>7} ms",
        row.name,
        row.breaks.map_or("-", |r| r.as_str()),
        verdict,
        row.caught_by.map_or("-", |r| r.as_str()),
        if row.killed && !row.caught_by_declared && row.breaks.is_some() {
            "*"
        } else {
            " "
        },
        row.steps.map_or("-".to_string(), |s| s.to_string()),
        row.millis
    )
}

/// The whole table with a summary.
pub fn render_text(report: &MutationReport) -> String {
    let mut out = String::new();
    for row in &report.mutants {
        out.push_str(&render_row(row));
        out.push('\n');
    }
    out.push_str(&render_summary(report));
    out
}

/// The summary under the rows (the CLI prints the rows as they come, then this).
pub fn render_summary(report: &MutationReport) -> String {
    let mut out = String::new();
    let mutants: Vec<&MutantRow> = report
        .mutants
        .iter()
        .filter(|r| r.breaks.is_some())
        .collect();
    let killed = mutants.iter().filter(|r| r.killed).count();
    let declared = mutants.iter().filter(|r| r.caught_by_declared).count();
    let mut steps: Vec<usize> = mutants.iter().filter_map(|r| r.steps).collect();
    steps.sort_unstable();
    let median = steps.get(steps.len() / 2).copied().unwrap_or(0);
    out.push_str(&format!(
        "\n{killed}/{} mutants killed, {declared} by the rule they declare (* marks another rule), median counterexample {median} steps\n",
        mutants.len()
    ));
    let bad: Vec<&str> = report
        .mutants
        .iter()
        .filter(|r| !r.as_expected())
        .map(|r| r.name.as_str())
        .collect();
    if bad.is_empty() {
        out.push_str("verdict: PASS\n");
    } else {
        out.push_str(&format!("verdict: FAIL ({})\n", bad.join(", ")));
    }
    out
}

/// The report as JSON.
pub fn to_json(report: &MutationReport) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// 0 when every row is as expected, 1 otherwise.
pub fn exit_code(report: &MutationReport) -> i32 {
    i32::from(!report.mutants.iter().all(MutantRow::as_expected))
}
