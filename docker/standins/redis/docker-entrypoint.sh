#!/bin/bash
# The official image's contract: options alone run redis-server, which runs as the redis user.
set -euo pipefail

if [ "${1:0:1}" = '-' ] || [[ "${1:-}" == *.conf ]]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
    # As the official image: a server without a config file answers other hosts too.
    if [[ "${2:-}" != *.conf ]] && [[ " $* " != *" --protected-mode "* ]]; then
        set -- "$@" --protected-mode no
    fi
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
    fi
fi

exec "$@"
