#!/usr/bin/env bash
# Every headline speed and memory figure of reports/bench/README.md, in one run, with each of
# issue 14's targets marked met or missed by its same-run ratio.
#
# Usage: reports/bench/measure.sh [REPS] [OUT]
#   REPS  repetitions of the whole-process figures (run, sim, serve, HTTP worlds), default 3;
#         their medians are compared. The criterion figures run once each (criterion's own
#         sampling, 3 s of measurement, gives the 95% interval).
#   OUT   where the outputs go, default reports/bench/run (replaced):
#         raw.txt          one line per measurement: `NAME VALUE`
#         criterion.md     every criterion estimate, with its 95% interval (plot.py's table)
#         memory.txt       the memory group's output (bytes per live session)
#         criterion/       criterion's estimates of this run (estimates.json, benchmark.json)
#         summary.md       the targets table: figure, ratio, target, met or missed (summary.py)
#         close_vs_sessions.svg  plot.py: time per close against live sessions, and memory
#                          per live session
#
# What runs, on the release build of the current tree (uncommitted changes included):
#   criterion `close/*` (10^3 .. 10^6 live sessions), `close_concurrent/*`, `open/*`, the
#   `memory` group (10^5 and 10^6 sessions, counting allocator and VmRSS), and the differential
#   group's no-sleep pairs (wlcs end to end and checker-only, each beside proptest-state-machine);
#   then REPS times, interleaved: `wlcs run --seed 1` (wall and user time), `wlcs sim --seed 1
#   --seeds 2000`, `wlcs serve` vs the hyper hello-world under the same `wlcs bench` load, and a
#   1 000-case `wlcs run --target http://` against `wlcs serve --worlds 1` and `wlcs serve`
#   (8 worlds), whose two JSON reports must agree on the verdict and every rule's counts.
# Bounded: about 7 minutes on 2 cores after the build (the 10^6 populations take most of the
# criterion part). Servers bind 127.0.0.1:18280-18283 and are stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
REPS=${1:-3}
OUT=${2:-$ROOT/reports/bench/run}
# shellcheck source=reports/bench/common.sh
. "$ROOT/reports/bench/common.sh"
mkdir -p "$OUT"
rm -rf "$OUT"/raw.txt "$OUT"/criterion.md "$OUT"/criterion "$OUT"/memory.txt "$OUT"/summary.md "$OUT"/*.svg
RAW=$OUT/raw.txt
: >"$RAW"

# The machine, as the report's header.
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "tree: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!reports/bench/run' || echo ' + uncommitted changes')"
  echo "cores: $(nproc); cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
  echo "toolchain: $(rustc --version)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# result NAME VALUE: an empty VALUE (a run that printed no figure) is recorded as "missing",
# which summary.py reports as not measured.
result() { local v=${2:-missing}; echo "$1 $v" >>"$RAW"; printf '%-28s %s\n' "$1" "$v" >&2; }
# must NAME COMMAND...: runs a measured command that has to pass on the reference (a failing
# run's time or rate measures nothing): stops the script with its exit code otherwise. Its
# stdout and stderr are kept in $WORK/NAME.out.
must() {
  local name=$1 rc=0
  shift
  "$@" >"$WORK/$name.out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "error: $name ($*) exited $rc; the end of its output:" >&2
    tail -20 "$WORK/$name.out" >&2
    exit 1
  fi
}

# 1. Criterion (into $CRITERION_HOME, this run's only).
crit() { # crit EXE FILTER
  echo "# criterion $2 (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  "$1" --bench --warm-up-time 1 --measurement-time 3 "$2" >>"$WORK/criterion.log" 2>&1
}
crit "$CLOSE" '^close/'
crit "$CLOSE" '^close_concurrent/'
crit "$CLOSE" '^open/'
echo "# criterion memory (load $(cut -d' ' -f1 /proc/loadavg))" >&2
"$CLOSE" --bench memory 2>/dev/null | grep '^memory/' | tee "$OUT/memory.txt" >&2
crit "$DIFF" '^differential/(generate_and_check_fused_no_sleep|pst_runner_replay_no_sleep|model_plus_reference_no_sleep|pst_test_sequential_no_sleep)$'
python3 reports/bench/plot.py "$CRITERION_HOME" --memory "$OUT/memory.txt" --out "$OUT" >"$OUT/criterion.md"

# 2. Whole processes, REPS times, interleaved.
serve() { # serve PORT [ARGS...]: starts wlcs serve, waits until it answers
  "$REL/wlcs" serve --addr "127.0.0.1:$1" "${@:2}" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$1/wlcs/v1/capabilities" && return 0
    sleep 0.1
  done
  echo "wlcs serve on port $1 did not answer" >&2
  exit 1
}
"$REL/examples/hello_server" 127.0.0.1:18281 2>/dev/null &
PIDS+=($!)
serve 18280
serve 18282 --worlds 1
serve 18283
closes() { # closes URL: closes/s under the bench load, 3 s
  "$REL/examples/bench_cli" --target "$1" --duration 3 --connections 4 --sessions 2000 |
    awk '$1 == "closes/s:" {print $2}'
}
seconds() { python3 -c "print(f'{($2 - $1) / 1e9:.3f}')"; }
for rep in $(seq 1 "$REPS"); do
  echo "## repetition $rep (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  must run /usr/bin/time -f '%e %U' -o "$WORK/time" "$REL/wlcs" run --seed 1
  read -r wall user <"$WORK/time"
  result run_wall_s "$wall"
  result run_user_s "$user"
  must sim "$REL/wlcs" sim --seed 1 --seeds 2000
  result sim_steps_s "$(sed -n 's/.*: \([0-9]*\) steps\/s.*/\1/p' "$WORK/sim.out" | head -1)"
  result serve_closes_s "$(closes http://127.0.0.1:18280)"
  result hello_closes_s "$(closes http://127.0.0.1:18281)"
  for w in 1 8; do
    port=$([ "$w" = 1 ] && echo 18282 || echo 18283)
    t0=$(date +%s%N)
    must "http_$w" "$REL/wlcs" run --target "http://127.0.0.1:$port" --seed 5 --cases 1000 \
      --report-json "$WORK/http_$w.json"
    t1=$(date +%s%N)
    result "http_worlds_${w}_s" "$(seconds "$t0" "$t1")"
  done
  python3 - "$WORK/http_1.json" "$WORK/http_8.json" >>"$RAW" <<'EOF'
import json, sys
def key(path):
    r = json.load(open(path))
    rows = [(x["id"], x["status"], x["checks"], x["fired"], x["divergences"]) for x in r["rules"]]
    return r["verdict"], rows, r["cases"], r["steps"]
same = key(sys.argv[1]) == key(sys.argv[2])
print(f"http_worlds_same_report {int(same)}")
EOF
  tail -1 "$RAW" >&2
done

# 3. The targets, from raw.txt and criterion's estimates (kept: estimates.json and
#    benchmark.json of every benchmark, so summary.py and plot.py can be run again on them).
(cd "$CRITERION_HOME" && find . -path '*/new/*.json' \( -name estimates.json -o -name benchmark.json \) |
  while read -r f; do mkdir -p "$OUT/criterion/$(dirname "$f")"; cp "$f" "$OUT/criterion/$f"; done)
python3 reports/bench/summary.py "$RAW" "$OUT/criterion" "$OUT/memory.txt" >"$OUT/summary.md"
cat "$OUT/summary.md"
