#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Container entrypoint (PID 1): render the configuration, start the two watchers, run Postfix in the
# foreground (`postfix start-fg`: the master runs as root, its services as the postfix user). On
# SIGTERM (docker stop) Postfix is stopped cleanly and the watchers with it; if the master dies, the
# container exits with its status, so the restart policy applies.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$HERE/render.sh"
conf=${POSTFIX_CONFIG_DIR:-/run/trap-postfix/config}

"$HERE/scripts/watch-relay-domains.sh" &
watchers=("$!")
"$HERE/scripts/watch-certs.sh" &
watchers+=("$!")

# A pid file left by a killed container would make start-fg refuse to start.
rm -f "${POSTFIX_QUEUE_DIR:-/var/spool/postfix}/pid/master.pid"
postfix -c "$conf" start-fg &
postfix_pid=$!

stopping=0
trap 'stopping=1; postfix -c "$conf" stop >/dev/null 2>&1 || true' TERM INT
# `wait` returns early when a trapped signal arrives; keep waiting until Postfix has really exited.
status=0
while :; do
  wait "$postfix_pid" && status=0 || status=$?
  kill -0 "$postfix_pid" 2>/dev/null || break
done
kill "${watchers[@]}" 2>/dev/null || true
# After `postfix stop` the master ends by SIGTERM (status 143): that is the clean way out.
((stopping)) && exit 0
exit "$status"
