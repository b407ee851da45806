//! Partitions: operations that share no state are independent, so a history is cut into
//! connected components (union-find over the resources each operation touches).

use super::*;

/// Something operations share: what ties them into one partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Resource {
    Id(String),
    Record(RecordRef),
    IpVars,
    NonWebContext(u8),
}

pub(super) struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        // Path halving: every loop pass moves `x` up, so it ends at the root.
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

pub(super) struct Resources {
    index: HashMap<Resource, usize>,
    uf: UnionFind,
}

impl Resources {
    fn id(&mut self, r: Resource) -> usize {
        let next = self.index.len();
        let i = *self.index.entry(r).or_insert(next);
        if i == next {
            self.uf.parent.push(i);
        }
        i
    }

    fn link(&mut self, rs: &[Resource]) -> Option<usize> {
        let mut first = None;
        for r in rs {
            let i = self.id(r.clone());
            match first {
                None => first = Some(i),
                Some(f) => self.uf.union(f, i),
            }
        }
        first
    }
}

pub(super) fn push_id(out: &mut Vec<Resource>, text: &str) {
    if !text.is_empty() {
        out.push(Resource::Id(text.to_string()));
    }
}

pub(super) fn action_resources(
    actions: &[WireAction],
    non_web: Option<u8>,
    out: &mut Vec<Resource>,
) {
    for a in actions {
        match a {
            WireAction::Lock { record } | WireAction::IsLocked { record } => {
                out.push(Resource::Record(*record));
            }
            WireAction::SetIpVar { .. } | WireAction::GetIpVar { .. } => out.push(Resource::IpVars),
            WireAction::Close { id } | WireAction::GetExpiration { id } => {
                if let WireId::Text(t) = id {
                    push_id(out, t);
                }
            }
            WireAction::SetVar { .. }
            | WireAction::GetVar { .. }
            | WireAction::Select { .. }
            | WireAction::GetSelection { .. }
            | WireAction::GetSessionId => {}
        }
        // A non-web process keeps its context (variables, selections, locks) across calls.
        if let Some(n) = non_web
            && !matches!(
                a,
                WireAction::Close { .. }
                    | WireAction::GetExpiration { .. }
                    | WireAction::GetSessionId
                    | WireAction::SetIpVar { .. }
                    | WireAction::GetIpVar { .. }
            )
        {
            out.push(Resource::NonWebContext(n));
        }
    }
}

pub(super) fn read_resources(reads: &[WireRead], out: &mut Vec<Resource>) {
    for r in reads {
        if let WireRead::SessionId(id) = r {
            push_id(out, id);
        }
    }
}

pub(super) fn op_resources(op: &Op) -> Vec<Resource> {
    let mut out = Vec::new();
    match &op.call {
        Call::Request(r) => {
            if let Some(c) = &r.cookie {
                push_id(&mut out, c);
            }
            action_resources(&r.actions, None, &mut out);
        }
        Call::NonWeb { process, actions } => action_resources(actions, Some(*process), &mut out),
    }
    match &op.outcome {
        Outcome::Response(resp) => {
            if let Some(id) = &resp.session_id {
                push_id(&mut out, id);
            }
            for c in &resp.set_cookies {
                if !c.expiring {
                    push_id(&mut out, &c.value);
                }
            }
            read_resources(&resp.reads, &mut out);
        }
        Outcome::Reads(reads) => read_resources(reads, &mut out),
        Outcome::Ambiguous(_) => {}
    }
    out
}

/// One partition: operations (sorted by invoke), hook runs (log order), records.
pub(super) struct PartitionSpec {
    pub(super) ops: Vec<usize>,
    pub(super) runs: Vec<usize>,
    pub(super) records: BTreeSet<RecordRef>,
}

/// Cuts a history into partitions: operations, hook runs and final locks linked by the
/// resources they share, one partition per connected component.
pub(super) fn partition(history: &History) -> Vec<PartitionSpec> {
    let mut res = Resources {
        index: HashMap::new(),
        uf: UnionFind { parent: Vec::new() },
    };
    let op_res: Vec<Option<usize>> = history
        .ops
        .iter()
        .map(|op| res.link(&op_resources(op)))
        .collect();
    let run_res: Vec<Option<usize>> = history
        .hook_runs
        .iter()
        .map(|run| {
            let mut rs = vec![Resource::Id(run.session_id.clone())];
            rs.extend(run.snapshot.locks.iter().map(|r| Resource::Record(*r)));
            res.link(&rs)
        })
        .collect();
    let lock_res = link_locks(history, &mut res);
    // Partitions are numbered in order of their first operation's invoke (then by the first
    // hook run or lock for partitions without operations).
    let mut order: Vec<usize> = (0..history.ops.len()).collect();
    order.sort_by_key(|&i| (history.ops[i].invoke, i));
    let mut parts = Parts::default();
    for i in order {
        let root = op_res[i].map(|r| res.uf.find(r));
        let p = parts.of(root);
        parts.parts[p].ops.push(i);
    }
    for (i, r) in run_res.iter().enumerate() {
        let root = r.map(|r| res.uf.find(r));
        let p = parts.of(root);
        parts.parts[p].runs.push(i);
    }
    for (record, r) in lock_res {
        let root = res.uf.find(r);
        let p = parts.of(Some(root));
        parts.parts[p].records.insert(record);
    }
    parts.add_records_touched(&mut res);
    parts.parts
}

/// Links each entry of the final lock table (record and holder): the record and its
/// resource, for the entries that link any.
fn link_locks(history: &History, res: &mut Resources) -> Vec<(RecordRef, usize)> {
    let mut lock_res: Vec<(RecordRef, usize)> = Vec::new();
    if let Some(locks) = &history.locks {
        for (record, holder) in locks {
            let mut rs = vec![Resource::Record(*record)];
            match holder {
                WireProc::Web { session_id, .. } => push_id(&mut rs, session_id),
                WireProc::NonWeb(n) => rs.push(Resource::NonWebContext(*n)),
            }
            if let Some(r) = res.link(&rs) {
                lock_res.push((*record, r));
            }
        }
    }
    lock_res
}

/// The partitions so far, and which one each union-find root is.
#[derive(Default)]
struct Parts {
    by_root: HashMap<usize, usize>,
    parts: Vec<PartitionSpec>,
}

impl Parts {
    /// The partition of a root, new for a root not seen yet; a new one of its own for
    /// something that touches no resource (`None`).
    fn of(&mut self, root: Option<usize>) -> usize {
        let parts = &mut self.parts;
        let mut new = || {
            parts.push(PartitionSpec {
                ops: Vec::new(),
                runs: Vec::new(),
                records: BTreeSet::new(),
            });
            parts.len() - 1
        };
        match root {
            Some(r) => *self.by_root.entry(r).or_insert_with(new),
            None => new(),
        }
    }

    /// Adds to each partition the records its operations touch (for the final lock table).
    fn add_records_touched(&mut self, res: &mut Resources) {
        let records_by_root: Vec<(usize, RecordRef)> = res
            .index
            .iter()
            .filter_map(|(r, i)| match r {
                Resource::Record(rec) => Some((*i, *rec)),
                _ => None,
            })
            .collect();
        for (i, rec) in records_by_root {
            let root = res.uf.find(i);
            if let Some(&p) = self.by_root.get(&root) {
                self.parts[p].records.insert(rec);
            }
        }
    }
}
