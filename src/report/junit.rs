//! JUnit XML (via quick-junit, the crate nextest writes its JUnit with), valid against the
//! JUnit schema Jenkins reads (`schemas/junit-10.xsd`, checked by `.ci/report-check`).
//!
//! Suite `wlcs.rules` has a testcase per selected rule, `wlcs.fixtures` one per fixture run,
//! `wlcs.harness` one per harness error, `wlcs.security` one per security row. A failure's body quotes the requirement (SPEC.md),
//! gives expected against actual and the replay command; a skip carries its reason. A failure
//! the baseline expects is a `<skipped>` whose message says so (CI shows it, the job stays
//! green); an unexpected pass is a `<failure>` under `--strict-baseline`, a note otherwise.

use super::{BaselineOutcome, Counterexample, FixtureStatus, Report, RuleRow, Status};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

fn requirement(rule: wlcs_model::RuleId) -> String {
    crate::catalog::rule_text(rule).unwrap_or_else(|| rule.summary().to_string())
}

/// A counterexample as a failure body: requirement, expected vs actual, transcript, replay.
pub fn counterexample_body(c: &Counterexample) -> String {
    let d = &c.divergence;
    let mut out = format!("requirement (SPEC.md): {}\n\n", requirement(c.rule));
    out.push_str(&format!(
        "from {}, {} steps (shrunk from {})\nstep {}: {}\n  expected: {}\n  actual:   {}\n",
        c.source, c.steps, c.steps_before_shrink, d.step, d.what, d.expected, d.actual
    ));
    if !d.also.is_empty() {
        let also: Vec<&str> = d.also.iter().map(|r| r.as_str()).collect();
        out.push_str(&format!("also breaks: {}\n", also.join(", ")));
    }
    out.push_str("\ntranscript:\n");
    for line in &c.transcript {
        out.push_str(&format!("  | {line}\n"));
    }
    out.push_str(&format!("\nreplay: {}\n", c.replay));
    out
}

fn row_failure_body(report: &Report, row: &RuleRow) -> String {
    match report.counterexample_for(row.id) {
        Some(c) => counterexample_body(c),
        None if row.status == Status::Unreached => format!(
            "requirement (SPEC.md): {}\n\nno check reached this rule: a gap of the generator or \
             the fixtures, not a verdict on the target\n",
            requirement(row.id)
        ),
        None => format!(
            "requirement (SPEC.md): {}\n\n{} divergences; the report keeps a counterexample for \
             the first {} rules that failed, in run order; replay the run with --rule {} to \
             see one\n",
            requirement(row.id),
            row.divergences,
            super::COUNTEREXAMPLES_KEPT_MAX,
            row.id
        ),
    }
}

/// A rule row as a testcase of `wlcs.rules`: its status (a failure, a waived failure, a
/// skip, an unexpected pass) and its counters and notes as system-out.
fn rule_case(report: &Report, row: &RuleRow) -> TestCase {
    let title = format!("{} {}: {}", row.id, row.grade, row.summary);
    let baseline_note = row.baseline.as_ref().map(|b| {
        format!(
            "baseline expects {}: {}{}",
            b.expect.as_str(),
            b.reason,
            b.link
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        )
    });
    let status = rule_status(report, row, &title, baseline_note.as_deref());
    let mut case = TestCase::new(row.id.as_str(), status);
    case.set_classname("wlcs.rules");
    case.set_system_out(rule_system_out(
        report,
        row,
        &title,
        baseline_note.as_deref(),
    ));
    case
}

/// A rule row's testcase status: a failure the baseline expects is skipped as
/// `expected-failure`, an unexpected pass fails only under `--strict-baseline`, a warning
/// passes.
fn rule_status(
    report: &Report,
    row: &RuleRow,
    title: &str,
    baseline_note: Option<&str>,
) -> TestCaseStatus {
    let waived = matches!(&row.baseline, Some(b) if b.outcome == BaselineOutcome::AsExpected);
    match row.status {
        Status::Fail | Status::Unreached if waived => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("expected-failure");
            s.set_message(format!(
                "expected {} ({}): {}",
                row.status.as_str(),
                baseline_note.unwrap_or_default(),
                title
            ));
            s.set_description(row_failure_body(report, row));
            s
        }
        Status::Fail | Status::Unreached => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(if row.status == Status::Fail {
                "divergence"
            } else {
                "unreached"
            });
            s.set_message(title.to_string());
            s.set_description(row_failure_body(report, row));
            s
        }
        Status::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("skip");
            s.set_message(row.skip_reason.clone().unwrap_or_else(|| "skipped".into()));
            s
        }
        Status::Pass if row.unexpected_pass() && report.strict_baseline => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("unexpected-pass");
            s.set_message(format!(
                "unexpected pass ({}): update the baseline",
                baseline_note.unwrap_or_default()
            ));
            s
        }
        Status::Pass | Status::Warn => TestCaseStatus::success(),
    }
}

/// A rule row's system-out: title and counters, a warning's counterexample, the baseline's
/// notes.
fn rule_system_out(
    report: &Report,
    row: &RuleRow,
    title: &str,
    baseline_note: Option<&str>,
) -> String {
    let counts = format!(
        "checks {}, fired {}, divergences {}",
        row.checks, row.fired, row.divergences
    );
    let mut out = format!("{title}\n{counts}\n");
    if row.status == Status::Warn {
        out.push_str("warning: a SHOULD divergence (fails only under --strict)\n");
        if let Some(c) = report.counterexample_for(row.id) {
            out.push_str(&counterexample_body(c));
        }
    }
    if row.unexpected_pass() {
        out.push_str("unexpected pass: the baseline expected otherwise\n");
    }
    if let Some(n) = baseline_note {
        out.push_str(n);
        out.push('\n');
    }
    out
}

/// A fixture run as a testcase of `wlcs.fixtures`, with its rules and steps as system-out.
fn fixture_case(report: &Report, f: &super::FixtureRun) -> TestCase {
    let status = match f.status {
        FixtureStatus::Pass => TestCaseStatus::success(),
        FixtureStatus::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("skip");
            s.set_message(f.message.clone().unwrap_or_else(|| "skipped".into()));
            s
        }
        FixtureStatus::Error => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("harness-error");
            s.set_message(f.message.clone().unwrap_or_default());
            s.set_description(fixture_detail(f));
            s
        }
        FixtureStatus::Fail => fixture_failure(report, f),
    };
    let mut case = TestCase::new(f.name.as_str(), status);
    case.set_classname("wlcs.fixtures");
    case.set_time(Duration::from_millis(f.duration_ms));
    let rules: Vec<&str> = f.rules.iter().map(|r| r.as_str()).collect();
    case.set_system_out(format!("rules: {}\nsteps: {}\n", rules.join(", "), f.steps));
    case
}

/// The status of a fixture that diverged: its rule's row decides whether the divergence
/// fails the run (a SHOULD warning or a failure the baseline expects is skipped).
fn fixture_failure(report: &Report, f: &super::FixtureRun) -> TestCaseStatus {
    let row = f
        .rule
        .and_then(|r| report.rules.iter().find(|row| row.id == r));
    match row {
        Some(r) if !r.fails_gate() => {
            let mut s = TestCaseStatus::skipped();
            s.set_type(if r.status == Status::Warn {
                "should-divergence"
            } else {
                "expected-failure"
            });
            s.set_message(format!(
                "{} {} ({}, not failing the run)",
                r.id,
                r.status.as_str(),
                if r.status == Status::Warn {
                    "a SHOULD divergence"
                } else {
                    "expected by the baseline"
                }
            ));
            s.set_description(fixture_detail(f));
            s
        }
        _ => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("divergence");
            s.set_message(format!(
                "{}: {}",
                f.rule.map(|r| r.as_str()).unwrap_or("?"),
                f.message.clone().unwrap_or_default()
            ));
            s.set_description(fixture_detail(f));
            s
        }
    }
}

/// A fixture's failure or error body: the requirement of its rule, its message, the replay
/// command.
fn fixture_detail(f: &super::FixtureRun) -> String {
    let mut body = String::new();
    if let Some(r) = f.rule {
        body.push_str(&format!("requirement (SPEC.md): {}\n\n", requirement(r)));
    }
    if let Some(m) = &f.message {
        body.push_str(m);
        body.push('\n');
    }
    body.push_str(&format!("\nreplay: {}\n", f.replay));
    body
}

fn properties(report: &Report) -> Vec<Property> {
    let caps = crate::check::capabilities::Capability::names_in(&report.capabilities);
    let mut props = vec![
        Property::new("verdict", report.verdict.as_upper()),
        Property::new("target", report.target.as_str()),
        Property::new("seed", format!("{:#x}", report.seed)),
        Property::new("profile", report.profile.as_str()),
        Property::new("strict", report.strict.to_string()),
        Property::new("capabilities", caps.join(",")),
        Property::new("wlcs_version", report.wlcs_version.as_str()),
        Property::new("spec_revision", report.spec_revision.as_str()),
        Property::new("started_at", report.started_at.as_str()),
        Property::new("cases", report.cases.to_string()),
        Property::new("steps", report.steps.to_string()),
    ];
    if let Some(p) = report.partition {
        props.push(Property::new("partition", p.to_string()));
    }
    props
}

/// A security row as a testcase: a failure under its rule, a skip, or a pass (information
/// rows pass: they are never judged, and their detail is in the output).
fn security_case(row: &crate::security::SecRow) -> TestCase {
    use crate::security::SecStatus;
    let status = match row.status {
        SecStatus::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(row.rule.as_str());
            s.set_message(row.detail.clone());
            s
        }
        SecStatus::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("skip");
            s.set_message(row.detail.clone());
            s
        }
        SecStatus::Pass | SecStatus::Info => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(row.id.as_str(), status);
    case.set_classname("wlcs.security");
    case.set_system_out(format!(
        "{} [{}]: {}\n",
        row.id,
        row.status.as_str(),
        row.detail
    ));
    case
}

/// The report as JUnit XML.
pub fn to_junit(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new("wlcs");
    junit.set_time(Duration::from_millis(report.millis));
    let mut rules = TestSuite::new("wlcs.rules");
    rules.add_properties(properties(report));
    rules.set_time(Duration::from_millis(report.millis));
    rules.add_test_cases(report.rules.iter().map(|r| rule_case(report, r)));
    junit.add_test_suite(rules);
    if !report.fixture_runs.is_empty() {
        let mut fixtures = TestSuite::new("wlcs.fixtures");
        fixtures.set_time(Duration::from_millis(report.durations.fixtures_ms));
        fixtures.add_test_cases(report.fixture_runs.iter().map(|f| fixture_case(report, f)));
        junit.add_test_suite(fixtures);
    }
    if !report.security.is_empty() {
        let mut suite = TestSuite::new("wlcs.security");
        suite.add_test_cases(report.security.iter().map(security_case));
        junit.add_test_suite(suite);
    }
    // Errors of fixtures are on their testcases; the others (generated cases) get their own.
    let harness: Vec<&String> = report
        .errors
        .iter()
        .filter(|e| !e.starts_with("fixture "))
        .collect();
    if !harness.is_empty() {
        let mut suite = TestSuite::new("wlcs.harness");
        for (i, e) in harness.iter().enumerate() {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("harness-error");
            s.set_message(e.lines().next().unwrap_or_default().to_string());
            s.set_description(e.as_str());
            let mut case = TestCase::new(format!("harness error {}", i + 1), s);
            case.set_classname("wlcs.harness");
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string()
}
