#!/usr/bin/env bash
# Runs the whole test suite (unit, emulator fidelity with gcloud and rclone,
# real FUSE mounts). Installs what is missing first.
source "$(dirname "$0")/lib/setup.sh"
cd "$ROOT"
datastore_emulator_available || say "no Datastore emulator (gcloud beta emulators datastore, package google-cloud-cli-datastore-emulator): the som layout tests will fail"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# A plain closing line that any CI can read.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$report" || echo "0 passed, 1 failed"
exit $status
