#!/usr/bin/env bash
# The main job on a built-in default: a local GCS emulator (and the Datastore
# emulator, when gcloud has it), a generated study published with
# `som upload` in the som layout, mounted read-only at ./mnt in the
# foreground with sidecar .json records. Ctrl-C unmounts and stops everything.
# SOM_DEMO_STATE and SOM_DEMO_MNT move the state folder and the mountpoint.
source "$(dirname "$0")/lib/setup.sh"
cd "$ROOT"
state=${SOM_DEMO_STATE:-$ROOT/.demo}
mnt=${SOM_DEMO_MNT:-$ROOT/mnt}
rm -rf "$state"
mkdir -p "$state" "$mnt"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for() { # url file-with-text
  for _ in $(seq 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$2" >&2; echo "demo: $1 did not answer" >&2; exit 1
}

node scripts/lib/demo-data.mjs "$state/files" >"$state/patients.jsonl"
setsid som-emulator --bucket demo --bucket "idc-demo=$state/files/idc" --port-file "$state/port" >"$state/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $state/port ]] && break; sleep 0.1; done
[[ -s $state/port ]] || { cat "$state/emulator.log" >&2; echo "demo: the GCS emulator did not start" >&2; exit 1; }
export STORAGE_EMULATOR_HOST="http://127.0.0.1:$(cat "$state/port")"

records=(--objects-only)
project_flag=()
if datastore_emulator_available; then
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  CLOUDSDK_CONFIG="$state/gcloud" CLOUDSDK_CORE_DISABLE_PROMPTS=1 setsid gcloud beta emulators datastore start --no-store-on-disk \
    --host-port="127.0.0.1:$port" --consistency=1.0 --data-dir="$state/datastore" --project=som-demo >"$state/datastore.log" 2>&1 &
  pids+=($!)
  echo "$port" >"$state/datastore-port"
  wait_for "http://127.0.0.1:$port/" "$state/datastore.log"
  export DATASTORE_EMULATOR_HOST="127.0.0.1:$port" DATASTORE_PROJECT_ID=som-demo
  records=(--project som-demo)
  project_flag=(--project som-demo)
else
  echo "demo: no Datastore emulator (gcloud beta emulators datastore); publishing objects only, no sidecars" >&2
fi

first=""
while read -r line; do
  entity=$(node -e 'console.log(JSON.parse(process.argv[1]).entity)' "$line")
  acc=$(node -e 'console.log(JSON.parse(process.argv[1]).accessionNumber)' "$line")
  [[ -n $first ]] || first=$entity
  som upload --bucket demo --collection IRB41449 --entity "$entity" "${records[@]}" \
    --metadata "{\"Modality\":\"CT\",\"AccessionNumber\":\"$acc\"}" \
    --entity-metadata '{"PatientSex":"O","PatientAge":"050Y","IMAGE_COUNT":24}' \
    --collection-metadata '{"description":"som demo study (synthetic CT)"}' \
    "$state/files/study/$entity"/*
done <"$state/patients.jsonl"

cat <<TXT

som demo: bucket "demo" (som layout) served by the local emulator at $STORAGE_EMULATOR_HOST${DATASTORE_EMULATOR_HOST:+, records in the Datastore emulator at $DATASTORE_EMULATOR_HOST}, mounted at $mnt

Try, in another terminal:
  ls -l $mnt/IRB41449/                          # entities (coded patients) and their .json records
  jq . $mnt/IRB41449/$first.json
  ls $mnt/IRB41449/$first | head
  jq .storage_crc32c $mnt/IRB41449/$first/report.txt.json
  dcmdump $mnt/IRB41449/$first/\$(ls $mnt/IRB41449/$first | head -1) | head -30
  cp -r $mnt/IRB41449/$first /tmp/$first && ls /tmp/$first
  rsync -a $mnt/ /tmp/demo-copy/               # run twice: the second copies nothing
  touch $mnt/x                                  # refused: read-only file system
An Imaging Data Commons style bucket is served too:  som mount idc-demo /tmp/idc

Stop with Ctrl-C (or: som umount $mnt).
TXT
som mount demo "$mnt" "${project_flag[@]}"
