#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Renders a complete Postfix configuration from the environment by running scripts/NN-*.sh in order.
# The container's entrypoint, scripts/native-up.sh and the end-to-end tests all call this; they differ
# only in the environment (config/queue directories, ports, listen address). Needs root (chown, postfix).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export TEMPLATES_DIR=$HERE/templates
source "$HERE/scripts/lib/common.sh"
source "$HERE/scripts/lib/relay-domains.sh"
source "$HERE/scripts/lib/tls.sh"
source "$HERE/scripts/lib/overrides.sh"

for step in "$HERE"/scripts/[0-9][0-9]-*.sh; do
  # shellcheck source=/dev/null # each step is checked on its own
  source "$step"
done

# `postfix start` / `start-fg` run `postfix check` themselves (queue tree, owners), so it is not repeated.
log "configuration ready in $POSTFIX_CONFIG_DIR"
