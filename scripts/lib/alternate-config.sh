#!/usr/bin/env bash
# The native instance's entry in alternate_config_directories of the default /etc/postfix/main.cf:
# Postfix's set-gid tools (postqueue, postdrop) accept `-c DIR` from non-root users only for listed
# directories. native-up adds it, native-down removes it again. Sourced; needs root.

alternate_config_dirs() { postconf -h alternate_config_directories 2>/dev/null | tr -s ', ' '\n' | sed '/^$/d'; }

# Also drops entries whose directory no longer exists (state directories deleted without native-down).
register_config_dir() { # DIR
  [[ -f /etc/postfix/main.cf ]] || return 0
  local dirs kept=() d
  dirs=$(alternate_config_dirs)
  while IFS= read -r d; do [[ -z $d || ! -d $d || $d == "$1" ]] || kept+=("$d"); done <<<"$dirs"
  kept+=("$1")
  [[ $(printf '%s\n' "${kept[@]}") == "$dirs" ]] && return 0
  postconf -e "alternate_config_directories = $(printf '%s\n' "${kept[@]}" | paste -sd, | sed 's/,/, /g')"
  echo "native: registered $1 in /etc/postfix/main.cf (alternate_config_directories)"
}

unregister_config_dir() { # DIR
  [[ -f /etc/postfix/main.cf ]] || return 0
  local dirs
  dirs=$(alternate_config_dirs)
  grep -xF -- "$1" <<<"$dirs" >/dev/null || return 0
  postconf -e "alternate_config_directories = $(grep -vxF -- "$1" <<<"$dirs" | paste -sd, | sed 's/,/, /g')"
  echo "native: removed $1 from /etc/postfix/main.cf (alternate_config_directories)"
}
