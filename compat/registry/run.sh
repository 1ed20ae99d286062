#!/bin/sh
# Builds (once) and runs the Java registry peer of tests/compat_registry.rs.
#
#   compat/registry/run.sh --build            build if needed; print the build time if it built
#   compat/registry/run.sh zk34-server CFG    ZooKeeper 3.4.14's ZooKeeperServerMain with CFG
#   compat/registry/run.sh MODE ARGS...       dsmaster.compat.registry.Peer MODE ARGS...
#
# The build is cached under compat/registry/target/ and keyed by a stamp over the poms, the
# Java sources and this script: a second call only checks the stamp and that every classpath
# entry still exists in ~/.m2. Concurrent callers are serialised with flock. Maven output goes
# to target/build.log and is shown only on failure.
#
# Environment: JAVA (default $JAVA_HOME/bin/java, else java), MVN (default mvn).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
target=$here/target
mvn=${MVN:-mvn}
if [ -n "${JAVA:-}" ]; then java=$JAVA
elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java=$JAVA_HOME/bin/java
else java=java; fi

# Releases whose HeartBeat is exercised (pom.xml copies their jars to target/heartbeat/<v>/;
# 2.0.6 stands for 2.0.6-2.0.9, see the pom).
heartbeat_versions="2.0.0 2.0.5 2.0.6"

stamp_key() {
    {
        cat "$here/pom.xml" "$here/run.sh"
        find "$here/src" -type f -name '*.java' | LC_ALL=C sort | xargs cat
    } | sha256sum | cut -d' ' -f1
}

entries_exist() {
    [ -s "$1" ] || return 1
    old_ifs=$IFS; IFS=:
    for entry in $(cat "$1"); do
        [ -e "$entry" ] || { IFS=$old_ifs; return 1; }
    done
    IFS=$old_ifs
}

heartbeat_classpath() {
    find "$target/heartbeat/$1" -name '*.jar' 2>/dev/null | LC_ALL=C sort | paste -sd: -
}

up_to_date() {
    [ "$(cat "$target/.stamp" 2>/dev/null)" = "$1" ] || return 1
    [ -d "$target/classes/dsmaster" ] || return 1
    entries_exist "$target/deps.classpath" || return 1
    for v in $heartbeat_versions; do
        [ -n "$(heartbeat_classpath "$v")" ] || return 1
    done
}

mvn_quiet() {
    if ! "$mvn" -B "$@" >>"$target/build.log" 2>&1; then
        echo "compat/registry: Maven failed ($*); log $target/build.log:" >&2
        grep -E 'ERROR|Could not' "$target/build.log" | head -20 >&2
        exit 1
    fi
}

build() {
    started=$(date +%s)
    : >"$target/build.log"
    rm -rf "$target/heartbeat"
    mvn_quiet -f "$here/pom.xml" package -Dmaven.test.skip=true
    # ZooKeeper 3.4.14's StaticHostProvider resolves "host/<unresolved>" (the
    # InetSocketAddress.toString of JDK >= 14, ZOOKEEPER-3779) instead of "host". Rather
    # than replace client code, give the JVM a hosts file that also knows those names.
    { cat /etc/hosts 2>/dev/null || true
      echo "127.0.0.1 127.0.0.1/<unresolved> localhost/<unresolved>"
    } >"$target/jdk-hosts"
    echo "$1" >"$target/.stamp"
    echo "compat/registry: Java peer built in $(( $(date +%s) - started ))s" >&2
}

mkdir -p "$target"
key=$(stamp_key)
if ! up_to_date "$key"; then
    exec 9>"$target/.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    if ! up_to_date "$key"; then build "$key"; fi
    exec 9>&-
fi

[ "${1:-}" = "--build" ] && exit 0

props="-Djdk.net.hosts.file=$target/jdk-hosts -Dorg.slf4j.simpleLogger.defaultLogLevel=warn"
props="$props -Dorg.slf4j.simpleLogger.logFile=System.err -Dzookeeper.jmx.log4j.disable=true"
for v in $heartbeat_versions; do
    props="$props -Dheartbeat.classpath.$v=$(heartbeat_classpath "$v")"
done
classpath="$target/classes:$(cat "$target/deps.classpath")"

if [ "${1:-}" = "zk34-server" ]; then
    shift
    # shellcheck disable=SC2086
    exec "$java" -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dzookeeper.jmx.log4j.disable=true \
        -cp "$classpath" org.apache.zookeeper.server.ZooKeeperServerMain "$@"
fi

# shellcheck disable=SC2086
exec "$java" -Xms32m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $props \
    -cp "$classpath" dsmaster.compat.registry.Peer "$@"
