#!/usr/bin/env bash
# Trap domains: RELAY_DOMAINS_FILE (one "domain OK" per line) → $POSTFIX_CONFIG_DIR/relay_domains(.db).
# Sourced by 30-relay-domains.sh, the watcher and reload.sh.

# A domain, or ".domain" for every subdomain; ASCII (write an internationalised name as xn--…).
DOMAIN_KEY_RE='^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$'

# Checks every line first, so a half-edited file never replaces a working map; then compiles a copy
# (the source may be a read-only mount) and swaps it in.
install_relay_domains() {
  local src=$RELAY_DOMAINS_FILE dst=$POSTFIX_CONFIG_DIR/relay_domains line domain value extra n=0 count=0
  if [[ ! -r $src ]]; then
    log "relay domains: cannot read RELAY_DOMAINS_FILE=$src"
    return 1
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    read -r domain value extra <<<"$line"
    if [[ -z $value || -n $extra || ! $domain =~ $DOMAIN_KEY_RE ]]; then
      log "relay domains: $src line $n: expected 'domain OK', got '$line'; keeping the previous list"
      return 1
    fi
    count=$((count + 1))
  done <"$src"
  cp -- "$src" "$dst.new"
  postmap -c "$POSTFIX_CONFIG_DIR" "hash:$dst.new" || { log "relay domains: postmap failed on $src"; return 1; }
  mv -f "$dst.new.db" "$dst.db"
  mv -f "$dst.new" "$dst"
  log "relay domains: $count trap domain entries from $src"
}
