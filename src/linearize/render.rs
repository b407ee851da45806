//! Rendering: timelines (one line per invoke or return, one column per thread) and explained
//! violations.

use super::*;

/// Short names for real IDs (`s0`, `s1`, ... in order of first appearance), so timelines stay
/// readable.
pub(super) struct Names {
    names: HashMap<String, String>,
}

impl Names {
    fn new() -> Names {
        Names {
            names: HashMap::new(),
        }
    }

    fn get(&mut self, id: &str) -> String {
        if id.is_empty() {
            return "\"\"".to_string();
        }
        let n = self.names.len();
        self.names
            .entry(id.to_string())
            .or_insert_with(|| format!("s{n}"))
            .clone()
    }

    fn legend(&self) -> String {
        let mut pairs: Vec<(&String, &String)> = self.names.iter().map(|(k, v)| (v, k)).collect();
        pairs.sort_by_key(|(v, _)| v[1..].parse::<usize>().unwrap_or(usize::MAX));
        pairs
            .iter()
            .map(|(short, id)| format!("{short}={id}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(super) fn wire_action_text(a: &WireAction, names: &mut Names) -> String {
    crate::transcript::action_with(a, |id| match id {
        WireId::Current => "current".to_string(),
        WireId::Text(t) => names.get(t),
    })
}

pub(super) fn wire_read_text(r: &WireRead, names: &mut Names) -> String {
    crate::transcript::read_with(r, |id| names.get(id))
}

/// An operation's call, in one line.
pub(super) fn invoke_text(op: &Op, names: &mut Names) -> String {
    match &op.call {
        Call::Request(r) => {
            let cookie = r
                .cookie
                .as_deref()
                .map_or("-".to_string(), |c| names.get(c));
            let actions: Vec<String> = r
                .actions
                .iter()
                .map(|a| wire_action_text(a, names))
                .collect();
            format!("req {cookie} [{}]", actions.join("; "))
        }
        Call::NonWeb { process, actions } => {
            let actions: Vec<String> = actions.iter().map(|a| wire_action_text(a, names)).collect();
            format!("nonweb{process} [{}]", actions.join("; "))
        }
    }
}

/// An operation's result, in one line.
pub(super) fn return_text(op: &Op, cookie_name: &str, names: &mut Names) -> String {
    match &op.outcome {
        Outcome::Ambiguous(why) => format!("?? {why}"),
        Outcome::Reads(reads) => {
            let reads: Vec<String> = reads.iter().map(|r| wire_read_text(r, names)).collect();
            format!("[{}]", reads.join(", "))
        }
        Outcome::Response(resp) => {
            let sent = match &op.call {
                Call::Request(r) => r.cookie.clone(),
                Call::NonWeb { .. } => None,
            };
            let session = resp
                .session_id
                .as_deref()
                .map_or("-".to_string(), |s| names.get(s));
            let cookie = match last_session_cookie(cookie_name, &resp.set_cookies) {
                CookieSeen::None => "keep".to_string(),
                CookieSeen::Expire => "EXPIRE".to_string(),
                CookieSeen::Value(v) if Some(v) == sent.as_ref() => "keep".to_string(),
                CookieSeen::Value(v) => format!("set {}", names.get(v)),
            };
            let reads: Vec<String> = resp
                .reads
                .iter()
                .map(|r| wire_read_text(r, names))
                .collect();
            format!(
                "{} in {session} {cookie} [{}]",
                resp.status,
                reads.join(", ")
            )
        }
    }
}

pub(super) fn cell(text: &str) -> String {
    let mut s: String = text.chars().take(TIMELINE_COLUMN_CHARS).collect();
    if text.chars().count() > TIMELINE_COLUMN_CHARS {
        s.pop();
        s.push('~');
    }
    format!("{s:<width$}", width = TIMELINE_COLUMN_CHARS)
}

/// A timeline of some operations: one line per invoke (`>`) or return (`<`), one column per
/// thread, at most [`TIMELINE_EVENTS_MAX`] lines (the last ones up to `until`, a sequence
/// number). Operations in `marked` carry a `*`. IDs are shortened to `s0`, `s1`, ... and a
/// legend follows.
pub fn render_timeline(
    history: &History,
    ops: &[usize],
    marked: &[usize],
    until: Option<u64>,
) -> String {
    let mut names = Names::new();
    let mut out = timeline(history, ops, marked, until, &mut names);
    let legend = names.legend();
    if !legend.is_empty() {
        let _ = writeln!(out, "ids: {legend}");
    }
    out
}

pub(super) fn timeline(
    history: &History,
    ops: &[usize],
    marked: &[usize],
    until: Option<u64>,
    names: &mut Names,
) -> String {
    let mut options = Options::defaults(&history.world);
    for o in &history.options {
        options.apply(o);
    }
    let cookie_name = options.cookie_name;
    let threads = ops
        .iter()
        .filter_map(|&o| history.ops.get(o))
        .map(|o| o.thread + 1)
        .max()
        .unwrap_or(1);
    // (time, is_return, op)
    let mut events: Vec<(u64, bool, usize)> = Vec::new();
    for &o in ops {
        let Some(op) = history.ops.get(o) else {
            continue;
        };
        events.push((op.invoke, false, o));
        events.push((op.ret, true, o));
    }
    events.sort();
    if let Some(until) = until {
        events.retain(|e| e.0 <= until);
    }
    let skipped = events.len().saturating_sub(TIMELINE_EVENTS_MAX);
    let mut out = String::new();
    let _ = write!(out, "{:>10} ", "seq");
    for t in 0..threads {
        let _ = write!(out, "| {} ", cell(&format!("thread {t}")));
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out.push('\n');
    if skipped > 0 {
        let _ = writeln!(out, "{:>10}   ({skipped} earlier events not shown)", "...");
    }
    for (time, is_return, o) in events.into_iter().skip(skipped) {
        let op = &history.ops[o];
        let mark = if marked.contains(&o) { '*' } else { ' ' };
        let text = if is_return {
            format!("{mark}< #{o} {}", return_text(op, &cookie_name, names))
        } else {
            format!("{mark}> #{o} {}", invoke_text(op, names))
        };
        let _ = write!(out, "{time:>10} ");
        for t in 0..threads {
            if t == op.thread {
                let _ = write!(out, "| {} ", cell(&text));
            } else {
                let _ = write!(out, "| {} ", cell(""));
            }
        }
        // Trailing spaces of empty columns are noise.
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    }
    out
}

/// Replaces every ID of `ids` found in `text` by its short name.
pub(super) fn shorten(text: &str, ids: &[String], names: &mut Names) -> String {
    let mut out = text.to_string();
    for id in ids {
        if id.len() >= 4 && out.contains(id.as_str()) {
            let short = names.get(id);
            out = out.replace(id.as_str(), &short);
        }
    }
    out
}

/// The IDs an operation sends, names or is told.
pub(super) fn op_ids(op: &Op) -> Vec<String> {
    op_resources(op)
        .into_iter()
        .filter_map(|r| match r {
            Resource::Id(id) => Some(id),
            _ => None,
        })
        .collect()
}

/// A violation, explained: the rule, the longest consistent prefix, what could not come
/// next and why, the timeline of the partition up to the failure, and the hook runs of the
/// sessions involved.
pub fn render_violation(history: &History, v: &Violation) -> String {
    // Short names are given in order of appearance: the timeline first.
    let mut names = Names::new();
    let until = v
        .involved
        .iter()
        .filter_map(|&o| history.ops.get(o))
        .map(|o| o.ret)
        .max();
    let marked: Vec<usize> = v.failures.iter().filter_map(|f| f.op).collect();
    let timeline = timeline(history, &v.ops, &marked, until, &mut names);
    let mut out = String::new();
    violation_head(v, &mut out);
    let _ = writeln!(out, "nothing can come next:");
    for f in &v.failures {
        let who = f.op.map_or("end".to_string(), |o| format!("#{o}"));
        let d = &f.divergence;
        let line = format!(
            "  {who}: {} [{}]: expected {}, got {}",
            d.what,
            rules_text(d.rule, d.also_set()),
            d.expected,
            d.actual
        );
        let _ = writeln!(out, "{}", shorten(&line, &v.ids, &mut names));
    }
    let _ = writeln!(
        out,
        "timeline of the partition up to the failure (* could not come next):"
    );
    out.push_str(&timeline);
    involved_hook_runs(history, v, &mut names, &mut out);
    let legend = names.legend();
    if !legend.is_empty() {
        let _ = writeln!(out, "ids: {legend}");
    }
    out
}

/// A violation's first lines: the partition and its rules, the rule's summary, and the
/// longest consistent prefix (its last operations).
fn violation_head(v: &Violation, out: &mut String) {
    let _ = writeln!(
        out,
        "NOT LINEARIZABLE: partition {} ({} operations over {} IDs): {}",
        v.partition,
        v.ops.len(),
        v.ids.len(),
        rules_text(v.rule, v.also)
    );
    let _ = writeln!(out, "  {}: {}", v.rule, v.rule.summary());
    let shown: Vec<String> = v
        .prefix
        .iter()
        .rev()
        .take(PREFIX_SHOWN_MAX)
        .rev()
        .map(|o| format!("#{o}"))
        .collect();
    let _ = writeln!(
        out,
        "longest consistent prefix: {} of {} operations{}{}",
        v.prefix.len(),
        v.ops.len(),
        if v.prefix.len() > PREFIX_SHOWN_MAX {
            ", ending "
        } else if v.prefix.is_empty() {
            ""
        } else {
            ": "
        },
        shown.join(" ")
    );
}

/// The hook runs of the sessions the violation's operations involve, in log order (the first
/// few).
fn involved_hook_runs(history: &History, v: &Violation, names: &mut Names, out: &mut String) {
    let involved_ids: HashSet<String> = v
        .involved
        .iter()
        .filter_map(|&o| history.ops.get(o))
        .flat_map(op_ids)
        .collect();
    let runs: Vec<&WireHookRun> = history
        .hook_runs
        .iter()
        .filter(|r| involved_ids.contains(&r.session_id))
        .collect();
    let _ = writeln!(
        out,
        "hook runs of the sessions involved, in log order ({}):",
        runs.len()
    );
    for r in runs.iter().take(PREFIX_SHOWN_MAX) {
        let _ = writeln!(
            out,
            "  {}{} saw {}{}",
            names.get(&r.session_id),
            lane_text(r.lane),
            crate::transcript::snapshot(&r.snapshot),
            if r.failed { " (failed)" } else { "" }
        );
    }
}

/// The verdict and counters in a few lines, then each violation explained.
pub fn render(history: &History, checked: &Checked) -> String {
    let mut out = String::new();
    let s = &checked.stats;
    let _ = writeln!(
        out,
        "linearizability: {} operations ({} ambiguous) in {} partitions (largest {}), {} nodes explored (most in one partition {}), {} backtracks in {} partitions, {} memo hits",
        s.ops,
        s.ambiguous,
        s.partitions,
        s.partition_ops_max,
        s.nodes,
        s.nodes_partition_max,
        s.backtracks,
        s.partitions_backtracked,
        s.memo_hits
    );
    match &checked.verdict {
        Verdict::Linearizable => {
            let _ = writeln!(out, "verdict: LINEARIZABLE");
        }
        Verdict::Unknown { partitions, nodes } => {
            let _ = writeln!(
                out,
                "verdict: UNKNOWN (budget exhausted after {nodes} nodes in partitions {partitions:?}; not a pass)"
            );
        }
        Verdict::NotLinearizable(vs) => {
            let _ = writeln!(
                out,
                "verdict: NOT LINEARIZABLE ({} partitions violated; rules {})",
                s.partitions_violated,
                checked
                    .verdict
                    .rules()
                    .iter()
                    .map(RuleId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for v in vs.iter().take(3) {
                out.push('\n');
                out.push_str(&render_violation(history, v));
            }
        }
    }
    out
}
