#!/bin/sh
# Starts, stops and reports dsmaster the way DolphinScheduler's own daemon script does for
# master-server, so a tarball host's habits (and start-all.sh / stop-all.sh style tooling)
# keep working:
#
#   bin/dsmaster-daemon.sh (start|stop|restart|status) master-server
#
# Layout, relative to the install directory (the parent of bin/):
#   bin/dsmaster                    the binary (or set DSMASTER_BIN, or have dsmaster on PATH)
#   conf/                           the same conf dir the Java master used
#   conf/env/dolphinscheduler_env.sh, conf/config/install_config.conf   sourced when present
#   pid/dolphinscheduler-master-server.pid
#   logs/dolphinscheduler-master-server-<hostname>.out
#
# Environment: DOLPHINSCHEDULER_HOME, DOLPHINSCHEDULER_PID_DIR, DOLPHINSCHEDULER_LOG_DIR,
# DOLPHINSCHEDULER_CONF_DIR override those paths; STOP_TIMEOUT (seconds, default 30) is how
# long stop waits for a graceful exit before SIGKILL; DSMASTER_OPTS are extra arguments.
# Exit status: 0 on success (status: running), 1 otherwise (status: stopped).

usage="usage: $0 (start|stop|restart|status) master-server"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 1; }
action=$1
server=$2

bin_dir=$(cd "$(dirname "$0")" && pwd)
home=${DOLPHINSCHEDULER_HOME:-$(cd "$bin_dir/.." && pwd)}

if [ "$server" != "master-server" ]; then
    # Beside upstream's script, hand the other servers to it.
    if [ -x "$bin_dir/dolphinscheduler-daemon.sh" ]; then
        exec "$bin_dir/dolphinscheduler-daemon.sh" "$action" "$server"
    fi
    echo "dsmaster-daemon.sh manages master-server only, not '$server'" >&2
    exit 1
fi

for f in "$home/conf/env/dolphinscheduler_env.sh" "$home/conf/config/install_config.conf"; do
    if [ -r "$f" ]; then
        set -a
        # shellcheck disable=SC1090
        . "$f"
        set +a
    fi
done

pid_dir=${DOLPHINSCHEDULER_PID_DIR:-$home/pid}
log_dir=${DOLPHINSCHEDULER_LOG_DIR:-$home/logs}
conf_dir=${DOLPHINSCHEDULER_CONF_DIR:-$home/conf}
stop_timeout=${STOP_TIMEOUT:-30}
host=$(hostname 2>/dev/null || echo localhost)
pid_file=$pid_dir/dolphinscheduler-$server.pid
log_file=$log_dir/dolphinscheduler-$server-$host.out

if [ -n "${DSMASTER_BIN:-}" ]; then
    dsmaster=$DSMASTER_BIN
elif [ -x "$bin_dir/dsmaster" ]; then
    dsmaster=$bin_dir/dsmaster
else
    dsmaster=$(command -v dsmaster || true)
fi

# The pid of a live dsmaster named by the pid file, or nothing.
running_pid() {
    [ -f "$pid_file" ] || return 1
    p=$(cat "$pid_file" 2>/dev/null)
    case "$p" in ''|*[!0-9]*) return 1 ;; esac
    kill -0 "$p" 2>/dev/null || return 1
    # A recycled pid belongs to another program: not ours.
    if [ -r "/proc/$p/cmdline" ] && ! tr '\0' ' ' < "/proc/$p/cmdline" | grep -q dsmaster; then
        return 1
    fi
    echo "$p"
}

start() {
    if p=$(running_pid); then
        echo "$server running as process $p. Stop it first."
        return 1
    fi
    if [ -z "$dsmaster" ] || [ ! -x "$dsmaster" ]; then
        echo "cannot find the dsmaster binary: put it at $bin_dir/dsmaster, on PATH, or set DSMASTER_BIN" >&2
        return 1
    fi
    mkdir -p "$pid_dir" "$log_dir" || return 1
    echo "starting $server (dsmaster), logging to $log_file"
    cd "$home" || return 1
    # shellcheck disable=SC2086
    nohup "$dsmaster" run --conf-dir "$conf_dir" ${DSMASTER_OPTS:-} >> "$log_file" 2>&1 < /dev/null &
    echo $! > "$pid_file"
    # A bad conf dir ends the process at once with a one-line reason: show it.
    sleep 1
    if ! running_pid > /dev/null; then
        echo "$server exited right after starting; the end of $log_file:" >&2
        tail -n 5 "$log_file" >&2
        rm -f "$pid_file"
        return 1
    fi
}

stop() {
    if ! p=$(running_pid); then
        echo "no $server to stop"
        rm -f "$pid_file"
        return 0
    fi
    echo "stopping $server (process $p)"
    kill "$p"
    waited=0
    while kill -0 "$p" 2>/dev/null && [ "$waited" -lt "$stop_timeout" ]; do
        sleep 1
        waited=$((waited + 1))
    done
    if kill -0 "$p" 2>/dev/null; then
        echo "$server did not stop within $stop_timeout s: killing it (kill -9)"
        kill -9 "$p"
    fi
    rm -f "$pid_file"
}

status() {
    if p=$(running_pid); then
        echo "$server RUNNING (process $p)"
        return 0
    fi
    echo "$server STOP"
    return 1
}

case "$action" in
    start) start ;;
    stop) stop ;;
    restart) stop && start ;;
    status) status ;;
    *) echo "$usage" >&2; exit 1 ;;
esac
