#!/usr/bin/env bash
# Every setting the Postfix front reads, with its default and a check. The defaults are the container's;
# native mode (scripts/native-up.sh) and the end-to-end tests only change the environment.
# Sourced by render.sh and by the watchers. Documented in postfix/README.md.

# Where this Postfix instance lives.
: "${POSTFIX_CONFIG_DIR:=/run/trap-postfix/config}"
: "${POSTFIX_QUEUE_DIR:=/var/spool/postfix}"
: "${POSTFIX_DATA_DIR:=/run/trap-postfix/data}"
: "${MAILLOG_FILE:=/dev/stdout}"

# What it listens on. LISTEN_ADDRESS is Postfix's inet_interfaces (all, loopback-only, or addresses).
: "${MAIL_HOSTNAME:=$(hostname -f 2>/dev/null || hostname)}"
: "${LISTEN_ADDRESS:=all}"
: "${INET_PROTOCOLS:=all}"
: "${SMTP_PORT:=25}"
: "${SUBMISSION_PORT:=587}"
: "${SMTPS_PORT:=465}"

# Where trap mail goes: the collector, over LMTP. An IPv6 LMTP_HOST is written in brackets: [::1].
: "${LMTP_HOST:=127.0.0.1}"
: "${LMTP_PORT:=24}"
: "${LMTP_MAXPROC:=10}"

: "${MESSAGE_SIZE_LIMIT:=10240000}"
: "${QUEUE_LIFETIME:=30d}"

# Trap domains (one "domain OK" per line) and certificates, as mounted into the container.
: "${RELAY_DOMAINS_FILE:=/etc/trap/config/relay_domains}"
: "${CERTS_DIR:=/etc/trap/certs}"
: "${LETSENCRYPT_DIR:=/etc/letsencrypt}"
: "${TLS_DOMAIN:=}"

# Seconds between two looks at relay_domains and at the certificate.
: "${WATCH_INTERVAL:=2}"

export POSTFIX_CONFIG_DIR POSTFIX_QUEUE_DIR POSTFIX_DATA_DIR MAILLOG_FILE MAIL_HOSTNAME LISTEN_ADDRESS \
  INET_PROTOCOLS SMTP_PORT SUBMISSION_PORT SMTPS_PORT LMTP_HOST LMTP_PORT LMTP_MAXPROC MESSAGE_SIZE_LIMIT \
  QUEUE_LIFETIME RELAY_DOMAINS_FILE CERTS_DIR LETSENCRYPT_DIR TLS_DOMAIN WATCH_INTERVAL

require_port SMTP_PORT "$SMTP_PORT"
require_port SUBMISSION_PORT "$SUBMISSION_PORT"
require_port SMTPS_PORT "$SMTPS_PORT"
require_port LMTP_PORT "$LMTP_PORT"
require_uint LMTP_MAXPROC "$LMTP_MAXPROC" 1 1000
require_uint MESSAGE_SIZE_LIMIT "$MESSAGE_SIZE_LIMIT" 0
require_uint WATCH_INTERVAL "$WATCH_INTERVAL" 1 3600
[[ $QUEUE_LIFETIME =~ ^[0-9]+[smhdw]?$ ]] || die_config "QUEUE_LIFETIME='$QUEUE_LIFETIME' is not a Postfix time (e.g. 30d)"
[[ -n $LMTP_HOST ]] || die_config "LMTP_HOST is empty"
[[ $MAIL_HOSTNAME =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die_config "MAIL_HOSTNAME='$MAIL_HOSTNAME' is not a host name"
[[ $INET_PROTOCOLS =~ ^(all|ipv4|ipv6|ipv4,[[:space:]]*ipv6|ipv6,[[:space:]]*ipv4)$ ]] || die_config "INET_PROTOCOLS='$INET_PROTOCOLS' must be all, ipv4 or ipv6"
[[ $MAILLOG_FILE == /* ]] || die_config "MAILLOG_FILE='$MAILLOG_FILE' must be an absolute path"
[[ -f $RELAY_DOMAINS_FILE ]] || die_config "RELAY_DOMAINS_FILE=$RELAY_DOMAINS_FILE does not exist (one 'domain OK' per line)"
ports=("$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT")
[[ $(printf '%s\n' "${ports[@]}" | sort -u | wc -l) -eq 3 ]] || die_config "SMTP_PORT, SUBMISSION_PORT and SMTPS_PORT must differ (got ${ports[*]})"
unset ports
