#!/usr/bin/env python3
"""Where the time goes under one function: inclusive shares from `perf script` call stacks.

Reads the text of `perf script` (from `perf record --call-graph dwarf`) on stdin, keeps the
samples whose stack holds a frame matching ROOT (a regular expression on the demangled
symbol; the outermost such frame counts, so '.' means the whole process), and prints, for the functions called below that frame, the share of those samples
in which each appears (inclusive: a function counts once per sample, wherever it is in the
stack below ROOT), then the self (leaf) shares. Standard library only.

    perf script -i perf.data | python3 reports/bench/perf_shares.py 'MemorySut.*non_web' [TOP]
"""

import re
import sys
from collections import Counter

FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.+?)\s+\(([^)]*)\)\s*$")
HASH = re.compile(r"::h[0-9a-f]{16}$")


def name(symbol):
    symbol = HASH.sub("", symbol.split("+0x")[0])
    return symbol[:140]


def samples(lines):
    stack = []
    for line in lines:
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        m = FRAME.match(line)
        if m:
            stack.append(name(m.group(1)))
    if stack:
        yield stack


def main():
    if len(sys.argv) < 2:
        raise SystemExit("usage: perf script | perf_shares.py ROOT_REGEX [TOP]")
    root = re.compile(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    inclusive, leaf = Counter(), Counter()
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


if __name__ == "__main__":
    main()
