//! A Markdown summary for a CI step summary (`$GITHUB_STEP_SUMMARY`) or a PR comment: the
//! verdict and counts first, then what needs attention (failing, warning, skipped, unreached
//! and baselined rules), counterexamples with their replay commands, errors, the security
//! rows, and the whole
//! rule table folded away.

use super::{Counterexample, Report, RuleRow, Status};

/// Escapes text for a table cell (pipes, newlines).
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Inline code that survives backticks inside the text.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

fn note(row: &RuleRow) -> String {
    let mut parts = Vec::new();
    if let Some(why) = &row.skip_reason {
        parts.push(why.clone());
    }
    if let Some(b) = &row.baseline {
        let what = match b.outcome {
            super::BaselineOutcome::AsExpected => {
                format!("expected {} (baseline)", b.expect.as_str())
            }
            super::BaselineOutcome::UnexpectedPass => {
                format!(
                    "**unexpected pass**: baseline expects {}",
                    b.expect.as_str()
                )
            }
            super::BaselineOutcome::Unmet => {
                format!("baseline expects {}, not met", b.expect.as_str())
            }
        };
        let link = b
            .link
            .as_deref()
            .map(|l| format!(" ([link]({l}))"))
            .unwrap_or_default();
        parts.push(format!("{what}: {}{link}", b.reason));
    }
    cell(&parts.join("; "))
}

fn table(rows: &[&RuleRow]) -> String {
    let mut out = String::from(
        "| rule | grade | checks | fired | div | status | note |\n|---|---|--:|--:|--:|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.id,
            r.grade,
            r.checks,
            r.fired,
            r.divergences,
            if r.fails_gate() {
                format!("**{}**", r.status.as_str())
            } else {
                r.status.as_str().to_string()
            },
            note(r)
        ));
    }
    out
}

/// The report as Markdown.
pub fn to_markdown(report: &Report) -> String {
    let mut out = format!("## wlcs: {}\n\n", report.verdict.as_upper());
    push_summary(&mut out, report);
    push_attention(&mut out, report);
    push_unexpected_passes(&mut out, report);
    for (i, c) in report.counterexamples.iter().enumerate() {
        push_counterexample(&mut out, i + 1, c);
    }
    if !report.errors.is_empty() {
        out.push_str(&format!("### Harness errors ({})\n\n", report.errors.len()));
        for e in &report.errors {
            out.push_str(&format!("```text\n{e}\n```\n\n"));
        }
    }
    push_security(&mut out, report);
    let all: Vec<&RuleRow> = report.rules.iter().collect();
    out.push_str(&format!(
        "<details><summary>All {} rules</summary>\n\n{}\n</details>\n",
        all.len(),
        table(&all)
    ));
    out
}

/// The counts line, the run's description (target, profile, seed, ...) and the readings
/// line, under the verdict heading.
fn push_summary(out: &mut String, report: &Report) {
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    out.push_str(&format!(
        "**{} rules**: {}. {} fixtures, {} generated cases, {} steps in {:.2} s.\n\n",
        report.rules.len(),
        counts.join(", "),
        report.fixtures,
        report.cases,
        report.steps,
        report.millis as f64 / 1000.0
    ));
    out.push_str(&format!(
        "Target {} · profile {} · seed {}{}{} · capabilities {} · wlcs {} · SPEC {} · started {}\n\n",
        code(&report.target),
        code(&report.profile),
        code(&format!("{:#x}", report.seed)),
        if report.strict { " · strict" } else { "" },
        report
            .partition
            .map(|p| format!(" · partition {p}"))
            .unwrap_or_default(),
        capabilities(report),
        report.wlcs_version,
        code(&report.spec_revision),
        report.started_at
    ));
    if let Some(line) = super::readings_line(report) {
        out.push_str(&format!("{line}\n\n"));
    }
}

/// The table of rules that did not simply pass (or carry a baseline entry), or a line
/// saying every rule passed.
fn push_attention(out: &mut String, report: &Report) {
    let attention: Vec<&RuleRow> = report
        .rules
        .iter()
        .filter(|r| r.status != Status::Pass || r.baseline.is_some())
        .collect();
    if attention.is_empty() {
        out.push_str("Every selected rule passed.\n\n");
    } else {
        out.push_str("### Rules that need attention\n\n");
        out.push_str(&table(&attention));
        out.push('\n');
    }
}

/// The rules that passed although the baseline expects them to fail, if any.
fn push_unexpected_passes(out: &mut String, report: &Report) {
    let unexpected: Vec<String> = report
        .unexpected_passes()
        .map(|r| r.id.to_string())
        .collect();
    if !unexpected.is_empty() {
        out.push_str(&format!(
            "**Unexpected passes** (the baseline expects otherwise{}): {}\n\n",
            if report.strict_baseline {
                "; `--strict-baseline` fails the run"
            } else {
                "; update it with `--write-baseline`"
            },
            unexpected.join(", ")
        ));
    }
}

/// Counterexample `number` (from 1): its rule, divergence, replay command and folded
/// transcript.
fn push_counterexample(out: &mut String, number: usize, c: &Counterexample) {
    let d = &c.divergence;
    out.push_str(&format!(
        "### Counterexample {}: {} {}\n\n> {}\n\nFrom {}, {} steps (shrunk from {}). Step {}: {}\n\n",
        number,
        c.rule,
        c.rule.grade().as_str(),
        c.rule.summary(),
        c.source,
        c.steps,
        c.steps_before_shrink,
        d.step,
        cell(&d.what)
    ));
    out.push_str(&format!(
        "- expected: {}\n- actual: {}\n",
        code(&d.expected),
        code(&d.actual)
    ));
    if !d.also.is_empty() {
        let also: Vec<&str> = d.also.iter().map(|r| r.as_str()).collect();
        out.push_str(&format!("- also breaks: {}\n", also.join(", ")));
    }
    out.push_str(&format!(
        "\nReplay:\n\n```sh\n{}\n```\n\n<details><summary>Transcript ({} lines)</summary>\n\n```text\n{}\n```\n\n</details>\n\n",
        c.replay,
        c.transcript.len(),
        c.transcript.join("\n")
    ));
}

/// The security checks' table, when the run has them.
fn push_security(out: &mut String, report: &Report) {
    if report.security.is_empty() {
        return;
    }
    out.push_str(&format!(
        "### {}\n\n| check | rule | status | detail |\n|---|---|---|---|\n",
        crate::security::SECTION_TITLE
    ));
    for r in &report.security {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&r.id),
            cell(&r.rule),
            r.status.as_str(),
            cell(&r.detail)
        ));
    }
    out.push('\n');
}

/// The declared capabilities, `none` when none.
pub fn capabilities(report: &Report) -> String {
    let on = crate::check::capabilities::Capability::names_in(&report.capabilities);
    if on.is_empty() {
        "none".into()
    } else {
        on.join(", ")
    }
}
