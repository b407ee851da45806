#!/usr/bin/env bash
# The over-HTTP figures of reports/bench/README.md, in one run: load generators against the
# hello-world server, `wlcs bench` against `wlcs serve` and the hello-world server, and wrk
# against `wlcs serve`. The machine is shared and noisy, so every compared pair runs
# interleaved, REPS times, and the summary gives medians and ratios of medians.
# Needs wrk (apt-get install -y wrk) and python3. Servers bind 127.0.0.1:18080 and :18090 and
# are stopped on exit. Usage: reports/bench/run_http.sh [SECONDS] [CONNECTIONS] [REPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-3}
CONN=${2:-4}
REPS=${3:-3}
T=${CARGO_TARGET_DIR:-target}/release
cargo build --release --quiet --bin wlcs --example hello_server --example bench_cli \
  --example loadgen_compare
SERVE_URL=http://127.0.0.1:18080
HELLO_URL=http://127.0.0.1:18090
"$T/wlcs" serve --addr 127.0.0.1:18080 2>/dev/null &
SERVE=$!
"$T/examples/hello_server" 127.0.0.1:18090 2>/dev/null &
HELLO=$!
trap 'kill $SERVE $HELLO 2>/dev/null || true' EXIT
sleep 1
WORLD='{"app_name":"wlcs","timeout_profile":"timeout-keeps-id","cookie_name_profile":"cookie-4DSID_AppName"}'
OUT=$(mktemp)

# result NAME VALUE: one figure of one repetition.
result() { echo "RESULT $1 $2" | tee -a "$OUT"; }
bench() { # bench NAME URL THREADS SESSIONS closes|requests
  local v
  v=$("$T/examples/bench_cli" --target "$2" --duration "$DUR" --connections "$CONN" \
    --threads "$3" --sessions "$4" |
    awk -v k="$5" '(k == "closes" && $1 == "closes/s:") {print $2}
                   (k == "requests" && $1 == "requests/s") {print $3}')
  result "$1" "$v"
}
wrk_rps() { # wrk_rps NAME THREADS SCRIPT URL
  local v
  v=$(wrk -t"$2" -c"$CONN" -d"${DUR}s" -s "$3" "$4" | awk '/Requests\/sec/ {print $2}')
  result "$1" "$v"
}

echo "# $(nproc) cores, load at start: $(cut -d' ' -f1-3 /proc/loadavg); ${DUR}s per run, ${CONN} connections, ${REPS} repetitions"
for rep in $(seq 1 "$REPS"); do
  echo "## repetition $rep (load $(cut -d' ' -f1 /proc/loadavg))"
  # 1. Load generators, the same close requests, against hello_server.
  result gen_threads_raw "$("$T/examples/loadgen_compare" 127.0.0.1:18090 raw "$CONN" "$DUR" | awk '{print $(NF-3)}')"
  result gen_hyper_1thread "$("$T/examples/loadgen_compare" 127.0.0.1:18090 hyper "$CONN" "$DUR" 1 | awk '{print $(NF-3)}')"
  result gen_hyper_2threads "$("$T/examples/loadgen_compare" 127.0.0.1:18090 hyper "$CONN" "$DUR" 2 | awk '{print $(NF-3)}')"
  wrk_rps gen_wrk_1thread 1 reports/bench/wrk_close.lua "$HELLO_URL"
  wrk_rps gen_wrk_2threads 2 reports/bench/wrk_close.lua "$HELLO_URL"
  bench gen_wlcs_bench_1thread "$HELLO_URL" 1 20000 closes
  bench gen_wlcs_bench_2threads "$HELLO_URL" 2 20000 closes
  # 2. wlcs bench, same load: wlcs serve against hello_server.
  bench serve_closes "$SERVE_URL" 2 2000 closes
  bench hello_closes "$HELLO_URL" 2 2000 closes
  # 3. Open then close on wlcs serve: wrk against wlcs bench (all requests per second).
  curl -sf -XPOST "$SERVE_URL/wlcs/v1/reset" -d "$WORLD" >/dev/null
  wrk_rps serve_mix_wrk_1thread 1 reports/bench/wrk_open_close.lua "$SERVE_URL"
  curl -sf -XPOST "$SERVE_URL/wlcs/v1/hook-runs/take" -o /dev/null
  bench serve_mix_wlcs_bench "$SERVE_URL" 2 2000 requests
done

python3 - "$OUT" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    _, name, value = line.split()
    runs.setdefault(name, []).append(float(value))
med = {k: statistics.median(v) for k, v in runs.items()}
print("\n| figure | median | runs |\n|---|---:|---|")
for k, v in runs.items():
    print(f"| {k} | {med[k]:,.0f} | {', '.join(f'{x:,.0f}' for x in v)} |")
def ratio(a, b):
    print(f"| {a} / {b} | {med[a] / med[b]:.2f} |")
print("\n| ratio of medians | value |\n|---|---:|")
ratio("gen_wlcs_bench_2threads", "gen_wrk_1thread")
ratio("gen_wlcs_bench_2threads", "gen_wrk_2threads")
ratio("gen_wlcs_bench_2threads", "gen_hyper_2threads")
ratio("gen_wlcs_bench_2threads", "gen_threads_raw")
ratio("serve_closes", "hello_closes")
ratio("serve_mix_wlcs_bench", "serve_mix_wrk_1thread")
EOF
rm -f "$OUT"
