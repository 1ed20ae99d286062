#!/bin/bash
# Entrypoint of the MariaDB stand-in (see mariadb.Dockerfile).
set -euo pipefail
datadir=/var/lib/mysql
sock=/run/mysqld/mysqld.sock
db=${MYSQL_DATABASE:-dolphinscheduler}
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld "$datadir"
common=(--datadir="$datadir" --character-set-server=utf8mb4
    --collation-server=utf8mb4_general_ci --skip-name-resolve --skip-log-bin
    --performance-schema=OFF --innodb-buffer-pool-size="${MARIADB_INNODB_BUFFER_POOL_SIZE:-128M}")

if [ ! -d "$datadir/mysql" ]; then
    echo "mariadb-startup: initialising $datadir"
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
        --auth-root-authentication-method=normal >/dev/null
    # A private socket while loading, so the health check stays red until the end.
    sock=/run/mysqld/init.sock
    mariadbd --user=mysql "${common[@]}" --socket="$sock" --skip-networking &
    pid=$!
    for _ in $(seq 1 60); do
        mariadb-admin --socket="$sock" --user=root ping >/dev/null 2>&1 && break
        sleep 1
    done
    q() { mariadb --socket="$sock" --user=root --batch "$@"; }
    q <<SQL
CREATE DATABASE IF NOT EXISTS \`$db\` DEFAULT CHARACTER SET utf8 DEFAULT COLLATE utf8_general_ci;
SQL
    if [ -n "${MYSQL_USER:-}" ]; then
        q <<SQL
CREATE USER IF NOT EXISTS '${MYSQL_USER}'@'%' IDENTIFIED BY '${MYSQL_PASSWORD:-}';
GRANT ALL PRIVILEGES ON \`$db\`.* TO '${MYSQL_USER}'@'%';
SQL
    fi
    for f in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "$f" ] || continue
        echo "mariadb-startup: loading $f into $db"
        q --default-character-set=utf8mb4 "$db" < "$f"
    done
    if [ -n "${MYSQL_ROOT_PASSWORD:-}" ]; then
        q -e "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}'; GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION; ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';"
    fi
    mariadb-admin --socket="$sock" --user=root ${MYSQL_ROOT_PASSWORD:+--password="$MYSQL_ROOT_PASSWORD"} shutdown
    wait "$pid" || true
    echo "mariadb-startup: initialised"
fi
exec mariadbd --user=mysql "${common[@]}" --socket=/run/mysqld/mysqld.sock --bind-address=0.0.0.0 --port=3306
