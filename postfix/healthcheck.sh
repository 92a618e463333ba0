#!/usr/bin/env bash
# Healthy when the SMTP port answers with a 220 banner within a few seconds (a listening socket alone is
# not enough: a wedged smtpd accepts connections and never greets).
# Usage: healthcheck.sh [HOST (127.0.0.1)] [PORT ($SMTP_PORT or 25)] [--tls (implicit TLS, port 465)]
host=${1:-127.0.0.1}
port=${2:-${SMTP_PORT:-25}}
if [[ ${3:-} == --tls ]]; then
  # The QUIT is sent once the handshake is done; the server greets first, then says goodbye.
  banner=$(printf 'QUIT\r\n' | timeout 5 openssl s_client -quiet -connect "$host:$port" 2>/dev/null | head -n 1)
else
  # shellcheck disable=SC2016 # the inner script expands its own $0/$1
  banner=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    IFS= read -r banner <&3 || exit 1
    printf "QUIT\r\n" >&3
    printf "%s\n" "$banner"
  ' "$host" "$port" 2>/dev/null)
fi
[[ $banner == 220[\ -]* ]] || { echo "no 220 banner from $host:$port${3:+ ($3)}: '${banner%$'\r'}'" >&2; exit 1; }
