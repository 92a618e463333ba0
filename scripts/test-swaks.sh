#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# make test-swaks: sends real mail with swaks through a running appliance (docker compose or
# `make native-up`) and proves it arrived: read back from the hpfeeds broker (`hpfeeds subscribe`) and
# from RabbitMQ, the sha256 of the exact bytes compared with what was sent, the recorded client address
# checked, and relaying to a domain that is not a trap domain refused with 554 5.7.1. Prints a pass/fail
# table; exits 1 on any failure, 2 when it cannot tell where or what to test.
#
# Cases: plain SMTP on SMTP_PORT, STARTTLS on SUBMISSION_PORT, implicit TLS on SMTPS_PORT, three
# recipients in one message, an 8-bit ISO-8859-1 (not UTF-8) message, and the relay attempt.
# Every setting (APPLIANCE, SMTP_HOST, TRAP_DOMAIN, TEST_*) is documented in .env.example.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/processes.sh

die() { echo "test-swaks: $*" >&2; exit 2; }
for cmd in swaks node; do command -v "$cmd" >/dev/null || die "$cmd is not installed (scripts/test-deps.sh installs it)"; done

# ---- where is the appliance? ---------------------------------------------------------------------------
NATIVE_DIR=${NATIVE_DIR:-$ROOT/.native}
if [[ -z ${APPLIANCE:-} ]]; then
  if [[ -f $NATIVE_DIR/native.env ]] && pid_alive "$NATIVE_DIR/run/catchall-lmtp.pid" catchall-lmtp; then APPLIANCE=native; else APPLIANCE=compose; fi
fi

# Reads KEY=VALUE lines of a compose .env file; variables already set in the environment win, as in compose.
load_env_file() {
  local key value
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]] && value=${BASH_REMATCH[1]}
    [[ -v $key ]] || export "$key=$value"
  done <"$1"
}

case $APPLIANCE in
  native)
    [[ -f $NATIVE_DIR/native.env ]] || die "APPLIANCE=native, but $NATIVE_DIR/native.env is missing (run make native-up)"
    # The instance's own facts: ports, reader secret, exchange and queue (written by native-up.sh).
    # shellcheck source=/dev/null
    source "$NATIVE_DIR/native.env"
    : "${SMTP_HOST:=127.0.0.1}"
    : "${TEST_HPFEEDS_PORT:=$HPFEEDS_PORT}" "${TEST_HPFEEDS_IDENT:=$HPFEEDS_READER_IDENT}" "${TEST_HPFEEDS_SECRET:=$HPFEEDS_READER_SECRET}"
    : "${TEST_AMQP_URL:=$AMQP_URL}"
    # The durable queue native-up bound: reading it takes the test's messages out again (a temporary
    # queue would leave copies piling up there on the machine's RabbitMQ).
    : "${TEST_AMQP_QUEUE=$AMQP_QUEUE}"
    ;;
  compose)
    [[ -f .env ]] && load_env_file .env
    : "${SMTP_PORT:=25}" "${SUBMISSION_PORT:=587}" "${SMTPS_PORT:=465}"
    # Not 127.0.0.1: Docker's proxy would connect from the gateway address, and the client address
    # check would fail for a reason that says nothing about the appliance.
    if [[ -z ${SMTP_HOST:-} ]]; then
      SMTP_HOST=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -vE '^(127\.|::1$|$)' | head -n1 || true)
      : "${SMTP_HOST:=127.0.0.1}"
    fi
    : "${TEST_HPFEEDS_PORT:=${DEV_HPFEEDS_PORT:-10000}}" "${TEST_HPFEEDS_IDENT:=reader}"
    : "${TEST_HPFEEDS_SECRET:=${HPFEEDS_READER_SECRET:-reader-dev-secret}}"
    : "${TEST_AMQP_URL:=amqp://reader:reader-dev-password@127.0.0.1:${DEV_RABBITMQ_PORT:-5672}/}"
    : "${TEST_AMQP_QUEUE=spam.mails}" # the dev `reader` may only read this queue
    if [[ -z ${TEST_SINKS:-} ]]; then
      TEST_SINKS=
      [[ -z ${AMQP_URL:-}${AMQP_HOST:-} ]] || TEST_SINKS+="amqp "
      [[ -z ${HPFEEDS_HOST:-} ]] || TEST_SINKS+="hpfeeds"
    fi
    ;;
  *) die "APPLIANCE must be compose or native, not '$APPLIANCE'" ;;
esac

: "${TEST_HPFEEDS_HOST:=127.0.0.1}" "${TEST_HPFEEDS_CHANNEL:=${HPFEEDS_CHANNELS%%,*}}" "${TEST_HPFEEDS_CHANNEL:=spam.mails}"
: "${TEST_AMQP_EXCHANGE:=${AMQP_EXCHANGE:-spam}}" "${TEST_AMQP_ROUTING_KEY:=${AMQP_ROUTING_KEY:-spam.mails}}"
if [[ -z ${TEST_SINKS+set} ]]; then
  TEST_SINKS=hpfeeds
  [[ -z ${TEST_AMQP_URL:-} ]] || TEST_SINKS="amqp hpfeeds"
fi
[[ -n ${TEST_SINKS// /} ]] || die "no broker to read from: set TEST_SINKS (amqp, hpfeeds) and their TEST_* coordinates"
[[ $TEST_SINKS != *amqp* || -n ${TEST_AMQP_URL:-} ]] || die "TEST_SINKS includes amqp, but TEST_AMQP_URL is empty"
: "${TEST_TIMEOUT:=60}"
RELAY_DOMAINS_FILE=${RELAY_DOMAINS_FILE:-$ROOT/postfix/config/relay_domains}
: "${RELAY_TEST_DOMAIN:=relay-test.example.net}"

# The first trap domain; a ".domain" entry (every subdomain) gets a host name put in front.
if [[ -z ${TRAP_DOMAIN:-} ]]; then
  TRAP_DOMAIN=$(awk '!/^[[:space:]]*(#|$)/ { print $1; exit }' "$RELAY_DOMAINS_FILE" 2>/dev/null || true)
  [[ -n $TRAP_DOMAIN ]] || die "no trap domain in $RELAY_DOMAINS_FILE; set TRAP_DOMAIN"
  [[ $TRAP_DOMAIN != .* ]] || TRAP_DOMAIN=swaks$TRAP_DOMAIN
fi
! awk '{ print tolower($1) }' "$RELAY_DOMAINS_FILE" 2>/dev/null | grep -qxF -- "${RELAY_TEST_DOMAIN,,}" ||
  die "RELAY_TEST_DOMAIN=$RELAY_TEST_DOMAIN is a trap domain in $RELAY_DOMAINS_FILE; pick one that is not"

# The address the collector must record: ours, as seen on a connection to the SMTP port.
if [[ -z ${EXPECT_CLIENT_ADDRESS:-} ]]; then
  EXPECT_CLIENT_ADDRESS=$(node -e '
    const s = require("net").connect(+process.argv[2], process.argv[1], () => { console.log(s.localAddress); s.destroy(); });
    s.on("error", (e) => { console.error(e.message); process.exit(1); });
    s.setTimeout(5000, () => { console.error("timed out"); process.exit(1); });' "$SMTP_HOST" "$SMTP_PORT") ||
    die "cannot connect to $SMTP_HOST:$SMTP_PORT ($APPLIANCE appliance): is it running? (make up / make native-up)"
fi

RUN_ID=$(date -u +%Y%m%dT%H%M%S)-$$-$RANDOM
# Our hpfeeds reader takes frames as large as the collector may send.
: "${HPFEEDS_MAX_FRAME_SIZE:=16777216}"
export RUN_ID TEST_SINKS TEST_TIMEOUT EXPECT_CLIENT_ADDRESS HPFEEDS_MAX_FRAME_SIZE TEST_HPFEEDS_HOST TEST_HPFEEDS_PORT TEST_HPFEEDS_IDENT \
  TEST_HPFEEDS_SECRET TEST_HPFEEDS_CHANNEL TEST_AMQP_URL TEST_AMQP_QUEUE TEST_AMQP_EXCHANGE TEST_AMQP_ROUTING_KEY

echo "test-swaks: $APPLIANCE appliance at $SMTP_HOST (smtp $SMTP_PORT, submission $SUBMISSION_PORT, smtps $SMTPS_PORT)," \
  "trap domain $TRAP_DOMAIN, reading from: $TEST_SINKS, run $RUN_ID"

# ---- the messages: exact bytes, CRLF line ends ------------------------------------------------------------
work=$(mktemp -d)
verifier=
# shellcheck disable=SC2317 # runs from the EXIT trap
cleanup() {
  [[ -z $verifier ]] || kill "$verifier" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# message NAME SUBJECT BODY: BODY is a printf %b string (\r\n, \xNN). swaks sends its DATA input followed
# by CRLF . CRLF, so NAME.data (its input) lacks the final CRLF and NAME.eml (what the appliance must
# receive, byte for byte) has it.
message() {
  local crlf=$'\r\n'
  {
    printf '%s' "From: swaks <swaks@test-swaks.invalid>${crlf}To: trap <${1}@${TRAP_DOMAIN}>${crlf}"
    printf '%s' "Subject: $2${crlf}Date: $(date -uR)${crlf}Message-ID: <$1.$RUN_ID@test-swaks.invalid>${crlf}"
    printf '%s' "X-Test-Swaks: $RUN_ID $1${crlf}MIME-Version: 1.0${crlf}"
    printf '%b' "$3"
  } >"$work/$1.data"
  { cat "$work/$1.data"; printf '\r\n'; } >"$work/$1.eml"
}
text_body='Content-Type: text/plain; charset=us-ascii\r\n\r\nA trap message from make test-swaks.\r\n.A line starting with a dot (dot-stuffed on the wire).'
message smtp 'plain SMTP' "$text_body"
message starttls 'STARTTLS on submission' "$text_body"
message smtps 'implicit TLS' "$text_body"
message multircpt 'three recipients' "$text_body"
message latin1 'ISO-8859-1 body' 'Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nD\xe9j\xe0 vu: caf\xe9, na\xefve, \xa3100, \xff\xfe not UTF-8.'

multi=("a@$TRAP_DOMAIN" "b@$TRAP_DOMAIN" "c@$TRAP_DOMAIN")
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const [work, trap, relay, smtp, submission, smtps, ...multi] = process.argv.slice(1);
  const c = (name, via, rcpt, expect = "deliver") => ({ name, via, rcpt, expect, file: `${work}/${name}.eml` });
  const cases = [
    c("smtp", `${smtp} plain`, [`smtp@${trap}`]),
    c("starttls", `${submission} starttls`, [`starttls@${trap}`]),
    c("smtps", `${smtps} tls`, [`smtps@${trap}`]),
    c("multircpt", `${smtp} plain`, multi),
    c("latin1", `${smtp} plain`, [`latin1@${trap}`]),
    c("relay", `${smtp} plain`, [`victim@${relay}`], "refuse"),
  ];
  require("fs").writeFileSync(`${work}/cases.json`, JSON.stringify(cases));
' "$work" "$TRAP_DOMAIN" "$RELAY_TEST_DOMAIN" "$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" "${multi[@]}"

# ---- listen, send, verify --------------------------------------------------------------------------------
node scripts/test-swaks/verify.mjs "$work" &
verifier=$!
for _ in $(seq 1 200); do
  [[ -f $work/ready ]] && break
  kill -0 "$verifier" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -f $work/ready || -s $work/ready ]]; then
  wait "$verifier" || true
  verifier=
  exit 1
fi

# send NAME PORT [swaks TLS option] RCPT...: the message file is sent as DATA; without one, the dialog
# stops after RCPT. Records "<swaks exit code> <last server reply>" for verify.mjs.
send() {
  local name=$1 port=$2 tls=$3 rc=0 to
  shift 3
  to=$(IFS=,; echo "$*")
  local args=(--server "$SMTP_HOST" --port "$port" --from swaks@test-swaks.invalid --to "$to"
    --helo test-swaks.invalid --timeout 30)
  [[ -z $tls ]] || args+=("$tls")
  if [[ -f $work/$name.data ]]; then args+=(--data "@$work/$name.data"); else args+=(--quit-after RCPT); fi
  swaks "${args[@]}" >"$work/$name.transcript" 2>&1 || rc=$?
  # Server lines are "<-" (or "<~" under TLS, "<**"/"<~*" when an error); the last one before QUIT's 221.
  reply=$(sed -nE 's/^ *<(-|~|\*\*|~\*) +([0-9]{3} .*)$/\2/p' "$work/$name.transcript" | grep -v '^221 ' | tail -n1 | tr -d '\r')
  echo "$rc ${reply:-no reply (see below)}" >"$work/$name.smtp"
  if ((rc != 0)) && [[ $name != relay ]]; then
    echo "--- swaks transcript of $name ---" >&2
    tail -n 15 "$work/$name.transcript" >&2
  fi
}
send smtp "$SMTP_PORT" "" "smtp@$TRAP_DOMAIN"
send starttls "$SUBMISSION_PORT" --tls "starttls@$TRAP_DOMAIN"
send smtps "$SMTPS_PORT" --tls-on-connect "smtps@$TRAP_DOMAIN"
send multircpt "$SMTP_PORT" "" "${multi[@]}"
send latin1 "$SMTP_PORT" "" "latin1@$TRAP_DOMAIN"
send relay "$SMTP_PORT" "" "victim@$RELAY_TEST_DOMAIN"
touch "$work/sent"

status=0
wait "$verifier" || status=$?
verifier=
if ((status != 0)); then
  keep=$(mktemp -d "${TMPDIR:-/tmp}/test-swaks-XXXXXX")
  cp -r "$work"/. "$keep"/
  echo "test-swaks: messages as sent (*.eml), as received where they differ, and swaks transcripts: $keep" >&2
fi
exit "$status"
