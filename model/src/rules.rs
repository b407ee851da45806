//! The rule catalogue: every rule ID of SPEC.md, its grade and a one-line summary.
//!
//! This table is the single place the code learns which rules exist. A test parses SPEC.md
//! and fails if the two disagree (tests/spec_parity.rs).

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a divergence from a rule is graded (SPEC.md "Grades").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grade {
    /// Stated by 4D's documentation: a divergence fails conformance.
    Must,
    /// Chosen reading where the documentation is open: a warning unless the run is strict.
    Should,
    /// The documentation contradicts itself: the behaviour is a named profile setting.
    Profile,
    /// An invariant checked after every step (SPEC.md "INV"): graded as MUST.
    Invariant,
}

impl Grade {
    /// The spelling used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Must => "MUST",
            Grade::Should => "SHOULD",
            Grade::Profile => "PROFILE",
            Grade::Invariant => "INV",
        }
    }

    /// Whether a divergence fails a non-strict run.
    pub fn fails_without_strict(self) -> bool {
        !matches!(self, Grade::Should)
    }
}

macro_rules! rules {
    ($( $variant:ident = $id:literal, $grade:ident, $summary:literal; )*) => {
        /// A rule ID of SPEC.md. IDs are stable: never renumbered, never reused.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum RuleId {
            $(
                #[doc = $summary]
                #[serde(rename = $id)]
                $variant,
            )*
        }

        impl RuleId {
            /// Every rule, in SPEC.md order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant),*];

            /// The ID as SPEC.md spells it (`CLOSE-6`).
            pub fn as_str(self) -> &'static str {
                match self { $(RuleId::$variant => $id,)* }
            }

            /// The rule's grade.
            pub fn grade(self) -> Grade {
                match self { $(RuleId::$variant => Grade::$grade,)* }
            }

            /// One line saying what the rule requires.
            pub fn summary(self) -> &'static str {
                match self { $(RuleId::$variant => $summary,)* }
            }

            /// Parses an ID as SPEC.md spells it.
            pub fn parse(text: &str) -> Option<RuleId> {
                match text { $($id => Some(RuleId::$variant),)* _ => None }
            }
        }
    };
}

rules! {
    Close1 = "CLOSE-1", Must, "Closing a live session invalidates its ID: no later request reaches its context.";
    Close2 = "CLOSE-2", Must, "An ID naming no live session (unknown, closed, \"\", malformed, respelled) does nothing.";
    Close3 = "CLOSE-3", Must, "The effects are the same whoever calls the command.";
    Close4 = "CLOSE-4", Must, "The session cookie is expired; a request running in the session gets an expiring Set-Cookie.";
    Close5 = "CLOSE-5", Must, "The hook runs exactly once for a closed session (once per process for 4D Mobile).";
    Close6 = "CLOSE-6", Must, "The hook runs before the reset and sees the context its last request left.";
    Close7 = "CLOSE-7", Must, "After the hook, selections clear, locks release, variables reset; nothing else is touched.";
    Close8 = "CLOSE-8", Must, "The next request with the closed cookie opens a new session with an empty context.";
    Close9 = "CLOSE-9", Must, "In scalable sessions mode the command does nothing and the hook never runs.";
    Close10 = "CLOSE-10", Must, "Concurrent closes are linearizable: one hook per session, no interference.";
    Close11 = "CLOSE-11", Should, "A self-close lets its request finish; hook and reset run when the request ends.";
    Close12 = "CLOSE-12", Should, "A close during the target's request invalidates now; hook and reset at request end.";
    Close13 = "CLOSE-13", Should, "A close of a session from inside its own hook is a no-op.";
    Close14 = "CLOSE-14", Should, "A failing hook does not stop the close: reset, release and invalidation happen.";
    Req1 = "REQ-1", Must, "A request without the session cookie opens a new session with a Set-Cookie.";
    Req2 = "REQ-2", Must, "A request with a live session's cookie runs in that session's context.";
    Req3 = "REQ-3", Must, "A cookie naming no live session opens a new, server-minted session.";
    Req4 = "REQ-4", Must, "Each request slides the expiration to request time + cookie timeout.";
    Req5 = "REQ-5", Must, "With IP validation on, a live cookie from another IP gets HTTP 400 and changes nothing.";
    Req6 = "REQ-6", Should, "Session IDs are unique over the server's life and unpredictable.";
    Time1 = "TIME-1", Must, "A request with an expired cookie opens a new session with a new cookie.";
    Time2 = "TIME-2", Must, "A process idle for the process timeout ends: hook, then reset and lock release.";
    Time3 = "TIME-3", Profile, "After a process timeout with a valid cookie the next request gets a new empty context.";
    Time4 = "TIME-4", Must, "Cookie and process timeouts are independent: either can fire first.";
    Limit1 = "LIMIT-1", Must, "At max sessions, the least recently active idle session is closed, with its hook.";
    Limit2 = "LIMIT-2", Should, "Max sessions is capped by max processes; with nothing evictable the request gets 503.";
    Mobile1 = "MOBILE-1", Must, "Closing a 4D Mobile session ends every web process attached to it.";
    Mobile2 = "MOBILE-2", Must, "The hook runs once per ended 4D Mobile process, seeing that process's context.";
    Mobile3 = "MOBILE-3", Must, "All processes of a 4D Mobile session share one cookie; after close it opens a new session.";
    Inv1 = "INV-1", Invariant, "No lock is held by a process that no longer exists.";
    Inv2 = "INV-2", Invariant, "Every ended session process had exactly one hook run, before its reset.";
    Inv3 = "INV-3", Invariant, "An explicitly closed ID never again names a live session.";
    Inv4 = "INV-4", Invariant, "No value of a closed session's context is ever visible to another session.";
    Inv5 = "INV-5", Invariant, "Live sessions never exceed max sessions.";
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of rules, ordered by SPEC.md position; cheap to copy (one bit per rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleSet(u64);

impl RuleSet {
    /// The empty set.
    pub const EMPTY: RuleSet = RuleSet(0);

    /// Adds a rule.
    pub fn insert(&mut self, rule: RuleId) {
        self.0 |= 1 << (rule as u32);
    }

    /// Whether the set holds a rule.
    pub fn contains(self, rule: RuleId) -> bool {
        self.0 & (1 << (rule as u32)) != 0
    }

    /// The rules in SPEC.md order.
    pub fn iter(self) -> impl Iterator<Item = RuleId> {
        RuleId::ALL
            .iter()
            .copied()
            .filter(move |r| self.contains(*r))
    }

    /// Whether no rule is in the set.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The set with one more rule.
    pub fn with(mut self, rule: RuleId) -> RuleSet {
        self.insert(rule);
        self
    }

    /// The union of two sets.
    pub fn union(self, other: RuleSet) -> RuleSet {
        RuleSet(self.0 | other.0)
    }

    /// A set of the given rules.
    pub fn of(rules: &[RuleId]) -> RuleSet {
        rules.iter().fold(RuleSet::EMPTY, |set, r| set.with(*r))
    }
}

impl Serialize for RuleSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for RuleSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let rules = Vec::<RuleId>::deserialize(deserializer)?;
        Ok(RuleSet::of(&rules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_fit_in_a_rule_set() {
        assert!(RuleId::ALL.len() <= 64);
        for rule in RuleId::ALL {
            assert_eq!(RuleId::parse(rule.as_str()), Some(*rule));
        }
        assert_eq!(RuleId::parse("CLOSE-99"), None);
    }
}
