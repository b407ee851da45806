#!/usr/bin/env bash
# Regenerates the committed conformance report of the reference implementation. The run is the
# one tests/reports.rs `committed_reference_report_is_current` repeats (seed 1, 1000 cases,
# every fixture); only the timings differ from run to run.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run --quiet -- run --seed 1 --cases 1000 \
  --report-json reports/conformance/reference.json \
  --report-junit reports/conformance/reference.xml \
  --report-md reports/conformance/reference.md \
  --report-html reports/conformance/reference.html
