//! Linearizability of concurrent histories against the model (CLOSE-10: command 1208 is
//! thread-safe, so concurrent calls must be linearizable against SPEC.md's rules).
//!
//! A [`History`] is what several threads did to a system under test at once: each operation
//! with its invoke and return (a shared sequence number) and its result, then the hook log and
//! the lock table taken after the threads joined. [`check`] searches, Wing & Gong style, for a
//! sequential order of the operations that honours real time (an operation may come next
//! only if no operation still to place returned before it was invoked) and under which the
//! model ([`wlcs_model::Model`]) produces what was recorded.
//!
//! How (the Porcupine / Knossos habits):
//! - **Partitions.** Operations that share no state are independent, so the history is cut
//!   into connected components over what each operation touches: session IDs (the cookie a
//!   request sent, the session it ran in, the IDs it was issued, the IDs it closed), records
//!   (locks are shared between sessions), interprocess variables (one global resource) and
//!   non-web contexts. In the workload of [`crate::concurrent`] a component is one client key:
//!   its sessions one after another and its record. Each component is searched alone, with
//!   its own model, which opens sessions as the operations need them; real IDs are bound to
//!   the model's symbolic sessions along the search, as the differential checker does.
//! - **Observations.** Per operation: status, the session it ran in (the same one or a new
//!   one), the reads, the session cookie effect. Hook runs are global observations: within a
//!   partition they must come out of the linearization in log order, each with its snapshot
//!   (CLOSE-5 exactly once, CLOSE-6 what the hook saw, CLOSE-10 one hook for N concurrent
//!   closes). The final lock table must be the model's. A request concurrent with a close of
//!   its session may have its cookie expired (CLOSE-12) where the model keeps it.
//! - **Ambiguous operations** (no result: a timeout, a transport error) may take effect at
//!   any point after their invoke, or never.
//! - **Budget.** The search counts explored nodes per partition and in total; running out
//!   makes that partition `Unknown`, never `Linearizable`. Configurations already explored
//!   (the set of placed operations plus a hash of the model's state, bindings and hook
//!   position) are remembered at branching points once a partition's search has backtracked
//!   [`MEMO_AFTER_BACKTRACKS`] times, so equivalent orders (two concurrent closes of one
//!   session) are not explored twice. Searches of linearizable histories backtrack a few
//!   times at most and pay nothing for it.
//! - **Explanations.** A violation names its partition, the longest consistent prefix, the
//!   operations that could not come next with the rule each broke, and renders as a timeline
//!   (one line per invoke or return, one column per thread).
//!
//! Architecture invariant: this module is pure. It reads a history and the model; it never
//! calls a system under test.

use crate::check::compare::{
    self, Binder, Context, CookieSeen, Divergence, HookSeen, Mismatch, Observation, OwnerSeen,
    ResponseSeen, last_session_cookie,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use wlcs_model::vocab::{
    Action, HookBehavior, IdText, OptionSet, Options, RecordRef, Request, SessionRef, Step,
    WorldConfig,
};
use wlcs_model::world::IdState;
use wlcs_model::{Model, Read, RuleId, RuleSet, StepObs};
use wlcs_sut::{Response, WireAction, WireHookRun, WireId, WireProc, WireRead, WireRequest};

/// Nodes (operations tried at a point of the search) one partition may explore.
pub const NODES_PER_PARTITION_MAX: u64 = 2_000_000;
/// Nodes the whole check may explore, over all partitions.
pub const NODES_TOTAL_MAX: u64 = 20_000_000;
/// Violations kept in a verdict (the first ones by partition).
pub const VIOLATIONS_MAX: usize = 16;
/// Failures kept per violation.
const FAILURES_MAX: usize = 8;
/// Configurations remembered per partition.
const MEMO_ENTRIES_MAX: usize = 1_000_000;
/// Backtracks (subtrees that failed) a partition's search makes before it starts remembering
/// configurations: hashing the model's state costs as much as formatting it, and a search
/// of a linearizable history backtracks a handful of times at most.
pub const MEMO_AFTER_BACKTRACKS: u64 = 32;
/// Events (invokes and returns) a rendered timeline shows at most.
pub const TIMELINE_EVENTS_MAX: usize = 120;
/// Characters per thread column of a timeline.
const TIMELINE_COLUMN_CHARS: usize = 46;
/// Operations of the longest consistent prefix a rendering lists (the last ones).
const PREFIX_SHOWN_MAX: usize = 16;

mod history;
mod partition;
mod render;
mod search;

pub use history::*;
use partition::*;
pub use render::{render, render_timeline, render_violation};
pub use search::check;
use search::*;

// ---------------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------------

/// How hard the search may try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearizeConfig {
    /// Nodes one partition may explore before it is `Unknown`.
    pub nodes_per_partition_max: u64,
    /// Nodes the whole check may explore.
    pub nodes_total_max: u64,
    /// Backtracks a partition's search makes before it remembers configurations.
    pub memo_after_backtracks: u64,
}

impl Default for LinearizeConfig {
    fn default() -> Self {
        LinearizeConfig {
            nodes_per_partition_max: NODES_PER_PARTITION_MAX,
            nodes_total_max: NODES_TOTAL_MAX,
            memo_after_backtracks: MEMO_AFTER_BACKTRACKS,
        }
    }
}

/// Why one operation could not come next (or, with `op: None`, why a complete order failed
/// the final observations): the comparison core's divergence, placed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The operation (index into [`History::ops`]); `None` for the final observations.
    pub op: Option<usize>,
    /// What differed, and the rule it answers to (its `step` is the place in the order).
    pub divergence: Divergence,
}

/// A partition for which no order works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The partition's number (in order of its first invoke).
    pub partition: usize,
    /// The session IDs of the partition.
    pub ids: Vec<String>,
    /// The partition's operations (indices into [`History::ops`]).
    pub ops: Vec<usize>,
    /// The longest consistent prefix the search found, in order.
    pub prefix: Vec<usize>,
    /// Why nothing could follow the deepest point of the search (the first failure there
    /// is what `rule` names).
    pub failures: Vec<Failure>,
    /// The operations involved: those that failed and those concurrent with them.
    pub involved: Vec<usize>,
    /// The rule blamed: the first failure's.
    pub rule: RuleId,
    /// Other rules the failures there break.
    pub also: RuleSet,
}

impl Violation {
    /// Whether the violation is about `rule`, as its main rule or one it also breaks.
    pub fn breaks(&self, rule: RuleId) -> bool {
        self.rule == rule || self.also.contains(rule)
    }
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Every partition has a linearization.
    Linearizable,
    /// At least one partition has none (the first [`VIOLATIONS_MAX`], by partition).
    NotLinearizable(Vec<Violation>),
    /// No violation found, but some partitions ran out of budget: not a pass.
    Unknown {
        /// The partitions the search gave up on.
        partitions: Vec<usize>,
        /// Nodes explored in all.
        nodes: u64,
    },
}

impl Verdict {
    /// Whether some violation is about `rule` (main or secondary).
    pub fn breaks(&self, rule: RuleId) -> bool {
        match self {
            Verdict::NotLinearizable(v) => v.iter().any(|v| v.breaks(rule)),
            _ => false,
        }
    }

    /// The main rules of the violations, without repeats.
    pub fn rules(&self) -> RuleSet {
        match self {
            Verdict::NotLinearizable(v) => v.iter().fold(RuleSet::EMPTY, |s, v| s.with(v.rule)),
            _ => RuleSet::EMPTY,
        }
    }
}

/// Counters of one check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Operations in the history.
    pub ops: usize,
    /// Of which ambiguous.
    pub ambiguous: usize,
    /// Partitions.
    pub partitions: usize,
    /// Operations of the largest partition.
    pub partition_ops_max: usize,
    /// Nodes explored in all.
    pub nodes: u64,
    /// Nodes explored by the partition that needed most.
    pub nodes_partition_max: u64,
    /// Configurations skipped because an equivalent one had been explored.
    pub memo_hits: u64,
    /// Partitions whose search had to backtrack at least once.
    pub partitions_backtracked: usize,
    /// Backtracks (subtrees that failed) in all.
    pub backtracks: u64,
    /// Partitions that ran out of budget.
    pub partitions_unknown: usize,
    /// Partitions with a violation.
    pub partitions_violated: usize,
}

/// The verdict and the counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// The verdict.
    pub verdict: Verdict,
    /// The counters.
    pub stats: Stats,
}
