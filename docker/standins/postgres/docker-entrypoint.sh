#!/bin/bash
# The part of the official postgres image's entrypoint that we use: on an empty PGDATA, initdb
# with POSTGRES_USER (default postgres) and POSTGRES_PASSWORD, create POSTGRES_DB; then run the
# server as the postgres user with the given arguments. PGPORT is read by postgres itself.
set -euo pipefail

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
export POSTGRES_USER=${POSTGRES_USER:-postgres}
export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

# Options alone are options for the server (`command: -c fsync=off`).
if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi
[ "$1" = postgres ] || exec "$@"

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "$0: POSTGRES_PASSWORD is not set; the server would accept no password over TCP" >&2
        exit 1
    fi
    # Trust on the container's own socket (what docker exec uses), passwords over TCP.
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, as upstream.
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-}
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    # The default the command line can override (listen_addresses=127.0.0.1 on a host network).
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

    # A socket-only server for the set-up, so nothing connects before it is done.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
            --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "$0: PostgreSQL init process complete; ready for start up."
fi

exec "$@"
