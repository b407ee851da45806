#!/usr/bin/env python3
"""Where the time goes under one function: inclusive shares from `perf script` call stacks.

Reads the text of `perf script` (from `perf record --call-graph dwarf`) on stdin, keeps the
samples whose stack holds a frame matching ROOT (a regular expression on the demangled
symbol; the outermost such frame counts, so '.' means the whole process), and prints, for the functions called below that frame, the share of those samples
in which each appears (inclusive: a function counts once per sample, wherever it is in the
stack below ROOT), then the self (leaf) shares, by function and by module. Inlined frames count as the function they were
inlined into. Standard library only.

    perf script -i perf.data | python3 reports/bench/perf_shares.py 'MemorySut.*non_web' [TOP]
"""

import re
import sys
from collections import Counter

FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.+?)\s+\(([^)]*)\)\s*$")
HASH = re.compile(r"::h[0-9a-f]{16}$")


def strip_generics(text):
    """`call_once<core::result::Result<..>>` -> `call_once`: generic arguments dropped."""
    out, depth = [], 0
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def name(symbol):
    """A frame's function, readable: offset and hash dropped, generic arguments dropped except
    in a leading `<Type as Trait>` (kept, with its own arguments dropped)."""
    symbol = HASH.sub("", symbol.split("+0x")[0])
    if symbol.startswith("<"):
        depth = 0
        for i, ch in enumerate(symbol):
            depth += (ch == "<") - (ch == ">")
            if depth == 0:
                head = symbol[1:i]
                return "<" + " as ".join(strip_generics(p) for p in head.split(" as ", 1)) + ">" + strip_generics(symbol[i + 1:]).replace("::::", "::")
    return strip_generics(symbol).replace("::::", "::")[:160]


def module(function):
    """A function's path without its name, at most 3 segments (`wlcs_sut::memory::close`),
    for the by-module table; a symbol without a path (libc, the kernel) is `(libc, kernel)`."""
    path = function
    if path.startswith("<"):
        path = path[1:].split(" as ", 1)[0].rstrip(">")
    parts = path.split("::")
    if len(parts) < 2:
        return "(libc, kernel)"
    return "::".join(parts[:-1][:3])


def samples(lines):
    stack = []
    for line in lines:
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        m = FRAME.match(line)
        # Inlined frames (perf's "(inlined)") are folded into the function they were inlined
        # into, as `perf report --no-inline` does: their short names are ambiguous.
        if m and m.group(2) != "inlined":
            stack.append(name(m.group(1)))
    if stack:
        yield stack


def main():
    if len(sys.argv) < 2:
        raise SystemExit("usage: perf script | perf_shares.py ROOT_REGEX [TOP]")
    root = re.compile(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    inclusive, leaf, modules = Counter(), Counter(), Counter()
    total = under = 0
    for stack in samples(sys.stdin):  # leaf first, as perf script prints
        total += 1
        # The outermost matching frame: a recursive ROOT (a close inside a hook) counts once,
        # and ROOT '.' takes the whole stack below its first frame.
        at = next((i for i in range(len(stack) - 1, -1, -1) if root.search(stack[i])), None)
        if at is None:
            continue
        under += 1
        leaf[stack[0]] += 1
        modules[module(stack[0])] += 1
        for f in set(stack[:at]):
            inclusive[f] += 1
    if not under:
        raise SystemExit(f"no sample of {total} has a frame matching {sys.argv[1]!r}")
    print(f"{under} of {total} samples under {sys.argv[1]!r} ({under / total:.0%})\n")
    print("| inclusive share | function |\n|---:|---|")
    for f, n in inclusive.most_common(top):
        print(f"| {n / under:.1%} | `{f}` |")
    print("\n| self share | function |\n|---:|---|")
    for f, n in leaf.most_common(top):
        print(f"| {n / under:.1%} | `{f}` |")
    print("\n| self share | module |\n|---:|---|")
    for f, n in modules.most_common(top):
        print(f"| {n / under:.1%} | `{f}` |")


if __name__ == "__main__":
    main()
