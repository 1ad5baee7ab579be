#!/usr/bin/env bash
# Prints the path of a `temporal` CLI binary (the dev server), building it from the Go module proxy
# when none is found. Search order: $TEMPORAL_BIN, PATH, $(go env GOPATH)/bin.
# v1.5.1 is pinned: later tags carry a `replace` directive that breaks `go install`.
set -euo pipefail
TEMPORAL_CLI_VERSION=v1.5.1

if [ -n "${TEMPORAL_BIN:-}" ] && [ -x "$TEMPORAL_BIN" ]; then echo "$TEMPORAL_BIN"; exit 0; fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if ! command -v go >/dev/null 2>&1; then
  echo "temporal-bin: no 'temporal' on PATH and no Go toolchain to build it; install Go or the Temporal CLI" >&2
  exit 1
fi
gobin="$(go env GOPATH)/bin/temporal"
if [ -x "$gobin" ]; then echo "$gobin"; exit 0; fi
echo "temporal-bin: building the Temporal CLI $TEMPORAL_CLI_VERSION with 'go install' (first time only, takes a few minutes)..." >&2
if CGO_ENABLED=0 go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" >&2; then
  echo "temporal-bin: built $gobin" >&2
  echo "$gobin"
  exit 0
fi
echo "temporal-bin: 'go install' of the Temporal CLI failed (is the Go module proxy reachable?)" >&2
exit 1
