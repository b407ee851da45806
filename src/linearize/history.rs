//! Histories: what several threads did to a system under test, as recorded.

use super::*;

/// A call as a client issued it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    /// A whole web request.
    Request(WireRequest),
    /// Actions in a non-web process (typically a close).
    NonWeb {
        /// The non-web process.
        process: u8,
        /// The actions.
        actions: Vec<WireAction>,
    },
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A request's response.
    Response(Response),
    /// A non-web call's results.
    Reads(Vec<WireRead>),
    /// No result (a timeout, a transport error): the call may have taken effect at any point
    /// after its invoke, or not at all. The text says why.
    Ambiguous(String),
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The thread (timeline column) that issued it.
    pub thread: usize,
    /// When it was invoked (a sequence number shared by all threads).
    pub invoke: u64,
    /// When it returned (same clock; for an ambiguous operation, when the caller gave up).
    pub ret: u64,
    /// What was called.
    pub call: Call,
    /// What came back.
    pub outcome: Outcome,
}

impl Op {
    /// Whether the operation has no result.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self.outcome, Outcome::Ambiguous(_))
    }
}

/// A concurrent history: the world, the operations, and what was observed after them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The world the system under test was reset to.
    pub world: WorldConfig,
    /// Options set before any operation (in order).
    pub options: Vec<OptionSet>,
    /// The hook's behaviour during the run (`Close(_)` is not supported here).
    pub hook: HookBehavior,
    /// The operations, in any order.
    pub ops: Vec<Op>,
    /// The hook runs the system under test logged, in order.
    pub hook_runs: Vec<WireHookRun>,
    /// The lock table after the run, when it was taken.
    pub locks: Option<BTreeMap<RecordRef, WireProc>>,
}

/// Why a history cannot be checked (a harness bug, never a verdict).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum HistoryError {
    /// An operation returned before it was invoked.
    #[error("operation {0} returns before it is invoked")]
    ReturnBeforeInvoke(usize),
    /// The hook closes an ID, which the checker does not map across partitions.
    #[error("hook behaviour {0} is not supported by the linearizability checker")]
    UnsupportedHook(String),
    /// The model rejected a setup step.
    #[error("setup step rejected by the model: {0}")]
    Setup(String),
}
