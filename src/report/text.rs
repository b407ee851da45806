//! The terminal table: the per-rule rows, the security rows, counterexamples and how to replay them, errors, the
//! baseline's expected failures and unexpected passes, and the verdict.

use super::{Counterexample, Report, RuleRow, Status};

/// The baseline column of a row (`expected fail`, `UNEXPECTED PASS`), empty without one.
pub fn baseline_note(row: &RuleRow) -> String {
    match &row.baseline {
        None => String::new(),
        Some(b) => match b.outcome {
            super::BaselineOutcome::AsExpected => {
                format!(" [baseline: expected {}]", b.expect.as_str())
            }
            super::BaselineOutcome::UnexpectedPass => {
                format!(
                    " [baseline: UNEXPECTED PASS, expected {}]",
                    b.expect.as_str()
                )
            }
            super::BaselineOutcome::Unmet => {
                format!(" [baseline: expected {}, not met]", b.expect.as_str())
            }
        },
    }
}

/// The report as a readable table, with counterexamples and how to replay them.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    push_header(&mut out, report);
    push_rule_table(&mut out, report);
    if !report.security.is_empty() {
        out.push('\n');
        out.push_str(&crate::security::render_rows_text(&report.security));
    }
    for (i, c) in report.counterexamples.iter().enumerate() {
        push_counterexample(&mut out, i + 1, c);
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
    push_baseline_outcomes(&mut out, report);
    let count = |s: Status| report.rules.iter().filter(|r| r.status == s).count();
    out.push_str(&format!(
        "\nverdict: {} ({} rules: {} pass, {} fail, {} warn, {} skip, {} unreached)\n",
        report.verdict.as_upper(),
        report.rules.len(),
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Warn),
        count(Status::Skip),
        count(Status::Unreached)
    ));
    out
}

/// The run's description (version, target, profile, seed, ...), the readings line and the
/// totals.
fn push_header(out: &mut String, report: &Report) {
    out.push_str(&format!(
        "wlcs {} | target {} | profile {} | seed {:#x}{}{}\n",
        report.wlcs_version,
        report.target,
        report.profile,
        report.seed,
        if report.strict { " | strict" } else { "" },
        report
            .partition
            .map(|p| format!(" | partition {p}"))
            .unwrap_or_default()
    ));
    if let Some(line) = super::readings_line(report) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!(
        "{} fixtures, {} generated cases, {} steps in {:.2} s\n\n",
        report.fixtures,
        report.cases,
        report.steps,
        report.millis as f64 / 1000.0
    ));
}

/// One line per rule: counters, status, skip reason and baseline note.
fn push_rule_table(out: &mut String, report: &Report) {
    out.push_str("RULE      GRADE     CHECKS     FIRED   DIV  STATUS\n");
    for r in &report.rules {
        out.push_str(&format!(
            "{:<9} {:<7} {:>8} {:>9} {:>5}  {}{}{}\n",
            r.id.as_str(),
            r.grade,
            r.checks,
            r.fired,
            r.divergences,
            r.status.as_str(),
            r.skip_reason
                .as_deref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default(),
            baseline_note(r)
        ));
    }
}

/// Counterexample `number` (from 1): its rule, divergence, transcript and replay command.
fn push_counterexample(out: &mut String, number: usize, c: &Counterexample) {
    let d = &c.divergence;
    out.push_str(&format!(
        "\ncounterexample {} [{} {}] from {}, {} steps (shrunk from {}):\n",
        number,
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

/// The baseline's expected failures and unexpected passes, each line only when it has rules.
fn push_baseline_outcomes(out: &mut String, report: &Report) {
    let expected: Vec<&str> = report.expected_failures().map(|r| r.id.as_str()).collect();
    if !expected.is_empty() {
        out.push_str(&format!(
            "\nexpected failures (baseline, not failing the run): {}\n",
            expected.join(", ")
        ));
    }
    let unexpected: Vec<&str> = report.unexpected_passes().map(|r| r.id.as_str()).collect();
    if !unexpected.is_empty() {
        out.push_str(&format!(
            "\nunexpected passes (the baseline expected otherwise{}): {}\n",
            if report.strict_baseline {
                "; --strict-baseline fails the run"
            } else {
                "; update the baseline"
            },
            unexpected.join(", ")
        ));
    }
}
