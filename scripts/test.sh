#!/usr/bin/env bash
# `npm test`: dependencies, the Temporal server binary, type check and lint, then the whole jest suite
# against one real dev server (test/global-setup.ts). Extra arguments go to jest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
TEMPORAL_BIN="$(bash scripts/temporal-bin.sh)"
export TEMPORAL_BIN
echo "test: Temporal server binary $TEMPORAL_BIN" >&2
# Side by side (each uses one core): the suite's time is bounded.
echo "test: type check and lint" >&2
npx tsc --noEmit -p tsconfig.json &
tsc_pid=$!
lint_rc=0
npx eslint src test bench scripts || lint_rc=$?
tsc_rc=0
wait "$tsc_pid" || tsc_rc=$?
if [ "$tsc_rc" -ne 0 ] || [ "$lint_rc" -ne 0 ]; then
  echo "test: type check exit $tsc_rc, lint exit $lint_rc" >&2
  exit 1
fi
# jest runs the files one at a time in a child worker that is replaced once its heap passes 200 MB
# (in one process every file slowed as the suite went). Not two at once: the suite keeps both cores
# busy already, and two lanes side by side (tried: 14 minutes instead of 17) failed checks that
# time real load, a CPU burner's weight and a query under a flood among them.
JEST=(npx jest --maxWorkers=1 --workerIdleMemoryLimit=200MB)
if [ "$#" -gt 0 ]; then
  echo "test: jest $*" >&2
  exec "${JEST[@]}" "$@"
fi
# The whole suite, then a summary (scripts/test-summary.ts) whose last lines name the slowest files
# and every failed test with the start of its message: CI keeps only the head and tail of the log.
out="$(mktemp -d "${TMPDIR:-/tmp}/cluster-agents-jest-XXXXXX")"
echo "test: jest (report in $out)" >&2
rc=0
"${JEST[@]}" --json --outputFile "$out/jest.json" || rc=$?
node --import tsx scripts/test-summary.ts "suite=$out/jest.json" || rc=1
exit "$rc"
