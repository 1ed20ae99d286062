#!/usr/bin/env bash
# The demo: installs what is missing, builds dsmaster, and runs `dsmaster demo` (private
# MariaDB + ZooKeeper, upstream schema, our master, a stand-in worker, a two-task workflow
# run to SUCCESS with its task states printed as they change).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    echo "demo: cargo is not installed; install a Rust toolchain (1.80 or newer) first" >&2
    exit 1
fi
scripts/install-deps.sh
scripts/fetch-schema.sh
cargo build --release --quiet
exec target/release/dsmaster demo "$@"
