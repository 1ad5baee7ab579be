#!/usr/bin/env bash
# `npm test`: dependencies, the Temporal server binary, type check, lint, then the whole jest suite
# against one real dev server (test/global-setup.ts). Extra arguments go to jest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
TEMPORAL_BIN="$(bash scripts/temporal-bin.sh)"
export TEMPORAL_BIN
echo "test: Temporal server binary $TEMPORAL_BIN" >&2
echo "test: type check" >&2
npx tsc --noEmit -p tsconfig.json
echo "test: lint" >&2
npx eslint src test bench scripts
echo "test: jest" >&2
exec npx jest --runInBand "$@"
