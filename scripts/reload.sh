#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `make reload`: re-read relay_domains (and a changed certificate) now, then reload Postfix, without a
# restart. Acts on the native instance when scripts/native-up.sh is running, otherwise on the compose
# service `postfix`. The watchers do the same on their own within a few seconds of an edit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NATIVE_DIR=${NATIVE_DIR:-$ROOT/.native}

if [[ -f $NATIVE_DIR/native.env ]] && postfix -c "$NATIVE_DIR/postfix" status >/dev/null 2>&1; then
  # shellcheck source=/dev/null # written by native-up.sh
  source "$NATIVE_DIR/native.env"
  exec "$ROOT/postfix/scripts/reload.sh"
fi
exec ${COMPOSE:-docker compose} exec -T postfix /opt/trap-postfix/scripts/reload.sh
