#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `make certs`: a self-signed development certificate in postfix/certs/ (fullchain.pem, privkey.pem),
# which both the container and native mode then serve. CN = TLS_DOMAIN, else MAIL_HOSTNAME, else
# localhost. Refuses to overwrite an existing pair unless FORCE=1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/postfix/scripts/lib/common.sh"
source "$ROOT/postfix/scripts/lib/tls.sh"

dir=${CERTS_DIR:-$ROOT/postfix/certs}
cn=${TLS_DOMAIN:-${MAIL_HOSTNAME:-localhost}}
if [[ -e $dir/fullchain.pem && ${FORCE:-0} != 1 ]]; then
  echo "certs: $dir/fullchain.pem exists; FORCE=1 make certs replaces it" >&2
  exit 1
fi
generate_selfsigned "$dir" "$cn"
echo "certs: self-signed certificate for $cn in $dir (served within seconds by a running Postfix)"
openssl x509 -in "$dir/fullchain.pem" -noout -fingerprint -sha256
