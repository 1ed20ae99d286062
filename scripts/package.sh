#!/usr/bin/env bash
# Builds the release tarball for tarball hosts:
#   target/dist/dsmaster-<version>-linux-<arch>.tar.gz
# holding bin/dsmaster, bin/dsmaster-daemon.sh, systemd/dsmaster.service, conf/ (a sample
# conf dir: replace it by the Java master's own), docker/grafana-dashboard.json, docs and
# README. Unpack it into the DolphinScheduler install directory (or beside it) as described in
# docs/migrating.md.
#
# DSMASTER_BINARY=path uses an already built binary instead of `cargo build --release`
# (the tests package the debug build this way).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
arch=$(uname -m)
name=dsmaster-$version-linux-$arch
out=${DSMASTER_DIST_DIR:-target/dist}

binary=${DSMASTER_BINARY:-}
if [ -z "$binary" ]; then
    cargo build --release --locked --bin dsmaster
    binary=target/release/dsmaster
fi
[ -x "$binary" ] || { echo "package: no executable at $binary" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/$name
mkdir -p "$root/bin" "$root/systemd" "$root/conf" "$root/docs" "$root/docker"
install -m 0755 "$binary" "$root/bin/dsmaster"
install -m 0755 bin/dsmaster-daemon.sh "$root/bin/dsmaster-daemon.sh"
install -m 0644 packaging/systemd/dsmaster.service "$root/systemd/dsmaster.service"
cp fixtures/conf/2.0.5/* "$root/conf/"
cat > "$root/conf/dsmaster.properties" <<'PROPS'
# Keys only dsmaster reads (docs/configuration.md lists them all). Every other key comes
# from the Java master's own files in this directory.
# The metrics and health endpoint (/metrics, /health/live, /health/ready); 0 = off.
dsmaster.metrics.port=5679
PROPS
cp README.md BENCHMARKS.md RELIABILITY.md "$root/"
cp docs/*.md "$root/docs/"
[ -f docker/grafana-dashboard.json ] && cp docker/grafana-dashboard.json "$root/docker/"
mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
