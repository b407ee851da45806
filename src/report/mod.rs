//! The conformance report: one data structure ([`Report`]) that every format renders: JSON
//! (schema 2, documented by `schemas/report.schema.json`), JUnit XML, Markdown, a single-file
//! HTML page and the terminal table. Baselines ([`baseline`]) and the merge of partitioned
//! runs ([`merge`]) transform a report into another report, so every format sees the same
//! verdict. Rendering is pure; only the CLI writes files.

pub mod baseline;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod text;

use crate::check::Divergence;
use crate::stats::{RuleCount, RuleStats};
use serde::{Deserialize, Serialize};
use wlcs_model::{Grade, RuleId, Trace};
use wlcs_sut::Capabilities;

pub use baseline::{Baseline, BaselineOutcome, Expect, RowBaseline};
pub use json::to_json;
pub use text::render_text;

/// The version of the JSON report's shape. 2: seeds as `0x` hex strings; capabilities, SPEC
/// revision, start time, durations, partition, per-fixture results and baselines added.
pub const SCHEMA: u32 = 2;

/// Counterexamples a report keeps (the first per rule, in run order), at most. The runner and
/// the merge of partitioned runs apply the same limit, so a merge equals the unsharded run.
pub const COUNTEREXAMPLES_KEPT_MAX: usize = 8;

/// Serde helpers writing `u64` seeds as `0x` hex strings: JSON readers (jq, JavaScript) read
/// integers as doubles and silently round seeds above 2^53.
pub mod hex_seed {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Parses `0x...` hex (as written) or decimal.
    pub fn parse(text: &str) -> Result<u64, String> {
        let t = text.trim();
        let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => t.parse(),
        };
        parsed.map_err(|e| format!("{text:?} is not a seed (0x hex or decimal): {e}"))
    }

    /// Writes a seed.
    pub fn serialize<S: Serializer>(seed: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{seed:#x}"))
    }

    /// Reads a seed.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(D::Error::custom)
    }

    /// The same for optional seeds (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer, de::Error};

        /// Writes an optional seed.
        pub fn serialize<S: Serializer>(seed: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match seed {
                Some(v) => s.serialize_str(&format!("{v:#x}")),
                None => s.serialize_none(),
            }
        }

        /// Reads an optional seed.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => super::parse(&text).map(Some).map_err(D::Error::custom),
                None => Ok(None),
            }
        }
    }
}

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

    /// Whether this status fails the run (before any baseline).
    pub fn fails(self) -> bool {
        matches!(self, Status::Fail | Status::Unreached)
    }
}

/// One row of the per-rule table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRow {
    /// The rule ID.
    pub id: RuleId,
    /// Its grade (`MUST`, `SHOULD`, `PROFILE`, `INV`).
    pub grade: String,
    /// What the rule requires, in one line (SPEC.md has the full text: `wlcs explain ID`).
    #[serde(default)]
    pub summary: String,
    /// Observations compared that answer to it (INV: times checked).
    pub checks: u64,
    /// Times the model's branch for it ran.
    pub fired: u64,
    /// Divergences attributed to it.
    pub divergences: u64,
    /// Of those, the ones graded SHOULD although the rule is a MUST (REQ-4's cookie refresh):
    /// alone, they make the row a warning.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub should_divergences: u64,
    /// The status.
    pub status: Status,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
    /// The baseline's entry for this rule and how the run met it.
    #[serde(default)]
    pub baseline: Option<RowBaseline>,
}

impl RuleRow {
    /// Whether this row fails the gate: a failing status the baseline does not expect.
    pub fn fails_gate(&self) -> bool {
        self.status.fails()
            && !matches!(&self.baseline, Some(b) if b.outcome == BaselineOutcome::AsExpected)
    }

    /// Whether the rule passed while the baseline expected it to fail or be skipped.
    pub fn unexpected_pass(&self) -> bool {
        matches!(&self.baseline, Some(b) if b.outcome == BaselineOutcome::UnexpectedPass)
    }
}

/// A failing trace, shrunk when generated, with what replays it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The rule it breaks.
    pub rule: RuleId,
    /// `fixture:<name>` or `generated`.
    pub source: String,
    /// The generated case's seed.
    #[serde(with = "hex_seed::option")]
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

    /// The spelling in human-readable reports.
    pub fn as_upper(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Empty => "NOTHING CHECKED",
        }
    }
}

/// Which share of a run a report covers: fixtures and generated cases whose index `i` (in
/// run order) has `i % count == index - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// 1-based: `K` of `--partition K/N`.
    pub index: u32,
    /// `N` of `--partition K/N`.
    pub count: u32,
}

impl Partition {
    /// Parses `K/N` with `1 <= K <= N`.
    pub fn parse(text: &str) -> Result<Partition, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not K/N (e.g. 2/4)"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|e| format!("{text:?}: K is not a number: {e}"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|e| format!("{text:?}: N is not a number: {e}"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("{text:?}: need 1 <= K <= N"));
        }
        Ok(Partition { index, count })
    }

    /// Whether the item at run-order index `i` belongs to this partition.
    pub fn holds(self, i: u64) -> bool {
        i % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Wall times of a run's phases, milliseconds (dropped when comparing runs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// Fixtures, checking included.
    pub fixtures_ms: u64,
    /// Generated cases, shrinking included.
    pub cases_ms: u64,
}

/// How one fixture ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixtureStatus {
    /// Every observation matched.
    Pass,
    /// A divergence (any grade: the rule rows say whether it fails the run).
    Fail,
    /// A harness error (the target failed to answer, the fixture is broken).
    Error,
    /// The target lacks a capability the fixture needs.
    Skip,
}

impl FixtureStatus {
    /// The spelling in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FixtureStatus::Pass => "pass",
            FixtureStatus::Fail => "fail",
            FixtureStatus::Error => "error",
            FixtureStatus::Skip => "skip",
        }
    }
}

/// One fixture's run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureRun {
    /// Its position among the fixtures the run selected (what `--partition` splits).
    pub index: usize,
    /// The fixture's name.
    pub name: String,
    /// The rules it names.
    pub rules: Vec<RuleId>,
    /// How it ended.
    pub status: FixtureStatus,
    /// The rule that diverged, or the step's rule of a harness error.
    pub rule: Option<RuleId>,
    /// The skip reason, the error, or the divergence in one line.
    pub message: Option<String>,
    /// Steps run.
    pub steps: usize,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
    /// The command that replays it.
    pub replay: String,
}

/// Everything a run found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The schema version ([`SCHEMA`]).
    pub schema: u32,
    /// The wlcs version.
    pub wlcs_version: String,
    /// The SPEC.md the rules come from: `fnv1a64:` and the hash of the text built in.
    #[serde(default)]
    pub spec_revision: String,
    /// The target's name.
    pub target: String,
    /// What the target declared it can let the suite observe or control.
    pub capabilities: Capabilities,
    /// The run's seed.
    #[serde(with = "hex_seed")]
    pub seed: u64,
    /// The profile checked.
    pub profile: String,
    /// Readings of SHOULD rules the run declared other than SPEC.md's (`RULE=reading`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readings_declared: Vec<String>,
    /// Readings the run detected the target following (`RULE=reading`, src/readings.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readings_detected: Vec<String>,
    /// Whether SHOULD divergences fail.
    pub strict: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// The share of the run this report covers; `None` for a whole (or merged) run.
    pub partition: Option<Partition>,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// Fixtures run.
    pub fixtures: usize,
    /// Generated cases run.
    pub cases: u64,
    /// Steps sent to the target.
    pub steps: u64,
    /// Wall time, milliseconds.
    pub millis: u64,
    /// Wall time per phase.
    pub durations: Durations,
    /// What decided the rule statuses beyond the counters (kept so that a merge of
    /// partitions decides as the unsharded run).
    pub facts: RunFacts,
    /// One row per selected rule, SPEC.md order.
    pub rules: Vec<RuleRow>,
    /// One entry per fixture run, in run order.
    pub fixture_runs: Vec<FixtureRun>,
    /// Failing traces.
    pub counterexamples: Vec<Counterexample>,
    /// Harness errors (the target failed to answer, a fixture is broken).
    pub errors: Vec<String>,
    /// The traces on which the target failed to answer, shrunk when generated.
    pub error_cases: Vec<ErrorCase>,
    /// The expected-failure baseline applied, if any.
    pub baseline: Option<Baseline>,
    /// Whether a rule passing against the baseline's expectation fails the run.
    pub strict_baseline: bool,
    /// Fixtures and generated cases not run because the run stopped early.
    #[serde(default)]
    pub not_run: u64,
    /// Why the run stopped early (harness errors, the time budget), if it did.
    #[serde(default)]
    pub stopped: Option<String>,
    /// The security rows (REQ-6 ID quality, REQ-3 fixation, cookie attributes for
    /// information), when the run checked them (`crate::security::runs_in`).
    #[serde(default)]
    pub security: Vec<crate::security::SecRow>,
}

/// What decides rule statuses beyond the per-rule counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFacts {
    /// Some trace diverged.
    pub diverged: bool,
    /// Some trace hit a harness error.
    pub harness_errors: bool,
    /// The run stopped early (error budget, time budget).
    pub stopped_early: bool,
    /// The run replayed one case or one fixture, no rule selected by name (it is not meant to
    /// reach every rule).
    pub replay_only: bool,
    /// `--fail-on-skip`.
    pub fail_on_skip: bool,
    /// `--require`: the capabilities whose rules fail instead of skip when missing.
    pub require: Capabilities,
}

/// The capabilities required but not offered, as a capability set with only those missing.
pub fn missing_required(require: Capabilities, have: Capabilities) -> Capabilities {
    Capabilities {
        clock: !require.clock || have.clock,
        multi_ip: !require.multi_ip || have.multi_ip,
        mobile: !require.mobile || have.mobile,
        hook_faults: !require.hook_faults || have.hook_faults,
        in_flight: !require.in_flight || have.in_flight,
        options: !require.options || have.options,
    }
}

/// The rule rows of a run from its counters, the target's capabilities and the run's facts:
/// skips for missing capabilities (failures when required), `unreached` turned into `skip`
/// where traces stopped early or the run was a replay, passes that harness errors cut short
/// turned into skips, and skips into failures under `--fail-on-skip`. The runner and the
/// merge of partitions both call it.
pub fn decide_rows(
    count: &dyn Fn(RuleId) -> RuleCount,
    selected: &dyn Fn(RuleId) -> bool,
    caps: Capabilities,
    facts: &RunFacts,
    strict: bool,
) -> Vec<RuleRow> {
    let mut skipped = crate::check::rules_needing(&caps);
    // Rules skipped for a capability the run requires fail instead.
    let required_missing = crate::check::rules_needing(&missing_required(facts.require, caps));
    skipped.retain(|(r, _)| !required_missing.iter().any(|(q, _)| q == r));
    let mut rows: Vec<RuleRow> = RuleId::ALL
        .iter()
        .copied()
        .filter(|r| selected(*r))
        .map(|id| {
            let why = skipped.iter().find(|(r, _)| *r == id).map(|(_, why)| *why);
            rule_row(id, count(id), why, strict)
        })
        .collect();
    for row in &mut rows {
        if let Some((_, why)) = required_missing.iter().find(|(r, _)| *r == row.id)
            && row.checks == 0
        {
            row.status = Status::Fail;
            row.skip_reason = Some(format!("required by --require, but {why}"));
        }
    }
    // A trace that failed early leaves later rules unchecked: when the target failed,
    // "unreached" would blame the generator for the target's failure. A replay of one case or
    // one fixture is not meant to reach every rule, unless rules were selected by name.
    let failed = facts.diverged || facts.harness_errors;
    if failed || facts.replay_only || facts.stopped_early {
        let why = match (facts.diverged, facts.harness_errors, facts.stopped_early) {
            (true, true, _) => "not reached: traces stopped at divergences and harness errors",
            (true, false, _) => "not reached: traces stopped at earlier divergences",
            (false, true, _) => "not reached: traces stopped at harness errors",
            (false, false, true) => "not reached before the time budget ran out",
            (false, false, false) => "not reached by this replay",
        };
        for row in &mut rows {
            if row.status == Status::Unreached {
                row.status = Status::Skip;
                row.skip_reason = Some(why.into());
            }
        }
    }
    // Harness errors stopped checking: what passed so far is not a pass of the rule.
    if facts.harness_errors {
        for row in &mut rows {
            if row.status == Status::Pass {
                row.status = Status::Skip;
                row.skip_reason = Some(format!(
                    "checked {} times, but harness errors stopped checking",
                    row.checks
                ));
            }
        }
    }
    if facts.fail_on_skip {
        for row in &mut rows {
            if row.status == Status::Skip {
                row.status = Status::Fail;
                let why = row.skip_reason.take().unwrap_or_default();
                row.skip_reason = Some(format!("skipped, and --fail-on-skip: {why}"));
            }
        }
    }
    rows
}

/// A trace on which the target failed to answer (a panic, garbage, a dropped connection, a
/// timeout): a harness error, located at a step and, when the step checks one, a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCase {
    /// The rule the failing step was checking.
    pub rule: Option<RuleId>,
    /// `fixture:<name>` or `generated`.
    pub source: String,
    /// The generated case's seed.
    #[serde(default, with = "hex_seed::option")]
    pub case_seed: Option<u64>,
    /// Steps in the (shrunk) trace.
    pub steps: usize,
    /// What went wrong, with the step.
    pub message: String,
    /// The command that replays it.
    pub replay: String,
}

impl Report {
    /// Counts of rows per status, in the order pass, fail, warn, skip, unreached.
    pub fn counts(&self) -> [(Status, usize); 5] {
        [
            Status::Pass,
            Status::Fail,
            Status::Warn,
            Status::Skip,
            Status::Unreached,
        ]
        .map(|s| (s, self.rules.iter().filter(|r| r.status == s).count()))
    }

    /// The rows the baseline expected to fail and that did (visible, not failing the run).
    pub fn expected_failures(&self) -> impl Iterator<Item = &RuleRow> {
        self.rules
            .iter()
            .filter(|r| r.status.fails() || r.status == Status::Warn)
            .filter(|r| matches!(&r.baseline, Some(b) if b.outcome == BaselineOutcome::AsExpected))
    }

    /// The rows that passed while the baseline expected otherwise.
    pub fn unexpected_passes(&self) -> impl Iterator<Item = &RuleRow> {
        self.rules.iter().filter(|r| r.unexpected_pass())
    }

    /// The counterexample kept for a rule, if any.
    pub fn counterexample_for(&self, rule: RuleId) -> Option<&Counterexample> {
        self.counterexamples.iter().find(|c| c.rule == rule)
    }

    /// Recomputes the verdict from the rows, errors and baseline.
    pub fn recompute_verdict(&mut self) {
        self.verdict = verdict_of(&self.rules, &self.errors, self.strict_baseline);
    }
}

/// One fixture's entry from its run; `errors` are the harness errors the run added for it.
pub fn fixture_run(
    index: usize,
    fixture: &crate::fixture::Fixture,
    run: &crate::check::TraceRun,
    errors: &[String],
    replay: String,
    took: std::time::Duration,
) -> FixtureRun {
    use crate::check::Verdict as V;
    let (status, rule, message) = match &run.verdict {
        V::Pass if errors.is_empty() => (FixtureStatus::Pass, None, None),
        V::Pass => (FixtureStatus::Error, None, Some(errors.join("; "))),
        V::Skipped(why) => (FixtureStatus::Skip, None, Some(why.clone())),
        V::Diverged(d) => (
            FixtureStatus::Fail,
            Some(d.rule),
            Some(format!(
                "step {}: {}: expected {}, got {}",
                d.step, d.what, d.expected, d.actual
            )),
        ),
        V::Error(e) => (
            FixtureStatus::Error,
            match e {
                crate::check::HarnessError::Sut { rule, .. } => *rule,
                crate::check::HarnessError::Reset { .. }
                | crate::check::HarnessError::ModelFault { .. } => None,
            },
            Some(e.to_string()),
        ),
    };
    FixtureRun {
        index,
        name: fixture.name.clone(),
        rules: fixture.rules.clone(),
        status,
        rule,
        message,
        steps: run.steps_run,
        duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        replay,
    }
}

/// The readings the counterexamples say a target follows (`RULE=reading`, sorted, once
/// each), from the verdicts src/readings.rs writes ("RULE follows reading NAME").
pub fn detected_readings(counterexamples: &[Counterexample]) -> Vec<String> {
    let mut out: Vec<String> = counterexamples
        .iter()
        .filter_map(|c| {
            let (rule, name) = c.divergence.what.split_once(" follows reading ")?;
            Some(format!("{rule}={name}"))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The readings line of a report header, empty when the run used SPEC.md's readings and
/// detected no other.
pub fn readings_line(report: &Report) -> Option<String> {
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    (!report.readings_declared.is_empty() || !report.readings_detected.is_empty()).then(|| {
        format!(
            "readings: declared {}; detected {}",
            list(&report.readings_declared),
            list(&report.readings_detected)
        )
    })
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A rule's status from its counters: divergences from a SHOULD rule, or only from a MUST
/// rule's SHOULD part, warn unless the run is strict.
pub fn row_status(id: RuleId, c: RuleCount, skip_reason: Option<&str>, strict: bool) -> Status {
    if c.divergences > 0 {
        let should = id.grade() == Grade::Should || c.should_divergences == c.divergences;
        if should && !strict {
            Status::Warn
        } else {
            Status::Fail
        }
    } else if skip_reason.is_some() {
        // A rule a missing capability gates cannot fail here, however often its (vacuous)
        // checks ran: a skip, never a pass (issue 13.3).
        Status::Skip
    } else if c.checks == 0 || c.fired == 0 {
        Status::Unreached
    } else {
        Status::Pass
    }
}

/// One rule row from its counters.
pub fn rule_row(id: RuleId, c: RuleCount, skip_reason: Option<&str>, strict: bool) -> RuleRow {
    let status = row_status(id, c, skip_reason, strict);
    RuleRow {
        id,
        grade: id.grade().as_str().to_string(),
        summary: id.summary().to_string(),
        checks: c.checks,
        fired: c.fired,
        divergences: c.divergences,
        should_divergences: c.should_divergences,
        status,
        skip_reason: if status == Status::Skip {
            skip_reason.map(str::to_string)
        } else {
            None
        },
        baseline: None,
    }
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
            let why = skipped.iter().find(|(r, _)| *r == id).map(|(_, why)| *why);
            rule_row(id, stats.get(id), why, strict)
        })
        .collect()
}

/// The verdict a set of rows and errors gives: a conformance failure is the finding even
/// when the run also had harness errors; a run where no rule was checked is not a pass.
pub fn verdict(rows: &[RuleRow], errors: &[String]) -> Verdict {
    verdict_of(rows, errors, false)
}

/// The verdict with the baseline taken into account: expected failures do not fail (and
/// count as checked), and under `strict_baseline` an unexpected pass fails.
pub fn verdict_of(rows: &[RuleRow], errors: &[String], strict_baseline: bool) -> Verdict {
    if rows.iter().any(RuleRow::fails_gate)
        || (strict_baseline && rows.iter().any(RuleRow::unexpected_pass))
    {
        Verdict::Fail
    } else if !errors.is_empty() {
        Verdict::Error
    } else if !rows
        .iter()
        .any(|r| matches!(r.status, Status::Pass | Status::Warn | Status::Fail))
    {
        Verdict::Empty
    } else {
        Verdict::Pass
    }
}

/// The SPEC.md revision this build checks against: an FNV-1a hash of the text built in
/// (stable across Rust versions and platforms, unlike `DefaultHasher`).
pub fn spec_revision() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in crate::catalog::SPEC_MD.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC (`2026-12-01T21:52:22Z`).
pub fn rfc3339_utc(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Drops what differs between two runs of the same seed: wall times and the start time.
/// What remains is a pure function of the seed, the configuration and the target.
pub fn without_timings(report: &Report) -> Report {
    let mut r = report.clone();
    r.millis = 0;
    r.durations = Durations::default();
    r.started_at = String::new();
    for f in &mut r.fixture_runs {
        f.duration_ms = 0;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_796_161_942), "2026-12-01T21:52:22Z");
    }

    #[test]
    fn partitions_parse_and_cover_every_index_once() {
        assert!(Partition::parse("0/4").is_err());
        assert!(Partition::parse("5/4").is_err());
        assert!(Partition::parse("1/0").is_err());
        assert!(Partition::parse("x").is_err());
        let parts: Vec<Partition> = (1..=4)
            .map(|k| Partition::parse(&format!("{k}/4")).expect("valid"))
            .collect();
        for i in 0..100u64 {
            assert_eq!(parts.iter().filter(|p| p.holds(i)).count(), 1, "index {i}");
        }
    }

    #[test]
    fn seeds_round_trip_as_hex_strings() {
        assert_eq!(hex_seed::parse("0x1a"), Ok(26));
        assert_eq!(hex_seed::parse("26"), Ok(26));
        assert!(hex_seed::parse("zz").is_err());
    }
}
