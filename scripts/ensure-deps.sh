#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than package-lock.json, so that
# `npm run up` and `npm test` work on a fresh clone. Output goes to stderr: stdout stays the
# command's own (e.g. `npm run -s cluster -- nodes --json`).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "ensure-deps: installing npm dependencies (npm ci)..." >&2
  npm ci --no-audit --no-fund >&2
fi
