#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than package-lock.json, so that
# `npm run up` and `npm test` work on a fresh clone. Output goes to stderr: stdout stays the
# command's own (e.g. `npm run -s cluster -- nodes --json`).
# Two at once (`npm run cluster` in a second terminal while `npm run up` installs) must not both
# run `npm ci`: one would delete the tree the other is writing. So an install holds a lock
# (flock(1), else a mkdir lock) and looks at the stamp again once it has it; the usual case,
# dependencies in place, costs two stats and takes no lock.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.package-lock.json
installed() { [ -f "$stamp" ] && ! [ package-lock.json -nt "$stamp" ]; }
installed && exit 0

# Outside node_modules, which `npm ci` removes.
lock=.ensure-deps.lock
if command -v flock >/dev/null 2>&1; then
  exec 9>"$lock"
  if ! flock -n 9; then
    echo "ensure-deps: another install is running; waiting for it..." >&2
    flock 9
  fi
else
  # mkdir is atomic; the holder's pid inside lets a lock left by a killed install be taken over.
  announced=
  until mkdir "$lock.d" 2>/dev/null; do
    holder="$(cat "$lock.d/pid" 2>/dev/null || true)"
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
      rm -rf "$lock.d"
      continue
    fi
    if [ -z "$announced" ]; then
      echo "ensure-deps: another install is running; waiting for it..." >&2
      announced=1
    fi
    sleep 0.2
  done
  echo $$ >"$lock.d/pid"
  trap 'rm -rf "$lock.d"' EXIT
fi
installed && exit 0
echo "ensure-deps: installing npm dependencies (npm ci)..." >&2
npm ci --no-audit --no-fund >&2
