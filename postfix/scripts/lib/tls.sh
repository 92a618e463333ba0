#!/usr/bin/env bash
# The certificate: chosen from its source, checked, and installed as $POSTFIX_CONFIG_DIR/tls/*.pem.
# Sourced by 40-tls.sh, the certificate watcher, reload.sh and scripts/certs.sh.

# A self-signed pair in DIR (fullchain.pem, privkey.pem) for the host name CN.
generate_selfsigned() { # DIR CN
  local dir=$1 cn=$2
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -sha256 -days 3650 -nodes -subj "/CN=$cn" \
    -addext "subjectAltName=DNS:$cn" -keyout "$dir/privkey.pem.tmp" -out "$dir/fullchain.pem.tmp" 2>/dev/null ||
    { log "tls: openssl could not generate a self-signed certificate in $dir"; return 1; }
  chmod 600 "$dir/privkey.pem.tmp"
  mv -f "$dir/privkey.pem.tmp" "$dir/privkey.pem"
  mv -f "$dir/fullchain.pem.tmp" "$dir/fullchain.pem"
}

# Sets TLS_SRC_DIR and TLS_SRC_KIND: Let's Encrypt's live/$TLS_DOMAIN when TLS_DOMAIN is set and present,
# else a pair dropped into CERTS_DIR, else a self-signed pair generated once next to the config.
tls_source() {
  local le=$LETSENCRYPT_DIR/live/$TLS_DOMAIN
  if [[ -n $TLS_DOMAIN && -r $le/fullchain.pem && -r $le/privkey.pem ]]; then
    TLS_SRC_DIR=$le TLS_SRC_KIND=letsencrypt
  elif [[ -r $CERTS_DIR/fullchain.pem && -r $CERTS_DIR/privkey.pem ]]; then
    TLS_SRC_DIR=$CERTS_DIR TLS_SRC_KIND=certs-dir
  else
    TLS_SRC_DIR=$POSTFIX_CONFIG_DIR/tls-selfsigned TLS_SRC_KIND=self-signed
    [[ -r $TLS_SRC_DIR/fullchain.pem && -r $TLS_SRC_DIR/privkey.pem ]] ||
      generate_selfsigned "$TLS_SRC_DIR" "${TLS_DOMAIN:-$MAIL_HOSTNAME}" || return 1
  fi
}

tls_source_checksum() { files_checksum "$TLS_SRC_DIR/fullchain.pem" "$TLS_SRC_DIR/privkey.pem"; }

# Installs the source pair unless the key does not belong to the certificate (e.g. caught half-copied);
# then the previous pair stays and the caller tries again later.
install_tls() {
  tls_source || return 1
  local dst=$POSTFIX_CONFIG_DIR/tls cert_pub key_pub sum
  [[ -n $TLS_DOMAIN && $TLS_SRC_KIND != letsencrypt ]] &&
    log "tls: TLS_DOMAIN=$TLS_DOMAIN but $LETSENCRYPT_DIR/live/$TLS_DOMAIN/{fullchain,privkey}.pem is not readable; using $TLS_SRC_KIND"
  sum=$(tls_source_checksum)
  cert_pub=$(openssl x509 -in "$TLS_SRC_DIR/fullchain.pem" -noout -pubkey 2>/dev/null | sha256sum)
  key_pub=$(openssl pkey -in "$TLS_SRC_DIR/privkey.pem" -pubout 2>/dev/null | sha256sum)
  if [[ $sum == missing || $cert_pub != "$key_pub" ]] || ! openssl x509 -in "$TLS_SRC_DIR/fullchain.pem" -noout 2>/dev/null; then
    log "tls: $TLS_SRC_DIR/fullchain.pem and privkey.pem are not a matching certificate and key; keeping the previous pair"
    return 1
  fi
  mkdir -p "$dst"
  (umask 077 && cat "$TLS_SRC_DIR/privkey.pem" >"$dst/privkey.pem.tmp")
  cat "$TLS_SRC_DIR/fullchain.pem" >"$dst/fullchain.pem.tmp"
  mv -f "$dst/privkey.pem.tmp" "$dst/privkey.pem"
  mv -f "$dst/fullchain.pem.tmp" "$dst/fullchain.pem"
  echo "$sum" >"$dst/source.sha256"
  log "tls: installed the $TLS_SRC_KIND certificate from $TLS_SRC_DIR ($(openssl x509 -in "$dst/fullchain.pem" -noout -subject -enddate | tr '\n' ' '))"
}

# The checksum of the installed pair's source, as recorded by install_tls.
installed_tls_checksum() { cat "$POSTFIX_CONFIG_DIR/tls/source.sha256" 2>/dev/null || echo none; }
