#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine: apt packages (as root; otherwise it
# names them), the npm workspaces (npm ci) and a running RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package that provides it
declare -A needs=(
  [postfix]=postfix [swaks]=swaks [smtp-source]=postfix
  [shellcheck]=shellcheck [docker-compose]=docker-compose
  [doveadm]=dovecot-imapd
)
missing=()
for cmd in "${!needs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}")
done
# swaks needs these (its Recommends, which --no-install-recommends skips) for TLS and IPv6.
perl -MNet::SSLeay -e 1 2>/dev/null || missing+=(libnet-ssleay-perl)
perl -MIO::Socket::INET6 -e 1 2>/dev/null || missing+=(libio-socket-inet6-perl)
python3 -c 'import aiosmtpd' 2>/dev/null || /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing Debian packages: ${missing[*]} (install them as root: apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "test-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "test-deps: starting RabbitMQ"
  rabbitmq-server -detached
  for _ in $(seq 1 60); do
    (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break
    sleep 1
  done
  rabbitmqctl await_startup >/dev/null
fi
