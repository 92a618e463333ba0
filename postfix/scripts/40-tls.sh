#!/usr/bin/env bash
# The certificate served on 25/587 (STARTTLS) and 465: Let's Encrypt, a dropped-in pair, or self-signed.
install_tls || exit 2
