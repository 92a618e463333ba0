#!/usr/bin/env bash
# POSTFIX_<parameter> environment overrides (the convention of bokysan/docker-postfix). Sourced.

OWN_POSTFIX_SETTINGS=(POSTFIX_CONFIG_DIR POSTFIX_QUEUE_DIR POSTFIX_DATA_DIR)

apply_postfix_overrides() {
  local name param known settings=()
  while IFS= read -r name; do
    param=${name#POSTFIX_}
    if [[ ! $param =~ ^[a-z0-9_]+$ ]]; then
      [[ " ${OWN_POSTFIX_SETTINGS[*]} " == *" $name "* ]] && continue
      log "configuration error: $name is not a setting; to override a Postfix parameter use its lowercase name (POSTFIX_${param,,})"
      return 2
    fi
    # postconf -d prints nothing for a parameter Postfix does not know.
    known=$(postconf -c "$POSTFIX_CONFIG_DIR" -d "$param" 2>/dev/null)
    if [[ -z $known ]]; then
      log "configuration error: $name: '$param' is not a Postfix parameter (see postconf(5))"
      return 2
    fi
    settings+=("$param = ${!name}")
    log "override: $param = ${!name}"
  done < <(compgen -e | grep '^POSTFIX_' | sort)
  ((${#settings[@]})) || return 0
  # One write, then backdated like the rendered files (Postfix tools wait for a file that just changed).
  postconf -c "$POSTFIX_CONFIG_DIR" -e "${settings[@]}" || return 2
  touch -d "@$(($(date +%s) - 2))" "$POSTFIX_CONFIG_DIR/main.cf"
}
