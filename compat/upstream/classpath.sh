#!/bin/sh
# Prints the runtime classpath of one upstream DolphinScheduler component, resolved by
# Maven from Maven Central into the local repository (~/.m2) and cached as a one-line file
# under <repo>/target/compat/classpath/. A second call only checks the cache.
#
#   compat/upstream/classpath.sh <worker|master|logger|api> <version>
#
# Environment:
#   DS_SERVER_VERSION  version of dolphinscheduler-server to use for worker/master/logger
#                      (default: the release itself when published, see server_version below)
#   DS_COMPAT_CACHE    cache directory (default <repo>/target/compat/classpath)
#   MVN                Maven command (default mvn)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
component=${1:?usage: classpath.sh <worker|master|logger|api> <version>}
version=${2:?usage: classpath.sh <worker|master|logger|api> <version>}
cache=${DS_COMPAT_CACHE:-$repo/target/compat/classpath}
mvn=${MVN:-mvn}

# dolphinscheduler-server (MasterServer, WorkerServer, LoggerServer) was not deployed to
# Maven Central for most 2.0.x releases: Central has 2.0.0 and 2.0.3 only (checked
# 2026-11). Every other 2.0.5 module (service, dao, common, remote, spi, registry, task
# plugins, datasource plugins, api) is published, so a "2.0.5 worker" is the 2.0.3 server
# jar over 2.0.5 libraries. Between 2.0.3 and 2.0.5 the server module changed only
# WorkerServer.close() (kill running tasks, halt) on the worker side and five master
# classes (see compat/README.md).
server_version() {
    if [ -n "${DS_SERVER_VERSION:-}" ]; then echo "$DS_SERVER_VERSION"; return; fi
    case "$1" in
        2.0.0|2.0.3) echo "$1" ;;
        2.0.4|2.0.5) echo 2.0.3 ;;
        *) echo "classpath.sh: no dolphinscheduler-server $1 on Maven Central and no known substitute; set DS_SERVER_VERSION" >&2; exit 2 ;;
    esac
}

case "$component" in
    worker|logger) profile=worker; server=$(server_version "$version") ;;
    master) profile=master; server=$(server_version "$version") ;;
    api) profile=api; server=$version ;;
    *) echo "classpath.sh: unknown component $component (worker|master|logger|api)" >&2; exit 2 ;;
esac

out="$cache/$profile-$version-server$server.classpath"

usable() {
    [ -s "$1" ] || return 1
    # every entry must still exist (~/.m2 may have been cleaned)
    old_ifs=$IFS; IFS=:
    for entry in $(cat "$1"); do
        [ -e "$entry" ] || { IFS=$old_ifs; return 1; }
    done
    IFS=$old_ifs
}

if usable "$out"; then cat "$out"; echo; exit 0; fi

command -v "$mvn" >/dev/null 2>&1 || {
    echo "classpath.sh: no Maven ($mvn) to resolve $component $version and no cached classpath; install maven (scripts/install-deps.sh)" >&2
    exit 127
}
mkdir -p "$cache"
lock="$cache/.lock"
# Serialise concurrent resolutions (parallel tests); flock is in util-linux.
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if usable "$out"; then cat "$out"; echo; exit 0; fi

log="$cache/$profile-$version.mvn.log"
tmp="$out.$$.tmp"
if ! "$mvn" -B -f "$here/pom.xml" -P "$profile" \
        -Dds.version="$version" -Dds.server.version="$server" \
        dependency:build-classpath -Dmdep.includeScope=runtime \
        -Dmdep.outputFile="$tmp" >"$log" 2>&1; then
    echo "classpath.sh: Maven failed resolving $component $version (server $server); log $log:" >&2
    grep -E 'ERROR|Could not' "$log" | head -20 >&2
    rm -f "$tmp"
    exit 1
fi

# Sanity checks on what upstream's runtime needs.
cp_text=$(cat "$tmp")
case "$cp_text" in *mysql-connector-java-*) ;; *) echo "classpath.sh: MySQL driver missing" >&2; exit 1 ;; esac
case "$cp_text" in *annotation-api*) ;; *) echo "classpath.sh: no javax.annotation-api (@PostConstruct would be skipped on JDK 11+)" >&2; exit 1 ;; esac
case "$cp_text" in *slf4j-log4j12*|*log4j-slf4j-impl*) echo "classpath.sh: a second SLF4J binding is on the classpath" >&2; exit 1 ;; esac
mv "$tmp" "$out"
cat "$out"; echo
