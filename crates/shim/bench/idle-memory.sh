#!/usr/bin/env bash
# Memory of idle shims: starts N busybox containers that print a line and
# then sleep, each under its own berth-shim (json-file logging on), lets
# them settle, and reads every
# shim's /proc/PID/smaps_rollup:
#   RSS      resident set (shared pages counted in full in each process)
#   PSS      proportional set (shared pages divided among their users)
#   Private  Private_Clean + Private_Dirty: what one more shim really costs
# Prints one line per shim and the averages, then deletes everything.
#
# usage: crates/shim/bench/idle-memory.sh [-n N] [-s SHIM] [-r RUNTIME]
#   defaults: N=20, SHIM=the static build scripts/setup makes
#             (target/<host>/release/berth-shim), RUNTIME=target/release/berth-runtime
set -euo pipefail
cd "$(dirname "$0")/../../.."
target=${CARGO_TARGET_DIR:-target}
n=20
shim=$target/$(rustc -vV | sed -n 's/^host: //p')/release/berth-shim
runtime=$target/release/berth-runtime
while getopts "n:s:r:" o; do
  case $o in
    n) n=$OPTARG ;;
    s) shim=$OPTARG ;;
    r) runtime=$OPTARG ;;
    *) echo "usage: $0 [-n N] [-s SHIM] [-r RUNTIME]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "idle-memory: run as root" >&2; exit 1; }
for b in "$shim" "$runtime"; do
  command -v "$b" >/dev/null || { echo "idle-memory: $b not found (build with cargo build --release)" >&2; exit 1; }
done

work=$(mktemp -d /dev/shm/berth-shim-mem.XXXXXX)
ids=()
cleanup() {
  # The containers first (each shim records its container's exit), then the
  # shims themselves.
  for id in "${ids[@]}"; do "$runtime" --root "$work/root" delete --force "$id" >/dev/null 2>&1 || true; done
  for pid in $(cat "$work"/state-*/shim.pid 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A busybox bundle (Debian's busybox-static) running `sleep`.
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/proc" "$work/bundle/rootfs/dev" "$work/bundle/rootfs/sys" "$work/logs"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/sleep"
ln -s busybox "$work/bundle/rootfs/bin/sh"
ln -s busybox "$work/bundle/rootfs/bin/echo"
(cd "$work/bundle" && "$runtime" spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"sh", "-c", "echo started; exec sleep 1000000"/' "$work/bundle/config.json"
grep -q 'exec sleep 1000000' "$work/bundle/config.json" || { echo "idle-memory: could not edit config.json" >&2; exit 1; }

for i in $(seq 1 "$n"); do
  id=shim-mem-$$-$i
  ids+=("$id")
  out=$("$shim" --id "$id" --bundle "$work/bundle" --state-dir "$work/state-$id" \
        --runtime "$runtime" --runtime-root "$work/root" --log-path "$work/logs/$id-json.log")
  case $out in *'"ok":true'*) ;; *) echo "idle-memory: shim $i failed: $out" >&2; exit 1 ;; esac
done
# Idle shims give back their buffers after one quiet second.
sleep 3
for id in "${ids[@]}"; do
  grep -q started "$work/logs/$id-json.log" || { echo "idle-memory: $id logged nothing" >&2; exit 1; }
done

printf '%-8s %8s %8s %8s\n' pid rss_kib pss_kib priv_kib
tot_rss=0; tot_pss=0; tot_priv=0
for id in "${ids[@]}"; do
  pid=$(cat "$work/state-$id/shim.pid")
  read -r rss pss priv < <(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} /^Private_(Clean|Dirty):/{v+=$2} END{print r, p, v}' "/proc/$pid/smaps_rollup")
  printf '%-8s %8s %8s %8s\n' "$pid" "$rss" "$pss" "$priv"
  tot_rss=$((tot_rss + rss)); tot_pss=$((tot_pss + pss)); tot_priv=$((tot_priv + priv))
done
echo "shim: $shim ($(stat -c %s "$shim") bytes), runtime: $runtime, $n idle shims"
echo "average: rss $((tot_rss / n)) KiB, pss $((tot_pss / n)) KiB, private $((tot_priv / n)) KiB"
