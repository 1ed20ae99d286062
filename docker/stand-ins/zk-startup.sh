#!/bin/bash
# Entrypoint of the ZooKeeper stand-in: one standalone server in the foreground.
# Reads ZOO_4LW_COMMANDS_WHITELIST and ZOO_HEAP_SIZE (MB) like the bitnami image;
# ALLOW_ANONYMOUS_LOGIN is accepted (this server has no authentication at all).
set -eu
data=${ZOO_DATA_DIR:-/var/lib/zookeeper}
mkdir -p "$data"
# Debian leaves a placeholder myid (a symlink into /etc) that a standalone server refuses.
rm -f "$data/myid" && echo 1 > "$data/myid"
cat > /etc/zookeeper/conf/zoo.cfg <<CFG
# written by zk-startup.sh
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$data
clientPort=2181
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=${ZOO_4LW_COMMANDS_WHITELIST:-srvr,ruok}
autopurge.purgeInterval=24
CFG
exec java "-Xmx${ZOO_HEAP_SIZE:-256}m" -XX:+UseSerialGC \
    -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
    org.apache.zookeeper.server.quorum.QuorumPeerMain /etc/zookeeper/conf/zoo.cfg
