#!/usr/bin/env bash
# Installs what is missing on a fresh Debian machine (apt packages, Node 24,
# npm dependencies), builds som and its FUSE binding. demo.sh and test.sh
# do this themselves; run it alone after changing package.json or the patch.
source "$(dirname "$0")/lib/setup.sh"
say "ready: $ROOT/bin/som"
