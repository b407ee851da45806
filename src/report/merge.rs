//! `wlcs merge`: the reports of a partitioned run (`--partition K/N`, every K of one N, the
//! same seed and configuration) become the report of the unsharded run. Counters add up; rule
//! statuses, counterexamples (the first per rule in run order, at most
//! [`super::COUNTEREXAMPLES_KEPT_MAX`]), errors and the verdict are recomputed the way the
//! runner computes them, so the merge equals the unsharded run once timings are dropped
//! ([`super::without_timings`]). That holds for runs without harness errors or a time
//! budget: each partition spends its own error and time budget, and groups its own identical
//! errors, so such merges list errors per partition.

use super::{COUNTEREXAMPLES_KEPT_MAX, Durations, Report, RunFacts, SCHEMA, baseline, decide_rows};
use crate::stats::RuleCount;
use std::collections::BTreeMap;
use wlcs_model::RuleId;

/// Why reports cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no reports to merge")]
    Empty,
    /// A report of another schema.
    #[error("report {0}: schema {1}, this build merges schema {SCHEMA}")]
    Schema(usize, u32),
    /// A report that is not one partition of a run.
    #[error("report {0} is not a partition (run with --partition K/N)")]
    NotPartition(usize),
    /// Reports of different runs (seed, target, profile, rules, ...).
    #[error("report {0} is of another run than report 1: its {1} differs")]
    Mismatch(usize, &'static str),
    /// A partition given twice or missing.
    #[error("partitions do not cover 1..={count} exactly once: {detail}")]
    Cover {
        /// N.
        count: u32,
        /// Which ones are missing or doubled.
        detail: String,
    },
}

/// Merges the reports of every partition of one run.
pub fn merge(parts: &[Report]) -> Result<Report, MergeError> {
    let first = check_partitions(parts)?;
    let facts = RunFacts {
        diverged: parts.iter().any(|r| r.facts.diverged),
        harness_errors: parts.iter().any(|r| r.facts.harness_errors),
        stopped_early: parts.iter().any(|r| r.facts.stopped_early),
        ..first.facts
    };
    let rules = merged_rows(parts, first, &facts);
    let mut fixture_runs: Vec<_> = parts.iter().flat_map(|r| r.fixture_runs.clone()).collect();
    fixture_runs.sort_by_key(|f| f.index);
    let cases: u64 = parts.iter().map(|r| r.cases).sum();
    let order = RunOrder::new(parts, &fixture_runs, first.seed, cases);
    let mut all: Vec<_> = parts
        .iter()
        .flat_map(|r| r.counterexamples.clone())
        .collect();
    all.sort_by_key(|c| order.position(&c.source, c.case_seed));
    let counterexamples = first_per_rule(all);
    let mut error_cases: Vec<_> = parts.iter().flat_map(|r| r.error_cases.clone()).collect();
    error_cases.sort_by_key(|e| order.position(&e.source, e.case_seed));
    let mut errors: Vec<_> = parts.iter().flat_map(|r| r.errors.clone()).collect();
    errors.sort_by_key(|e| order.error_position(e));
    let mut merged = Report {
        facts,
        rules,
        counterexamples,
        errors,
        error_cases,
        ..summed(parts, first, fixture_runs)
    };
    baseline::apply(&mut merged, first.baseline.clone(), first.strict_baseline);
    Ok(merged)
}

/// Checks that `parts` are every partition of one run, each once, and returns the first
/// (the one the merged report takes the run's configuration from).
fn check_partitions(parts: &[Report]) -> Result<&Report, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?;
    let mut seen = BTreeMap::new();
    let count = first.partition.ok_or(MergeError::NotPartition(1))?.count;
    for (i, r) in parts.iter().enumerate() {
        let n = i + 1;
        if r.schema != SCHEMA {
            return Err(MergeError::Schema(n, r.schema));
        }
        let p = r.partition.ok_or(MergeError::NotPartition(n))?;
        if let Some(what) = mismatch(first, r, p.count == count) {
            return Err(MergeError::Mismatch(n, what));
        }
        *seen.entry(p.index).or_insert(0u32) += 1;
    }
    check_cover(count, &seen).map(|()| first)
}

/// The first thing (in a fixed order) in which report `r` is of another run than `first`,
/// named for the error; `same_count` says whether its partition count matches.
fn mismatch(first: &Report, r: &Report, same_count: bool) -> Option<&'static str> {
    let same: [(bool, &'static str); 9] = [
        (same_count, "partition count"),
        (r.seed == first.seed, "seed"),
        (r.target == first.target, "target"),
        (r.profile == first.profile, "profile"),
        (r.strict == first.strict, "strictness"),
        (r.capabilities == first.capabilities, "capabilities"),
        (
            r.facts.replay_only == first.facts.replay_only
                && r.facts.fail_on_skip == first.facts.fail_on_skip
                && r.facts.require == first.facts.require,
            "gate flags",
        ),
        (
            r.rules
                .iter()
                .map(|x| x.id)
                .eq(first.rules.iter().map(|x| x.id)),
            "rule selection",
        ),
        (
            r.baseline == first.baseline && r.strict_baseline == first.strict_baseline,
            "baseline",
        ),
    ];
    same.iter().find(|(ok, _)| !ok).map(|(_, what)| *what)
}

/// Checks that the partition indices `seen` (index -> times given) cover `1..=count` exactly
/// once, naming every missing or doubled one.
fn check_cover(count: u32, seen: &BTreeMap<u32, u32>) -> Result<(), MergeError> {
    let missing: Vec<String> = (1..=count)
        .filter(|k| !seen.contains_key(k))
        .map(|k| format!("{k} missing"))
        .chain(
            seen.iter()
                .filter(|(_, n)| **n > 1)
                .map(|(k, n)| format!("{k} given {n} times")),
        )
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MergeError::Cover {
            count,
            detail: missing.join(", "),
        })
    }
}

/// The rule rows of the merged run: the partitions' counters summed per rule, decided again
/// by the runner's [`decide_rows`] with the merged facts.
fn merged_rows(parts: &[Report], first: &Report, facts: &RunFacts) -> Vec<super::RuleRow> {
    let count = |id: RuleId| {
        let mut c = RuleCount::default();
        for x in parts
            .iter()
            .flat_map(|r| r.rules.iter().filter(|x| x.id == id))
        {
            c.checks += x.checks;
            c.fired += x.fired;
            c.divergences += x.divergences;
            c.should_divergences += x.should_divergences;
        }
        c
    };
    let selected = |id: RuleId| first.rules.iter().any(|x| x.id == id);
    decide_rows(&count, &selected, first.capabilities, facts, first.strict)
}

/// Where a fixture or case stands in the unsharded run's order, for sorting the partitions'
/// counterexamples and errors back into it: fixtures first (by their index), then generated
/// cases (by theirs), then anything unplaced.
struct RunOrder<'a> {
    /// Fixture name -> its run-order index.
    fixture_index: BTreeMap<&'a str, usize>,
    /// Case seed -> its run-order index, only for the seeds the reports name.
    case_index: BTreeMap<u64, usize>,
}

impl<'a> RunOrder<'a> {
    /// The order of the fixtures in `fixture_runs` and of the case seeds that `parts`'
    /// counterexamples and errors name, among the `cases` seeds of the run of `seed`.
    fn new(parts: &[Report], fixture_runs: &'a [super::FixtureRun], seed: u64, cases: u64) -> Self {
        let fixture_index = fixture_runs
            .iter()
            .map(|f| (f.name.as_str(), f.index))
            .collect();
        // The run-order index of every case seed a counterexample or error names: one pass
        // over the seeds, holding only those (a run may have millions of cases).
        let mut wanted: std::collections::BTreeSet<u64> = parts
            .iter()
            .flat_map(|r| {
                r.counterexamples
                    .iter()
                    .filter_map(|c| c.case_seed)
                    .chain(r.error_cases.iter().filter_map(|e| e.case_seed))
                    .chain(r.errors.iter().filter_map(|e| error_seed(e)))
            })
            .collect();
        let mut case_index: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, s) in crate::runner::case_seeds(seed, cases).enumerate() {
            if wanted.is_empty() {
                break;
            }
            if wanted.remove(&s) {
                case_index.insert(s, i);
            }
        }
        RunOrder {
            fixture_index,
            case_index,
        }
    }

    /// The sort key of a counterexample or error case from `source` (`fixture:NAME` or a
    /// case) with its case seed.
    fn position(&self, source: &str, case_seed: Option<u64>) -> (u8, usize) {
        if let Some(name) = source.strip_prefix("fixture:") {
            return (0, self.fixture(name));
        }
        self.case(case_seed)
    }

    /// The sort key of an error line. Errors are text: the runner starts each with
    /// `fixture NAME` or `case 0x...`.
    fn error_position(&self, e: &str) -> (u8, usize) {
        if let Some(rest) = e.strip_prefix("fixture ") {
            let name = rest.split(':').next().unwrap_or_default();
            return (0, self.fixture(name));
        }
        self.case(error_seed(e))
    }

    /// A fixture's index; an unknown one sorts last among the fixtures.
    fn fixture(&self, name: &str) -> usize {
        self.fixture_index.get(name).copied().unwrap_or(usize::MAX)
    }

    /// A case's key: its index, or after every case when its seed is unknown.
    fn case(&self, case_seed: Option<u64>) -> (u8, usize) {
        match case_seed.and_then(|s| self.case_index.get(&s)) {
            Some(i) => (1, *i),
            None => (2, 0),
        }
    }
}

/// The first counterexample per rule of `all` (already in run order), at most
/// [`COUNTEREXAMPLES_KEPT_MAX`], as the runner keeps them.
fn first_per_rule(all: Vec<super::Counterexample>) -> Vec<super::Counterexample> {
    let mut counterexamples = Vec::new();
    for c in all {
        if counterexamples.len() < COUNTEREXAMPLES_KEPT_MAX
            && !counterexamples
                .iter()
                .any(|k: &super::Counterexample| k.rule == c.rule)
        {
            counterexamples.push(c);
        }
    }
    counterexamples
}

/// The merged report's run description and totals: the configuration of `first`, the
/// partitions' counts and times added up, their detected readings united. What [`merge`]
/// recomputes (facts, rows, counterexamples, errors) is left empty for it to set, the
/// baseline for `baseline::apply`.
fn summed(parts: &[Report], first: &Report, fixture_runs: Vec<super::FixtureRun>) -> Report {
    Report {
        schema: SCHEMA,
        wlcs_version: first.wlcs_version.clone(),
        spec_revision: first.spec_revision.clone(),
        target: first.target.clone(),
        capabilities: first.capabilities,
        seed: first.seed,
        profile: first.profile.clone(),
        readings_declared: first.readings_declared.clone(),
        readings_detected: {
            let mut all: Vec<String> = parts
                .iter()
                .flat_map(|r| r.readings_detected.clone())
                .collect();
            all.sort();
            all.dedup();
            all
        },
        strict: first.strict,
        verdict: first.verdict,
        partition: None,
        started_at: parts
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        fixtures: parts.iter().map(|r| r.fixtures).sum(),
        cases: parts.iter().map(|r| r.cases).sum(),
        steps: parts.iter().map(|r| r.steps).sum(),
        // The work done, added up (partitions may have run at once).
        millis: parts.iter().map(|r| r.millis).sum(),
        durations: Durations {
            fixtures_ms: parts.iter().map(|r| r.durations.fixtures_ms).sum(),
            cases_ms: parts.iter().map(|r| r.durations.cases_ms).sum(),
        },
        facts: first.facts,
        rules: Vec::new(),
        fixture_runs,
        // Only the first partition checks security (`security::runs_in`).
        security: parts
            .iter()
            .find(|r| !r.security.is_empty())
            .map(|r| r.security.clone())
            .unwrap_or_default(),
        counterexamples: Vec::new(),
        errors: Vec::new(),
        error_cases: Vec::new(),
        baseline: None,
        strict_baseline: false,
        not_run: parts.iter().map(|r| r.not_run).sum(),
        stopped: parts.iter().find_map(|r| r.stopped.clone()),
    }
}

/// The case seed an error line starts with (`case 0x...`), if any.
fn error_seed(e: &str) -> Option<u64> {
    e.strip_prefix("case ")
        .and_then(|rest| rest.split([':', ' ']).next())
        .and_then(|s| super::hex_seed::parse(s).ok())
}
