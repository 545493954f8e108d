#!/usr/bin/env bash
# Engine benchmark (issue #5): berth (berthd + berth CLI + berth-shim +
# berth-runtime) against ctr (Debian containerd), podman (Debian podman) and
# docker (Debian docker.io), in one run, on one cached busybox image.
#
#   bench/engine/run.sh [--runs N] [--containers N] [--rounds N]
#                       [--peers berth,ctr,podman,docker] [--storage ext4|tmpfs]
#                       [--variants none,bridge] [--no-build] [--raw DIR]
#                       [--profile DIR]
#
#   run --rm   `X run --rm IMAGE true`, with --network none (ctr: its default,
#              an empty network namespace) and with the default bridge
#              network (ctr: --cni with a bridge conflist). Every peer and
#              both variants run once per round, in an order rotated per
#              round, timed with bash's $EPOCHREALTIME; 3 warm-up rounds,
#              then --runs rounds (default 50). Median, 25th–75th percentile;
#              and the median CPU time per run, from cpuacct: each peer's
#              daemons and clients (so its monitors and runtimes) run in
#              /berth-bench-tools/PEER, its containers under their own parent.
#   density    --containers (default 50) detached `sleep 3600` containers
#              (--network none) started one after another, wall time; then
#              the monitors' memory (/proc/PID/smaps_rollup: Rss and
#              Private_Clean + Private_Dirty, averaged over the containers)
#              and the daemons' RSS before and after; then all removed
#              (not timed). --rounds rounds (default 3), peers rotated per
#              round; medians over the rounds.
#
#   --profile  instead of measuring: for each peer, strace timelines of one
#              run --rm and one run -d (client, and daemon with all it
#              spawns), a sched-tracepoint process timeline (no ptrace) of 6
#              of each (and of 6 run --rm on the bridge), perf sched run time vs. scheduling delay of 10
#              run --rm, cpu-clock profiles (perf record -a -g) of 20 run --rm
#              and --containers run -d with reports by process and symbol,
#              and smaps of monitors and daemons, all into DIR. With
#              BERTH_BENCH_HOLD=1 it then keeps the namespace open for
#              nsenter (see DIR/env.sh).
#
# Isolation: everything runs in a private mount and network namespace
# (unshare), so bridges, veths, iptables rules and every mount live and die
# with it. Inside, /run, /var/lib/containers, /var/lib/cni, /opt,
# /etc/docker and /etc/cni/net.d are private tmpfs/bind mounts; every daemon has its own
# config, data root, state dir and socket; storage (images, snapshots,
# containers) is a loop-mounted ext4 (default; its backing file on a tmpfs)
# or a tmpfs that the script creates. /sys/fs/cgroup/unified is unmounted
# there (a pure cgroup v1 view: crun 1.8, podman's runtime, refuses this
# hybrid host). Each peer's containers go to its own
# cgroup parent (/berth-bench, /berth-bench-docker, /berth-bench-podman,
# /berth-bench-ctr), removed at the end. The image is a busybox built from
# busybox-static, pushed to a Debian docker-registry on 127.0.0.1 inside the
# namespace and pulled by every peer before anything is timed.
#
# Needs root. Installs the benchmark-only Debian packages it lacks
# (docker.io, podman, containerd, ...; their services are not started).
# Builds berth (release) into $CARGO_TARGET_DIR (default target/) unless
# --no-build: berthd and berth, and berth-runtime, berth-shim and berth-init
# statically linked as scripts/setup builds them. Prints markdown tables on
# stdout, progress on stderr; checks afterwards that the host has no
# process, mount, loop device, cgroup, link or iptables rule left from it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

runs=50
containers=50
rounds=3
peers=berth,ctr,podman,docker
storage=ext4
variants=none,bridge
build=1
raw=
profile=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --containers) containers=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --storage) storage=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --raw) raw=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    -h|--help) sed -n '2,58p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $storage in ext4|tmpfs) ;; *) echo "run.sh: --storage ext4|tmpfs" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root" >&2; exit 1; }
args=(--runs "$runs" --containers "$containers" --rounds "$rounds" --peers "$peers" --storage "$storage" --variants "$variants")
cg_names=(berth-bench berth-bench-docker berth-bench-podman berth-bench-ctr berth-bench-tools)

###############################################################################
# Outside: packages, build, host snapshot, the namespace, the host check.
###############################################################################
if [ -z "${BERTH_ENGINE_BENCH_INNER:-}" ]; then
  pkgs=(docker.io podman containerd runc crun conmon containernetworking-plugins docker-registry skopeo
        busybox-static iptables iproute2 util-linux e2fsprogs procps time)
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}" >&2
    # The packages' services must not start: no policy-rc.d -> a temporary one.
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
    fi
    ok=1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; } || ok=0
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$ok" = 1 ] || { echo "run.sh: installing ${missing[*]} failed" >&2; exit 1; }
  fi

  target=${CARGO_TARGET_DIR:-$repo/target}
  host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p'); host=${host:-x86_64-unknown-linux-gnu}
  if [[ ",$peers," == *,berth,* ]] && [ "$build" = 1 ]; then
    echo "== building berth (release) in $target" >&2
    (cd "$repo" && cargo build --release -p berthd -p berth-cli >&2)
    (cd "$repo" && LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
      RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$host" \
      -p berth-runtime -p berth-shim -p berth-init >&2)
  fi
  rev=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
  [ "$build" = 1 ] || rev="binaries of $(date -u -r "$target/release/berthd" +%Y-%m-%dT%H:%MZ 2>/dev/null || echo '?'), tree $rev"
  export BERTH_BENCH_REV=$rev
  export BERTH_BENCH_BERTHD=$target/release/berthd BERTH_BENCH_CLI=$target/release/berth
  export BERTH_BENCH_STATIC=$target/$host/release

  host_state() ( # what the benchmark must leave as it found it
    set +eo pipefail
    echo "## links"; ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort
    echo "## iptables"; { iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -v '^[#:]' | sed 's/\[[0-9:]*\]//' | sort
    echo "## loop"; losetup -n -O NAME,BACK-FILE 2>/dev/null | sort
    echo "## mounts"; awk '{ print $5 }' /proc/self/mountinfo | grep -E 'berth-engine-bench|^/run/(containerd|docker|netns|libpod)|^/var/lib/(cni|containers|docker|containerd)|^/opt' | sort
    echo "## cgroups"; for h in /sys/fs/cgroup/*/; do for n in "${cg_names[@]}"; do [ -d "$h$n" ] && echo "$h$n"; done; done; true
    echo "## paths"; for p in /run/containerd /run/docker /run/netns /run/libpod /var/lib/cni /var/lib/containers \
        /var/lib/docker /var/lib/containerd /etc/docker/key.json /opt/cni /opt/containerd /root/.docker; do
      [ -e "$p" ] && echo "$p $(find "$p" 2>/dev/null | wc -l)"; done
    true
  )
  state=
  trap 'rm -f /tmp/berth-engine-bench.{before,after,diff}.$$; [ -z "$state" ] || rm -rf "$state"' EXIT
  host_state > /tmp/berth-engine-bench.before.$$

  state=$(mktemp -d /tmp/berth-engine-bench.XXXXXX)
  # Mount points that must exist on the host for the private mounts inside;
  # those made here are removed afterwards.
  made=()
  for p in /var/lib/cni /var/lib/containers /etc/cni/net.d /etc/docker; do
    [ -d "$p" ] || { mkdir -p "$p"; made+=("$p"); }
  done
  echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  rc=0
  BERTH_ENGINE_BENCH_INNER=1 BERTH_BENCH_STATE=$state unshare --mount --propagation private --net -- "$here/run.sh" "${args[@]}" ${raw:+--raw "$raw"} ${profile:+--profile "$profile"} || rc=$?

  # Anything still running in the benchmark's network namespace was started
  # by it (a daemon or monitor that survived the cleanup): end it by pid.
  ns=$(cat "$state/netns" 2>/dev/null || true)
  if [ -n "$ns" ]; then
    for p in /proc/[0-9]*; do
      [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ] || continue
      pid=${p#/proc/}
      echo "run.sh: killing leftover pid $pid: $(tr '\0' ' ' < "$p/cmdline" 2>/dev/null | head -c 200)" >&2
      kill -9 "$pid" 2>/dev/null || true
    done
    sleep 0.5
  fi
  for h in /sys/fs/cgroup/*/; do
    for n in "${cg_names[@]}"; do
      [ -d "$h$n" ] && find "$h$n" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
  done
  for ((i = ${#made[@]} - 1; i >= 0; i--)); do rmdir "${made[$i]}" 2>/dev/null || echo "run.sh: ${made[$i]} is not empty, left" >&2; done
  rmdir /etc/cni 2>/dev/null || true
  rm -rf "$state"
  host_state > /tmp/berth-engine-bench.after.$$
  if ! diff /tmp/berth-engine-bench.before.$$ /tmp/berth-engine-bench.after.$$ > /tmp/berth-engine-bench.diff.$$; then
    echo "run.sh: the host differs from before the run (other engineers' work can cause this too):" >&2
    cat /tmp/berth-engine-bench.diff.$$ >&2
  else
    echo "== host left as found (links, iptables, loop devices, mounts, cgroups, runtime paths)" >&2
  fi
  rm -f /tmp/berth-engine-bench.{before,after,diff}.$$
  echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  exit "$rc"
fi

###############################################################################
# Inside the private mount + network namespace.
###############################################################################
state=$BERTH_BENCH_STATE
readlink /proc/self/ns/net > "$state/netns"
# Debian's crun 1.8 (podman's runtime) refuses hybrid cgroups while the
# cgroup2 hierarchy holds a controller (hugetlb here): every peer gets the
# pure cgroup v1 view, as in bench/runtime.
if grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/self/mounts; then
  umount /sys/fs/cgroup/unified
fi
# CPU time: each peer's daemons and clients (and so the monitors and
# runtimes they spawn) run in cpuacct cgroup /berth-bench-tools/PEER, its
# containers under their own parent; a run costs the growth of both
# (cpuacct charges parents at once, so removed containers still count).
acct=/sys/fs/cgroup/cpuacct
declare -A cparent=([berth]=berth-bench [ctr]=berth-bench-ctr [podman]=berth-bench-podman [docker]=berth-bench-docker)
enter_cg() { # PEER, or "" for the root: moves this shell (children follow)
  [ -d "$acct" ] || return 0
  if [ -n "$1" ]; then mkdir -p "$acct/berth-bench-tools/$1"; echo $$ > "$acct/berth-bench-tools/$1/cgroup.procs"
  else echo $$ > "$acct/cgroup.procs"; fi
}
CPU_NS=0
cpu_ns() { # PEER -> $CPU_NS (no fork: the shell is in the measured cgroup)
  local a=0 b=0
  [ -r "$acct/berth-bench-tools/$1/cpuacct.usage" ] && read -r a < "$acct/berth-bench-tools/$1/cpuacct.usage"
  [ -r "$acct/${cparent[$1]}/cpuacct.usage" ] && read -r b < "$acct/${cparent[$1]}/cpuacct.usage"
  CPU_NS=$((a + b))
}
ip link set lo up
work=$state/mnt
mkdir -p "$work"
mount -t tmpfs -o size=2g,mode=755 berth-bench "$work"
data=$work/data
if [ "$storage" = ext4 ]; then
  truncate -s 8G "$work/disk.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/disk.img"
  mkdir -p "$data"
  mount -o loop "$work/disk.img" "$data"
  loopdev=$(findmnt -n -o SOURCE "$data")
else
  mkdir -p "$data"
  mount -t tmpfs -o size=8g,mode=755 berth-bench-data "$data"
fi
# Private /run (sockets, shim sockets, netns files, lock files), podman's
# and CNI's fixed paths, /opt (containerd's opt dir, /opt/cni/bin for ctr).
mount -t tmpfs -o mode=755 berth-bench-run /run
mkdir -p /run/lock
mount -t tmpfs -o mode=700 berth-bench-cni /var/lib/cni
mount -t tmpfs -o mode=700 berth-bench-containers /var/lib/containers
mount -t tmpfs -o mode=755 berth-bench-opt /opt
mkdir -p /opt/cni/bin "$work/cni-conf"
mount --bind /usr/lib/cni /opt/cni/bin
mount --bind "$work/cni-conf" /etc/cni/net.d
# dockerd 20.10 writes its trust key to /etc/docker/key.json.
mount -t tmpfs -o mode=755 berth-bench-etc-docker /etc/docker
run=/run/bench
mkdir -p "$run" "$work/home" "$work/docker-config"
echo '{}' > "$work/docker-config/config.json"
export HOME=$work/home DOCKER_CONFIG=$work/docker-config BERTH_NO_AUTOSTART=1
unset DOCKER_HOST DOCKER_CONTEXT CONTAINER_HOST XDG_RUNTIME_DIR

IFS=, read -r -a want <<< "$peers"
IFS=, read -r -a variant_list <<< "$variants"
declare -A pid
active=()

stop_pid() { # pid: SIGTERM, wait up to 20 s, SIGKILL
  local p=$1 i
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 200); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
}
cleanup() {
  set +eu
  echo "== cleaning up" >&2
  for p in "${active[@]}"; do remove_all "$p" >/dev/null 2>&1; done
  for k in berthd dockerd containerd registry; do [ -n "${pid[$k]:-}" ] && stop_pid "${pid[$k]}"; done
  enter_cg ""
  # What is left in this namespace (monitors of containers that could not
  # be removed) was started here.
  sleep 0.3
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$(cat "$state/netns")" ] || continue
    local q=${p#/proc/}
    [ "$q" = $$ ] && continue
    [ "$q" = "$BASHPID" ] && continue
    [ "$(awk '/^PPid:/ { print $2 }' "$p/status" 2>/dev/null)" = $$ ] && continue
    kill -9 "$q" 2>/dev/null
  done
  sleep 0.3
  findmnt -rn -o TARGET | grep -E "^($work|/run|/var/lib/cni|/var/lib/containers|/opt|/etc/cni/net.d|/etc/docker)(/|$)" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  [ -n "${loopdev:-}" ] && losetup -d "$loopdev" 2>/dev/null
  for h in /sys/fs/cgroup/*/; do
    for n in "${cg_names[@]}"; do
      [ -d "$h$n" ] && find "$h$n" -depth -type d -exec rmdir {} + 2>/dev/null
    done
  done
  return 0
}
trap cleanup EXIT

# --- the image: busybox-static as a one-layer OCI layout, in a registry -------
echo "== busybox image and registry" >&2
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,root}
cp /bin/busybox "$rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$layout/l.tar" .
diff_id=$(sha256sum "$layout/l.tar" | cut -d' ' -f1)
gzip -n -1 "$layout/l.tar"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); echo "$d $(stat -c %s "$1")"; mv "$1" "$layout/blobs/sha256/$d"; }
read -r ld lsz < <(blob "$layout/l.tar.gz")
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"bench/engine/run.sh"}]}' "$diff_id" > "$layout/c"
read -r cd cs < <(blob "$layout/c")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$cd" "$cs" "$ld" "$lsz" > "$layout/m"
read -r md ms < <(blob "$layout/m")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$md" "$ms" > "$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
cat > "$run/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5000, secret: bench}
YML
docker-registry serve "$run/registry.yml" > "$run/registry.log" 2>&1 & pid[registry]=$!
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/5000) 2>/dev/null && break; sleep 0.1; done
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$layout:latest" docker://127.0.0.1:5000/busybox:latest
IMG=127.0.0.1:5000/busybox:latest

wait_sock() { # socket pid name
  local i
  for i in $(seq 300); do
    [ -S "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || { echo "run.sh: $3 exited" >&2; return 1; }
    sleep 0.1
  done
  echo "run.sh: $3 did not create $1" >&2; return 1
}

# --- the peers: daemons, clients -------------------------------------------------
declare -A version cli_ok
start_berth() {
  local bin=$work/bin
  mkdir -p "$bin" "$run/berth"
  # An installed layout: the helpers next to berthd (found there first).
  cp "$BERTH_BENCH_BERTHD" "$BERTH_BENCH_CLI" "$bin/"
  cp "$BERTH_BENCH_STATIC"/{berth-runtime,berth-shim,berth-init} "$bin/"
  cat > "$run/berth/config.toml" <<TOML
data_root = "$data/berth"
exec_root = "$run/berth/exec"
log_level = "warn"
default_runtime = "berth"
[network]
default_network = "bridge"
TOML
  "$bin/berthd" -H "unix://$run/berth/berth.sock" --config "$run/berth/config.toml" --pidfile "$run/berth/berthd.pid" \
    </dev/null > "$run/berth/berthd.log" 2>&1 & pid[berthd]=$!
  wait_sock "$run/berth/berth.sock" "${pid[berthd]}" berthd || { cat "$run/berth/berthd.log" >&2; return 1; }
  BERTH=("$bin/berth" -H "unix://$run/berth/berth.sock")
  "${BERTH[@]}" pull -q "$IMG" >/dev/null
  version[berth]="berth ${BERTH_BENCH_REV:-?} (berth-runtime)"
}
start_ctr() {
  mkdir -p "$run/ctr"
  cat > "$run/ctr/config.toml" <<TOML
version = 2
root = "$data/containerd"
state = "$run/ctr/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$run/ctr/containerd.sock"
[ttrpc]
  address = "$run/ctr/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$data/containerd-opt"
TOML
  containerd --config "$run/ctr/config.toml" </dev/null > "$run/ctr/containerd.log" 2>&1 & pid[containerd]=$!
  wait_sock "$run/ctr/containerd.sock" "${pid[containerd]}" containerd || { cat "$run/ctr/containerd.log" >&2; return 1; }
  CTR=(ctr --address "$run/ctr/containerd.sock" -n berth-bench-ctr)
  "${CTR[@]}" images pull --plain-http "$IMG" >/dev/null
  # ctr run --cni reads /etc/cni/net.d (a private bind here) and /opt/cni/bin.
  cat > "$work/cni-conf/10-ctr-bench.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "ctr-bench", "plugins": [
  {"type": "bridge", "bridge": "ctr0", "isGateway": true, "ipMasq": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.89.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON
  version[ctr]="containerd $(containerd --version | awk '{ print $3 }') (runc $(runc --version | awk 'NR == 1 { print $3 }'))"
}
start_podman() {
  mkdir -p "$run/podman/net"
  cat > "$run/podman/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$run/podman/events.log"
tmp_dir = "$run/podman/tmp"
volume_path = "$data/podman-volumes"
static_dir = "$data/podman-static"
[network]
network_backend = "cni"
network_config_dir = "$run/podman/net"
cni_plugin_dirs = ["/usr/lib/cni"]
CONF
  export CONTAINERS_CONF=$run/podman/containers.conf
  PODMAN=(podman --root "$data/podman" --runroot "$run/podman/runroot" --storage-driver overlay)
  "${PODMAN[@]}" pull -q --tls-verify=false "$IMG" >/dev/null
  local rt; rt=$("${PODMAN[@]}" info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || echo crun)
  version[podman]="podman $(podman --version | awk '{ print $3 }') ($rt $("$rt" --version 2>/dev/null | awk 'NR == 1 { print $3 }'), conmon $(conmon --version | awk 'NR == 1 { print $3 }'))"
}
start_docker() {
  mkdir -p "$run/docker"
  echo '{}' > "$run/docker/daemon.json"
  # Its own containerd (no --containerd): dockerd starts and supervises it.
  dockerd --data-root "$data/docker" --exec-root "$run/docker/exec" -H "unix://$run/docker/docker.sock" \
    --pidfile "$run/docker/docker.pid" --config-file "$run/docker/daemon.json" \
    --cgroup-parent /berth-bench-docker \
    --storage-driver overlay2 --log-level warn </dev/null > "$run/docker/dockerd.log" 2>&1 & pid[dockerd]=$!
  wait_sock "$run/docker/docker.sock" "${pid[dockerd]}" dockerd || { cat "$run/docker/dockerd.log" >&2; return 1; }
  DOCKER=(/usr/bin/docker -H "unix://$run/docker/docker.sock")
  local i
  for i in $(seq 100); do "${DOCKER[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${DOCKER[@]}" pull -q "$IMG" >/dev/null
  version[docker]="docker.io $("${DOCKER[@]}" version --format '{{.Server.Version}}') (runc $(runc --version | awk 'NR == 1 { print $3 }'))"
}

# run_rm PEER VARIANT [CMD...]: one `run --rm IMAGE CMD` (default: true)
run_rm() {
  local p=$1 v=$2; shift 2
  [ $# -gt 0 ] || set -- true
  case "$p/$v" in
    berth/none) "${BERTH[@]}" run --rm --network none --cgroup-parent /berth-bench "$IMG" "$@" ;;
    berth/bridge) "${BERTH[@]}" run --rm --cgroup-parent /berth-bench "$IMG" "$@" ;;
    ctr/none) "${CTR[@]}" run --rm "$IMG" bench-rm "$@" ;;
    ctr/bridge) "${CTR[@]}" run --rm --cni "$IMG" bench-rm "$@" ;;
    podman/none) "${PODMAN[@]}" run --rm --network none --cgroup-parent /berth-bench-podman "$IMG" "$@" ;;
    podman/bridge) "${PODMAN[@]}" run --rm --cgroup-parent /berth-bench-podman "$IMG" "$@" ;;
    docker/none) "${DOCKER[@]}" run --rm --network none "$IMG" "$@" ;;
    docker/bridge) "${DOCKER[@]}" run --rm "$IMG" "$@" ;;
  esac
}
# run_d PEER I: one detached `sleep 3600`, no network
run_d() {
  case "$1" in
    berth) "${BERTH[@]}" run -d --network none --cgroup-parent /berth-bench "$IMG" sleep 3600 ;;
    ctr) "${CTR[@]}" run -d "$IMG" "dens-$2" sleep 3600 ;;
    podman) "${PODMAN[@]}" run -d --network none --cgroup-parent /berth-bench-podman "$IMG" sleep 3600 ;;
    docker) "${DOCKER[@]}" run -d --network none "$IMG" sleep 3600 ;;
  esac
}
remove_all() {
  local ids id
  case "$1" in
    berth) ids=$("${BERTH[@]}" ps -aq); [ -z "$ids" ] || "${BERTH[@]}" rm -f $ids ;;
    docker) ids=$("${DOCKER[@]}" ps -aq); [ -z "$ids" ] || "${DOCKER[@]}" rm -f $ids ;;
    podman) "${PODMAN[@]}" rm -af -t 0 ;;
    ctr)
      for id in $("${CTR[@]}" tasks ls -q); do "${CTR[@]}" tasks kill -s SIGKILL "$id"; done
      for id in $("${CTR[@]}" tasks ls -q); do
        for _ in $(seq 50); do "${CTR[@]}" tasks rm "$id" 2>/dev/null && break; sleep 0.1; done
      done
      for id in $("${CTR[@]}" containers ls -q); do "${CTR[@]}" containers rm "$id"; done ;;
  esac
}
# monitors PEER: pids of the per-container monitor processes
monitors() {
  local p exe cmd
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$1/$exe" in
      berth/"$work/bin/berth-shim") ;;
      podman/*/conmon) cmd=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue; [[ $cmd == *"$data/podman/"* ]] || continue ;;
      ctr/*/containerd-shim-runc-v2) cmd=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue; [[ $cmd == *"-namespace berth-bench-ctr "* ]] || continue ;;
      docker/*/containerd-shim-runc-v2) cmd=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue; [[ $cmd == *"-namespace moby "* ]] || continue ;;
      *) continue ;;
    esac
    echo "${p#/proc/}"
  done
}
# daemons PEER: the long-running daemon pids whose RSS we report
daemons() {
  case "$1" in
    berth) echo "${pid[berthd]}" ;;
    ctr) echo "${pid[containerd]}" ;;
    docker) echo "${pid[dockerd]}"; pgrep -P "${pid[dockerd]}" -x containerd || true ;;
    podman) ;;
  esac
}
# mem PIDS...: "count rss_kib private_kib" summed from smaps_rollup
mem() {
  local p
  for p in "$@"; do cat "/proc/$p/smaps_rollup" 2>/dev/null; done |
    awk '/^Rss:/ { r += $2; n++ } /^Private_(Clean|Dirty):/ { pr += $2 } END { printf "%d %d %d\n", n, r, pr }'
}

for p in "${want[@]}"; do
  case "$p" in berth|ctr|podman|docker) ;; *) echo "run.sh: unknown peer $p" >&2; exit 2 ;; esac
  echo "== starting $p" >&2
  enter_cg "$p"
  if ! "start_$p" >"$work/start-$p.log" 2>&1; then
    echo "run.sh: $p could not be set up, left out: $(tail -c 600 "$work/start-$p.log")" >&2
    continue
  fi
  # Smoke test: a peer that cannot run the container is reported, not timed.
  bad=0
  for v in "${variant_list[@]}"; do
    # ... and the variant is what it claims: an eth0 with an IPv4 address on
    # the bridge, none without.
    if ! run_rm "$p" "$v" ip -o -4 addr show </dev/null >"$work/smoke-$p.log" 2>&1; then
      echo "run.sh: $p cannot run a container ($v), left out: $(tail -c 600 "$work/smoke-$p.log")" >&2
      bad=1
    elif [ "$v" = none ] && grep -qv ' lo ' "$work/smoke-$p.log"; then
      echo "run.sh: $p --network none has an interface besides lo: $(cat "$work/smoke-$p.log")" >&2; bad=1
    elif [ "$v" = bridge ] && ! grep -q ' eth0 .*inet ' "$work/smoke-$p.log"; then
      echo "run.sh: $p bridge variant has no eth0 address: $(cat "$work/smoke-$p.log")" >&2; bad=1
    fi
  done
  [ "$bad" = 0 ] && active+=("$p")
  enter_cg ""
done
[ ${#active[@]} -gt 0 ] || { echo "run.sh: no peer works" >&2; exit 1; }
echo "== peers: ${active[*]}" >&2

# --- profile instead of measuring: where berth's time and memory go -------------------
if [ -n "$profile" ]; then
  set +e
  mkdir -p "$profile"
  for p in "${active[@]}"; do
    echo "== profiling $p into $profile" >&2
    enter_cg "$p"
    for i in 1 2 3; do run_rm "$p" none </dev/null >/dev/null 2>&1 || true; done
    # strace timelines of one run --rm and one run -d: the client, and the
    # daemon with everything it spawns (monitor, runtime, container).
    for what in rm d; do
      dpids=$(daemons "$p")
      straces=()
      for dp in $dpids; do
        strace -f -tt -T -s 256 -o "$profile/$p-$what-daemon-$dp.strace" -p "$dp" 2>/dev/null & straces+=($!)
      done
      sleep 1
      if [ "$what" = rm ]; then
        strace -f -tt -T -s 256 -o "$profile/$p-$what-client.strace" bash -c "$(declare -p BERTH CTR PODMAN DOCKER IMG 2>/dev/null); $(declare -f run_rm); run_rm $p none" </dev/null >/dev/null 2>&1
      else
        strace -f -tt -T -s 256 -o "$profile/$p-$what-client.strace" bash -c "$(declare -p BERTH CTR PODMAN DOCKER IMG 2>/dev/null); $(declare -f run_d); run_d $p 1" </dev/null >/dev/null 2>&1
      fi
      sleep 0.5
      for sp in "${straces[@]}"; do kill -INT "$sp" 2>/dev/null; wait "$sp" 2>/dev/null || true; done
      remove_all "$p" >/dev/null 2>&1 || true
    done
    # Process timeline without ptrace (sched tracepoints: fork, exec, exit,
    # and the client's and daemon's connect/sendto) of 6 run --rm and 6
    # run -d; and per-task run time vs. scheduling delay (perf sched) of 10
    # run --rm: how much of the wall time is CPU, how much waiting for one.
    for k in rm rm-bridge d; do
      case $k in rm) one="run_rm $p none" ;; rm-bridge) one="run_rm $p bridge" ;; d) one="run_d $p \$i" ;; esac
      perf record -q -a -e sched:sched_process_exec,sched:sched_process_exit,sched:sched_process_fork,syscalls:sys_enter_connect,syscalls:sys_enter_sendto \
        -o "$profile/$p-$k.timeline.perf" -- bash -c "$(declare -p BERTH CTR PODMAN DOCKER IMG 2>/dev/null); $(declare -f run_rm run_d); for i in 1 2 3 4 5 6; do $one; sleep 0.2; done" </dev/null >/dev/null 2>&1
      perf script -i "$profile/$p-$k.timeline.perf" -F comm,pid,tid,time,event,trace > "$profile/$p-$k.timeline.txt" 2>/dev/null
      remove_all "$p" >/dev/null 2>&1 || true
    done
    perf sched record -q -o "$profile/$p-rm.sched.perf" -- bash -c "$(declare -p BERTH CTR PODMAN DOCKER IMG 2>/dev/null); $(declare -f run_rm); for i in \$(seq 10); do run_rm $p none; done" </dev/null >/dev/null 2>&1
    perf sched timehist -i "$profile/$p-rm.sched.perf" -S > "$profile/$p-rm.timehist.txt" 2>/dev/null
    # CPU profile (cpu-clock samples, call graphs) of 20 run --rm, whole
    # machine; the report keeps the peer's processes.
    perf record -q -a -g -F 2000 -o "$profile/$p-rm.perf" -- bash -c "$(declare -p BERTH CTR PODMAN DOCKER IMG 2>/dev/null); $(declare -f run_rm); for i in \$(seq 20); do run_rm $p none; done" </dev/null >/dev/null 2>&1 || true
    # CPU profile of $containers run -d
    perf record -q -a -g -F 2000 -o "$profile/$p-d.perf" -- bash -c "$(declare -p BERTH CTR PODMAN DOCKER IMG 2>/dev/null); $(declare -f run_d); for i in \$(seq $containers); do run_d $p \$i; done" </dev/null >/dev/null 2>&1 || true
    # Reports now: the binaries live in this namespace only.
    case $p in
      berth) comms=berth,berthd,tokio-rt-worker,berth-netns,signals,attach,output,ctrl-c,berth-shim,berth-runtime,true,sleep ;;
      ctr) comms=ctr,containerd,containerd-shim,runc,"runc:[0:PARENT]","runc:[1:CHILD]","runc:[2:INIT]",true,sleep ;;
      podman) comms=podman,conmon,crun,true,sleep ;;
      docker) comms=docker,dockerd,containerd,containerd-shim,runc,"runc:[0:PARENT]","runc:[1:CHILD]","runc:[2:INIT]",docker-init,true,sleep ;;
    esac
    for k in rm d; do
      perf report -i "$profile/$p-$k.perf" --stdio --no-children -g none --sort comm --percent-limit 0.1 > "$profile/$p-$k.comm.txt" 2>/dev/null
      perf report -i "$profile/$p-$k.perf" --stdio --no-children -g none --comms "$comms" --sort comm,dso,sym --percent-limit 0.1 > "$profile/$p-$k.sym.txt" 2>/dev/null
      perf report -i "$profile/$p-$k.perf" --stdio --children -g caller,0.5,callee,function,percent --comms "$comms" --sort comm,sym --percent-limit 1 > "$profile/$p-$k.callers.txt" 2>/dev/null
    done
    sleep 2
    mons=($(monitors "$p"))
    for m in "${mons[@]:0:2}"; do cat "/proc/$m/smaps" > "$profile/$p-monitor-$m.smaps" 2>/dev/null; cat "/proc/$m/status" > "$profile/$p-monitor-$m.status" 2>/dev/null; done
    for dp in $(daemons "$p"); do cat "/proc/$dp/smaps" > "$profile/$p-daemon-$dp.smaps" 2>/dev/null; cat "/proc/$dp/status" > "$profile/$p-daemon-$dp.status" 2>/dev/null; done
    remove_all "$p" >/dev/null 2>&1 || true
    enter_cg ""
  done
  if [ -n "${BERTH_BENCH_HOLD:-}" ]; then
    # Keep the namespace for manual digging: nsenter -t PID -m -n, then
    # source $profile/env.sh (the peers' command lines as arrays).
    { declare -p BERTH CTR PODMAN DOCKER IMG run data work 2>/dev/null; declare -f run_rm run_d remove_all monitors daemons mem
      echo "export HOME=$HOME DOCKER_CONFIG=$DOCKER_CONFIG BERTH_NO_AUTOSTART=1 CONTAINERS_CONF=${CONTAINERS_CONF:-}"; } > "$profile/env.sh"
    touch "$profile/hold"
    echo "== holding: nsenter -t $$ -m -n bash, then . $profile/env.sh; rm $profile/hold to end" >&2
    while [ -e "$profile/hold" ]; do sleep 1; done
  fi
  exit 0
fi

# --- run --rm, interleaved ---------------------------------------------------------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== run --rm $IMG true: ${variant_list[*]}; 3 warm-up + $runs rounds" >&2
times=$work/run-rm.txt
: > "$times"
n=${#active[@]}
for ((i = 0; i < runs + 3; i++)); do
  order=("${active[@]:i % n}" "${active[@]:0:i % n}")
  for p in "${order[@]}"; do
    enter_cg "$p"
    for v in "${variant_list[@]}"; do
      ok=ok
      cpu_ns "$p"; c0=$CPU_NS
      t0=$EPOCHREALTIME
      run_rm "$p" "$v" </dev/null >/dev/null 2>>"$work/errors-$p.log" || ok=FAILED
      t1=$EPOCHREALTIME
      cpu_ns "$p"
      [ "$i" -ge 3 ] && echo "$p $v $ok $t0 $t1 $((CPU_NS - c0))" >> "$times"
    done
    enter_cg ""
  done
  (( (i + 1) % 10 == 0 )) && echo "   round $((i + 1))/$((runs + 3)), load $(cut -d' ' -f1 /proc/loadavg)" >&2
done
load_rm=$(cut -d' ' -f1-3 /proc/loadavg)

# --- density ---------------------------------------------------------------------------
echo "== density: $containers detached sleep containers, $rounds rounds" >&2
dens=$work/density.txt
: > "$dens"
for ((r = 0; r < rounds; r++)); do
  order=("${active[@]:r % n}" "${active[@]:0:r % n}")
  for p in "${order[@]}"; do
    remove_all "$p" >/dev/null 2>&1 || true
    sleep 1
    read -r _ dbefore _ < <(mem $(daemons "$p"))
    failed=0
    enter_cg "$p"
    cpu_ns "$p"; c0=$CPU_NS
    t0=$EPOCHREALTIME
    for ((c = 1; c <= containers; c++)); do
      run_d "$p" "$c" </dev/null >/dev/null 2>>"$work/errors-$p.log" || failed=$((failed + 1))
    done
    t1=$EPOCHREALTIME
    cpu_ns "$p"; c1=$CPU_NS
    enter_cg ""
    sleep 2
    mons=($(monitors "$p"))
    read -r mcount mrss mpriv < <(mem "${mons[@]}")
    read -r _ dafter _ < <(mem $(daemons "$p"))
    echo "$p $t0 $t1 $failed $mcount $mrss $mpriv $dbefore $dafter $((c1 - c0))" >> "$dens"
    echo "   round $((r + 1)) $p: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f s", b - a }'), $mcount monitors, $failed failed, load $(cut -d' ' -f1 /proc/loadavg)" >&2
    if [ "$p" = berth ] && [ "$r" = 0 ] && [ -n "$raw" ]; then
      mkdir -p "$raw"
      for m in "${mons[@]:0:3}"; do cat "/proc/$m/smaps" > "$raw/berth-shim-$m.smaps" 2>/dev/null || true; done
      cat "/proc/${pid[berthd]}/smaps" > "$raw/berthd.smaps" 2>/dev/null || true
    fi
    remove_all "$p" >/dev/null 2>&1 || true
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "$raw" ]; then
  mkdir -p "$raw"; cp "$times" "$dens" "$raw/"; cp "$work"/errors-*.log "$raw/" 2>/dev/null || true
fi

# --- tables ------------------------------------------------------------------------------
# stat FILE PEER VARIANT -> "median (p25–p75)" ms
stat_rm() {
  awk -v p="$2" -v v="$3" '$1 == p && $2 == v && $3 == "ok" { printf "%.3f\n", ($5 - $4) * 1000 }' "$1" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit } m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
           printf "%.0f (%.0f–%.0f)", m, a[int(NR / 4) + 1], a[int(3 * NR / 4) + 1] }'
}
cpu_rm() { # FILE PEER VARIANT -> median CPU ms per run
  awk -v p="$2" -v v="$3" '$1 == p && $2 == v && $3 == "ok" { printf "%.3f\n", $6 / 1e6 }' "$1" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit } printf "%.0f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
fails_rm() { awk -v p="$2" '$1 == p && $3 == "FAILED"' "$1" | wc -l; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit } print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { # col PEER EXPR over density rows -> median
  awk -v p="$1" '$1 == p { t = $3 - $2; fail = $4; n = $5; rss = $6; priv = $7; db = $8; da = $9; cpu = $10; print '"$2"' }' "$dens" | median
}
range() { awk -v p="$1" '$1 == p { printf "%s%.2f", (k++ ? "/" : ""), $3 - $2 }' "$dens"; }
mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.1f", k / 1024 }'; }
kib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.0f", k }'; }

when="$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs, storage $storage"
echo
echo "Engine benchmark, $when; \`bench/engine/run.sh ${args[*]}\`."
echo "Load average (1/5/15 min): $load_start at the start, $load_rm after run --rm, $load_end at the end."
echo
echo "\`run --rm $IMG true\`: wall time in ms, median (25th–75th percentile) of $runs interleaved rounds; CPU: median CPU time per run (ms) of the peer's clients, daemons, monitors, runtimes and containers (cpuacct)."
echo
hdr="| peer | version |"; sep="|---|---|"
for v in "${variant_list[@]}"; do
  case $v in none) hdr+=" --network none | CPU |" ;; bridge) hdr+=" default bridge | CPU |" ;; *) hdr+=" $v | CPU |" ;; esac
  sep+="---:|---:|"
done
echo "$hdr failed |"; echo "$sep---:|"
for p in "${active[@]}"; do
  line="| $p | ${version[$p]} |"
  for v in "${variant_list[@]}"; do line+=" $(stat_rm "$times" "$p" "$v") | $(cpu_rm "$times" "$p" "$v") |"; done
  echo "$line $(fails_rm "$times" "$p") |"
done
echo
echo "Density: $containers detached \`run -d --network none $IMG sleep 3600\` one after another (ctr: \`ctr run -d\`), median of $rounds rounds (each round's time listed); monitor memory from /proc/PID/smaps_rollup averaged over the containers (private = Private_Clean + Private_Dirty); daemon RSS idle before the containers → with them (docker: dockerd + its containerd; podman has no daemon)."
echo
echo "| peer | $containers starts (s) | rounds (s) | CPU per start (ms) | monitors found | monitor RSS (MiB) | monitor private (KiB) | daemon RSS before → after (MiB) | failed starts |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
for p in "${active[@]}"; do
  t=$(col "$p" t); cnt=$(col "$p" n); fl=$(col "$p" fail)
  rss=$(col "$p" 'n ? rss / n : 0'); priv=$(col "$p" 'n ? priv / n : 0')
  if [ "$p" = podman ]; then dmn="—"; else dmn="$(mib "$(col "$p" db)") → $(mib "$(col "$p" da)")"; fi
  monitor=$(case $p in berth) echo berth-shim ;; podman) echo conmon ;; *) echo containerd-shim-runc-v2 ;; esac)
  printf '| %s | %.2f | %s | %.0f | %s × %s | %s | %s | %s | %s |\n' "$p" "$t" "$(range "$p")" "$(col "$p" "cpu / 1e6 / $containers")" "$cnt" "$monitor" "$(mib "$rss")" "$(kib "$priv")" "$dmn" "$fl"
done
