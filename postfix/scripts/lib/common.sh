#!/usr/bin/env bash
# Helpers shared by the render steps and the watchers. Sourced, never run.

# One line per event on stderr, prefixed so it stands out in a container log next to Postfix's own lines.
log() { printf '%s trap-postfix: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# A configuration error names the setting and its value; exit 2 like the collector does for bad config.
die_config() { log "configuration error: $*"; exit 2; }

require_uint() { # NAME VALUE [MIN] [MAX]
  local name=$1 value=$2 min=${3:-0} max=${4:-}
  [[ $value =~ ^[0-9]+$ ]] || die_config "$name='$value' is not a non-negative integer"
  ((10#$value >= min)) || die_config "$name=$value is below the minimum $min"
  [[ -z $max ]] || ((10#$value <= max)) || die_config "$name=$value is above the maximum $max"
}

require_port() { require_uint "$1" "$2" 1 65535; }

# Replaces every {{NAME}} in TEMPLATE with the value of the variable NAME and writes OUT atomically.
# A placeholder without a value is an error, so a typo cannot render a silently broken config.
render_template() { # TEMPLATE OUT
  local template=$1 out=$2 content name
  content=$(<"$template")
  while [[ $content =~ \{\{([A-Z0-9_]+)\}\} ]]; do
    name=${BASH_REMATCH[1]}
    [[ -v $name ]] || die_config "$template uses {{$name}}, but $name is not set"
    content=${content//"{{$name}}"/"${!name}"}
  done
  printf '%s\n' "$content" >"$out.tmp"
  # Postfix tools wait for a config file written in the current second to "settle"; backdating it
  # saves a second on every postmap/postconf that follows.
  touch -d "@$(($(date +%s) - 2))" "$out.tmp"
  mv -f "$out.tmp" "$out"
}

# sha256 of the concatenated files; "missing" when one of them cannot be read (symlinks are followed,
# so a certbot renewal, which repoints live/ at new archive files, changes the sum).
files_checksum() {
  local f
  for f in "$@"; do [[ -r $f ]] || { echo missing; return 0; }; done
  cat -- "$@" | sha256sum | cut -d' ' -f1
}

postfix_cmd() { postfix -c "$POSTFIX_CONFIG_DIR" "$@"; }

# Reload only when this instance's master is running (the render steps also run before the first start).
postfix_reload_if_running() {
  if postfix_cmd status >/dev/null 2>&1; then
    if postfix_cmd reload >/dev/null 2>&1; then log "postfix reloaded ($1)"; else log "postfix reload failed ($1)"; fi
  fi
}
