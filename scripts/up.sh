#!/usr/bin/env bash
# `npm run up`: dependencies, the Temporal server binary, then scripts/up.ts (server, 3 hosts, agents).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
TEMPORAL_BIN="$(bash scripts/temporal-bin.sh)"
export TEMPORAL_BIN
exec node --import tsx scripts/up.ts "$@"
