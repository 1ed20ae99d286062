#!/bin/bash
# Health check of the DolphinScheduler stand-in image, called as upstream's compose file
# calls its own: /root/checkpoint.sh <MainClassSimpleName>. Healthy when that JVM runs (and,
# for the API server, when its REST port accepts connections).
set -u
name=${1:?usage: checkpoint.sh <ApiApplicationServer|WorkerServer|LoggerServer>}
if ! pgrep -f "java .*[.]$name\$" >/dev/null; then
    echo "[ERROR] $name process not found"
    exit 1
fi
if [ "$name" = ApiApplicationServer ] && ! (exec 3<>/dev/tcp/127.0.0.1/12345) 2>/dev/null; then
    echo "[ERROR] $name does not accept connections on 12345 yet"
    exit 1
fi
echo "[INFO] $name is running"
