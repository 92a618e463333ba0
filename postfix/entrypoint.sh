#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Container entrypoint: render the configuration, start the two watchers, run Postfix in the foreground
# (PID 1 semantics come from `postfix start-fg`; the master runs as root and its services as postfix).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$HERE/render.sh"
"$HERE/scripts/watch-relay-domains.sh" &
"$HERE/scripts/watch-certs.sh" &
# A stale pid file from a killed container would make start-fg refuse to start.
rm -f "${POSTFIX_QUEUE_DIR:-/var/spool/postfix}/pid/master.pid"
exec postfix -c "${POSTFIX_CONFIG_DIR:-/etc/postfix}" start-fg
