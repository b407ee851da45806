//! The search: a partition's history interned (IDs as `u32`), then Wing & Gong's search for
//! an order the model accepts, each placement compared by the comparison core
//! (`check::compare`); only the log order of hook runs is the search's own.

use super::*;
use std::ops::ControlFlow;
use wlcs_model::HookRun;

/// An ID text as the partition knows it: `""`, or an interned text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Text {
    Empty,
    Id(u32),
}

/// An action with its ID argument interned (`None`: `Current`).
pub(super) type CAction = Action<Option<Text>>;

/// A read with a session ID read interned (`None`: `""`).
pub(super) type CRead = Read<Option<u32>>;

#[derive(Clone, Debug)]
pub(super) enum CCall {
    Request {
        cookie: Option<Text>,
        actions: Vec<CAction>,
    },
    NonWeb {
        process: u8,
        actions: Vec<CAction>,
    },
}

#[derive(Clone, Debug)]
pub(super) enum COutcome {
    Ambiguous,
    Response(CResponse),
    Reads(Vec<CRead>),
}

#[derive(Clone, Debug)]
pub(super) struct CResponse {
    status: u16,
    session: Option<u32>,
    cookie: CookieSeen<u32>,
    reads: Vec<CRead>,
}

#[derive(Clone, Debug)]
pub(super) struct COp {
    /// Index into the history.
    h: usize,
    invoke: u64,
    /// `u64::MAX` when ambiguous: it bounds nothing.
    ret: u64,
    ambiguous: bool,
    call: CCall,
    outcome: COutcome,
    /// The IDs this operation closes: named in a close, or its own session's for a
    /// self-close.
    closes: Vec<u32>,
    /// Its key in the hash of a set of placed operations.
    zobrist: u64,
}

pub(super) struct Compiled {
    ops: Vec<COp>,
    ids: Vec<String>,
    /// ID text -> its interned number.
    index: HashMap<String, u32>,
    /// Hook runs of the partition (log order): interned ID, lane, the run.
    runs: Vec<(u32, usize)>,
    /// For each run, whether a later run of the partition has the same ID and lane.
    later_same: Vec<bool>,
    /// How many operations close each ID.
    closers: Vec<u32>,
    /// The ambiguous operations, in invoke order.
    ambiguous: Vec<usize>,
    records: BTreeSet<RecordRef>,
}

pub(super) struct Interner {
    ids: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn get(&mut self, text: &str) -> u32 {
        if let Some(i) = self.index.get(text) {
            return *i;
        }
        let i = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.push(text.to_string());
        self.index.insert(text.to_string(), i);
        i
    }

    fn text(&mut self, text: &str) -> Text {
        if text.is_empty() {
            Text::Empty
        } else {
            Text::Id(self.get(text))
        }
    }
}

pub(super) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub(super) fn compile_actions(
    actions: &[WireAction],
    ids: &mut Interner,
    closes: &mut Vec<u32>,
) -> Vec<CAction> {
    actions
        .iter()
        .map(|a| {
            let c = a.map_id(|id| match id {
                WireId::Current => None,
                WireId::Text(t) => Some(ids.text(t)),
            });
            if let Action::Close {
                id: Some(Text::Id(i)),
            } = c
            {
                closes.push(i);
            }
            c
        })
        .collect()
}

pub(super) fn compile_reads(reads: &[WireRead], ids: &mut Interner) -> Vec<CRead> {
    reads
        .iter()
        .map(|r| {
            r.clone()
                .into_session(|id| (!id.is_empty()).then(|| ids.get(&id)))
        })
        .collect()
}

/// A partition's history compiled for the search: its operations with IDs interned (in the
/// order they are first met: operations, hook runs, lock holders), its hook runs, and what the
/// search asks of them often (closers per ID, the ambiguous operations).
pub(super) fn compile(history: &History, spec: &PartitionSpec, cookie_name: &str) -> Compiled {
    let mut ids = Interner {
        ids: Vec::new(),
        index: HashMap::new(),
    };
    let ops: Vec<COp> = spec
        .ops
        .iter()
        .map(|&h| compile_op(history, h, &mut ids, cookie_name))
        .collect();
    let runs: Vec<(u32, usize)> = spec
        .runs
        .iter()
        .map(|&r| (ids.get(&history.hook_runs[r].session_id), r))
        .collect();
    let later_same = later_same(history, &runs);
    let mut closers = vec![0u32; ids.ids.len()];
    for op in &ops {
        for &i in &op.closes {
            if let Some(c) = closers.get_mut(i as usize) {
                *c += 1;
            }
        }
    }
    if let Some(locks) = &history.locks {
        for (record, holder) in locks {
            if spec.records.contains(record)
                && let WireProc::Web { session_id, .. } = holder
            {
                ids.get(session_id);
            }
        }
    }
    closers.resize(ids.ids.len(), 0);
    let ambiguous = (0..ops.len()).filter(|&k| ops[k].ambiguous).collect();
    Compiled {
        ambiguous,
        ops,
        ids: ids.ids,
        index: ids.index,
        runs,
        later_same,
        closers,
        records: spec.records.clone(),
    }
}

/// Operation `h` of the history compiled: call and outcome interned, and the IDs it closes.
fn compile_op(history: &History, h: usize, ids: &mut Interner, cookie_name: &str) -> COp {
    let op = &history.ops[h];
    let mut closes = Vec::new();
    let call = match &op.call {
        Call::Request(r) => CCall::Request {
            cookie: r.cookie.as_deref().map(|c| ids.text(c)),
            actions: compile_actions(&r.actions, ids, &mut closes),
        },
        Call::NonWeb { process, actions } => CCall::NonWeb {
            process: *process,
            actions: compile_actions(actions, ids, &mut closes),
        },
    };
    let outcome = compile_outcome(&op.outcome, ids, cookie_name);
    closes.extend(self_closed(&call, &outcome));
    let ambiguous = op.is_ambiguous();
    COp {
        h,
        invoke: op.invoke,
        ret: if ambiguous { u64::MAX } else { op.ret },
        ambiguous,
        call,
        outcome,
        closes,
        zobrist: splitmix(h as u64 ^ 0x5EED_0F11_5EED),
    }
}

/// An operation's outcome with its IDs interned.
fn compile_outcome(outcome: &Outcome, ids: &mut Interner, cookie_name: &str) -> COutcome {
    match outcome {
        Outcome::Ambiguous(_) => COutcome::Ambiguous,
        Outcome::Reads(reads) => COutcome::Reads(compile_reads(reads, ids)),
        Outcome::Response(resp) => {
            let session = resp.session_id.as_deref().map(|s| ids.get(s));
            let cookie = last_session_cookie(cookie_name, &resp.set_cookies).map(|v| ids.get(v));
            COutcome::Response(CResponse {
                status: resp.status,
                session,
                cookie,
                reads: compile_reads(&resp.reads, ids),
            })
        }
    }
}

/// The session a self-close (`Close(Current)` in a request) closes: the one the request ran
/// in (or, with no answer, the one its cookie named); `None` for any other call.
fn self_closed(call: &CCall, outcome: &COutcome) -> Option<u32> {
    let CCall::Request { cookie, actions } = call else {
        return None;
    };
    if !actions
        .iter()
        .any(|a| matches!(a, Action::Close { id: None }))
    {
        return None;
    }
    match outcome {
        COutcome::Response(r) => r.session,
        _ => match cookie {
            Some(Text::Id(i)) => Some(*i),
            _ => None,
        },
    }
}

/// For each hook run of the partition, whether a later run has the same ID and lane.
fn later_same(history: &History, runs: &[(u32, usize)]) -> Vec<bool> {
    let mut later_same = vec![false; runs.len()];
    let mut seen: HashSet<(u32, u8)> = HashSet::new();
    for (k, (id, r)) in runs.iter().enumerate().rev() {
        let key = (*id, history.hook_runs[*r].lane);
        later_same[k] = !seen.insert(key);
    }
    later_same
}

/// The state at a point of the search: the model, the binding of its sessions to real IDs,
/// and how many of the partition's hook runs the order has produced.
#[derive(Clone, Debug)]
pub(super) struct State {
    model: Model,
    binding: Binding,
    hook_pos: usize,
    /// Runs after `hook_pos` already matched (hooks deferred by CLOSE-12), sorted.
    early: Vec<usize>,
}

/// The binding of the model's sessions to a partition's interned IDs, both ways.
#[derive(Clone, Debug, Default)]
pub(super) struct Binding {
    /// Model session -> interned ID.
    to_id: Vec<Option<u32>>,
    /// Interned ID -> model session.
    to_session: Vec<Option<u32>>,
}

impl Binding {
    fn id_of(&self, s: SessionRef) -> Option<u32> {
        self.to_id.get(s.0 as usize).copied().flatten()
    }

    fn session_of(&self, i: u32) -> Option<SessionRef> {
        self.to_session
            .get(i as usize)
            .copied()
            .flatten()
            .map(SessionRef)
    }
}

/// A binding with the partition's ID texts: what the comparison core binds through.
pub(super) struct Bound<'a> {
    binding: &'a mut Binding,
    names: &'a [String],
}

impl Binder<u32> for Bound<'_> {
    fn id_of(&self, s: SessionRef) -> Option<&u32> {
        self.binding
            .to_id
            .get(s.0 as usize)
            .and_then(Option::as_ref)
    }

    fn session_of(&self, id: &u32) -> Option<SessionRef> {
        self.binding.session_of(*id)
    }

    fn bind(&mut self, s: SessionRef, i: &u32) {
        let si = s.0 as usize;
        if self.binding.to_id.len() <= si {
            self.binding.to_id.resize(si + 1, None);
        }
        self.binding.to_id[si] = Some(*i);
        if let Some(slot) = self.binding.to_session.get_mut(*i as usize) {
            *slot = Some(s.0);
        }
    }

    fn text<'a>(&'a self, id: &'a u32) -> &'a str {
        self.names.get(*id as usize).map_or("?", String::as_str)
    }
}

/// Who wrote which value: the search does not track INV-4's writers.
pub(super) static NO_WRITERS: BTreeMap<i64, SessionRef> = BTreeMap::new();

impl State {
    /// Marks run `k` matched, and moves past every matched run.
    fn matched(&mut self, k: usize) {
        if k == self.hook_pos {
            self.hook_pos += 1;
            // Each pass removes one entry of `early`: bounded by its length.
            while let Some(pos) = self.early.iter().position(|&e| e == self.hook_pos) {
                self.early.remove(pos);
                self.hook_pos += 1;
            }
        } else if let Err(pos) = self.early.binary_search(&k) {
            self.early.insert(pos, k);
        }
    }

    /// Whether no hook can ever run again for this session's process: its ID is gone and
    /// the process has ended.
    fn closed_for_good(&self, s: SessionRef, lane: u8) -> bool {
        self.model
            .id_state(s)
            .is_some_and(|st| st != IdState::Valid)
            && !self.model.running_lanes(s).iter().any(|(l, _)| *l == lane)
    }

    /// A hash of the configuration (model, bindings, hook position); two hashers give 128
    /// bits, so a collision (which could only hide an order, never invent one) is negligible.
    fn fingerprint(&self, placed: u64) -> (u64, u64) {
        struct W<'a>(&'a mut DefaultHasher, &'a mut DefaultHasher);
        impl std::fmt::Write for W<'_> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0.write(s.as_bytes());
                self.1.write(s.as_bytes());
                Ok(())
            }
        }
        let mut a = DefaultHasher::new();
        let mut b = DefaultHasher::new();
        b.write_u64(0x0DDB_A11C_0FFE_E000);
        let _ = write!(W(&mut a, &mut b), "{:?}", self.model);
        for h in [&mut a, &mut b] {
            placed.hash(h);
            self.binding.to_id.hash(h);
            self.hook_pos.hash(h);
            self.early.hash(h);
        }
        (a.finish(), b.finish())
    }
}

pub(super) fn rules_text(rule: RuleId, also: RuleSet) -> String {
    let also: Vec<&str> = also
        .iter()
        .filter(|r| *r != rule)
        .map(|r| r.as_str())
        .collect();
    if also.is_empty() {
        rule.to_string()
    } else {
        format!("{rule} (also {})", also.join(", "))
    }
}

pub(super) struct Searcher<'a> {
    history: &'a History,
    c: &'a Compiled,
    cookie_name: &'a str,
}

pub(super) enum SearchOutcome {
    Linearizable,
    Violated {
        prefix: Vec<usize>,
        failures: Vec<Failure>,
    },
    Unknown,
}

pub(super) struct SearchResult {
    outcome: SearchOutcome,
    nodes: u64,
    memo_hits: u64,
    backtracks: u64,
}

/// Which operations the order has placed, in order, and what follows from it.
pub(super) struct Placement {
    placed: Vec<bool>,
    /// Zobrist hash of the placed set.
    hash: u64,
    /// Operations with a result still to place.
    remaining: usize,
    /// No operation before this index is still to place with a result.
    lo: usize,
    path: Vec<usize>,
}

impl Placement {
    fn new(ops: &[COp]) -> Placement {
        Placement {
            placed: vec![false; ops.len()],
            hash: 0,
            remaining: ops.iter().filter(|o| !o.ambiguous).count(),
            lo: 0,
            path: Vec::with_capacity(ops.len()),
        }
    }

    /// Places operation `k` next.
    fn place(&mut self, k: usize, op: &COp) {
        self.placed[k] = true;
        self.hash ^= op.zobrist;
        if !op.ambiguous {
            self.remaining -= 1;
        }
        self.path.push(k);
    }

    /// Undoes the last placement (backtracking); `None` at the root.
    fn unplace(&mut self, ops: &[COp]) -> Option<usize> {
        let last = self.path.pop()?;
        self.placed[last] = false;
        self.hash ^= ops[last].zobrist;
        if !ops[last].ambiguous {
            self.remaining += 1;
        }
        self.lo = self.lo.min(last);
        Some(last)
    }
}

/// The deepest point where the search failed, and why (the failures at its first visit).
#[derive(Default)]
pub(super) struct Deepest {
    depth: Option<usize>,
    visit: u64,
    failures: Vec<Failure>,
}

impl Deepest {
    fn record(&mut self, depth: usize, visit: u64, f: Failure) {
        if self.depth.is_none_or(|d| depth > d) {
            self.depth = Some(depth);
            self.visit = visit;
            self.failures.clear();
            self.failures.push(f);
        } else if Some(depth) == self.depth
            && visit == self.visit
            && self.failures.len() < FAILURES_MAX
        {
            self.failures.push(f);
        }
    }
}

/// How a step of the search ends: it goes on, or the search ends with an outcome (`None`:
/// every order was tried, a violation).
type Next = ControlFlow<Option<SearchOutcome>>;

/// A node of the search on the stack: its candidates and the next one to try.
struct Frame {
    cands: Vec<usize>,
    next: usize,
    /// The state at this node, to restart from for the candidates after the first (only
    /// when there are several).
    saved: Option<State>,
    visit: u64,
    /// Why the complete order ending here failed its final observations: recorded after the
    /// candidates' failures (an ambiguous operation placed here may explain more than "it
    /// never happened").
    final_failure: Option<Failure>,
    /// Whether this configuration is in the memo.
    memoized: bool,
}

/// What the search carries from node to node: the placement and the state it reached, the
/// longest order, the deepest failure, the memo of explored configurations, the stack of
/// nodes and the counters.
struct Walk {
    at: Placement,
    /// The state after the operations of `at.path`.
    cur: State,
    /// The longest order placed so far.
    best: Vec<usize>,
    /// `best` is a prefix of `at.path` up to this length.
    best_valid: usize,
    deepest: Deepest,
    memo: HashSet<(u64, u64)>,
    stack: Vec<Frame>,
    /// The candidates of the node being entered (a buffer, reused).
    cands: Vec<usize>,
    visits: u64,
    nodes: u64,
    memo_hits: u64,
    backtracks: u64,
}

impl Walk {
    fn new(ops: &[COp], initial: State) -> Walk {
        Walk {
            at: Placement::new(ops),
            cur: initial,
            best: Vec::new(),
            best_valid: 0,
            deepest: Deepest::default(),
            memo: HashSet::new(),
            stack: Vec::new(),
            cands: Vec::new(),
            visits: 0,
            nodes: 0,
            memo_hits: 0,
            backtracks: 0,
        }
    }

    /// Undoes the last placement (a backtrack); at the root the search has tried every order
    /// and ends.
    #[inline]
    fn backtrack(&mut self, ops: &[COp]) -> Next {
        if self.at.unplace(ops).is_none() {
            return ControlFlow::Break(None);
        }
        self.best_valid = self.best_valid.min(self.at.path.len());
        self.backtracks += 1;
        ControlFlow::Continue(())
    }
}

impl Searcher<'_> {
    fn name(&self, i: u32) -> &str {
        self.c.ids.get(i as usize).map_or("?", String::as_str)
    }

    fn session_name(&self, st: &State, s: SessionRef) -> String {
        match st.binding.id_of(s) {
            Some(i) => self.name(i).to_string(),
            None => format!("a session whose ID no answer revealed ({s})"),
        }
    }

    fn id_text(&self, st: &State, t: Option<Text>) -> IdText {
        match t {
            None => IdText::Current,
            Some(Text::Empty) => IdText::Empty,
            // An ID no operation placed so far has revealed is, to the model, an unknown one.
            Some(Text::Id(i)) => match st.binding.session_of(i) {
                Some(s) => IdText::Session(s),
                None => IdText::Forged(i),
            },
        }
    }

    fn actions(&self, st: &State, actions: &[CAction]) -> Vec<Action> {
        actions
            .iter()
            .map(|a| a.map_id(|t| self.id_text(st, *t)))
            .collect()
    }

    fn step(&self, st: &State, op: &COp) -> Step {
        match &op.call {
            CCall::Request { cookie, actions } => Step::Request(Request {
                ip: 0,
                cookie: cookie.map(|c| self.id_text(st, Some(c))),
                mobile: None,
                actions: self.actions(st, actions),
            }),
            CCall::NonWeb { process, actions } => Step::NonWeb {
                process: *process,
                actions: self.actions(st, actions),
            },
        }
    }

    /// Places operation `j` next: steps the model and compares. `placed` says which
    /// operations are already placed (for CLOSE-12's concurrent close).
    fn apply(&self, st: &mut State, j: usize, placed: &[bool]) -> Result<(), Divergence> {
        let op = &self.c.ops[j];
        let step = self.step(st, op);
        let obs = st.model.step(&step);
        if let Some(reason) = &obs.invalid {
            return Err(Divergence::new(
                RuleId::Close10,
                RuleSet::EMPTY,
                "step",
                "a step the model accepts",
                format!("invalid here: {reason}"),
            ));
        }
        if let Some(fault) = &obs.model_fault {
            return Err(Divergence::new(
                RuleId::Close10,
                RuleSet::EMPTY,
                "model self-check (a wlcs bug)",
                "no fault",
                fault.clone(),
            ));
        }
        self.compare_outcome(st, j, placed, &obs)?;
        self.compare_hooks(st, &obs, j, placed)
    }

    /// The operation's recorded result against the model's, through the comparison core.
    fn compare_outcome(
        &self,
        st: &mut State,
        j: usize,
        placed: &[bool],
        obs: &StepObs,
    ) -> Result<(), Divergence> {
        let op = &self.c.ops[j];
        let cx = Context {
            model: &st.model,
            cookie_name: self.cookie_name,
            written: &NO_WRITERS,
            may_expire: false,
        };
        let mut bound = Bound {
            binding: &mut st.binding,
            names: &self.c.ids,
        };
        let result = match &op.outcome {
            COutcome::Ambiguous => Ok(()),
            COutcome::Reads(reads) => compare::reads(obs, reads, false, &bound, cx, &mut ()),
            COutcome::Response(r) => {
                let set_cookies = match &self.history.ops[op.h].outcome {
                    Outcome::Response(resp) => resp.set_cookies.as_slice(),
                    _ => &[],
                };
                let sent_cookie = match &op.call {
                    CCall::Request {
                        cookie: Some(Text::Id(i)),
                        ..
                    } => Some(i),
                    _ => None,
                };
                let got = Observation {
                    response: Some(ResponseSeen {
                        status: r.status,
                        cookie: r.cookie.as_ref(),
                        set_cookies,
                    }),
                    ran_in: r.session.as_ref(),
                    sent_cookie,
                    reads: &r.reads,
                };
                let cx = Context {
                    may_expire: r
                        .session
                        .is_some_and(|id| self.concurrent_close(j, id, placed)),
                    ..cx
                };
                compare::request(obs, &got, &mut bound, cx, &mut ())
            }
        };
        result.map_err(|m| match m {
            Mismatch::Diverged(d) => d,
            Mismatch::Protocol(what) => Divergence::new(
                RuleId::Close10,
                RuleSet::EMPTY,
                "action results",
                "one result per action",
                what,
            ),
        })
    }

    /// Whether an operation not placed yet, overlapping `j` in real time, closes `id`.
    fn concurrent_close(&self, j: usize, id: u32, placed: &[bool]) -> bool {
        let me = &self.c.ops[j];
        self.c.ops.iter().enumerate().any(|(k, o)| {
            k != j && !placed[k] && o.closes.contains(&id) && o.invoke < me.ret && me.invoke < o.ret
        })
    }

    fn extra_hook_rule(&self, id: u32) -> RuleId {
        if self.c.closers.get(id as usize).copied().unwrap_or(0) >= 2 {
            RuleId::Close10
        } else {
            RuleId::Close5
        }
    }

    fn run_text(&self, k: usize) -> String {
        match self.c.runs.get(k) {
            Some((id, r)) => {
                let run = &self.history.hook_runs[*r];
                format!(
                    "hook of {}{} saw {}{}",
                    self.name(*id),
                    lane_text(run.lane),
                    crate::transcript::snapshot(&run.snapshot),
                    if run.failed { " (failed)" } else { "" }
                )
            }
            None => "no hook run".to_string(),
        }
    }

    /// Whether the hook of a close (`j`, of `id`) may have been deferred to the end of a
    /// request of that session which overlaps the close and was placed before it (CLOSE-12:
    /// the hook runs when that request ends, and its response expires the cookie). Such a
    /// hook may appear later in the log than the close's place in the order.
    fn deferrable(&self, j: usize, id: u32, placed: &[bool]) -> bool {
        let me = &self.c.ops[j];
        me.closes.contains(&id)
            && self.c.ops.iter().enumerate().any(|(k, o)| {
                k != j
                    && placed[k]
                    && matches!(
                        &o.outcome,
                        COutcome::Response(CResponse {
                            session: Some(s),
                            cookie: CookieSeen::Expire,
                            ..
                        }) if *s == id
                    )
                    && o.invoke < me.ret
                    && me.invoke < o.ret
            })
    }

    /// The model's hook runs of this step (placing operation `j`) against the partition's
    /// log, in log order (a hook runs inside its close's atomic step when its session is
    /// idle), except for a hook deferred by CLOSE-12.
    fn compare_hooks(
        &self,
        st: &mut State,
        obs: &StepObs,
        j: usize,
        placed: &[bool],
    ) -> Result<(), Divergence> {
        for h in &obs.hooks {
            // A session no placed operation revealed (opened by an ambiguous one): its ID is
            // unknown, so its hook cannot be told apart; the final check counts leftovers.
            let Some(id) = st.binding.id_of(h.session) else {
                continue;
            };
            let at = self.hook_position(st, h, id, j, placed)?;
            let later = self.c.later_same.get(at).copied().unwrap_or(false);
            if later && st.closed_for_good(h.session, h.lane) {
                // CLOSE-10 / CLOSE-5: the log holds another run of this process, which the
                // model can never produce now that the session is closed (checked first: a
                // second run, whatever it saw, is the stronger fact).
                return Err(Divergence::new(
                    self.extra_hook_rule(id),
                    RuleSet::of(&[RuleId::Inv2, RuleId::Close5]),
                    "hook runs",
                    format!("one hook run for {}{}", self.name(id), lane_text(h.lane)),
                    "another run of the same process later in the log",
                ));
            }
            let run = &self.history.hook_runs[self.c.runs[at].1];
            let seen = HookSeen {
                session: &id,
                lane: run.lane,
                snapshot: &run.snapshot,
                failed: run.failed,
            };
            let bound = Bound {
                binding: &mut st.binding,
                names: &self.c.ids,
            };
            compare::hook_run(h, &seen, &bound, &NO_WRITERS, &mut ())?;
            st.matched(at);
        }
        Ok(())
    }

    /// Where in the log the model's hook run `h` (of `id`, placing operation `j`) is: the next
    /// run, or a later one of the same process when CLOSE-12 may have deferred it; `Err` when
    /// the log's next run cannot be this one.
    fn hook_position(
        &self,
        st: &State,
        h: &HookRun,
        id: u32,
        j: usize,
        placed: &[bool],
    ) -> Result<usize, Divergence> {
        let expected = format!(
            "hook of {}{} saw {}{}",
            self.name(id),
            lane_text(h.lane),
            crate::transcript::snapshot(&h.snapshot),
            if h.failed { " (failed)" } else { "" }
        );
        let same = |k: usize| {
            self.c.runs.get(k).is_some_and(|&(run_id, r)| {
                run_id == id && self.history.hook_runs[r].lane == h.lane
            })
        };
        if same(st.hook_pos) {
            return Ok(st.hook_pos);
        }
        let deferred = if self.deferrable(j, id, placed) {
            (st.hook_pos + 1..self.c.runs.len()).find(|&k| !st.early.contains(&k) && same(k))
        } else {
            None
        };
        match (deferred, self.c.runs.get(st.hook_pos)) {
            (Some(k), _) => Ok(k),
            (None, None) => Err(Divergence::new(
                h.cause,
                h.also.with(RuleId::Inv2),
                "hook runs",
                expected,
                "no more hook runs",
            )),
            (None, Some(&(run_id, r))) => Err(self.next_run_elsewhere(st, run_id, r, expected)),
        }
    }

    /// The log's next run (`run_id`, log entry `r`) belongs to another process than the hook
    /// the model ran (`expected`): a process whose hook can never run again, or one that in
    /// this order follows the close.
    fn next_run_elsewhere(
        &self,
        st: &State,
        run_id: u32,
        r: usize,
        expected: String,
    ) -> Divergence {
        let lane = self.history.hook_runs[r].lane;
        if let Some(other) = st.binding.session_of(run_id)
            && st.closed_for_good(other, lane)
        {
            // The log's next run is for a process whose hook can never run again.
            return Divergence::new(
                self.extra_hook_rule(run_id),
                RuleSet::of(&[RuleId::Inv2, RuleId::Close5]),
                "hook runs",
                format!("no other hook run for {}", self.name(run_id)),
                self.run_text(st.hook_pos),
            );
        }
        // The log's next hook belongs to something that, in this order, follows the close:
        // this close's hook did not run inside the close, before its effects were visible
        // (CLOSE-6).
        Divergence::new(
            RuleId::Close6,
            RuleSet::of(&[RuleId::Close10]),
            "hook runs (log order)",
            format!("next: {expected}"),
            format!("next: {}", self.run_text(st.hook_pos)),
        )
    }

    /// What must hold once every operation with a result is placed: no hook run left over,
    /// the lock table as the model has it.
    fn final_check(&self, st: &mut State) -> Result<(), Divergence> {
        if let Some(&(run_id, _)) = self.c.runs.get(st.hook_pos) {
            let (rule, expected) = match st.binding.session_of(run_id) {
                Some(s) if st.closed_for_good(s, 0) => (
                    self.extra_hook_rule(run_id),
                    format!("no other hook run for {}", self.name(run_id)),
                ),
                Some(s) => (
                    RuleId::Inv2,
                    format!("{} still running, no hook", self.session_name(st, s)),
                ),
                None => (
                    RuleId::Inv2,
                    "no hook run for a session no operation reached".to_string(),
                ),
            };
            return Err(Divergence::new(
                rule,
                RuleSet::of(&[RuleId::Inv2, RuleId::Close5]),
                "hook runs left over",
                expected,
                self.run_text(st.hook_pos),
            ));
        }
        let Some(actual) = &self.history.locks else {
            return Ok(());
        };
        let owners: BTreeMap<RecordRef, OwnerSeen<'_, u32>> = actual
            .iter()
            .filter(|(r, _)| self.c.records.contains(r))
            .filter_map(|(r, p)| {
                let owner = match p {
                    WireProc::NonWeb(n) => OwnerSeen::NonWeb(*n),
                    WireProc::Web { session_id, lane } => OwnerSeen::Web {
                        session: self.c.index.get(session_id)?,
                        lane: *lane,
                    },
                };
                Some((*r, owner))
            })
            .collect();
        let bound = Bound {
            binding: &mut st.binding,
            names: &self.c.ids,
        };
        compare::locks(
            &st.model,
            &owners,
            |o| *o,
            Some(&self.c.records),
            &bound,
            &mut (),
        )
        .map_err(|d| Divergence {
            what: format!("final {}", d.what),
            ..d
        })
    }

    /// The operations that may come next: not placed, and invoked before every operation
    /// still to place returned (Wing & Gong). Ambiguous ones bound nothing.
    fn candidates(&self, placed: &[bool], lo: usize, out: &mut Vec<usize>) {
        out.clear();
        let ops = &self.c.ops;
        let mut min_ret = u64::MAX;
        for (k, op) in ops.iter().enumerate().skip(lo) {
            if placed[k] {
                continue;
            }
            if op.invoke > min_ret {
                break;
            }
            if !op.ambiguous {
                out.push(k);
                min_ret = min_ret.min(op.ret);
            }
        }
        // Ambiguous operations invoked before that bound come last: most never matter.
        for &k in &self.c.ambiguous {
            if !placed[k] && ops[k].invoke <= min_ret {
                out.push(k);
            }
        }
    }

    /// Wing & Gong's search from `initial`: depth first over the orders real time allows,
    /// backtracking on a divergence, with a memo of configurations explored (once the search
    /// has backtracked `memo_after` times), within `budget` nodes.
    fn search(&self, initial: State, budget: u64, memo_after: u64) -> SearchResult {
        let mut w = Walk::new(&self.c.ops, initial);
        // Every pass enters one node: at most `budget` nodes are applied, and each pass either
        // applies one (counted) or pops a frame (at most one per push).
        let end = loop {
            if let ControlFlow::Break(end) = self.enter(&mut w, memo_after) {
                break end;
            }
            if let ControlFlow::Break(end) = self.place_next(&mut w, budget, memo_after) {
                break end;
            }
        };
        let outcome = end.unwrap_or_else(|| SearchOutcome::Violated {
            prefix: w.best.iter().map(|&k| self.c.ops[k].h).collect(),
            failures: std::mem::take(&mut w.deepest.failures),
        });
        SearchResult {
            outcome,
            nodes: w.nodes,
            memo_hits: w.memo_hits,
            backtracks: w.backtracks,
        }
    }

    /// Enters the node the placement has reached: the longest order so far, the final check
    /// once every operation with a result is placed (linearizable: the search ends), then its
    /// candidates pushed as a frame, or, when the memo has seen this configuration, a
    /// backtrack at once.
    #[inline]
    fn enter(&self, w: &mut Walk, memo_after: u64) -> Next {
        w.visits += 1;
        let visit = w.visits;
        let depth = w.at.path.len();
        if depth > w.best.len() {
            w.best.truncate(w.best_valid.min(w.best.len()));
            w.best.extend_from_slice(&w.at.path[w.best.len()..]);
            w.best_valid = depth;
        }
        let mut final_failure = None;
        if w.at.remaining == 0 {
            match self.final_check(&mut w.cur) {
                Ok(()) => return ControlFlow::Break(Some(SearchOutcome::Linearizable)),
                Err(d) => final_failure = Some(self.failure(None, d, depth)),
            }
        }
        let n = self.c.ops.len();
        while w.at.lo < n && (w.at.placed[w.at.lo] || self.c.ops[w.at.lo].ambiguous) {
            w.at.lo += 1;
        }
        self.candidates(&w.at.placed, w.at.lo, &mut w.cands);
        let mut memoized = false;
        let memo_on = w.backtracks > 0 && w.backtracks >= memo_after;
        if memo_on && w.cands.len() >= 2 && w.memo.len() < MEMO_ENTRIES_MAX {
            let key = w.cur.fingerprint(w.at.hash);
            memoized = true;
            if !w.memo.insert(key) {
                w.memo_hits += 1;
                // Explored before from an equivalent configuration: undo the operation that
                // led here and let the parent try its next candidate.
                return w.backtrack(&self.c.ops);
            }
        }
        let saved = (w.cands.len() >= 2).then(|| w.cur.clone());
        w.stack.push(Frame {
            cands: std::mem::take(&mut w.cands),
            next: 0,
            saved,
            visit,
            final_failure,
            memoized,
        });
        ControlFlow::Continue(())
    }

    /// Tries the top frame's next candidate, popping exhausted frames (backtracking): goes on
    /// once one is placed (a node to enter); ends with `None` when every order was tried, with
    /// `Unknown` when the node budget ran out.
    #[inline]
    fn place_next(&self, w: &mut Walk, budget: u64, memo_after: u64) -> Next {
        loop {
            let Some(frame) = w.stack.last_mut() else {
                return ControlFlow::Break(None);
            };
            if frame.next >= frame.cands.len() {
                if let Some(f) = frame.final_failure.take() {
                    w.deepest.record(w.at.path.len(), frame.visit, f);
                }
                w.stack.pop();
                w.backtrack(&self.c.ops)?;
                continue;
            }
            let c = frame.cands[frame.next];
            frame.next += 1;
            if frame.next > 1 {
                // Not the first candidate: start again from this node's state.
                let restored = if frame.next == frame.cands.len() {
                    frame.saved.take()
                } else {
                    frame.saved.clone()
                };
                if let Some(s) = restored {
                    w.cur = s;
                }
                // The first candidate failed: remember this configuration, so that another
                // order reaching it is not explored again. (Only once the search has
                // backtracked enough: most searches never need it.)
                if w.backtracks >= memo_after && !frame.memoized && w.memo.len() < MEMO_ENTRIES_MAX
                {
                    frame.memoized = true;
                    w.memo.insert(w.cur.fingerprint(w.at.hash));
                }
            }
            let visit = frame.visit;
            w.nodes += 1;
            if w.nodes > budget {
                return ControlFlow::Break(Some(SearchOutcome::Unknown));
            }
            match self.apply(&mut w.cur, c, &w.at.placed) {
                Ok(()) => {
                    w.at.place(c, &self.c.ops[c]);
                    return ControlFlow::Continue(());
                }
                Err(d) => {
                    let depth = w.at.path.len();
                    w.deepest
                        .record(depth, visit, self.failure(Some(c), d, depth));
                }
            }
        }
    }

    fn failure(&self, op: Option<usize>, d: Divergence, depth: usize) -> Failure {
        Failure {
            op: op.map(|k| self.c.ops[k].h),
            divergence: d.at(depth),
        }
    }
}

pub(super) fn lane_text(lane: u8) -> String {
    if lane == 0 {
        String::new()
    } else {
        format!("/p{lane}")
    }
}

/// The model every partition starts from: the world, the options, the hook.
pub(super) fn initial_model(history: &History) -> Result<Model, HistoryError> {
    if let HookBehavior::Close(_) = history.hook {
        return Err(HistoryError::UnsupportedHook(format!("{:?}", history.hook)));
    }
    let mut model = Model::new(history.world.clone());
    let mut steps: Vec<Step> = history
        .options
        .iter()
        .map(|o| Step::SetOption(o.clone()))
        .collect();
    steps.push(Step::SetHook(history.hook.clone()));
    for step in &steps {
        let obs = model.step(step);
        if let Some(reason) = obs.invalid.or(obs.model_fault) {
            return Err(HistoryError::Setup(reason));
        }
    }
    Ok(model)
}

/// Checks a history for linearizability against the model, partition by partition, within
/// the budget of `cfg`.
pub fn check(history: &History, cfg: &LinearizeConfig) -> Result<Checked, HistoryError> {
    for (i, op) in history.ops.iter().enumerate() {
        if op.ret < op.invoke {
            return Err(HistoryError::ReturnBeforeInvoke(i));
        }
    }
    let model = initial_model(history)?;
    let cookie_name = model.options().cookie_name.clone();
    let specs = partition(history);
    let mut stats = Stats {
        ops: history.ops.len(),
        ambiguous: history.ops.iter().filter(|o| o.is_ambiguous()).count(),
        partitions: specs.len(),
        partition_ops_max: specs.iter().map(|p| p.ops.len()).max().unwrap_or(0),
        ..Stats::default()
    };
    let mut violations = Vec::new();
    let mut unknown = Vec::new();
    for (p, spec) in specs.iter().enumerate() {
        let left = cfg.nodes_total_max.saturating_sub(stats.nodes);
        let budget = cfg.nodes_per_partition_max.min(left);
        let compiled = compile(history, spec, &cookie_name);
        let searcher = Searcher {
            history,
            c: &compiled,
            cookie_name: &cookie_name,
        };
        let initial = State {
            model: model.clone(),
            binding: Binding {
                to_id: Vec::new(),
                to_session: vec![None; compiled.ids.len()],
            },
            hook_pos: 0,
            early: Vec::new(),
        };
        let result = searcher.search(initial, budget, cfg.memo_after_backtracks);
        stats.nodes += result.nodes.min(budget);
        stats.nodes_partition_max = stats.nodes_partition_max.max(result.nodes.min(budget));
        stats.memo_hits += result.memo_hits;
        stats.partitions_backtracked += usize::from(result.backtracks > 0);
        stats.backtracks += result.backtracks;
        match result.outcome {
            SearchOutcome::Linearizable => {}
            SearchOutcome::Unknown => unknown.push(p),
            SearchOutcome::Violated { prefix, failures } => {
                stats.partitions_violated += 1;
                if violations.len() < VIOLATIONS_MAX {
                    violations.push(violation(history, &compiled, spec, p, prefix, failures));
                }
            }
        }
    }
    stats.partitions_unknown = unknown.len();
    let verdict = if !violations.is_empty() {
        Verdict::NotLinearizable(violations)
    } else if !unknown.is_empty() {
        Verdict::Unknown {
            partitions: unknown,
            nodes: stats.nodes,
        }
    } else {
        Verdict::Linearizable
    };
    Ok(Checked { verdict, stats })
}

pub(super) fn violation(
    history: &History,
    compiled: &Compiled,
    spec: &PartitionSpec,
    partition: usize,
    prefix: Vec<usize>,
    failures: Vec<Failure>,
) -> Violation {
    let (rule, mut also) = match failures.first() {
        Some(f) => (f.divergence.rule, f.divergence.also_set()),
        // Every order was cut by the memo of equivalent configurations: still a violation
        // of linearizability as such.
        None => (RuleId::Close10, RuleSet::EMPTY),
    };
    for f in failures.iter().skip(1) {
        also = also.union(f.divergence.also_set()).with(f.divergence.rule);
    }
    let failing: BTreeSet<usize> = failures.iter().filter_map(|f| f.op).collect();
    let mut involved: BTreeSet<usize> = failing.clone();
    for &f in &failing {
        let fo = &history.ops[f];
        for &o in &spec.ops {
            let oo = &history.ops[o];
            let o_ret = if oo.is_ambiguous() { u64::MAX } else { oo.ret };
            let f_ret = if fo.is_ambiguous() { u64::MAX } else { fo.ret };
            if oo.invoke < f_ret && fo.invoke < o_ret {
                involved.insert(o);
            }
        }
    }
    Violation {
        partition,
        ids: compiled.ids.clone(),
        ops: spec.ops.clone(),
        prefix,
        failures,
        involved: involved.into_iter().collect(),
        rule,
        also: {
            let mut a = RuleSet::EMPTY;
            for r in also.iter().filter(|r| *r != rule) {
                a.insert(r);
            }
            a
        },
    }
}
