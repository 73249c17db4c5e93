#!/bin/sh
# First start: a cluster in $PGDATA with trust authentication and the
# database $POSTGRES_DB; then the server, listening on every address.
set -eu
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ "${1:-}" = postgres ]; then
    shift
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        initdb --auth=trust --username="$user" --encoding=UTF8 --no-sync -D "$PGDATA" >/dev/null
        printf 'host all all all trust\n' >>"$PGDATA/pg_hba.conf"
        if [ "$db" != postgres ]; then
            echo "CREATE DATABASE \"$db\";" | postgres --single -D "$PGDATA" postgres >/dev/null
        fi
    fi
    exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
