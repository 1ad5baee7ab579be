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
# Each jest runs its files one at a time in a child worker that is replaced once its heap passes
# 200 MB: in one process every file slowed as the suite went.
JEST=(npx jest --maxWorkers=1 --workerIdleMemoryLimit=200MB)
if [ "$#" -gt 0 ]; then
  echo "test: jest $*" >&2
  exec "${JEST[@]}" "$@"
fi
# The whole suite in two lanes side by side, each with its own dev server (test/global-setup.ts):
# lane 1 five long end-to-end files, lane 2 the rest, the fault suite last (the sequencer), when
# lane 1 has ended. One after the other they took 17 minutes; side by side about 13. Each lane's
# log is printed whole once it ends, then a summary of both (scripts/test-summary.ts) whose last
# lines name every failed test and why.
LANE1='test/e2e/(orchestrator|health|procedure-faults|partition|load-balancer)\.test\.ts$'
out="$(mktemp -d "${TMPDIR:-/tmp}/cluster-agents-jest-XXXXXX")"
echo "test: jest in two lanes (logs in $out)" >&2
"${JEST[@]}" --json --outputFile "$out/lane1.json" "$LANE1" >"$out/lane1.log" 2>&1 &
lane1=$!
"${JEST[@]}" --json --outputFile "$out/lane2.json" --testPathIgnorePatterns='/node_modules/' --testPathIgnorePatterns="$LANE1" >"$out/lane2.log" 2>&1 &
lane2=$!
rc2=0
wait "$lane2" || rc2=$?
echo "test: lane 2 (exit $rc2)" >&2
cat "$out/lane2.log"
rc1=0
wait "$lane1" || rc1=$?
echo "test: lane 1 (exit $rc1)" >&2
cat "$out/lane1.log"
node --import tsx scripts/test-summary.ts "lane1=$out/lane1.json" "lane2=$out/lane2.json" || rc2=1
[ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]
