#!/usr/bin/env bash
# master.cf from the template: the three listening ports and the capped LMTP client.
render_template "$TEMPLATES_DIR/master.cf" "$POSTFIX_CONFIG_DIR/master.cf"
log "master.cf rendered (smtp $SMTP_PORT, submission $SUBMISSION_PORT, smtps $SMTPS_PORT on $LISTEN_ADDRESS/$INET_PROTOCOLS)"
