#!/usr/bin/env bash
# Pull benchmark of berth-image against skopeo (transfer floor), containerd's
# ctr and podman, all pulling from one local docker-registry on 127.0.0.1.
#
#   (a) ~320 MB (gzip) image of 6 layers, base64 text of a deterministic
#       AES-CTR stream (compresses to ~76%, so inflating is real work)
#   (b) ~20,000 small files in 2 layers
#
# Every measured run starts with the image and its blobs removed. Storage of
# every tool is on a tmpfs this script mounts (the root fs here slows down on
# repeated small-file creation). Needs root. Installs containerd and podman
# (benchmark-only packages) itself. Usage: bench/images/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
RUNS=${1:-5}
CACHE=${BERTH_BENCH_CACHE:-/var/tmp/berth-bench-images}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

need=()
for p in containerd podman skopeo docker-registry hyperfine openssl jq time; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# BERTH_PULL=/path/to/pull skips the build (e.g. while the workspace is mid-edit)
PULL=${BERTH_PULL:-}
if [ -z "$PULL" ]; then
  cargo build --release -p berth-image --example pull
  PULL=$TARGET/release/examples/pull
fi

WORK=$(mktemp -d /tmp/berth-bench-images.XXXXXX)
MNT=$WORK/mnt
RUN=$WORK/run
mkdir -p "$MNT" "$RUN"
mount -t tmpfs -o size=8g tmpfs "$MNT"
REG_PID= CTD_PID=
cleanup() {
  set +e
  [ -n "$CTD_PID" ] && kill "$CTD_PID" && wait "$CTD_PID" 2>/dev/null
  [ -n "$REG_PID" ] && kill "$REG_PID" && wait "$REG_PID" 2>/dev/null
  podman --root "$MNT/podman" --runroot "$RUN/podman" rmi -af >/dev/null 2>&1
  grep " $MNT/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l
  umount -l "$MNT" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- images (generated once, cached in $CACHE) -------------------------------
layout_from_dirs() { # OUT DIR...: OCI layout (tag latest) with one gzip layer per dir
  local out=$1; shift
  rm -rf "$out"; mkdir -p "$out/blobs/sha256"
  local layers="" diffs="" sep=""
  for d in "$@"; do
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$d" -cf "$out/l.tar" .
    local diff; diff=$(sha256sum "$out/l.tar" | cut -d' ' -f1)
    gzip -n -6 "$out/l.tar"
    local dg; dg=$(sha256sum "$out/l.tar.gz" | cut -d' ' -f1)
    local sz; sz=$(stat -c %s "$out/l.tar.gz")
    mv "$out/l.tar.gz" "$out/blobs/sha256/$dg"
    layers+="$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dg\",\"size\":$sz}"
    diffs+="$sep\"sha256:$diff\""; sep=,
  done
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffs" > "$out/c"
  local cd cs; cd=$(sha256sum "$out/c" | cut -d' ' -f1); cs=$(stat -c %s "$out/c"); mv "$out/c" "$out/blobs/sha256/$cd"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' "$cd" "$cs" "$layers" > "$out/m"
  local md ms; md=$(sha256sum "$out/m" | cut -d' ' -f1); ms=$(stat -c %s "$out/m"); mv "$out/m" "$out/blobs/sha256/$md"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$md" "$ms" > "$out/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
}

if [ ! -e "$CACHE/done" ]; then
  rm -rf "$CACHE"; mkdir -p "$CACHE/src"
  echo "generating benchmark images in $CACHE (once)"
  for l in 0 1 2 3 4 5; do
    d=$CACHE/src/big$l; mkdir -p "$d"
    for f in 0 1 2 3; do
      key=$(printf '%032x' $((l * 16 + f + 1)))
      (openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null || true) \
        | head -c 13200000 | base64 -w 76 > "$d/blob$f.txt"
    done
  done
  for l in 0 1; do
    d=$CACHE/src/small$l; mkdir -p "$d"
    for i in $(seq -w 0 99); do mkdir -p "$d/dir$i"; done
    awk -v dir="$d" -v seed=$((l + 7)) 'BEGIN {
      srand(seed)
      for (i = 0; i < 10000; i++) {
        f = sprintf("%s/dir%02d/file%05d.txt", dir, i % 100, i)
        n = 200 + int(rand() * 3000); s = ""
        while (length(s) < n) s = s sprintf("%08x ", int(rand() * 4294967295))
        printf "%s\n", substr(s, 1, n) > f; close(f)
      } }'
  done
  layout_from_dirs "$CACHE/big" "$CACHE"/src/big{0,1,2,3,4,5}
  layout_from_dirs "$CACHE/small" "$CACHE"/src/small{0,1}
  touch "$CACHE/done"
fi
du -sh "$CACHE/big/blobs" "$CACHE/small/blobs"

# --- registry ------------------------------------------------------------------
PORT=$(( 20000 + RANDOM % 20000 ))
REG=127.0.0.1:$PORT
cat > "$RUN/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $MNT/registry}, delete: {enabled: true}}
http: {addr: $REG, secret: bench}
YML
docker-registry serve "$RUN/registry.yml" >"$RUN/registry.log" 2>&1 & REG_PID=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$CACHE/big:latest" "docker://$REG/bench/big:latest"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$CACHE/small:latest" "docker://$REG/bench/small:latest"

# --- containerd with its own root, state and socket ------------------------------
cat > "$RUN/containerd.toml" <<TOML
version = 2
root = "$MNT/containerd"
state = "$RUN/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$RUN/containerd.sock"
TOML
containerd --config "$RUN/containerd.toml" >"$RUN/containerd.log" 2>&1 & CTD_PID=$!
for _ in $(seq 100); do [ -S "$RUN/containerd.sock" ] && break; sleep 0.1; done
CTR="ctr --address $RUN/containerd.sock -n bench"

# --- podman: root lacks CAP_SYS_RESOURCE here, so cap its default ulimits ---------
cat > "$RUN/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
export CONTAINERS_CONF=$RUN/containers.conf
PODMAN="podman --root $MNT/podman --runroot $RUN/podman --storage-driver overlay"

bench() { # NAME IMAGE-SRC-DIRS...
  local name=$1 ref=$REG/bench/$1:latest; shift
  local gz="cat $CACHE/$name/blobs/sha256/* | gzip -dc 2>/dev/null >/dev/null || true"
  local tarx="rm -rf $MNT/tarx && mkdir -p $MNT/tarx && for b in \$(jq -r '.layers[].digest' $CACHE/$name/blobs/sha256/\$(jq -r '.manifests[0].digest' $CACHE/$name/index.json | cut -d: -f2) | cut -d: -f2); do tar -xzf $CACHE/$name/blobs/sha256/\$b -C $MNT/tarx; done"
  hyperfine --runs "$RUNS" --warmup 1 --export-markdown "$RUN/$name.md" \
    -n berth   --prepare "rm -rf $MNT/berth" "$PULL --root $MNT/berth -q $ref" \
    -n skopeo  --prepare "rm -rf $MNT/skopeo" "skopeo --insecure-policy copy -q --src-tls-verify=false docker://$ref oci:$MNT/skopeo:latest" \
    -n ctr     --prepare "$CTR images rm --sync $ref >/dev/null 2>&1 || true" "$CTR images pull --plain-http $ref >/dev/null" \
    -n podman  --prepare "$PODMAN rmi -af >/dev/null 2>&1 || true" "$PODMAN pull -q --tls-verify=false $ref >/dev/null" \
    -n "gzip -dc" --prepare "true" "$gz" \
    -n "tar xzf" --prepare "true" "$tarx"
  cat "$RUN/$name.md"
  # peak RSS of one cold pull each (ctr is a client: containerd's memory is the daemon's)
  echo "| $name | peak RSS |"; echo "|:---|---:|"
  rm -rf "$MNT/berth"; /usr/bin/time -f %M -o "$RUN/rss" "$PULL" --root "$MNT/berth" -q "$ref" >/dev/null
  echo "| berth | $(( $(cat "$RUN/rss") / 1024 )) MiB |"
  rm -rf "$MNT/skopeo"; /usr/bin/time -f %M -o "$RUN/rss" skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$ref" "oci:$MNT/skopeo:latest" >/dev/null
  echo "| skopeo | $(( $(cat "$RUN/rss") / 1024 )) MiB |"
  $PODMAN rmi -af >/dev/null 2>&1 || true
  /usr/bin/time -f %M -o "$RUN/rss" $PODMAN pull -q --tls-verify=false "$ref" >/dev/null
  echo "| podman | $(( $(cat "$RUN/rss") / 1024 )) MiB |"
}
echo "## (a) big: 6 layers"; bench big
echo "## (b) small: ~20,000 files in 2 layers"; bench small
