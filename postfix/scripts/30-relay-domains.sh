#!/usr/bin/env bash
# The trap domains: RELAY_DOMAINS_FILE, checked and compiled into $POSTFIX_CONFIG_DIR/relay_domains.db.
install_relay_domains || exit 2
