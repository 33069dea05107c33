#!/bin/sh
# Runs after the image's 20-envsubst-on-templates.sh. Until certify-init.sh has obtained the
# first certificate, nginx could not start with the HTTPS server (its certificate file would be
# missing), and without nginx the ACME challenge cannot be answered: serve HTTP only until then.
set -eu

certificate="${LETSENCRYPT_DIR}/live/${DOMAIN}/fullchain.pem"
https_conf="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}/https.conf"

if [ -f "$certificate" ]; then
    echo "$0: serving HTTPS for ${DOMAIN} with ${certificate}"
else
    rm -f "$https_conf"
    echo "$0: WARNING no certificate at ${certificate}: serving HTTP (ACME challenge) only; run certify-init.sh"
fi
