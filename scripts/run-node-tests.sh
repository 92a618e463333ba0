#!/usr/bin/env bash
# Runs every *.test.ts below the given folders with Node's built-in test runner, through tsx.
# Node 20's --test takes no globs, so the files are listed here.
set -euo pipefail
mapfile -t files < <(find "$@" -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "no test files under: $*" >&2
  exit 1
fi
# Tests that start a command (bin/) run its bundle: build it from the current sources first.
node "$(dirname "$0")/build.mjs" >/dev/null
exec node --import tsx --test --test-reporter=spec --test-concurrency="${TEST_CONCURRENCY:-2}" "${files[@]}"
