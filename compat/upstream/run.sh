#!/bin/sh
# Runs one upstream DolphinScheduler component in the foreground (exec, so the caller's
# PID is the JVM's) from the Maven-resolved classpath of classpath.sh.
#
#   compat/upstream/run.sh <worker|master|logger|api> <version> <conf-dir> <work-dir>
#
# <conf-dir> comes first on the classpath (registry.properties, common.properties,
# worker.properties / master.properties, application.properties with the datasource,
# quartz.properties, logback-<component>.xml), exactly like upstream's `conf/`. If it holds
# a file `jvm.options` (one option per line, `#` comments), those options are added after
# ours (so they win). <work-dir> becomes the working directory (relative log paths, dumps).
#
# Environment: DS_JAVA (java binary; default $JAVA_HOME/bin/java, else java on PATH),
# DS_JAVA_XMX (default 512m), plus what classpath.sh reads.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
usage="usage: run.sh <worker|master|logger|api> <version> <conf-dir> <work-dir>"
component=${1:?$usage}
version=${2:?$usage}
conf=$(cd "${3:?$usage}" && pwd)
work=${4:?$usage}
mkdir -p "$work"
work=$(cd "$work" && pwd)

case "$component" in
    worker) main=org.apache.dolphinscheduler.server.worker.WorkerServer ;;
    master) main=org.apache.dolphinscheduler.server.master.MasterServer ;;
    logger) main=org.apache.dolphinscheduler.server.log.LoggerServer ;;
    api) main=org.apache.dolphinscheduler.api.ApiApplicationServer ;;
    *) echo "run.sh: unknown component $component" >&2; exit 2 ;;
esac

if [ -n "${DS_JAVA:-}" ]; then java=$DS_JAVA
elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java=$JAVA_HOME/bin/java
else java=java; fi
command -v "$java" >/dev/null 2>&1 || { echo "run.sh: no java ($java); install openjdk-17-jre-headless" >&2; exit 127; }

cp=$("$here/classpath.sh" "$component" "$version")

# Upstream's daemon script uses JDK 8-only GC flags (ParNew/CMS) that a JDK 17 refuses;
# these are ours. The add-opens let the worker read child PIDs (ProcessImpl.pid) and keep
# Netty/MyBatis reflection quiet on JDK >= 16.
set -- -server -Xms128m "-Xmx${DS_JAVA_XMX:-512m}" -Xss512k -XX:MaxMetaspaceSize=256m \
    -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED \
    --add-opens java.base/java.lang.invoke=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.net=ALL-UNNAMED \
    --add-opens java.base/java.nio=ALL-UNNAMED \
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED \
    -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$work/dump.hprof"
if [ -f "$conf/logback-$component.xml" ]; then
    case "$component" in
        logger) set -- "$@" -Dlogback.configurationFile="$conf/logback-$component.xml" ;;
        *) set -- "$@" -Dlogging.config="$conf/logback-$component.xml" ;;
    esac
fi
if [ -f "$conf/jvm.options" ]; then
    while IFS= read -r opt || [ -n "$opt" ]; do
        case "$opt" in ''|'#'*) continue ;; esac
        set -- "$@" "$opt"
    done < "$conf/jvm.options"
fi

cd "$work"
exec "$java" "$@" -cp "$conf:$cp" "$main"
