#!/bin/sh
# Installs what the integration tests and `dsmaster demo` need on Debian/Ubuntu:
# MariaDB, PostgreSQL and ZooKeeper binaries (started privately by src/testkit,
# never as system services we rely on), a JDK for ZooKeeper, Maven to fetch
# upstream's schema from Maven Central, and unzip to extract it.
#
# Idempotent and fast when everything is present: apt-get update only runs
# when something is missing. Needs root (or sudo) only in that case.
set -eu

missing=""
need() { missing="$missing $1"; }

command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need mariadb-server
command -v mariadb-install-db >/dev/null 2>&1 || need mariadb-server
command -v mariadb >/dev/null 2>&1 || need mariadb-client
# PostgreSQL server and psql (bookworm: postgresql-15); the kit looks in
# /usr/lib/postgresql/<major>/bin, which is not on PATH, and /usr/local/bin.
pg_bin() {
    for d in /usr/lib/postgresql/*/bin /usr/local/bin; do
        [ -x "$d/$1" ] && return 0
    done
    command -v "$1" >/dev/null 2>&1
}
{ pg_bin postgres && pg_bin initdb; } || need postgresql
pg_bin psql || need postgresql-client
[ -f /usr/share/java/zookeeper.jar ] || need zookeeper
# slf4j-simple gives the private ZooKeeper a log file; zookeeper does not pull it in.
[ -f /usr/share/java/slf4j-simple.jar ] || need libslf4j-java
command -v java >/dev/null 2>&1 || need default-jdk-headless
command -v mvn >/dev/null 2>&1 || need maven
command -v unzip >/dev/null 2>&1 || need unzip
# The test network of upstream's Java servers (src/testkit/netns.rs): ip netns, veth, bridge.
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need iproute2
# A listener inside a namespace for tests/testnet.rs (mariadb-server pulls it in too).
command -v socat >/dev/null 2>&1 || need socat

if [ -z "$missing" ]; then
    echo "install-deps: all dependencies present"
    exit 0
fi

# De-duplicate while keeping order (mariadb-server may be listed twice).
packages=$(printf '%s\n' $missing | awk '!seen[$0]++' | tr '\n' ' ')
echo "install-deps: installing $packages"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

# Keep the package's own MariaDB/PostgreSQL/ZooKeeper services from starting: the
# tests never use them, and a system server on 3306 or 5432 must not be disturbed
# or depended upon. policy-rc.d is only added if absent, and removed afterwards.
# (postgresql's postinst creates the stopped cluster 15/main and starts it through
# invoke-rc.d, which policy-rc.d refuses.)
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    added_policy=1
fi
cleanup() {
    if [ -n "$added_policy" ]; then
        $SUDO rm -f "$policy"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

$SUDO apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages

echo "install-deps: done"
