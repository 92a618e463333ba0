#!/usr/bin/env bash
# main.cf from the template, plus the directories it names (data_directory must belong to postfix).
mkdir -p "$POSTFIX_CONFIG_DIR" "$POSTFIX_QUEUE_DIR" "$POSTFIX_DATA_DIR"
chown postfix "$POSTFIX_DATA_DIR"
# Postfix writes its log only below one of maillog_file_prefixes: its defaults, plus the log file itself
# when it is elsewhere (a prefix that is the whole path allows that one file, not its directory: never
# all of /dev for a log on /dev/stdout).
MAILLOG_PREFIXES="/var, /dev/stdout"
[[ $MAILLOG_FILE == /dev/stdout || $MAILLOG_FILE == /var/* ]] || MAILLOG_PREFIXES+=", $MAILLOG_FILE"
export MAILLOG_PREFIXES
render_template "$TEMPLATES_DIR/main.cf" "$POSTFIX_CONFIG_DIR/main.cf"
log "main.cf rendered into $POSTFIX_CONFIG_DIR (LMTP to $LMTP_HOST:$LMTP_PORT, size limit $MESSAGE_SIZE_LIMIT)"
