#!/bin/sh
# /root/checkpoint.sh of the dsmaster image. Upstream's compose file checks its master with
# `/root/checkpoint.sh MasterServer`; in this image that asks dsmaster itself whether it is
# ready (registered in ZooKeeper, database reachable, holding a slot). The argument is
# accepted and ignored. With the metrics port turned off (DSMASTER_METRICS_PORT=0) only
# "the master process runs" can be checked.
case "${DSMASTER_METRICS_PORT:-0}" in
    ''|0)
        if grep -q dsmaster /proc/1/comm 2>/dev/null || grep -qs dsmaster /proc/[0-9]*/comm; then
            echo "[INFO] dsmaster process runs (no metrics port, readiness not checked)"
            exit 0
        fi
        echo "[ERROR] dsmaster process not found"
        exit 1
        ;;
esac
exec dsmaster health
