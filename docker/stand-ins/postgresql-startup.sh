#!/bin/bash
# Entrypoint of the PostgreSQL stand-in (see postgresql.Dockerfile).
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data=/bitnami/postgresql/data
user=${POSTGRESQL_USERNAME:-postgres}
password=${POSTGRESQL_PASSWORD:-}
db=${POSTGRESQL_DATABASE:-dolphinscheduler}
host_auth=scram-sha-256
if [ -z "$password" ]; then
    # bitnami refuses an empty password unless told otherwise; so does this stand-in.
    [ "${ALLOW_EMPTY_PASSWORD:-no}" = yes ] \
        || { echo "postgresql-startup: POSTGRESQL_PASSWORD is empty (set ALLOW_EMPTY_PASSWORD=yes to allow it)" >&2; exit 2; }
    host_auth=trust
fi
as_pg() { runuser -u postgres -- "$@"; }
mkdir -p "$data" /run/postgresql
chown postgres:postgres /bitnami/postgresql "$data" /run/postgresql
chmod 0700 "$data"

if [ ! -s "$data/PG_VERSION" ]; then
    echo "postgresql-startup: initialising $data (superuser $user, database $db)"
    pwfile=$(mktemp)
    printf '%s\n' "${password:-unused}" > "$pwfile"
    chown postgres "$pwfile"
    as_pg "$bin/initdb" -D "$data" --username="$user" --pwfile="$pwfile" \
        --auth-local=trust --auth-host="$host_auth" --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf 'host all all 0.0.0.0/0 %s\nhost all all ::/0 %s\n' "$host_auth" "$host_auth" >> "$data/pg_hba.conf"
    # A private socket and no TCP while loading, so neither the health check nor a client
    # sees a half-made database.
    init_sock=/run/postgresql/init
    mkdir -p "$init_sock" && chown postgres:postgres "$init_sock"
    as_pg "$bin/pg_ctl" -D "$data" -w -s \
        -o "-c listen_addresses='' -c unix_socket_directories=$init_sock" start
    q() { as_pg psql -h "$init_sock" -U "$user" -v ON_ERROR_STOP=1 -q "$@"; }
    q -d postgres -c "CREATE DATABASE \"$db\" ENCODING 'UTF8'"
    for f in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "$f" ] || continue
        echo "postgresql-startup: loading $f into $db"
        q -d "$db" -f "$f" >/dev/null
    done
    as_pg "$bin/pg_ctl" -D "$data" -w -s -m fast stop
    echo "postgresql-startup: initialised"
fi
exec runuser -u postgres -- "$bin/postgres" -D "$data" \
    -c listen_addresses='*' -c port=5432 -c unix_socket_directories=/run/postgresql
