#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Healthy when the SMTP port answers with a 220 banner within a few seconds (a listening socket alone is
# not enough: a wedged smtpd accepts connections and never greets).
# Usage: healthcheck.sh [HOST (127.0.0.1)] [PORT ($SMTP_PORT or 25)]
host=${1:-127.0.0.1}
port=${2:-${SMTP_PORT:-25}}
# shellcheck disable=SC2016 # the inner script expands its own \$0/\$1
exec timeout 5 bash -c '
  exec 3<>"/dev/tcp/$0/$1" || exit 1
  IFS= read -r banner <&3 || exit 1
  printf "QUIT\r\n" >&3
  [[ $banner == 220[\ -]* ]] || { echo "unexpected banner: $banner" >&2; exit 1; }
' "$host" "$port"
