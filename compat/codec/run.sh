#!/bin/sh
# Builds (once per release, cached by a stamp) and runs dsmaster's codec peer: upstream
# DolphinScheduler's own codec and Netty client/server behind a small CLI of ours.
#
#   compat/codec/run.sh [--version V] <mode> [args...]
#   compat/codec/run.sh probe --master HOST:PORT [--version V]
#
# Modes: vectors | decode | serve PORT | client HOST:PORT | probe HOST:PORT | bench N |
#        session | release | build (build only, print nothing)
# See compat/README.md. V defaults to $DS_VERSION, else 2.0.5. Releases whose artefacts are
# not on Maven Central run on the nearest published release with the same wire format:
# 2.0.7-2.0.9 -> 2.0.6 (dolphinscheduler-remote and the command bodies are identical).
#
# Quiet: prints nothing of its own unless the build fails (then Maven's log goes to stderr).
# Environment: DS_JAVA (java binary), MVN (maven command). Builds go to compat/codec/target/.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
version=${DS_VERSION:-2.0.5}

# Pull --version V / --master HOST:PORT out of the arguments, keep the rest in order.
master=
n=$#
i=0
while [ "$i" -lt "$n" ]; do
    a=$1
    shift
    i=$((i + 1))
    case "$a" in
        --version) version=${1:?--version needs a value}; shift; i=$((i + 1)) ;;
        --version=*) version=${a#*=} ;;
        --master) master=${1:?--master needs HOST:PORT}; shift; i=$((i + 1)) ;;
        --master=*) master=${a#*=} ;;
        *) set -- "$@" "$a" ;;
    esac
done
mode=${1:-}
[ -n "$mode" ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
shift
if [ "$mode" = probe ] && [ -n "$master" ]; then set -- "$master" "$@"; fi

case "$version" in
    2.0.7|2.0.8|2.0.9) artefacts=2.0.6 ;;
    2.0.[0-6]) artefacts=$version ;;
    *) echo "run.sh: unsupported DolphinScheduler version '$version' (2.0.0-2.0.9)" >&2; exit 2 ;;
esac

if [ -n "${DS_JAVA:-}" ]; then java=$DS_JAVA
elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java=$JAVA_HOME/bin/java
else java=java; fi
command -v "$java" >/dev/null 2>&1 || { echo "run.sh: no java ($java); install a JDK >= 11" >&2; exit 127; }
mvn=${MVN:-mvn}

target=$here/target
out=$target/$artefacts
mkdir -p "$target"

# The stamp covers everything the build depends on: our sources, the pom, the JDK.
fingerprint() {
    {
        cat "$here/pom.xml"
        find "$here/src" -type f -name '*.java' | LC_ALL=C sort | xargs cat
        "$java" -version 2>&1
        echo "$artefacts"
    } | cksum
}

built() {
    [ -f "$out/.stamp" ] && [ -s "$out/classpath.txt" ] && [ -d "$out/classes" ] || return 1
    [ "$(cat "$out/.stamp")" = "$1" ] || return 1
    # every jar must still be in ~/.m2
    old_ifs=$IFS; IFS=:
    for jar in $(cat "$out/classpath.txt"); do
        [ -f "$jar" ] || { IFS=$old_ifs; return 1; }
    done
    IFS=$old_ifs
}

build() {
    stamp=$(fingerprint)
    built "$stamp" && return 0
    command -v "$mvn" >/dev/null 2>&1 || { echo "run.sh: no maven ($mvn); install maven" >&2; exit 127; }
    # One build at a time (parallel tests share ~/.m2 and this directory).
    exec 9>"$target/.build.lock"
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    built "$stamp" && return 0
    log=$target/build-$artefacts.log
    if ! "$mvn" -q -B -f "$here/pom.xml" -Dds.version="$artefacts" \
        compile dependency:build-classpath -Dmdep.outputFile="$out/classpath.txt" >"$log" 2>&1; then
        cat "$log" >&2
        echo "run.sh: building the codec peer against DolphinScheduler $artefacts failed (log: $log)" >&2
        exit 1
    fi
    echo "$stamp" >"$out/.stamp"
    exec 9>&-
}

build
[ "$mode" = build ] && exit 0

cp="$out/classes:$(cat "$out/classpath.txt")"
# Fast start for tests and tools; the benchmark wants the optimising JIT.
case "$mode" in
    bench) jit= ;;
    *) jit=-XX:TieredStopAtLevel=1 ;;
esac
exec "$java" -Xss1m -XX:+UseSerialGC $jit -cp "$cp" dev.dsmaster.compat.Peer "$mode" "$@"
