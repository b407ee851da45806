//! The conformance report: one data structure, rendered as JSON (schema 1) and as a readable
//! table. Rendering is pure; only the CLI writes files.

use crate::checker::Divergence;
use crate::stats::RuleStats;
use serde::{Deserialize, Serialize};
use wlcs_model::{Grade, RuleId, Trace};

/// A rule's status in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Checked and never diverged.
    Pass,
    /// Diverged (MUST, PROFILE, INV; SHOULD under `--strict`).
    Fail,
    /// A SHOULD rule diverged in a non-strict run.
    Warn,
    /// Not checkable: the target lacks a capability.
    Skip,
    /// No check reached it: a failure of the generator or the fixtures.
    Unreached,
}

impl Status {
    /// The spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Unreached => "unreached",
        }
    }
}

/// One row of the per-rule table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRow {
    /// The rule ID.
    pub id: RuleId,
    /// Its grade (`MUST`, `SHOULD`, `PROFILE`, `INV`).
    pub grade: String,
    /// Observations compared that answer to it (INV: times checked).
    pub checks: u64,
    /// Times the model's branch for it ran.
    pub fired: u64,
    /// Divergences attributed to it.
    pub divergences: u64,
    /// The status.
    pub status: Status,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
}

/// A failing trace, shrunk when generated, with what replays it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The rule it breaks.
    pub rule: RuleId,
    /// `fixture:<name>` or `generated`.
    pub source: String,
    /// The generated case's seed.
    pub case_seed: Option<u64>,
    /// The command that replays it.
    pub replay: String,
    /// Steps in the (shrunk) trace.
    pub steps: usize,
    /// Steps of the trace before shrinking.
    pub steps_before_shrink: usize,
    /// The divergence.
    pub divergence: Divergence,
    /// One line per event up to the divergence.
    pub transcript: Vec<String>,
    /// The trace itself, ready to save as a fixture.
    pub trace: Trace,
}

/// The overall verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Conformant.
    Pass,
    /// A rule failed or was unreached.
    Fail,
    /// The harness could not finish.
    Error,
    /// Nothing was checked (every selected rule skipped, or nothing ran).
    Empty,
}

impl Verdict {
    /// The process exit code for this verdict (0, 1, 2, 4: see `crate::gate`).
    pub fn exit_code(self) -> i32 {
        i32::from(match self {
            Verdict::Pass => crate::gate::EXIT_CONFORMANT,
            Verdict::Fail => crate::gate::EXIT_FAILURE,
            Verdict::Error => crate::gate::EXIT_HARNESS,
            Verdict::Empty => crate::gate::EXIT_NOTHING_CHECKED,
        })
    }
}

/// Everything a run found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The schema version (1).
    pub schema: u32,
    /// The wlcs version.
    pub wlcs_version: String,
    /// The target's name.
    pub target: String,
    /// The run's seed.
    pub seed: u64,
    /// The profile checked.
    pub profile: String,
    /// Whether SHOULD divergences fail.
    pub strict: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// Fixtures run.
    pub fixtures: usize,
    /// Generated cases run.
    pub cases: u64,
    /// Steps sent to the target.
    pub steps: u64,
    /// Wall time, milliseconds.
    pub millis: u64,
    /// One row per selected rule, SPEC.md order.
    pub rules: Vec<RuleRow>,
    /// Failing traces.
    pub counterexamples: Vec<Counterexample>,
    /// Harness errors (the target failed to answer, a fixture is broken).
    pub errors: Vec<String>,
    /// The traces on which the target failed to answer, shrunk when generated.
    pub error_cases: Vec<ErrorCase>,
    /// Fixtures and generated cases not run because the run stopped early.
    #[serde(default)]
    pub not_run: u64,
    /// Why the run stopped early (harness errors, the time budget), if it did.
    #[serde(default)]
    pub stopped: Option<String>,
}

/// A trace on which the target failed to answer (a panic, garbage, a dropped connection, a
/// timeout): a harness error, located at a step and, when the step checks one, a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCase {
    /// The rule the failing step was checking.
    pub rule: Option<RuleId>,
    /// `fixture:<name>` or `generated`.
    pub source: String,
    /// Steps in the (shrunk) trace.
    pub steps: usize,
    /// What went wrong, with the step.
    pub message: String,
    /// The command that replays it.
    pub replay: String,
}

/// Builds the rule rows from counters.
pub fn rule_rows(
    stats: &RuleStats,
    selected: &dyn Fn(RuleId) -> bool,
    skipped: &[(RuleId, &'static str)],
    strict: bool,
) -> Vec<RuleRow> {
    RuleId::ALL
        .iter()
        .copied()
        .filter(|r| selected(*r))
        .map(|id| {
            let c = stats.get(id);
            let skip_reason = skipped
                .iter()
                .find(|(r, _)| *r == id)
                .map(|(_, why)| (*why).to_string());
            let status = if c.divergences > 0 {
                if id.grade() == Grade::Should && !strict {
                    Status::Warn
                } else {
                    Status::Fail
                }
            } else if c.checks == 0 && skip_reason.is_some() {
                Status::Skip
            } else if c.checks == 0 || c.fired == 0 {
                Status::Unreached
            } else {
                Status::Pass
            };
            RuleRow {
                id,
                grade: id.grade().as_str().to_string(),
                checks: c.checks,
                fired: c.fired,
                divergences: c.divergences,
                status,
                skip_reason: if status == Status::Skip {
                    skip_reason
                } else {
                    None
                },
            }
        })
        .collect()
}

/// The verdict a set of rows and errors gives: a conformance failure is the finding even
/// when the run also had harness errors; a run where no rule was checked is not a pass.
pub fn verdict(rows: &[RuleRow], errors: &[String]) -> Verdict {
    if rows
        .iter()
        .any(|r| matches!(r.status, Status::Fail | Status::Unreached))
    {
        Verdict::Fail
    } else if !errors.is_empty() {
        Verdict::Error
    } else if !rows
        .iter()
        .any(|r| matches!(r.status, Status::Pass | Status::Warn))
    {
        Verdict::Empty
    } else {
        Verdict::Pass
    }
}

/// The report as JSON.
pub fn to_json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

/// The report as a readable table, with counterexamples and how to replay them.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "wlcs {} | target {} | profile {} | seed {:#x}{}\n",
        report.wlcs_version,
        report.target,
        report.profile,
        report.seed,
        if report.strict { " | strict" } else { "" }
    ));
    out.push_str(&format!(
        "{} fixtures, {} generated cases, {} steps in {:.2} s\n\n",
        report.fixtures,
        report.cases,
        report.steps,
        report.millis as f64 / 1000.0
    ));
    out.push_str("RULE      GRADE     CHECKS     FIRED   DIV  STATUS\n");
    for r in &report.rules {
        out.push_str(&format!(
            "{:<9} {:<7} {:>8} {:>9} {:>5}  {}{}\n",
            r.id.as_str(),
            r.grade,
            r.checks,
            r.fired,
            r.divergences,
            r.status.as_str(),
            r.skip_reason
                .as_deref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        ));
    }
    for (i, c) in report.counterexamples.iter().enumerate() {
        let d = &c.divergence;
        out.push_str(&format!(
            "\ncounterexample {} [{} {}] from {}, {} steps (shrunk from {}):\n",
            i + 1,
            c.rule,
            c.rule.grade().as_str(),
            c.source,
            c.steps,
            c.steps_before_shrink
        ));
        out.push_str(&format!("  requirement: {}\n", c.rule.summary()));
        out.push_str(&format!(
            "  step {}: {}: expected {}, got {}\n",
            d.step, d.what, d.expected, d.actual
        ));
        if !d.also.is_empty() {
            let also: Vec<&str> = d.also.iter().map(|r| r.as_str()).collect();
            out.push_str(&format!("  also breaks: {}\n", also.join(", ")));
        }
        for line in &c.transcript {
            out.push_str(&format!("  | {line}\n"));
        }
        out.push_str(&format!("  replay: {}\n", c.replay));
    }
    for e in &report.errors {
        out.push_str(&format!("\nerror: {e}\n"));
    }
    if let Some(why) = &report.stopped {
        out.push_str(&format!(
            "\nstopped early: {why}; {} fixtures and cases not run\n",
            report.not_run
        ));
    }
    let count = |s: Status| report.rules.iter().filter(|r| r.status == s).count();
    out.push_str(&format!(
        "\nverdict: {} ({} rules: {} pass, {} fail, {} warn, {} skip, {} unreached)\n",
        match report.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Empty => "NOTHING CHECKED",
        },
        report.rules.len(),
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Warn),
        count(Status::Skip),
        count(Status::Unreached)
    ));
    out
}
