# Environment of every DolphinScheduler service in docker-compose.yml (env_file), with the
# variable names of upstream's 2.0.x image. This copy is set up for the MySQL flavour
# (MariaDB stand-in) and for a 2-core test machine; see docs/configuration.md for how
# dsmaster reads each variable. An operator keeps their own file: dsmaster reads the same names.

# Database
DATABASE_TYPE=mysql
DATABASE_DRIVER=com.mysql.jdbc.Driver
DATABASE_HOST=dolphinscheduler-mysql
DATABASE_PORT=3306
DATABASE_USERNAME=ds_user
DATABASE_PASSWORD=dolphinscheduler
DATABASE_DATABASE=dolphinscheduler
# Connector/J 8 (API server, worker) needs the zone spelled out: MariaDB reports the
# ambiguous "CST" for Asia/Shanghai. dsmaster reads serverTimezone too.
DATABASE_PARAMS=useUnicode=true&characterEncoding=UTF-8&useSSL=false&serverTimezone=Asia/Shanghai

# Registry
REGISTRY_PLUGIN_NAME=zookeeper
REGISTRY_SERVERS=dolphinscheduler-zookeeper:2181

# Common
DOLPHINSCHEDULER_OPTS=
DATA_BASEDIR_PATH=/tmp/dolphinscheduler
RESOURCE_STORAGE_TYPE=NONE
RESOURCE_UPLOAD_PATH=/dolphinscheduler
HADOOP_SECURITY_AUTHENTICATION_STARTUP_STATE=false
DATASOURCE_ENCRYPTION_ENABLE=false
SUDO_ENABLE=true

# Master (the Java master's heap options are ignored by dsmaster). The load and memory
# thresholds are raised because four JVMs and MariaDB start at once on 2 cores: at the
# default (-1 = 2 x cores) masters and workers stop taking work while the load is high.
MASTER_SERVER_OPTS=-Xms1g -Xmx1g -Xmn512m
MASTER_EXEC_THREADS=100
MASTER_EXEC_TASK_NUM=20
MASTER_DISPATCH_TASK_NUM=3
MASTER_HOST_SELECTOR=LowerWeight
MASTER_HEARTBEAT_INTERVAL=10
MASTER_TASK_COMMIT_RETRYTIMES=5
MASTER_TASK_COMMIT_INTERVAL=1000
MASTER_MAX_CPULOAD_AVG=100
MASTER_RESERVED_MEMORY=0.01
MASTER_FAILOVER_INTERVAL=10
MASTER_KILL_YARN_JOB_WHEN_HANDLE_FAILOVER=true
MASTER_PERSIST_EVENT_STATE_THREADS=10

# Worker
WORKER_SERVER_OPTS=-Xms256m -Xmx512m
WORKER_EXEC_THREADS=20
WORKER_HEARTBEAT_INTERVAL=10
WORKER_HOST_WEIGHT=100
WORKER_MAX_CPULOAD_AVG=100
WORKER_RESERVED_MEMORY=0.01
WORKER_GROUPS=default
WORKER_RETRY_REPORT_TASK_STATUES_INTERVAL=10
ALERT_LISTEN_HOST=localhost

# API server, logger server
API_SERVER_OPTS=-Xms256m -Xmx512m
LOGGER_SERVER_OPTS=-Xms64m -Xmx256m
