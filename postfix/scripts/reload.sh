#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# On demand what the watchers do on their own: recompile relay_domains, reinstall the certificate if its
# source changed, reload Postfix. `make reload` runs this (in the container or for the native instance).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib/common.sh"
source "$HERE/lib/relay-domains.sh"
source "$HERE/lib/tls.sh"
source "$HERE/00-env.sh"
install_relay_domains
tls_source
[[ $(tls_source_checksum) == "$(installed_tls_checksum)" ]] || install_tls
postfix_cmd status >/dev/null 2>&1 || { log "postfix ($POSTFIX_CONFIG_DIR) is not running"; exit 1; }
postfix_cmd reload
