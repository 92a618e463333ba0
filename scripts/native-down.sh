#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stops everything scripts/native-up.sh started from NATIVE_DIR (default ./.native): the watchers, the
# Postfix instance (its queue is kept, so deferred mail is delivered at the next native-up), the
# collector (SIGTERM: it drains first) and the hpfeeds broker. Safe to run any number of times.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/processes.sh"
source "$ROOT/scripts/lib/alternate-config.sh"

NATIVE_DIR=${NATIVE_DIR:-$ROOT/.native}
if [[ ! -d $NATIVE_DIR ]]; then
  echo "native-down: nothing to stop ($NATIVE_DIR does not exist)"
  exit 0
fi
NATIVE_DIR=$(cd "$NATIVE_DIR" && pwd)
run=$NATIVE_DIR/run
status=0

stop_bg relay-domains-watcher "$run/watch-relay-domains.pid" watch-relay-domains.sh 5
stop_bg cert-watcher "$run/watch-certs.pid" watch-certs.sh 5

conf=$NATIVE_DIR/postfix
if [[ -f $conf/main.cf ]] && postfix -c "$conf" status >/dev/null 2>&1; then
  postfix -c "$conf" stop >/dev/null 2>&1 || true
  # `postfix stop` returns before the master is gone; wait for its pid file lock to be released.
  for _ in $(seq 1 50); do
    postfix -c "$conf" status >/dev/null 2>&1 || break
    sleep 0.2
  done
  if postfix -c "$conf" status >/dev/null 2>&1; then
    echo "native-down: postfix ($conf) is still running" >&2
    status=1
  else
    echo "native-down: stopped postfix ($conf)"
  fi
fi

unregister_config_dir "$conf"

# The collector gets time to finish in-flight messages and wait for broker confirms.
stop_bg catchall-lmtp "$run/catchall-lmtp.pid" catchall-lmtp 30
stop_bg hpfeeds-broker "$run/hpfeeds-broker.pid" hpfeeds-broker 10
exit "$status"
