//! Per-rule counters: how often each rule's branch fired in the model, how often an
//! observation answering to it was compared, and how often it diverged.

use serde::{Deserialize, Serialize};
use wlcs_model::RuleId;

/// One rule's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    /// Observations answering to the rule that were compared (for an INV rule: times checked).
    pub checks: u64,
    /// Times the model's branch for the rule ran.
    pub fired: u64,
    /// Divergences attributed to the rule.
    pub divergences: u64,
    /// Of those, the divergences graded SHOULD although the rule is a MUST (its SHOULD part,
    /// REQ-4's cookie refresh).
    #[serde(default)]
    pub should_divergences: u64,
}

/// Counters for every rule, indexed by SPEC.md order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleStats {
    counts: Vec<RuleCount>,
}

impl Default for RuleStats {
    fn default() -> Self {
        RuleStats {
            counts: vec![RuleCount::default(); RuleId::ALL.len()],
        }
    }
}

fn index(rule: RuleId) -> usize {
    rule as usize
}

impl RuleStats {
    /// Counts one comparison answering to `rule`.
    pub fn check(&mut self, rule: RuleId) {
        self.counts[index(rule)].checks += 1;
    }

    /// Counts the model's fired rules of one step.
    pub fn fire_all(&mut self, rules: &[RuleId]) {
        for rule in rules {
            self.counts[index(*rule)].fired += 1;
        }
    }

    /// Counts a divergence.
    pub fn diverge(&mut self, rule: RuleId) {
        self.counts[index(rule)].divergences += 1;
    }

    /// Counts a divergence, graded SHOULD when `should` ([`RuleCount::should_divergences`]).
    pub fn diverge_graded(&mut self, rule: RuleId, should: bool) {
        self.diverge(rule);
        if should {
            self.counts[index(rule)].should_divergences += 1;
        }
    }

    /// One rule's counters.
    pub fn get(&self, rule: RuleId) -> RuleCount {
        self.counts[index(rule)]
    }

    /// Adds another set of counters.
    pub fn merge(&mut self, other: &RuleStats) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            a.checks += b.checks;
            a.fired += b.fired;
            a.divergences += b.divergences;
            a.should_divergences += b.should_divergences;
        }
    }

    /// Sum of fired counts over all rules: a proxy for steps of work done.
    pub fn total_checks(&self) -> u64 {
        self.counts.iter().map(|c| c.checks).sum()
    }
}
