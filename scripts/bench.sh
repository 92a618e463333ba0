#!/usr/bin/env bash
# `make bench`: throughput and memory benchmarks (bench/), written to BENCHMARKS.md and bench/results.svg.
# BENCH_SMOKE=1 (`make bench-smoke`): one small configuration of each kind, into a temporary directory
# that is removed afterwards; fails if the harness is broken or a message is lost.
set -euo pipefail
cd "$(dirname "$0")/.."

# smtp-source/smtp-sink live in /usr/sbin; Debian's python3 has python3-aiosmtpd.
export PATH="$PATH:/usr/sbin:/sbin"
command -v smtp-source >/dev/null || { echo "bench: smtp-source not found (apt-get install postfix)" >&2; exit 1; }
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || { echo "bench: /usr/bin/python3 lacks aiosmtpd (apt-get install python3-aiosmtpd)" >&2; exit 1; }
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "bench: RabbitMQ is not listening on 127.0.0.1:5672 (make deps starts it)" >&2
  exit 1
fi

node scripts/build.mjs >/dev/null # the collector and the broker run from their bundles

if [ "${BENCH_SMOKE:-0}" = 1 ]; then
  out=$(mktemp -d -t bench-smoke.XXXXXX)
  trap 'rm -rf "$out"' EXIT
  node --import tsx bench/run.ts --smoke --out "$out"
  exit 0
fi

npx --no-install tsc -p bench
out=bench/results
status=0
node --import tsx bench/run.ts --out "$out" || status=$?
# A run with a failed measure is still reported (the failure is listed in BENCHMARKS.md), then fails.
if [ -f "$out/BENCHMARKS.md" ]; then
  cp "$out/BENCHMARKS.md" BENCHMARKS.md
  cp "$out/results.svg" bench/results.svg
  echo "bench: wrote BENCHMARKS.md and bench/results.svg"
fi
exit "$status"
