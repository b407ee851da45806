#!/usr/bin/env python3
"""Issue 14's targets, each marked met or missed by its same-run ratio, from one run of
measure.sh: RAW (its raw.txt), CRITERION_DIR (criterion's estimates of the same run) and
MEMORY (the memory group's output). Prints Markdown. Standard library only.

    python3 reports/bench/summary.py reports/bench/run/raw.txt reports/bench/run/criterion \\
        reports/bench/run/memory.txt
"""
import json, re, statistics, sys
from pathlib import Path
if len(sys.argv) != 4:
    raise SystemExit("usage: summary.py RAW CRITERION_DIR MEMORY")
raw, crit, memory = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
runs = {}
for line in open(raw):
    name, value = line.split()
    if value != "missing":
        runs.setdefault(name, []).append(float(value))
med = {k: statistics.median(v) for k, v in runs.items()}

def est(group, func, param=""):
    """Criterion's mean per element (ns), or None when the benchmark did not run."""
    d = crit / group / func / param if param else crit / group / func
    p = d / "new" / "estimates.json"
    if not p.exists():
        return None
    mean = json.load(open(p))["mean"]["point_estimate"]
    meta = d / "new" / "benchmark.json"
    elements = 1
    if meta.exists():
        elements = (json.load(open(meta)).get("throughput") or {}).get("Elements", 1) or 1
    return mean / elements

def ns(v):
    return f"{v / 1e3:.2f} µs" if v >= 1e3 else f"{v:.0f} ns" if v >= 100 else f"{v:.1f} ns"

rows = []
def row(target, figure, value, goal, higher_better=True, unit="x"):
    if value is None:
        rel = ">=" if higher_better else "<="
        rows.append((target, figure, "not measured", f"{rel} {goal:g}{unit}", "**missed** (not measured)"))
        return
    met = value >= goal if higher_better else value <= goal
    rel = ">=" if higher_better else "<="
    rows.append((target, figure, f"{value:.2f}{unit}", f"{rel} {goal:g}{unit}", "met" if met else "**missed**"))

def ratio(num, den):
    return None if num is None or den is None or den == 0 else num / den

for n, ref in [("1000", "reference"), ("32000", "reference"), ("1000000", "reference_limit_lifted")]:
    r, t = est("close", ref, n), est("close", "tower_sessions", n)
    who = "reference (limit lifted)" if ref == "reference_limit_lifted" else "reference"
    held = " (31,999 held: LIMIT-2)" if n == "32000" else ""
    row(f"close at {int(n):,} live{held} vs tower-sessions delete (tower time / ours)",
        f"{who} {ns(r)} vs tower-sessions {ns(t)}" if r and t else who, ratio(t, r), 1.0)
r, f = est("close", "reference", "1000"), est("close", "roofline", "1000")
row("beyond: close at 1,000 within 4x the roofline (ours / roofline)",
    f"reference {ns(r)} vs roofline {ns(f)}" if r and f else "", ratio(r, f), 4.0, higher_better=False)
o, t = est("open", "reference_with_context"), est("open", "tower_sessions")
row("open with the context vs tower-sessions create (tower time / ours)",
    f"reference {ns(o)} vs tower-sessions {ns(t)}" if o and t else "", ratio(t, o), 1.0)
for line in open(memory):
    m = re.match(r"memory/(\d+): reference \S+ \S+ ([\d.]+) B heap, ([\d.]+) B RSS per session; "
                 r"tower-sessions ([\d.]+) B heap, ([\d.]+) B RSS", line)
    if m:
        n, rh, rr, th, tr = m.groups()
        row(f"memory per session at {int(n):,}, heap (ours / tower)", f"{float(rh):,.0f} B vs {float(th):,.0f} B",
            float(rh) / float(th), 1.0, higher_better=False)
        row(f"memory per session at {int(n):,}, RSS (ours / tower)", f"{float(rr):,.0f} B vs {float(tr):,.0f} B",
            float(rr) / float(tr), 1.0, higher_better=False)
s, h = med.get("serve_closes_s"), med.get("hello_closes_s")
row("wlcs serve closes/s vs hyper hello-world, same load", f"{s:,.0f} vs {h:,.0f} closes/s (medians)" if s and h else "",
    ratio(s, h), 0.6)
for ours, peer, what in [("generate_and_check_fused_no_sleep", "pst_runner_replay_no_sleep", "end to end"),
                         ("model_plus_reference_no_sleep", "pst_test_sequential_no_sleep", "checking only")]:
    a, b = est("differential", ours), est("differential", peer)
    row(f"differential checking vs proptest-state-machine, {what} (pst time / ours)",
        f"`{ours}` {ns(a)} vs `{peer}` {ns(b)} per step" if a and b else "", ratio(b, a), 1.5)
sim = med.get("sim_steps_s")
row("wlcs sim --seed 1 --seeds 2000, 2 workers, checked steps/s (millions)", f"{sim:,.0f} steps/s (median)" if sim else "",
    sim / 1e6 if sim else None, 2.0, unit=" M")
w = med.get("run_wall_s")
row("default wlcs run --seed 1 (30 000 cases, every fixture), wall seconds", f"{w:.2f} s wall, {med.get('run_user_s', 0):.2f} s user (medians)" if w else "", w, 1.0,
    higher_better=False, unit=" s")
one, eight = med.get("http_worlds_1_s"), med.get("http_worlds_8_s")
row("1,000-case HTTP run, 8 worlds vs 1 (time of 1 / time of 8)",
    f"{one:.2f} s vs {eight:.2f} s (medians)" if one and eight else "", ratio(one, eight), 3.0)
same = runs.get("http_worlds_same_report", [])
rows.append(("... the same verdict and per-rule counts on 1 and 8 worlds", f"{int(sum(same))} of {len(same)} repetitions",
             "", "all", "met" if same and all(same) else "**missed**"))
c1, c2 = est("close_concurrent", "reference", "1"), est("close_concurrent", "reference", "2")
row("concurrent closes, 2 threads vs 1 (closes/s of 2 / of 1)",
    f"1 thread {ns(c1)}, 2 threads {ns(c2)} per close" if c1 and c2 else "", ratio(c1, c2), 1.0)

print("| target | figures (same run) | ratio | goal | |")
print("|---|---|---:|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
print("| whole-process figure | median | runs |")
print("|---|---:|---|")
for k, v in runs.items():
    print(f"| {k} | {med[k]:,.4g} | {', '.join(f'{x:,.4g}' for x in v)} |")
