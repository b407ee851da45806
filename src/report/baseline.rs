//! Expected-failure baselines (`--baseline FILE`): per rule, an expected `fail`, `skip` or
//! `flaky`, with a reason and an optional link. A listed failure does not fail the gate and
//! stays visible in every format; a failure not listed fails it; a listed rule that passes is
//! reported as an unexpected pass (and fails the run under `--strict-baseline`).
//!
//! The file format is JSON, versioned by `format` (this build reads [`FORMAT`]):
//! ```json
//! { "format": 1,
//!   "rules": { "CLOSE-6": { "expect": "fail", "reason": "hook runs after reset", "link": "https://..." } } }
//! ```
//! Unknown rule IDs and unknown fields are errors, so a stale or misspelt entry is found.

use super::{Report, RuleRow, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wlcs_model::RuleId;

/// The baseline format this build reads and writes.
pub const FORMAT: u32 = 1;

/// What a baseline expects of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The rule fails (or warns, or no check reaches it): not a failure of the gate.
    Fail,
    /// The rule is skipped (e.g. a capability the target will never offer).
    Skip,
    /// The rule passes or fails from run to run: neither fails the gate nor is reported.
    Flaky,
}

impl Expect {
    /// The spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Fail => "fail",
            Expect::Skip => "skip",
            Expect::Flaky => "flaky",
        }
    }
}

/// One rule's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What is expected.
    pub expect: Expect,
    /// Why (shown in every report).
    pub reason: String,
    /// A tracking issue or document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A baseline file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The format version ([`FORMAT`]).
    pub format: u32,
    /// Entries by rule ID.
    pub rules: BTreeMap<RuleId, Entry>,
}

/// A malformed baseline file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Not JSON of the expected shape (unknown rule IDs and fields included).
    #[error("not a wlcs baseline: {0}")]
    Json(#[from] serde_json::Error),
    /// A format this build does not read.
    #[error("baseline format {0} is not supported (this build reads format {FORMAT})")]
    Format(u32),
}

impl Baseline {
    /// Parses a baseline file's text.
    pub fn parse(text: &str) -> Result<Baseline, BaselineError> {
        let b: Baseline = serde_json::from_str(text)?;
        if b.format != FORMAT {
            return Err(BaselineError::Format(b.format));
        }
        Ok(b)
    }

    /// The baseline as JSON text, newline-terminated.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// A baseline that expects what a run saw: its failing and warning rules as `fail`, its
    /// skipped ones as `skip`. Entries of the baseline the run used are kept where they still
    /// hold (their reason, link and `flaky`).
    pub fn from_report(report: &Report) -> Baseline {
        let mut rules = BTreeMap::new();
        for row in &report.rules {
            let old = report.baseline.as_ref().and_then(|b| b.rules.get(&row.id));
            let seen = match row.status {
                Status::Fail | Status::Warn | Status::Unreached => Expect::Fail,
                Status::Skip => Expect::Skip,
                Status::Pass => {
                    if let Some(e) = old.filter(|e| e.expect == Expect::Flaky) {
                        rules.insert(row.id, e.clone());
                    }
                    continue;
                }
            };
            let entry = match old {
                Some(e) if e.expect == seen || e.expect == Expect::Flaky => e.clone(),
                _ => Entry {
                    expect: seen,
                    reason: match (seen, &row.skip_reason) {
                        (Expect::Skip, Some(why)) => why.clone(),
                        _ => format!(
                            "{} in wlcs {} against {} (seed {:#x})",
                            row.status.as_str(),
                            report.wlcs_version,
                            report.target,
                            report.seed
                        ),
                    },
                    link: None,
                },
            };
            rules.insert(row.id, entry);
        }
        Baseline {
            format: FORMAT,
            rules,
        }
    }
}

/// How a run met a baseline entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineOutcome {
    /// The status is what the entry expects: a failure that does not fail the gate.
    AsExpected,
    /// The rule passed while the entry expected a failure or a skip.
    UnexpectedPass,
    /// Neither (e.g. a skip where a failure was expected): the row's own status decides.
    Unmet,
}

/// A row's baseline entry and how the run met it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowBaseline {
    /// What the baseline expects.
    pub expect: Expect,
    /// Why.
    pub reason: String,
    /// A tracking link.
    pub link: Option<String>,
    /// How the run met it.
    pub outcome: BaselineOutcome,
}

/// How a status meets an expectation.
pub fn outcome(expect: Expect, status: Status) -> BaselineOutcome {
    match (expect, status) {
        (Expect::Fail, Status::Fail | Status::Warn | Status::Unreached) => {
            BaselineOutcome::AsExpected
        }
        (Expect::Skip, Status::Skip) => BaselineOutcome::AsExpected,
        (Expect::Flaky, Status::Fail | Status::Warn | Status::Pass) => BaselineOutcome::AsExpected,
        (Expect::Fail | Expect::Skip, Status::Pass) => BaselineOutcome::UnexpectedPass,
        _ => BaselineOutcome::Unmet,
    }
}

fn mark(row: &mut RuleRow, baseline: &Baseline) {
    row.baseline = baseline.rules.get(&row.id).map(|e| RowBaseline {
        expect: e.expect,
        reason: e.reason.clone(),
        link: e.link.clone(),
        outcome: outcome(e.expect, row.status),
    });
}

/// Applies a baseline to a report: marks every selected rule it lists, records the baseline
/// and the strictness, and recomputes the verdict. Entries for rules the run did not select
/// are kept in the recorded baseline but mark nothing (reports list only selected rules).
pub fn apply(report: &mut Report, baseline: Option<Baseline>, strict_baseline: bool) {
    report.strict_baseline = strict_baseline;
    report.baseline = baseline;
    match &report.baseline {
        Some(b) => {
            let b = b.clone();
            for row in &mut report.rules {
                mark(row, &b);
            }
        }
        None => {
            for row in &mut report.rules {
                row.baseline = None;
            }
        }
    }
    report.recompute_verdict();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_of_each_expectation() {
        assert_eq!(
            outcome(Expect::Fail, Status::Fail),
            BaselineOutcome::AsExpected
        );
        assert_eq!(
            outcome(Expect::Fail, Status::Pass),
            BaselineOutcome::UnexpectedPass
        );
        assert_eq!(outcome(Expect::Fail, Status::Skip), BaselineOutcome::Unmet);
        assert_eq!(
            outcome(Expect::Fail, Status::Unreached),
            BaselineOutcome::AsExpected
        );
        assert_eq!(outcome(Expect::Skip, Status::Fail), BaselineOutcome::Unmet);
        assert_eq!(
            outcome(Expect::Skip, Status::Pass),
            BaselineOutcome::UnexpectedPass
        );
        assert_eq!(
            outcome(Expect::Flaky, Status::Pass),
            BaselineOutcome::AsExpected
        );
        assert_eq!(
            outcome(Expect::Flaky, Status::Unreached),
            BaselineOutcome::Unmet
        );
    }

    #[test]
    fn unknown_rules_fields_and_formats_are_errors() {
        let ok = r#"{"format":1,"rules":{"CLOSE-6":{"expect":"fail","reason":"r"}}}"#;
        assert!(Baseline::parse(ok).is_ok());
        for bad in [
            r#"{"format":1,"rules":{"CLOSE-99":{"expect":"fail","reason":"r"}}}"#,
            r#"{"format":1,"rules":{"CLOSE-6":{"expect":"fail","reason":"r","x":1}}}"#,
            r#"{"format":1,"rules":{"CLOSE-6":{"expect":"maybe","reason":"r"}}}"#,
            r#"{"format":2,"rules":{}}"#,
        ] {
            assert!(Baseline::parse(bad).is_err(), "{bad}");
        }
    }
}
