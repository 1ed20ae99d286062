#!/bin/bash
# End-to-end test of docker/docker-compose.yml with real containers: upstream's 2.0.5 API
# server and worker (stand-in images built from the Maven Central jars), ZooKeeper and
# MariaDB (Debian packages), and dsmaster as the master service.
#
#   docker/compose-test.sh          (as root; Debian/Ubuntu with apt)
#
# What it does, timing each phase:
#   1. installs docker.io, docker-compose and debootstrap when missing;
#   2. starts a dockerd of its own (own socket, data root, exec root, pid file and bridge)
#      and stops it on exit; it never talks to any other Docker daemon;
#   3. makes the base image with debootstrap unless it exists (the data root is kept
#      between runs, so later runs reuse every image layer);
#   4. builds dsmaster with cargo and the images: dsmaster (docker/Dockerfile.local), the
#      JRE layer, ZooKeeper, MariaDB and PostgreSQL with upstream's 2.0.5 schema, and the
#      API server / worker stand-in (docker/stand-ins/);
#   5. brings the compose project up (database and ZooKeeper first), logs in to the API
#      server through its REST port (published on 127.0.0.1 only), creates a tenant and a
#      project, imports and runs a two-task workflow to SUCCESS, checks that the monitor
#      page lists our master and that the tasks ran as the tenant;
#   6. runs a slower three-task workflow, restarts the dsmaster container while the second
#      task runs, and waits for SUCCESS;
#   7. checks that Docker reports the dsmaster container healthy;
#   8. scrapes /metrics inside the container, checks that a wrong DATABASE_PORT is refused
#      with its name, then `down -v`;
#   9. upstream's default topology, docker-compose.postgresql.yml (PostgreSQL with
#      upstream's 2.0.5 PostgreSQL schema): up, a workflow to SUCCESS through the API, the
#      monitor page, the instance row read back from PostgreSQL, `down -v`.
# Exits non-zero on the first failure, after printing the containers' logs.
#
# Environment:
#   CARGO_TARGET_DIR        where cargo builds dsmaster (default <repo>/target)
#   DSMASTER_BIN            use this dsmaster binary instead of building one
#   DSMASTER_DOCKER_ROOT    dockerd state (default /var/lib/dsmaster-docker; kept)
#   DSMASTER_DOCKER_RUN     dockerd socket / pid / exec root dir (default /run/dsmaster-docker)
#   DSMASTER_DOCKER_KEEP=1  leave the last compose project (PostgreSQL) and dockerd running
#   DEBIAN_MIRROR           debootstrap mirror (default http://deb.debian.org/debian)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ds_version=2.0.5
run_dir=${DSMASTER_DOCKER_RUN:-/run/dsmaster-docker}
data_root=${DSMASTER_DOCKER_ROOT:-/var/lib/dsmaster-docker}
bridge=dsmaster0
bridge_cidr=172.29.255.1/24
address_pool=172.29.0.0/17
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
stage=$repo/target/docker
project=dsmaster-compose-test
compose_file=$here/docker-compose.yml
DOCKER=/usr/bin/docker
COMPOSE=/usr/bin/docker-compose
export DOCKER_HOST=unix://$run_dir/docker.sock
export COMPOSE_HTTP_TIMEOUT=300
export DOCKER_BUILDKIT=0
tenant=dstenant
project_name=dsmaster-compose

t_start=$(date +%s)
t_phase=$t_start
timings=()
phase() { # <name>: closes the previous phase
    local now
    now=$(date +%s)
    if [ -n "${phase_name:-}" ]; then
        timings+=("$(printf '%-34s %4ds' "$phase_name" $((now - t_phase)))")
        echo "=== $phase_name: $((now - t_phase)) s"
    fi
    phase_name=${1:-}
    t_phase=$now
    [ -n "$phase_name" ] && echo "=== $phase_name ..."
    return 0
}
print_timings() {
    phase ""
    echo "--- compose test timings ---"
    local line
    for line in "${timings[@]}"; do echo "  $line"; done
    echo "  $(printf '%-34s %4ds' total $(( $(date +%s) - t_start )))"
}
log() { echo "compose-test: $*"; }
fail() {
    echo "compose-test: FAILED: $*" >&2
    dump_logs
    exit 1
}

compose() { "$COMPOSE" -p "$project" -f "$compose_file" "$@"; }
cid() { compose ps -q "$1"; }

project_up=0
db_service=dolphinscheduler-mysql
dump_logs() {
    [ "$project_up" = 1 ] || return 0
    echo "----- container states -----" >&2
    compose ps >&2 || true
    local svc
    for svc in dolphinscheduler-master dolphinscheduler-worker dolphinscheduler-api dolphinscheduler-zookeeper "$db_service"; do
        echo "----- logs of $svc (last 80 lines) -----" >&2
        compose logs --no-color --tail=80 "$svc" >&2 || true
    done
}

own_dockerd=0
cleanup() {
    local rc=$?
    set +e
    if [ "${DSMASTER_DOCKER_KEEP:-0}" = 1 ]; then
        log "DSMASTER_DOCKER_KEEP=1: leaving the project and dockerd ($DOCKER_HOST) running"
    else
        if [ "$project_up" = 1 ]; then
            compose down -v --remove-orphans >/dev/null 2>&1
        fi
        if [ "$own_dockerd" = 1 ]; then stop_dockerd; fi
    fi
    [ ${#timings[@]} -gt 0 ] && print_timings
    if [ $rc -eq 0 ]; then log "PASSED"; else log "exit status $rc"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----- 1. tools --------------------------------------------------------------------------
phase "install tools"
[ "$(id -u)" = 0 ] || fail "must run as root (dockerd, debootstrap)"
missing=()
[ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || missing+=(docker.io)
[ -x "$COMPOSE" ] || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v python3 >/dev/null || missing+=(python3)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ----- 2. our dockerd --------------------------------------------------------------------
stop_dockerd() {
    local pid
    pid=$(cat "$run_dir/dockerd.pid" 2>/dev/null) || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$run_dir/dockerd.pid"
    ip link del "$bridge" 2>/dev/null || true
    restore_host_firewall
}
# dockerd turns the FORWARD policy to DROP and loads br_netfilter, which then filters every
# bridge on the host (the Rust tests' network namespaces among them). Note what was there
# before it starts and put it back once it is gone.
forward_policy_before=""
bridge_nf_before=""
note_host_firewall() {
    forward_policy_before=$(iptables -w -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3; exit}')
    bridge_nf_before=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 0)
}
restore_host_firewall() {
    if [ -n "$forward_policy_before" ]; then
        iptables -w -P FORWARD "$forward_policy_before" 2>/dev/null || true
    fi
    if [ -n "$bridge_nf_before" ] && [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
        echo "$bridge_nf_before" > /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || true
        echo "$bridge_nf_before" > /proc/sys/net/bridge/bridge-nf-call-ip6tables 2>/dev/null || true
    fi
}
phase "start own dockerd"
mkdir -p "$run_dir" "$data_root"
old=$(cat "$run_dir/dockerd.pid" 2>/dev/null || true)
if [ -n "$old" ] && kill -0 "$old" 2>/dev/null \
        && tr '\0' ' ' < "/proc/$old/cmdline" | grep -q -- "--host $DOCKER_HOST"; then
    log "stopping the dockerd left by an earlier run of this script (pid $old)"
    stop_dockerd
fi
if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$bridge_cidr" dev "$bridge"
fi
ip link set "$bridge" up
note_host_firewall
/usr/sbin/dockerd --host "$DOCKER_HOST" --data-root "$data_root" \
    --exec-root "$run_dir/exec" --pidfile "$run_dir/dockerd.pid" \
    --bridge "$bridge" --default-address-pool "base=$address_pool,size=24" \
    --storage-driver overlay2 >"$run_dir/dockerd.log" 2>&1 &
own_dockerd=1
for i in $(seq 1 60); do
    "$DOCKER" version >/dev/null 2>&1 && break
    [ "$i" = 60 ] && { tail -20 "$run_dir/dockerd.log" >&2; fail "dockerd did not start"; }
    sleep 0.5
done
log "dockerd $("$DOCKER" version -f '{{.Server.Version}}') on $DOCKER_HOST (log $run_dir/dockerd.log)"

# ----- 3. base image ---------------------------------------------------------------------
phase "base image"
if "$DOCKER" image inspect dsmaster-base:bookworm >/dev/null 2>&1; then
    log "dsmaster-base:bookworm exists"
else
    rootfs=$stage/rootfs-bookworm
    rm -rf "$rootfs"
    mkdir -p "$stage"
    log "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$stage/debootstrap.log" 2>&1 \
        || { tail -20 "$stage/debootstrap.log" >&2; fail "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "$DOCKER" import - dsmaster-base:bookworm >/dev/null
    rm -rf "$rootfs"
fi

# ----- 4. binary, build contexts, images -------------------------------------------------
phase "build dsmaster binary"
if [ -n "${DSMASTER_BIN:-}" ]; then
    bin=$DSMASTER_BIN
else
    (cd "$repo" && cargo build --release --bin dsmaster)
    bin=${CARGO_TARGET_DIR:-$repo/target}/release/dsmaster
fi
[ -x "$bin" ] || fail "no dsmaster binary at $bin"
"$bin" --help | grep -q master-server || fail "$bin has no master-server command"

phase "stage build contexts"
ctx=$stage/context
mkdir -p "$ctx/dsmaster" "$ctx/dolphinscheduler/lib" "$ctx/mariadb/initdb" "$ctx/postgresql/initdb" \
    "$ctx/zookeeper" "$ctx/empty"
# dsmaster: the binary without debug info, the image's conf dir, the health check script.
if command -v strip >/dev/null; then
    strip -o "$ctx/dsmaster/dsmaster.new" "$bin"
else
    cp "$bin" "$ctx/dsmaster/dsmaster.new"
fi
if cmp -s "$ctx/dsmaster/dsmaster.new" "$ctx/dsmaster/dsmaster"; then
    rm "$ctx/dsmaster/dsmaster.new"
else
    mv "$ctx/dsmaster/dsmaster.new" "$ctx/dsmaster/dsmaster"
fi
rm -rf "$ctx/dsmaster/conf"
cp -r "$here/conf" "$ctx/dsmaster/conf"
cp "$here/checkpoint.sh" "$ctx/dsmaster/checkpoint.sh"
# Stand-in of upstream's image: the jars of both classpaths (resolved from Maven Central
# into ~/.m2 by compat/upstream/classpath.sh, cached), one lib/ dir, one classpath file each.
stage_classpath() { # <component> <output file>
    local cp entry name out=""
    cp=$("$repo/compat/upstream/classpath.sh" "$1" "$ds_version") \
        || fail "resolving the upstream $1 $ds_version classpath (compat/upstream/classpath.sh)"
    IFS=: read -r -a entries <<< "$cp"
    for entry in "${entries[@]}"; do
        [ -f "$entry" ] || fail "classpath entry $entry is not a jar file"
        name=$(basename "$entry")
        if [ -e "$ctx/dolphinscheduler/lib/$name" ]; then
            cmp -s "$entry" "$ctx/dolphinscheduler/lib/$name" \
                || cp -p "$entry" "$ctx/dolphinscheduler/lib/$name"
        else
            cp -p "$entry" "$ctx/dolphinscheduler/lib/$name"
        fi
        out="$out${out:+:}lib/$name"
    done
    printf '%s\n' "$out" > "$2"
}
stage_classpath api "$ctx/dolphinscheduler/api.classpath"
stage_classpath worker "$ctx/dolphinscheduler/worker.classpath"
# Two different jars with one file name would overwrite each other: refuse.
dups=$(cat "$ctx/dolphinscheduler/api.classpath" "$ctx/dolphinscheduler/worker.classpath" \
    | tr ':' '\n' | sort -u | wc -l)
[ "$(ls "$ctx/dolphinscheduler/lib" | wc -l)" -ge "$dups" ] || fail "jar name clash in the stand-in's lib/"
cp "$here/stand-ins/ds-startup.sh" "$ctx/dolphinscheduler/startup.sh"
cp "$here/stand-ins/ds-checkpoint.sh" "$ctx/dolphinscheduler/checkpoint.sh"
cp "$here/stand-ins/zk-startup.sh" "$ctx/zookeeper/zk-startup.sh"
cp "$here/stand-ins/mariadb-startup.sh" "$ctx/mariadb/mariadb-startup.sh"
# Upstream's 2.0.5 DDL, MySQL and PostgreSQL: the test kit's cache, else the
# dolphinscheduler-dao sources jar in ~/.m2, else Maven Central through mvn.
cp "$here/stand-ins/postgresql-startup.sh" "$ctx/postgresql/postgresql-startup.sh"
schema_cache=${DSMASTER_SCHEMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsmaster/schema}/$ds_version
sources_jar=$HOME/.m2/repository/org/apache/dolphinscheduler/dolphinscheduler-dao/$ds_version/dolphinscheduler-dao-$ds_version-sources.jar
stage_ddl() { # <file name in the jar's sql/> <destination> <line the fresh-install script has>
    local name=$1 ddl=$2
    if [ -s "$schema_cache/$name" ]; then
        cp "$schema_cache/$name" "$ddl.new"
    else
        if [ ! -s "$sources_jar" ]; then
            mvn -B -q dependency:get "-Dartifact=org.apache.dolphinscheduler:dolphinscheduler-dao:$ds_version:jar:sources" \
                || fail "cannot fetch dolphinscheduler-dao $ds_version sources from Maven Central"
        fi
        unzip -p "$sources_jar" "sql/$name" > "$ddl.new"
    fi
    grep -qF "$3" "$ddl.new" || fail "$ddl.new is not upstream's $ds_version $name"
    if cmp -s "$ddl.new" "$ddl"; then rm "$ddl.new"; else mv "$ddl.new" "$ddl"; fi
}
stage_ddl dolphinscheduler_mysql.sql "$ctx/mariadb/initdb/dolphinscheduler_mysql.sql" \
    "INSERT INTO \`t_ds_version\` VALUES ('1', '$ds_version')"
stage_ddl dolphinscheduler_postgresql.sql "$ctx/postgresql/initdb/dolphinscheduler_postgresql.sql" \
    "INSERT INTO t_ds_version(version) VALUES ('$ds_version')"

build() { # <phase name> <tag> <dockerfile> <context> [build args...]
    local name=$1 tag=$2 file=$3 context=$4
    shift 4
    phase "image $name"
    local args=()
    for a in "$@"; do args+=(--build-arg "$a"); done
    "$DOCKER" build "${args[@]}" -t "$tag" -f "$file" "$context" >"$stage/build-$name.log" 2>&1 \
        || { tail -30 "$stage/build-$name.log" >&2; fail "building $tag ($file)"; }
}
build jre dsmaster-jre:bookworm "$here/stand-ins/jre.Dockerfile" "$ctx/empty"
build zookeeper dsmaster-zookeeper:local "$here/stand-ins/zookeeper.Dockerfile" "$ctx/zookeeper"
build mariadb dsmaster-mariadb:local "$here/stand-ins/mariadb.Dockerfile" "$ctx/mariadb"
build postgresql dsmaster-postgresql:local "$here/stand-ins/postgresql.Dockerfile" "$ctx/postgresql"
build upstream-2.0.5 "dsmaster-upstream:$ds_version" "$here/stand-ins/dolphinscheduler.Dockerfile" "$ctx/dolphinscheduler"
build dsmaster dsmaster:latest "$here/Dockerfile.local" "$ctx/dsmaster"
"$DOCKER" image prune -f >/dev/null 2>&1 || true

# ----- 5. compose up, first workflow -----------------------------------------------------
wait_healthy() { # <service> <seconds>
    local id state i
    id=$(cid "$1")
    for i in $(seq 1 "$2"); do
        state=$("$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
        [ "$state" = healthy ] && return 0
        sleep 1
    done
    fail "$1 is $state after $2 s"
}
api_call() { python3 "$here/compose_api.py" "$api" "$@"; }
db_query() { # <sql>: one value from the project's database, as the DolphinScheduler user
    case "$db_service" in
        dolphinscheduler-mysql)
            compose exec -T "$db_service" mariadb --user=ds_user --password=dolphinscheduler \
                --batch --skip-column-names dolphinscheduler -e "$1" ;;
        dolphinscheduler-postgresql)
            compose exec -T -e PGPASSWORD=root "$db_service" psql -h 127.0.0.1 -U root \
                -d dolphinscheduler -tAc "$1" ;;
    esac
}
bring_up() { # phases: database and ZooKeeper, then the API server, worker and dsmaster
    local prefix=${1:-}
    phase "${prefix}database and ZooKeeper up"
    DS_API_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export DS_API_PORT
    api="http://127.0.0.1:$DS_API_PORT/dolphinscheduler"
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    project_up=1
    compose up -d "$db_service" dolphinscheduler-zookeeper
    wait_healthy "$db_service" 180
    wait_healthy dolphinscheduler-zookeeper 120
    db_query 'SELECT version FROM t_ds_version' | tr -d '[:space:]' | grep -qx "$ds_version" \
        || fail "the $ds_version schema is not loaded in $db_service"
    log "schema $ds_version loaded in $db_service"

    phase "${prefix}API server, worker, dsmaster up"
    compose up -d
    api_call wait-login 300 >/dev/null || fail "API server login"
    log "API server answers on 127.0.0.1:$DS_API_PORT"
    local i
    for i in $(seq 1 240); do
        compose logs --no-color dolphinscheduler-worker 2>/dev/null | grep -q "Registered task plugin: SHELL" && break
        [ "$i" = 240 ] && fail "worker did not load the SHELL task plugin in 240 s"
        sleep 1
    done
    master_id=$(cid dolphinscheduler-master)
    for i in $(seq 1 120); do
        "$DOCKER" exec "$master_id" dsmaster health >/dev/null 2>&1 && break
        [ "$i" = 120 ] && fail "dsmaster not ready in 120 s"
        sleep 1
    done
    log "worker and dsmaster ready"
}
run_a_b() { # <workflow name>: sets project_code and first (the instance id)
    project_code=$(api_call setup "$tenant" "$project_name") || fail "tenant/project setup"
    wf_dir=$stage/workflows
    mkdir -p "$wf_dir"
    api_call workflow "$repo/fixtures/workflows/demo-a-b.json" "$wf_dir/$1.json" "$1" \
        'echo "A runs as $(whoami)"; sleep 1' 'echo "B runs as $(whoami)"' >/dev/null
    first=$(api_call import-start "$project_code" "$wf_dir/$1.json" "$1") \
        || fail "import/start of $1"
    api_call wait-instance "$project_code" "$first" 180 SUCCESS >/dev/null \
        || fail "workflow $1 (instance $first) did not succeed"
    log "instance $first: SUCCESS; tasks $(api_call tasks "$project_code" "$first")"
}
check_monitor() { # the API server's monitor page lists dsmaster by its container address
    master_ip=$("$DOCKER" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$master_id")
    masters=$(api_call masters) || fail "monitor/masters"
    echo "$masters" | python3 -c '
import json, sys
want = sys.argv[1]
hosts = ["%s:%s" % (m.get("host"), m.get("port")) for m in json.load(sys.stdin)]
print("compose-test: monitor/masters lists", hosts)
sys.exit(0 if want in hosts else 1)' "$master_ip:5678" || fail "monitor/masters does not list dsmaster at $master_ip:5678"
}

export DSMASTER_IMAGE=dsmaster:latest
db_service=dolphinscheduler-mysql
bring_up

phase "workflow A -> B to SUCCESS"
run_a_b compose-a-b

phase "monitor page and tenant checks"
check_monitor
# The tasks ran as the tenant: the worker's task log (read through the API server and the
# logger server beside the worker) shows the output of whoami.
if task_log=$(api_call task-log "$project_code" "$first" A 2>&1) && echo "$task_log" | grep -q "A runs as $tenant"; then
    log "task A ran as tenant $tenant (task log through the API)"
else
    fail "task A did not run as $tenant; task log: $task_log"
fi

# ----- 6. restart dsmaster mid-workflow --------------------------------------------------
phase "restart dsmaster mid-workflow"
api_call workflow "$repo/fixtures/workflows/chain-3-slow.json" "$wf_dir/compose-slow.json" compose-slow \
    'echo one; sleep 2' 'echo two; sleep 20' 'echo three' >/dev/null
slow=$(api_call import-start "$project_code" "$wf_dir/compose-slow.json" compose-slow) \
    || fail "import/start of compose-slow"
api_call wait-task-running "$project_code" "$slow" t02 120 >/dev/null \
    || fail "task t02 of instance $slow never ran"
log "instance $slow: t02 running; restarting the dsmaster container"
compose restart -t 20 dolphinscheduler-master
api_call wait-instance "$project_code" "$slow" 240 SUCCESS >/dev/null \
    || fail "workflow compose-slow (instance $slow) did not succeed after the restart"
log "instance $slow: SUCCESS after the restart; tasks $(api_call tasks "$project_code" "$slow")"

# ----- 7. health -------------------------------------------------------------------------
phase "dsmaster container healthy"
master_id=$(cid dolphinscheduler-master)
for i in $(seq 1 120); do
    state=$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$master_id")
    [ "$state" = healthy ] && break
    [ "$i" = 120 ] && fail "dsmaster container is $state after 120 s"
    sleep 1
done
log "docker reports dsmaster $state ($("$DOCKER" exec "$master_id" /root/checkpoint.sh MasterServer | head -c 200))"

# ----- 8. metrics and a bad setting -----------------------------------------------------
phase "metrics scrape and a bad environment value"
# Scraped from inside the container (the image has bash, not curl); the restarted master
# finished the slow workflow, so its counters show at least that run.
scrape=$("$DOCKER" exec "$master_id" bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/${DSMASTER_METRICS_PORT:-5679}; printf "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3; cat <&3') \
    || fail "cannot scrape /metrics in the dsmaster container"
metric() { echo "$scrape" | awk -v m="$1" '$1 == m {print $2; exit}'; }
finished=$(metric 'dsmaster_workflows_finished_total{state="SUCCESS"}')
session=$(metric dsmaster_registry_session_up)
dispatched=$(metric dsmaster_tasks_dispatched_total)
[ "${finished%.*}" -ge 1 ] 2>/dev/null || fail "no finished SUCCESS workflow in /metrics: ${finished:-missing}"
[ "$session" = 1 ] || fail "dsmaster_registry_session_up is ${session:-missing}"
log "/metrics: workflows SUCCESS $finished, tasks dispatched ${dispatched:-?}, session up $session"
# A wrong environment value: one line naming the variable and a non-zero exit, no network.
set +e
bad=$("$DOCKER" run --rm --network none --env-file "$here/config.env.sh" -e DATABASE_PORT=not-a-port \
    dsmaster:latest master-server 2>&1)
bad_rc=$?
set -e
[ "$bad_rc" -ne 0 ] || fail "dsmaster started with DATABASE_PORT=not-a-port"
echo "$bad" | grep -q "DATABASE_PORT" || fail "the error for DATABASE_PORT=not-a-port does not name it: $bad"
log "DATABASE_PORT=not-a-port: exit $bad_rc, $(echo "$bad" | grep -m1 DATABASE_PORT | cut -c1-200)"

phase "compose down -v"
compose down -v --remove-orphans >/dev/null 2>&1
project_up=0

# ----- 9. upstream's default topology: PostgreSQL -----------------------------------------
# The same images and steps on docker-compose.postgresql.yml: dsmaster on upstream's 2.0.5
# PostgreSQL schema beside the Java API server and worker, a workflow to SUCCESS, the row
# checked in PostgreSQL itself.
compose_file=$here/docker-compose.postgresql.yml
project=dsmaster-compose-test-pg
db_service=dolphinscheduler-postgresql
bring_up "PostgreSQL: "
phase "PostgreSQL: workflow A -> B, monitor page"
run_a_b compose-pg-a-b
check_monitor
row=$(db_query "SELECT state || ' ' || host FROM t_ds_process_instance WHERE id = $first" | tr -d '\r')
[ "$row" = "7 $master_ip:5678" ] \
    || fail "instance $first in PostgreSQL is '$row', wanted state 7 (SUCCESS) run by $master_ip:5678"
log "instance $first in PostgreSQL: state 7 (SUCCESS), host $master_ip:5678"
if "$DOCKER" logs "$master_id" 2>&1 | grep -qi "postgres"; then
    log "dsmaster: $("$DOCKER" logs "$master_id" 2>&1 | grep -i -m1 postgres | cut -c1-200)"
fi

if [ "${DSMASTER_DOCKER_KEEP:-0}" != 1 ]; then
    phase "PostgreSQL: compose down -v"
    compose down -v --remove-orphans >/dev/null 2>&1
    project_up=0
fi
