#!/bin/sh
# Runs the upstream api: run-api.sh <version> <conf-dir> <work-dir> (see run.sh).
exec "$(dirname "$0")/run.sh" api "$@"
