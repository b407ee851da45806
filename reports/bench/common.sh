# Sourced by measure.sh and profile.sh: the release directory, a scratch directory removed on
# exit with every server started into PIDS, and the release build of the binaries and the
# two criterion benches (CLOSE, DIFF: their executables).
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
REL=$TARGET/release
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
# Criterion's output of this run only, so tables and plots are this run's.
export CRITERION_HOME=$WORK/criterion
echo "# building (release binaries and the close and differential benches)" >&2
cargo build --release --quiet --bin wlcs --example hello_server --example bench_cli
bench_exe() {
  realpath "$(cargo bench --no-run --bench "$1" 2>&1 | sed -n 's/.*Executable.*(\(.*\))$/\1/p' | tail -1)"
}
CLOSE=$(bench_exe close)
DIFF=$(bench_exe differential)
[ -x "$CLOSE" ] && [ -x "$DIFF" ] || { echo "bench executables not found" >&2; exit 1; }
