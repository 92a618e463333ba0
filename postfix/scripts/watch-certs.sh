#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs next to Postfix: when the certificate source changes (a certbot renewal, a new pair dropped into
# CERTS_DIR), installs it and reloads Postfix so new connections get it. Compares checksums, so it also
# works when live/ symlinks are repointed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib/common.sh"
source "$HERE/lib/tls.sh"
source "$HERE/00-env.sh"
trap 'exit 0' TERM INT

failed=
log "watching the certificate ($LETSENCRYPT_DIR/live/${TLS_DOMAIN:-<TLS_DOMAIN unset>}, $CERTS_DIR) every ${WATCH_INTERVAL}s"
while sleep "$WATCH_INTERVAL" & wait $!; do
  tls_source || continue
  current=$(tls_source_checksum)
  [[ $current == "$(installed_tls_checksum)" || $current == "$failed" ]] && continue
  if install_tls; then
    failed=
    postfix_reload_if_running "certificate changed"
  else
    failed=$current # retried once the files change again
  fi
done
