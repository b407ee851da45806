#!/usr/bin/env bash
# Where the time goes, for each of issue 14's figures: a perf profile (DWARF call graphs) per
# figure, summarised by perf_shares.py as inclusive and self shares under the timed function.
#
# Usage: reports/bench/profile.sh [OUT] [NAME...]
#   OUT   default reports/bench/run/profiles; one NAME.md per profile (perf.data is not kept)
#   NAME  any of: close_1000 close_1000000 open concurrent_2 differential sim run serve
#         http_worlds (the client and the server of a 1 000-case run on 8 worlds; two files)
#         (default: all). Each is bounded: about 5 to 20 s of recording.
# Needs perf (Debian's linux-perf) with access to the counters; servers bind 127.0.0.1:18290
# and :18291 and are stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${1:-$ROOT/reports/bench/run/profiles}
shift || true
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(close_1000 close_1000000 open concurrent_2 differential sim run serve http_worlds)
command -v perf >/dev/null || { echo "perf is not installed (apt-get install -y linux-perf)" >&2; exit 1; }
# shellcheck source=reports/bench/common.sh
. "$ROOT/reports/bench/common.sh"
mkdir -p "$OUT"
SHARES=$ROOT/reports/bench/perf_shares.py
NON_WEB='MemorySut as [a-z_:]*Sut>::non_web'
REQUEST='MemorySut as [a-z_:]*Sut>::request'

# profile NAME ROOT_REGEX TITLE -- COMMAND...: records COMMAND, writes OUT/NAME.md.
profile() {
  local name=$1 root=$2 title=$3
  shift 4
  echo "# profiling $name (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  perf record -q -o "$WORK/$name.data" -F 999 --call-graph dwarf,16384 -- "$@" >/dev/null 2>&1
  summarise "$name" "$root" "$title" "$*"
}
summarise() { # summarise NAME ROOT TITLE COMMAND
  {
    echo "# Profile: $3"
    echo
    echo "\`perf record -F 999 --call-graph dwarf,16384 -- $4\`, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), tree $(git rev-parse --short HEAD)"
    echo
    perf script -i "$WORK/$1.data" 2>/dev/null | python3 "$SHARES" "$2" 30
  } >"$OUT/$1.md"
  rm -f "$WORK/$1.data"
  echo "  -> $OUT/$1.md" >&2
}
crit() { echo --bench --warm-up-time 0.5 --measurement-time "$1" "$2"; }

for n in "${NAMES[@]}"; do
  case $n in
    close_1000)
      # shellcheck disable=SC2046
      profile "$n" "$NON_WEB" "reference close at 10^3 live sessions" -- "$CLOSE" $(crit 4 '^close/reference/1000$') ;;
    close_1000000)
      # shellcheck disable=SC2046
      profile "$n" "$NON_WEB" "reference close at 10^6 live sessions (limit lifted)" -- "$CLOSE" $(crit 4 '^close/reference_limit_lifted/1000000$') ;;
    open)
      # shellcheck disable=SC2046
      profile "$n" "$REQUEST" "reference open writing the realistic context" -- "$CLOSE" $(crit 4 '^open/reference_with_context$') ;;
    concurrent_2)
      # shellcheck disable=SC2046
      profile "$n" "$NON_WEB" "concurrent closes from 2 threads" -- "$CLOSE" $(crit 4 '^close_concurrent/reference/2$') ;;
    differential)
      # shellcheck disable=SC2046
      profile "$n" 'wlcs::check::Checker::run_generated' "differential checking, wlcs end to end (under Checker::run_generated)" -- "$DIFF" $(crit 4 '^differential/generate_and_check_fused_no_sleep$') ;;
    sim)
      profile "$n" 'wlcs::sim::Sim::worker' "wlcs sim, 2 workers (under Sim::worker)" -- "$REL/wlcs" sim --seed 1 --seeds 5000 ;;
    run)
      profile "$n" 'wlcs::runner::' "the default wlcs run (under the outermost wlcs::runner frame: cases and fixtures, both workers)" -- "$REL/wlcs" run --seed 1 ;;
    serve)
      "$REL/wlcs" serve --addr 127.0.0.1:18290 2>/dev/null &
      PIDS+=($!)
      sleep 1
      "$REL/examples/bench_cli" --target http://127.0.0.1:18290 --duration 8 --connections 4 \
        --sessions 2000 >/dev/null &
      PIDS+=($!)
      sleep 2
      echo "# profiling $n (load $(cut -d' ' -f1 /proc/loadavg))" >&2
      perf record -q -o "$WORK/$n.data" -F 999 --call-graph dwarf,16384 -p "${PIDS[-2]}" -- sleep 4 >/dev/null 2>&1
      wait "${PIDS[-1]}" || true
      summarise "$n" 'wlcs_http::server::serve_connection' "wlcs serve under the wlcs bench load (server, under serve_connection)" "-p <wlcs serve> -- sleep 4, while bench_cli --duration 8 --connections 4 --sessions 2000 runs"
      kill "${PIDS[-2]}" 2>/dev/null || true ;;
    http_worlds)
      "$REL/wlcs" serve --addr 127.0.0.1:18291 2>/dev/null &
      PIDS+=($!)
      sleep 1
      perf record -q -o "$WORK/${n}_server.data" -F 999 --call-graph dwarf,16384 -p "${PIDS[-1]}" >/dev/null 2>&1 &
      rec=$!
      sleep 0.5
      profile "${n}_client" '.' "a 1 000-case wlcs run --target http:// on 8 worlds: the client (whole process)" -- \
        "$REL/wlcs" run --target http://127.0.0.1:18291 --seed 5 --cases 1000
      kill -INT "$rec"
      wait "$rec" || true
      summarise "${n}_server" 'wlcs_http::server::serve_connection' "the same run: wlcs serve, 8 worlds (server, under serve_connection)" "-p <wlcs serve> during the client's run"
      kill "${PIDS[-1]}" 2>/dev/null || true ;;
    *) echo "unknown profile $n" >&2; exit 2 ;;
  esac
done
