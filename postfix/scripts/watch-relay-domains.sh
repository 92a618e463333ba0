#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs next to Postfix: when RELAY_DOMAINS_FILE changes, recompiles the map and reloads Postfix, so
# adding or removing a trap domain takes effect within WATCH_INTERVAL seconds, without a restart.
# Polls a checksum rather than using inotify: works for bind mounts and editors that replace the file.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib/common.sh"
source "$HERE/lib/relay-domains.sh"
source "$HERE/00-env.sh"
trap 'exit 0' TERM INT

last=$(files_checksum "$RELAY_DOMAINS_FILE")
log "watching $RELAY_DOMAINS_FILE every ${WATCH_INTERVAL}s"
while sleep "$WATCH_INTERVAL" & wait $!; do
  current=$(files_checksum "$RELAY_DOMAINS_FILE")
  [[ $current == "$last" ]] && continue
  last=$current
  install_relay_domains && postfix_reload_if_running "relay domains changed"
done
