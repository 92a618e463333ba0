#!/usr/bin/env bash
# POSTFIX_<parameter>=value sets any main.cf parameter, last, so it wins over the template
# (e.g. POSTFIX_queue_run_delay=2s). Parameter names are lowercase; upper-case POSTFIX_* names are this
# project's own settings (POSTFIX_CONFIG_DIR, ...), and an unknown one is reported rather than ignored.
apply_postfix_overrides || exit 2
