#!/bin/sh
# Runs the upstream master: run-master.sh <version> <conf-dir> <work-dir> (see run.sh).
exec "$(dirname "$0")/run.sh" master "$@"
