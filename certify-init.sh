#!/usr/bin/env bash
# Obtains the first Let's Encrypt certificate for $DOMAIN (read from .env) and switches nginx
# to HTTPS. Run once on the server, after DNS points at it and before the first
# `docker compose -f docker-compose.deploy.yml up -d`. Renewal: see README, "Deploy".
#
#   ./certify-init.sh            # real certificate
#   STAGING=1 ./certify-init.sh  # Let's Encrypt's staging CA, to rehearse without rate limits
set -euo pipefail
cd "$(dirname "$0")"

compose=(docker compose -f docker-compose.deploy.yml)
env_value() {  # the last NAME=value line of .env, without quotes
    sed -n "s/^$1=//p" .env | tail -n 1 | tr -d "\"'"
}

[ -f .env ] || { echo "No .env: copy .env.example to .env and fill it in first." >&2; exit 1; }
domain=$(env_value DOMAIN)
email=$(env_value CERTBOT_EMAIL)
[ -n "$domain" ] || { echo "Set DOMAIN in .env." >&2; exit 1; }
[ -n "$email" ] || { echo "Set CERTBOT_EMAIL in .env (expiry notices go there)." >&2; exit 1; }

staging=()
[ "${STAGING:-0}" = 1 ] && staging=(--staging)

echo "Starting nginx on port 80 (HTTP only until a certificate exists) ..."
"${compose[@]}" up -d --no-deps nginx

echo "Requesting a certificate for ${domain} ..."
"${compose[@]}" run --rm certbot certonly --webroot --webroot-path /var/www/certbot \
    --domain "$domain" --email "$email" --agree-tos --no-eff-email --non-interactive \
    --keep-until-expiring "${staging[@]}"

echo "Starting the stack with nginx on HTTPS ..."
"${compose[@]}" up -d --force-recreate nginx  # and what it depends on: migrate, static, api
echo "Done: https://${domain}/"
