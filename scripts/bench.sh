#!/usr/bin/env bash
# npm run bench on a fresh machine: installs what is missing (rclone, Node 24,
# dependencies), builds, and runs the benchmark harness. Arguments go to it
# (e.g. --runs 5, --only get). Not part of the test suite.
source "$(dirname "$0")/lib/setup.sh"
cd "$ROOT"
exec node dist/bench/main.js "$@"
