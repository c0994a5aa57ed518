#!/usr/bin/env bash
# The main job on a built-in default: starts the GCS emulator with a generated
# demo study (synthetic CT series, Imaging Data Commons layout) and mounts it
# read-only at ./mnt in the foreground. Ctrl-C unmounts and stops everything.
source "$(dirname "$0")/lib/setup.sh"
cd "$ROOT"
state="$ROOT/.demo"
mnt="$ROOT/mnt"
mkdir -p "$state" "$mnt"
rm -f "$state/port"
som-emulator --demo-data "$state/data" --port-file "$state/port" >"$state/emulator.log" 2>&1 &
emulator=$!
trap 'kill $emulator 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s $state/port ]] && break; sleep 0.1; done
[[ -s $state/port ]] || { cat "$state/emulator.log" >&2; echo "demo: the emulator did not start" >&2; exit 1; }
endpoint="http://127.0.0.1:$(cat "$state/port")"
series=$(ls "$state/data" | grep -v -e README -e manifests | head -1)
cat <<TXT
som demo: bucket "demo" served by the local emulator at $endpoint, mounted at ./mnt

Try, in another terminal:
  ls -l mnt/                      # one folder per series
  ls -l mnt/$series
  dcmdump mnt/$series/\$(ls mnt/$series | head -1) | head -30
  cp -r mnt/$series /tmp/series && ls /tmp/series
  rsync -a mnt/ /tmp/demo-copy/   # run twice: the second copies nothing
  touch mnt/x                     # refused: read-only file system

Stop with Ctrl-C (or: som umount ./mnt).
TXT
som mount demo "$mnt" --endpoint "$endpoint"
