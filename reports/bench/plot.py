#!/usr/bin/env python3
"""Plot close time and memory against live sessions, and print every criterion estimate.

Reads ``CRITERION_DIR/<group>/<function>/<parameter>/new/estimates.json`` (criterion's own
output of ``cargo bench``), writes ``close_vs_sessions.svg`` (log-log: live sessions on x,
time per close on y, one line per implementation; below it, when ``--memory`` names the
output of ``cargo bench --bench close -- memory``, bytes per live session, heap and resident,
the reference beside tower-sessions) and prints a Markdown table of every benchmark found
(mean and 95% interval, per element), so the report's figures come from the same files as
the plot.

    python3 reports/bench/plot.py [CRITERION_DIR] [--memory FILE] [--out DIR]
        CRITERION_DIR  default: $CARGO_TARGET_DIR/criterion or target/criterion
        --out DIR      where the SVG goes, default reports/bench/run

Standard library only.
"""

import json
import math
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERIES = [
    # (criterion function in group "close", legend, colour, dash)
    ("reference", "reference (MemorySut, its limit: 32 000 live)", "#d62728", ""),
    ("reference_limit_lifted", "reference, limit lifted (same close path)", "#ff7f0e", "6,3"),
    ("tower_sessions", "peer: tower-sessions MemoryStore::delete", "#1f77b4", ""),
    ("roofline", "roofline: HashMap remove + drop", "#2ca02c", ""),
]


def arguments():
    """(criterion directory, memory file or None, output directory) from the command line."""
    crit, memory, out = None, None, HERE / "run"
    args = iter(sys.argv[1:])
    for a in args:
        if a in ("--memory", "--out"):
            value = next(args, None)
            if value is None:
                raise SystemExit(f"{a} needs a value")
            if a == "--memory":
                memory = Path(value)
            else:
                out = Path(value)
        elif crit is None:
            crit = Path(a)
        else:
            raise SystemExit(f"unexpected argument {a!r}; usage: plot.py [CRITERION_DIR] [--memory FILE] [--out DIR]")
    if crit is None:
        crit = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    return crit, memory, out


MEMORY_LINE = re.compile(
    r"memory/(\d+): reference \(limit lifted\) ([\d.]+) B heap, ([\d.]+) B RSS per session; "
    r"tower-sessions ([\d.]+) B heap, ([\d.]+) B RSS per session"
)


def memory_figures(path):
    """[(live sessions, {(who, kind): bytes per session})] from the memory group's output."""
    found = []
    for line in path.read_text().splitlines():
        m = MEMORY_LINE.match(line)
        if m:
            n, rh, rr, th, tr = m.groups()
            found.append((int(n), {("reference", "heap"): float(rh), ("reference", "RSS"): float(rr),
                                   ("tower", "heap"): float(th), ("tower", "RSS"): float(tr)}))
    if not found:
        raise SystemExit(f"{path}: no memory/N lines (the output of `cargo bench --bench close -- memory`)")
    return found


def memory_panel(figures, top, width):
    """SVG elements of a grouped bar chart of bytes per live session, and the panel's height."""
    left, ph = 80, 200
    pw = width - left - 20
    bars = [("reference", "heap", "#d62728"), ("reference", "RSS", "#f4a3a3"),
            ("tower", "heap", "#1f77b4"), ("tower", "RSS", "#9ecae1")]
    y_max = max(v for _, f in figures for v in f.values())
    step = 500 if y_max > 1500 else 250
    y_hi = math.ceil(y_max / step) * step
    out = [
        f'<text x="{width / 2}" y="{top - 12}" text-anchor="middle" font-size="15">'
        "Memory per live session, realistic context (counting allocator and VmRSS growth)</text>",
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>',
    ]
    for v in range(0, y_hi + 1, step):
        y = top + ph - v / y_hi * ph
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:,} B</text>')
    group_w = pw / len(figures)
    bar_w = group_w / (len(bars) + 2)
    for g, (n, f) in enumerate(figures):
        x0 = left + g * group_w + bar_w
        for i, (who, kind, colour) in enumerate(bars):
            v = f[(who, kind)]
            h = v / y_hi * ph
            x = x0 + i * bar_w
            out.append(
                f'<rect x="{x:.1f}" y="{top + ph - h:.1f}" width="{bar_w * 0.9:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{who} {kind} at {n}: {v:,.0f} B</title></rect>'
            )
            out.append(
                f'<text x="{x + bar_w * 0.45:.1f}" y="{top + ph - h - 4:.1f}" text-anchor="middle" '
                f'font-size="10">{v:,.0f}</text>'
            )
        out.append(
            f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{top + ph + 18}" '
            f'text-anchor="middle">{n:,} live sessions</text>'
        )
    for i, (who, kind, colour) in enumerate(bars):
        # Two legend entries per row, so long labels never overlap.
        lx = left + (i % 2) * (pw / 2)
        ly = top + ph + 32 + (i // 2) * 18
        label = ("reference (limit lifted)" if who == "reference" else "tower-sessions") + f", {kind}"
        out.append(f'<rect x="{lx:.1f}" y="{ly}" width="14" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 20:.1f}" y="{ly + 9}">{label}</text>')
    return out, ph + 78


def estimates(root):
    """{(group, function, parameter or ''): (mean_ns, lo_ns, hi_ns)} per element, for every
    benchmark (criterion's estimates are per iteration; its benchmark.json gives the elements
    an iteration processes)."""
    found = {}
    for path in sorted(root.glob("**/new/estimates.json")):
        rel = path.relative_to(root).parts[:-2]
        if len(rel) == 2:
            key = (rel[0], rel[1], "")
        elif len(rel) == 3:
            key = rel
        else:
            continue
        with open(path) as f:
            e = json.load(f)["mean"]
        ci = e["confidence_interval"]
        elements = 1
        meta = path.parent / "benchmark.json"
        if meta.exists():
            with open(meta) as f:
                throughput = json.load(f).get("throughput") or {}
            elements = throughput.get("Elements", 1) or 1
        found[key] = tuple(v / elements for v in (e["point_estimate"], ci["lower_bound"], ci["upper_bound"]))
    return found


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def svg(found, memory=None):
    width, height = 760, 460
    left, right, top, bottom = 80, 20, 40, 150
    pw, ph = width - left - right, height - top - bottom
    points = {
        name: sorted(
            (int(p), v[0]) for (g, f, p), v in found.items() if g == "close" and f == name
        )
        for name, *_ in SERIES
    }
    values = [v for pts in points.values() for _, v in pts]
    if not values:
        raise SystemExit("no close/* estimates found under the criterion directory")
    x_lo, x_hi = 2.8, 6.2  # log10 of live sessions
    y_lo = math.floor(math.log10(min(values)))
    y_hi = math.ceil(math.log10(max(values)))

    def sx(n):
        return left + (math.log10(n) - x_lo) / (x_hi - x_lo) * pw

    def sy(ns):
        return top + (1 - (math.log10(ns) - y_lo) / (y_hi - y_lo)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">'
        "Time per close against live sessions (criterion means, one run)</text>",
    ]
    for e in range(3, 7):
        x = sx(10**e)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#ddd"/>')
        out.append(
            f'<text x="{x:.1f}" y="{top + ph + 18}" text-anchor="middle">10<tspan dy="-6" '
            f'font-size="9">{e}</tspan></text>'
        )
    for e in range(y_lo, y_hi + 1):
        y = sy(10**e)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt_ns(10**e)}</text>')
    out.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>'
    )
    out.append(
        f'<text x="{left + pw / 2}" y="{top + ph + 38}" text-anchor="middle">'
        "live sessions (log scale)</text>"
    )
    out.append(
        f'<text x="18" y="{top + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {top + ph / 2})">time per close (log scale)</text>'
    )
    for i, (name, label, colour, dash) in enumerate(SERIES):
        pts = points[name]
        if pts:
            path = " ".join(
                f"{'M' if j == 0 else 'L'}{sx(n):.1f},{sy(v):.1f}" for j, (n, v) in enumerate(pts)
            )
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(
                f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>'
            )
            for n, v in pts:
                out.append(
                    f'<circle cx="{sx(n):.1f}" cy="{sy(v):.1f}" r="3.5" fill="{colour}">'
                    f"<title>{name} at {n}: {fmt_ns(v)}</title></circle>"
                )
        ly = top + ph + 60 + i * 20
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{left}" y1="{ly}" x2="{left + 30}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}/>'
        )
        out.append(f'<text x="{left + 38}" y="{ly + 4}">{label}</text>')
    if memory:
        panel, panel_h = memory_panel(memory, height + 40, width)
        out[0] = out[0].replace(f'height="{height}"', f'height="{height + 40 + panel_h}"')
        out[1] = out[1].replace(f'height="{height}"', f'height="{height + 40 + panel_h}"')
        out.extend(panel)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    crit, memory, out = arguments()
    found = estimates(crit)
    out.mkdir(parents=True, exist_ok=True)
    (out / "close_vs_sessions.svg").write_text(svg(found, memory_figures(memory) if memory else None))
    print("| group | benchmark | parameter | mean per element | 95% interval | elements/s |")
    print("|---|---|---|---:|---|---:|")
    for (g, f, p), (mean, lo, hi) in sorted(found.items()):
        rate = 1e9 / mean if mean > 0 else 0
        print(
            f"| {g} | {f} | {p} | {fmt_ns(mean)} | {fmt_ns(lo)} .. {fmt_ns(hi)} | {rate:,.0f} |"
        )


if __name__ == "__main__":
    main()
