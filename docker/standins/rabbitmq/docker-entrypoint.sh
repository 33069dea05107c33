#!/bin/bash
# Gives each container its own Erlang cookie (the server and the CLI tools share it through
# $HOME), then runs the server as the rabbitmq user, as the official image does.
set -euo pipefail

cookie=$HOME/.erlang.cookie
if [ ! -s "$cookie" ]; then
    (umask 077 && od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$cookie")
fi

if [ "$1" = rabbitmq-server ] && [ "$(id -u)" = 0 ]; then
    # A fresh volume belongs to root.
    chown -R rabbitmq:rabbitmq "$HOME"
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
fi

exec "$@"
