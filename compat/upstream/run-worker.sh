#!/bin/sh
# Runs the upstream worker: run-worker.sh <version> <conf-dir> <work-dir> (see run.sh).
exec "$(dirname "$0")/run.sh" worker "$@"
