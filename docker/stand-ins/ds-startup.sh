#!/bin/bash
# Entrypoint of the DolphinScheduler 2.0.5 stand-in image (API server, worker, logger
# server from the Maven Central jars). It takes the command and the environment variables
# upstream's image takes, writes the conf dir from them (the published jars lack
# registry.properties, quartz.properties, the logback files and the datasource profile),
# waits for the database and ZooKeeper, and runs the server in the foreground.
#
#   startup.sh api-server | worker-server | logger-server
set -euo pipefail

home=${DOLPHINSCHEDULER_HOME:-/opt/dolphinscheduler}
conf=$home/conf
logs=$home/logs
cmd=${1:-help}

die() { echo "startup.sh: $*" >&2; exit 2; }

case "$cmd" in
    api-server|worker-server|logger-server) ;;
    *) echo "usage: api-server | worker-server | logger-server (stand-in of apache/dolphinscheduler:2.0.5)" >&2; exit 1 ;;
esac

# ----- settings, with the defaults of upstream's image -----------------------------------
DATABASE_TYPE=${DATABASE_TYPE:-postgresql}
case "$DATABASE_TYPE" in
    mysql) default_port=3306; default_driver=com.mysql.cj.jdbc.Driver ;;
    postgresql) default_port=5432; default_driver=org.postgresql.Driver ;;
    *) die "DATABASE_TYPE=$DATABASE_TYPE: only mysql and postgresql are supported" ;;
esac
DATABASE_HOST=${DATABASE_HOST:-127.0.0.1}
DATABASE_PORT=${DATABASE_PORT:-$default_port}
DATABASE_USERNAME=${DATABASE_USERNAME:-root}
DATABASE_PASSWORD=${DATABASE_PASSWORD:-root}
DATABASE_DATABASE=${DATABASE_DATABASE:-dolphinscheduler}
DATABASE_PARAMS=${DATABASE_PARAMS:-characterEncoding=utf8}
DATABASE_DRIVER=${DATABASE_DRIVER:-$default_driver}
# Connector/J 8 still loads the old class name, with a warning; keep the modern one.
[ "$DATABASE_DRIVER" = com.mysql.jdbc.Driver ] && DATABASE_DRIVER=com.mysql.cj.jdbc.Driver
jdbc_url=${SPRING_DATASOURCE_URL:-jdbc:$DATABASE_TYPE://$DATABASE_HOST:$DATABASE_PORT/$DATABASE_DATABASE?$DATABASE_PARAMS}
REGISTRY_PLUGIN_NAME=${REGISTRY_PLUGIN_NAME:-zookeeper}
REGISTRY_SERVERS=${REGISTRY_SERVERS:-127.0.0.1:2181}
DATA_BASEDIR_PATH=${DATA_BASEDIR_PATH:-/tmp/dolphinscheduler}

mkdir -p "$conf/env" "$logs" "$DATA_BASEDIR_PATH"

# ----- conf dir (first on the classpath, as upstream's conf/) ----------------------------
cat > "$conf/application.properties" <<EOF
# written by startup.sh from DATABASE_* / SPRING_DATASOURCE_*
spring.datasource.driver-class-name=$DATABASE_DRIVER
spring.datasource.url=$jdbc_url
spring.datasource.username=${SPRING_DATASOURCE_USERNAME:-$DATABASE_USERNAME}
spring.datasource.password=${SPRING_DATASOURCE_PASSWORD:-$DATABASE_PASSWORD}
spring.datasource.hikari.maximum-pool-size=${HIKARI_MAXIMUM_POOL_SIZE:-50}
spring.datasource.hikari.minimum-idle=1
spring.datasource.hikari.connection-test-query=select 1
EOF
# The environment variables of the same names would win over the file (Spring relaxed
# binding); the file already holds their values, and the URL must be the computed one.
unset SPRING_DATASOURCE_URL SPRING_DATASOURCE_USERNAME SPRING_DATASOURCE_PASSWORD

cat > "$conf/registry.properties" <<EOF
# written by startup.sh from REGISTRY_*
registry.plugin.name=$REGISTRY_PLUGIN_NAME
registry.servers=$REGISTRY_SERVERS
registry.namespace=${REGISTRY_NAMESPACE:-dolphinscheduler}
registry.base.sleep.time.ms=${REGISTRY_BASE_SLEEP_TIME_MS:-60}
registry.max.sleep.ms=${REGISTRY_MAX_SLEEP_MS:-300}
registry.max.retries=${REGISTRY_MAX_RETRIES:-5}
registry.session.timeout.ms=${REGISTRY_SESSION_TIMEOUT_MS:-${SESSION_TIMEOUT_MS:-30000}}
registry.connection.timeout.ms=${REGISTRY_CONNECTION_TIMEOUT_MS:-7500}
registry.block.until.connected.wait=${REGISTRY_BLOCK_UNTIL_CONNECTED_WAIT:-15000}
EOF
[ -n "${REGISTRY_DIGEST:-}" ] && echo "registry.digest=$REGISTRY_DIGEST" >> "$conf/registry.properties"

cat > "$conf/common.properties" <<EOF
# written by startup.sh from the environment
data.basedir.path=$DATA_BASEDIR_PATH
resource.storage.type=${RESOURCE_STORAGE_TYPE:-NONE}
resource.upload.path=${RESOURCE_UPLOAD_PATH:-/dolphinscheduler}
fs.defaultFS=${FS_DEFAULT_FS:-file:///}
hadoop.security.authentication.startup.state=${HADOOP_SECURITY_AUTHENTICATION_STARTUP_STATE:-false}
java.security.krb5.conf.path=${JAVA_SECURITY_KRB5_CONF_PATH:-/opt/krb5.conf}
login.user.keytab.username=${LOGIN_USER_KEYTAB_USERNAME:-hdfs@HADOOP.COM}
login.user.keytab.path=${LOGIN_USER_KEYTAB_PATH:-/opt/hdfs.keytab}
kerberos.expire.time=${KERBEROS_EXPIRE_TIME:-2}
hdfs.root.user=${HDFS_ROOT_USER:-hdfs}
resource.manager.httpaddress.port=${RESOURCE_MANAGER_HTTPADDRESS_PORT:-8088}
yarn.resourcemanager.ha.rm.ids=${YARN_RESOURCEMANAGER_HA_RM_IDS:-}
yarn.application.status.address=${YARN_APPLICATION_STATUS_ADDRESS:-http://ds1:%s/ws/v1/cluster/apps/%s}
yarn.job.history.status.address=${YARN_JOB_HISTORY_STATUS_ADDRESS:-http://ds1:19888/ws/v1/history/mapreduce/jobs/%s}
datasource.encryption.enable=${DATASOURCE_ENCRYPTION_ENABLE:-false}
datasource.encryption.salt=${DATASOURCE_ENCRYPTION_SALT:-!@#\$%^&*}
sudo.enable=${SUDO_ENABLE:-true}
development.state=false
dolphinscheduler.env.path=$conf/env/dolphinscheduler_env.sh
EOF

cat > "$conf/quartz.properties" <<EOF
# written by startup.sh: Quartz defaults
EOF

{
    echo "# written by startup.sh: sourced before every shell task"
    for v in HADOOP_HOME HADOOP_CONF_DIR SPARK_HOME1 SPARK_HOME2 PYTHON_HOME HIVE_HOME FLINK_HOME DATAX_HOME; do
        if [ -n "${!v:-}" ]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
    done
} > "$conf/env/dolphinscheduler_env.sh"
chmod 0644 "$conf/env/dolphinscheduler_env.sh"

cat > "$conf/worker.properties" <<EOF
# written by startup.sh from WORKER_*
worker.listen.port=${WORKER_LISTEN_PORT:-1234}
worker.exec.threads=${WORKER_EXEC_THREADS:-100}
worker.heartbeat.interval=${WORKER_HEARTBEAT_INTERVAL:-10}
worker.host.weight=${WORKER_HOST_WEIGHT:-100}
worker.tenant.auto.create=${WORKER_TENANT_AUTO_CREATE:-true}
worker.max.cpuload.avg=${WORKER_MAX_CPULOAD_AVG:--1}
worker.reserved.memory=${WORKER_RESERVED_MEMORY:-0.3}
worker.groups=${WORKER_GROUPS:-default}
alert.listen.host=${ALERT_LISTEN_HOST:-localhost}
worker.retry.report.task.statues.interval=${WORKER_RETRY_REPORT_TASK_STATUES_INTERVAL:-${WORKER_RETRY_REPORT_TASK_STATUS_INTERVAL:-10}}
EOF

# Logging: console (docker logs) plus a file in the logs volume; the worker (and the master
# code it shares) finds task logs through a sifting appender named TASKLOGFILE.
logback() { # <file> <server log name> <with task logs: yes|no>
    {
        cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- written by startup.sh -->
<configuration>
  <property name="log.base" value="$logs"/>
  <conversionRule conversionWord="messsage" converterClass="org.apache.dolphinscheduler.server.log.SensitiveDataConverter"/>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>[%level] %date{yyyy-MM-dd HH:mm:ss.SSS} %logger{96}:[%line] - %msg%n</pattern><charset>UTF-8</charset></encoder>
  </appender>
  <appender name="SERVERLOG" class="ch.qos.logback.core.FileAppender">
    <file>\${log.base}/$2</file>
    <append>true</append>
    <encoder><pattern>[%level] %date{yyyy-MM-dd HH:mm:ss.SSS} [%thread] %logger{96}:[%line] - %msg%n</pattern><charset>UTF-8</charset></encoder>
  </appender>
EOF
        if [ "$3" = yes ]; then
            cat <<'EOF'
  <appender name="TASKLOGFILE" class="ch.qos.logback.classic.sift.SiftingAppender">
    <filter class="org.apache.dolphinscheduler.server.log.TaskLogFilter"/>
    <Discriminator class="org.apache.dolphinscheduler.server.log.TaskLogDiscriminator">
      <key>taskAppId</key>
      <logBase>${log.base}</logBase>
    </Discriminator>
    <sift>
      <appender name="TASK-${taskAppId}" class="ch.qos.logback.core.FileAppender">
        <file>${log.base}/${taskAppId}.log</file>
        <append>true</append>
        <encoder><pattern>[%level] %date{yyyy-MM-dd HH:mm:ss.SSS} %logger{96}:[%line] - %messsage%n</pattern><charset>UTF-8</charset></encoder>
      </appender>
    </sift>
  </appender>
EOF
        fi
        echo '  <root level="INFO">'
        echo '    <appender-ref ref="STDOUT"/>'
        echo '    <appender-ref ref="SERVERLOG"/>'
        [ "$3" = yes ] && echo '    <appender-ref ref="TASKLOGFILE"/>'
        echo '  </root>'
        echo '</configuration>'
    } > "$1"
}

# ----- wait for the database and ZooKeeper (as upstream's image does) ---------------------
wait_tcp() { # <what> <host> <port>
    local i
    for i in $(seq 1 60); do
        if (exec 3<>"/dev/tcp/$2/$3") 2>/dev/null; then echo "$1 $2:$3 is reachable"; return 0; fi
        echo "waiting for $1 at $2:$3 (attempt $i)"
        sleep 3
    done
    die "$1 at $2:$3 not reachable after 180 s"
}
if [ "$cmd" != logger-server ]; then
    first_zk=${REGISTRY_SERVERS%%,*}
    wait_tcp ZooKeeper "${first_zk%:*}" "${first_zk##*:}"
    db_hostport=${jdbc_url#*://}; db_hostport=${db_hostport%%/*}
    case "$db_hostport" in *:*) db_host=${db_hostport%:*}; db_port=${db_hostport##*:} ;; *) db_host=$db_hostport; db_port=$default_port ;; esac
    wait_tcp database "$db_host" "$db_port"
fi

# ----- JVM -------------------------------------------------------------------------------
# Upstream's daemon script carries JDK 8-only GC flags; these suit the JDK 17 of this image.
# The add-opens let the worker read child PIDs and keep reflection-heavy libraries quiet.
jvm_base=(-server -Xss512k -XX:MaxMetaspaceSize=256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens java.base/java.lang.invoke=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED --add-opens java.base/java.net=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    -XX:+HeapDumpOnOutOfMemoryError "-XX:HeapDumpPath=$logs/dump.hprof"
    "-Duser.timezone=${TZ:-UTC}")
# shellcheck disable=SC2206
extra_common=(${DOLPHINSCHEDULER_OPTS:-})
classpath() { # <classpath file>
    local rel out="" entry
    rel=$(cat "$home/$1")
    IFS=: read -r -a entries <<< "$rel"
    for entry in "${entries[@]}"; do out="$out:$home/$entry"; done
    echo "$conf${out}"
}

run_logger() {
    logback "$conf/logback-logger.xml" logger-server.log no
    # shellcheck disable=SC2206
    local opts=(${LOGGER_SERVER_OPTS:--Xms64m -Xmx256m})
    java "${jvm_base[@]}" "${extra_common[@]}" "${opts[@]}" \
        "-Dlogback.configurationFile=$conf/logback-logger.xml" \
        -cp "$(classpath worker.classpath)" org.apache.dolphinscheduler.server.log.LoggerServer
}

cd "$home"
case "$cmd" in
    api-server)
        logback "$conf/logback-api.xml" api-server.log no
        # shellcheck disable=SC2206
        opts=(${API_SERVER_OPTS:--Xms256m -Xmx512m})
        exec java "${jvm_base[@]}" "${extra_common[@]}" "${opts[@]}" \
            "-Dlogging.config=$conf/logback-api.xml" \
            -cp "$(classpath api.classpath)" org.apache.dolphinscheduler.api.ApiApplicationServer
        ;;
    worker-server)
        logback "$conf/logback-worker.xml" worker-server.log yes
        # Upstream's image runs the logger server beside every worker (task log pages).
        if [ "${LOGGER_START_ENABLED:-true}" = true ]; then run_logger & fi
        # shellcheck disable=SC2206
        opts=(${WORKER_SERVER_OPTS:--Xms256m -Xmx512m})
        exec java "${jvm_base[@]}" "${extra_common[@]}" "${opts[@]}" \
            "-Dlogging.config=$conf/logback-worker.xml" \
            -cp "$(classpath worker.classpath)" org.apache.dolphinscheduler.server.worker.WorkerServer
        ;;
    logger-server)
        run_logger
        ;;
esac
