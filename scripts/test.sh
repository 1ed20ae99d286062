#!/usr/bin/env bash
# Runs every test of the project on this machine: installs what is missing (Debian packages,
# upstream's schema from Maven Central, cached), checks formatting and lints, then runs the
# unit and integration tests, then the Docker compose test. The integration tests start their
# own private MariaDB and ZooKeeper on free loopback ports and remove them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test: cargo is not installed; install a Rust toolchain (1.80 or newer) first" >&2
    exit 1
fi

scripts/install-deps.sh
scripts/fetch-schema.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --lib --bins --tests 2>&1 | tee target/test-output.txt
# The control, logic-task, differential conformance (real Java master, API server and
# worker), Quartz mixed-cluster, lost-connection and bad-input suites again on PostgreSQL (upstream's docker default); the
# store round trip, the slice, restart and schedule suites carry their PostgreSQL tests.
echo "== cargo test on PostgreSQL (DSMASTER_TEST_DB=postgresql)"
DSMASTER_TEST_DB=postgresql cargo test --test control --test logic_tasks --test conformance \
    --test schedule_java --test db_faults --test store_bad_input 2>&1 \
    | tee -a target/test-output.txt
# The container deployment for real: our image in upstream's compose topology with the
# 2.0.5 API server and worker built from Maven Central jars, a workflow through the REST
# API, a restart of the dsmaster container, /metrics, health. Its own dockerd, stopped at
# the end. The debug binary the tests just built saves a release build here.
echo "== docker compose (docker/compose-test.sh)"
if DSMASTER_BIN=target/debug/dsmaster docker/compose-test.sh 2>&1 | tee target/compose-test.txt; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored (docker/compose-test.sh)" >> target/test-output.txt
else
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (docker/compose-test.sh)" >> target/test-output.txt
    awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt
    exit 1
fi
# One summary line for CI readers: the totals over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "summary: %d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt
