#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs the appliance on this machine without Docker: the dev hpfeeds broker, the collector and a Postfix
# instance rendered by the container's own scripts (postfix/render.sh) into a state directory and run
# with `postfix -c`, on unprivileged loopback ports. The machine's RabbitMQ is used when it answers.
# Everything (config, queue, logs, PID files) lives in NATIVE_DIR; scripts/native-down.sh stops it all.
#
# Needs root: the Postfix master process must start as root (its services then run as `postfix`), and
# the instance is registered in /etc/postfix/main.cf (alternate_config_directories) until native-down.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/scripts/lib/processes.sh"
source "$ROOT/scripts/lib/alternate-config.sh"

fail() { echo "native-up: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "needs root: the Postfix master must start as root (run: sudo make native-up)"

NATIVE_DIR=${NATIVE_DIR:-$ROOT/.native}
mkdir -p "$NATIVE_DIR"/{log,run}
NATIVE_DIR=$(cd "$NATIVE_DIR" && pwd)
# Postfix's own processes run as the postfix user and must reach the queue inside the state directory.
chmod 755 "$NATIVE_DIR"
runuser -u postfix -- test -x "$NATIVE_DIR" ||
  fail "the postfix user cannot reach $NATIVE_DIR (a parent directory is not searchable by others); set NATIVE_DIR to a path it can reach, e.g. under /var/tmp"

# Start from a clean slate when a previous run is still (partly) up.
if compgen -G "$NATIVE_DIR/run/*.pid" >/dev/null || postfix -c "$NATIVE_DIR/postfix" status >/dev/null 2>&1; then
  echo "native-up: stopping what is still running from $NATIVE_DIR"
  NATIVE_DIR=$NATIVE_DIR "$ROOT/scripts/native-down.sh"
fi

# ---- settings (env overrides each) -------------------------------------------------------------------
export SMTP_PORT=${SMTP_PORT:-2525} SUBMISSION_PORT=${SUBMISSION_PORT:-2587} SMTPS_PORT=${SMTPS_PORT:-2465}
export LMTP_HOST=127.0.0.1 LMTP_PORT=${LMTP_PORT:-2424}
export HPFEEDS_PORT=${HPFEEDS_PORT:-10000}
export CATCHALL_METRICS_PORT=${CATCHALL_METRICS_PORT:-9124}
AMQP_HOST=${AMQP_HOST:-127.0.0.1} AMQP_PORT=${AMQP_PORT:-5672}
AMQP_EXCHANGE=${AMQP_EXCHANGE:-spam} AMQP_ROUTING_KEY=${AMQP_ROUTING_KEY:-spam.mails} AMQP_QUEUE=${AMQP_QUEUE:-spam.mails}
HPFEEDS_CHANNELS=${HPFEEDS_CHANNELS:-spam.mails}
# The broker's --max-frame-size and the collector's limit, as in docker-compose.yml.
export HPFEEDS_MAX_FRAME_SIZE=${HPFEEDS_MAX_FRAME_SIZE:-16777216}
NATIVE_TIMEOUT=${NATIVE_TIMEOUT:-30}

export POSTFIX_CONFIG_DIR=$NATIVE_DIR/postfix POSTFIX_QUEUE_DIR=$NATIVE_DIR/queue POSTFIX_DATA_DIR=$NATIVE_DIR/data
export MAILLOG_FILE=$NATIVE_DIR/log/postfix.log LISTEN_ADDRESS=loopback-only
export RELAY_DOMAINS_FILE=${RELAY_DOMAINS_FILE:-$ROOT/postfix/config/relay_domains}
export CERTS_DIR=${CERTS_DIR:-$ROOT/postfix/certs}
if [[ -z ${INET_PROTOCOLS:-} ]]; then
  if ipv6_loopback_available; then INET_PROTOCOLS=all; else
    INET_PROTOCOLS=ipv4
    echo "native-up: ::1 is not available here; listening on IPv4 only"
  fi
fi
export INET_PROTOCOLS

for p in SMTP_PORT SUBMISSION_PORT SMTPS_PORT LMTP_PORT HPFEEDS_PORT CATCHALL_METRICS_PORT; do
  ! tcp_open 127.0.0.1 "${!p}" || fail "port ${!p} ($p) is already in use on 127.0.0.1; set $p to another port"
done

# hpfeeds idents, generated once per state directory: the collector publishes, a reader subscribes
# (scripts/test-swaks.sh reads them from native.env).
auth=$NATIVE_DIR/hpfeeds-auth.json
if [[ ! -s $auth ]]; then
  w=$(openssl rand -hex 16) r=$(openssl rand -hex 16)
  IFS=, read -ra chan_list <<<"$HPFEEDS_CHANNELS"
  chans=$(printf '"%s",' "${chan_list[@]}") chans="[${chans%,}]"
  (umask 077 && cat >"$auth" <<EOF
{
  "catchall": { "owner": "catchall-lmtp", "secret": "$w", "pubchans": $chans, "subchans": [] },
  "reader": { "owner": "research", "secret": "$r", "pubchans": [], "subchans": $chans }
}
EOF
  )
fi
secret_of() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1]))[process.argv[2]].secret)' "$auth" "$1"; }
export HPFEEDS_HOST=127.0.0.1 HPFEEDS_IDENT=catchall HPFEEDS_SECRET HPFEEDS_CHANNELS
HPFEEDS_SECRET=$(secret_of catchall)
export HPFEEDS_READER_IDENT=reader HPFEEDS_READER_SECRET
HPFEEDS_READER_SECRET=$(secret_of reader)

amqp_url=amqp://${AMQP_USER:-guest}:${AMQP_PASSWORD:-guest}@$AMQP_HOST:$AMQP_PORT/
if tcp_open "$AMQP_HOST" "$AMQP_PORT"; then
  node --import tsx "$ROOT/scripts/lib/rabbitmq-topology.ts" "$amqp_url" "$AMQP_EXCHANGE" "$AMQP_ROUTING_KEY" "$AMQP_QUEUE" ||
    fail "RabbitMQ at $AMQP_HOST:$AMQP_PORT answered, but the exchange/queue could not be set up (see above)"
  export AMQP_URL=${AMQP_URL:-$amqp_url} AMQP_EXCHANGE AMQP_ROUTING_KEY
else
  echo "native-up: no RabbitMQ at $AMQP_HOST:$AMQP_PORT; the collector publishes to hpfeeds only"
  amqp_url=
fi

# Everything the other scripts (native-down, reload, test-swaks) need to find this instance.
rm -f "$NATIVE_DIR/native.env" # it holds a secret: recreated owner-only
(umask 077 && {
  for v in NATIVE_DIR SMTP_PORT SUBMISSION_PORT SMTPS_PORT LMTP_PORT HPFEEDS_PORT CATCHALL_METRICS_PORT \
    POSTFIX_CONFIG_DIR POSTFIX_QUEUE_DIR POSTFIX_DATA_DIR MAILLOG_FILE LISTEN_ADDRESS INET_PROTOCOLS \
    RELAY_DOMAINS_FILE CERTS_DIR LMTP_HOST HPFEEDS_CHANNELS HPFEEDS_MAX_FRAME_SIZE HPFEEDS_READER_IDENT HPFEEDS_READER_SECRET \
    AMQP_EXCHANGE AMQP_ROUTING_KEY AMQP_QUEUE; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  printf 'export AMQP_URL=%q\n' "$amqp_url"
} >"$NATIVE_DIR/native.env")

# ---- Postfix configuration ---------------------------------------------------------------------------
"$ROOT/postfix/render.sh" 2>>"$NATIVE_DIR/log/render.log" || { tail -5 "$NATIVE_DIR/log/render.log" >&2; fail "rendering the Postfix configuration failed"; }
register_config_dir "$POSTFIX_CONFIG_DIR"

# ---- start -------------------------------------------------------------------------------------------
on_failure() {
  echo "native-up: failed; stopping what was started (logs are in $NATIVE_DIR/log)" >&2
  NATIVE_DIR=$NATIVE_DIR "$ROOT/scripts/native-down.sh" >/dev/null 2>&1 || true
}
trap on_failure ERR
# The services run from the state directory, so a .env in the caller's directory (meant for compose)
# is not picked up by the collector.
cd "$NATIVE_DIR"

start_bg hpfeeds-broker "$NATIVE_DIR/log/hpfeeds-broker.log" "$NATIVE_DIR/run/hpfeeds-broker.pid" \
  node "$ROOT/broker-dev/bin/hpfeeds-broker.js" --endpoint "tcp:port=$HPFEEDS_PORT:interface=127.0.0.1" \
  --auth "$auth" --name native --max-frame-size "$HPFEEDS_MAX_FRAME_SIZE"
wait_ready "hpfeeds-broker on 127.0.0.1:$HPFEEDS_PORT" "$NATIVE_TIMEOUT" "$NATIVE_DIR/run/hpfeeds-broker.pid" hpfeeds-broker \
  "$NATIVE_DIR/log/hpfeeds-broker.log" tcp_open 127.0.0.1 "$HPFEEDS_PORT"

collector_args=(-p "$LMTP_PORT" --host 127.0.0.1)
[[ -z ${CATCHALL_MAILDIR:-} ]] || collector_args+=(-m "$CATCHALL_MAILDIR")
[[ -z ${CATCHALL_CONFIG:-} ]] || collector_args+=(-f "$CATCHALL_CONFIG")
start_bg catchall-lmtp "$NATIVE_DIR/log/catchall-lmtp.log" "$NATIVE_DIR/run/catchall-lmtp.pid" \
  node "$ROOT/catchall-lmtp/bin/catchall-lmtp.js" "${collector_args[@]}"
collector_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$CATCHALL_METRICS_PORT/readyz" 2>/dev/null; }
wait_ready "catchall-lmtp on 127.0.0.1:$LMTP_PORT (/readyz on :$CATCHALL_METRICS_PORT)" "$NATIVE_TIMEOUT" \
  "$NATIVE_DIR/run/catchall-lmtp.pid" catchall-lmtp "$NATIVE_DIR/log/catchall-lmtp.log" collector_ready

postfix -c "$POSTFIX_CONFIG_DIR" start >/dev/null 2>>"$NATIVE_DIR/log/render.log" ||
  { echo "native-up: postfix -c $POSTFIX_CONFIG_DIR start failed; the end of $MAILLOG_FILE:" >&2; tail -n 5 "$MAILLOG_FILE" >&2; false; }
for port in "$SMTP_PORT" "$SUBMISSION_PORT"; do
  wait_ready "postfix on 127.0.0.1:$port" "$NATIVE_TIMEOUT" "" "" "$MAILLOG_FILE" "$ROOT/postfix/healthcheck.sh" 127.0.0.1 "$port"
done
wait_ready "postfix smtps on 127.0.0.1:$SMTPS_PORT" "$NATIVE_TIMEOUT" "" "" "$MAILLOG_FILE" \
  "$ROOT/postfix/healthcheck.sh" 127.0.0.1 "$SMTPS_PORT" --tls

start_bg relay-domains-watcher "$NATIVE_DIR/log/watchers.log" "$NATIVE_DIR/run/watch-relay-domains.pid" \
  "$ROOT/postfix/scripts/watch-relay-domains.sh"
start_bg cert-watcher "$NATIVE_DIR/log/watchers.log" "$NATIVE_DIR/run/watch-certs.pid" \
  "$ROOT/postfix/scripts/watch-certs.sh"
trap - ERR

if [[ -n $amqp_url ]]; then rabbit="exchange $AMQP_EXCHANGE → queue $AMQP_QUEUE on $AMQP_HOST:$AMQP_PORT"; else rabbit="not used"; fi
cat <<EOF
native-up: ready
  SMTP        127.0.0.1:$SMTP_PORT (STARTTLS)  submission :$SUBMISSION_PORT  smtps :$SMTPS_PORT  ($INET_PROTOCOLS)
  collector   LMTP 127.0.0.1:$LMTP_PORT, metrics http://127.0.0.1:$CATCHALL_METRICS_PORT/metrics
  hpfeeds     127.0.0.1:$HPFEEDS_PORT channels $HPFEEDS_CHANNELS (reader ident: reader, secret in $NATIVE_DIR/native.env)
  rabbitmq    $rabbit
  trap domains $RELAY_DOMAINS_FILE (edits apply within seconds)
  logs        $NATIVE_DIR/log/    stop: make native-down
EOF
