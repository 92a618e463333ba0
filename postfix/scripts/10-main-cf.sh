#!/usr/bin/env bash
# main.cf from the template, plus the directories it names (data_directory must belong to postfix).
mkdir -p "$POSTFIX_CONFIG_DIR" "$POSTFIX_QUEUE_DIR" "$POSTFIX_DATA_DIR"
chown postfix "$POSTFIX_DATA_DIR"
# Postfix writes its log only below one of maillog_file_prefixes; allow the log file's own directory.
MAILLOG_DIR=$(dirname "$MAILLOG_FILE")
export MAILLOG_DIR
render_template "$TEMPLATES_DIR/main.cf" "$POSTFIX_CONFIG_DIR/main.cf"
log "main.cf rendered into $POSTFIX_CONFIG_DIR (LMTP to $LMTP_HOST:$LMTP_PORT, size limit $MESSAGE_SIZE_LIMIT)"
