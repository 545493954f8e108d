#!/usr/bin/env bash
# What the shim adds to starting and removing a container: hyperfine runs
#   shim:    berth-shim (create + start + report) ; shimctl delete --force
#   direct:  RUNTIME create ; RUNTIME start ; RUNTIME delete --force
# on a busybox `sleep` bundle, for the same runtime.
#
# usage: crates/shim/bench/start-latency.sh [-r RUNTIME] [-s SHIM] [-c SHIMCTL] [-n RUNS]
#   defaults: RUNTIME=runc, SHIM=the static build (target/<host>/release),
#             SHIMCTL=target/release/examples/shimctl (cargo build --release -p berth-shim --example shimctl)
set -euo pipefail
cd "$(dirname "$0")/../../.."
target=${CARGO_TARGET_DIR:-target}
runtime=runc
shim=$target/$(rustc -vV | sed -n 's/^host: //p')/release/berth-shim
shimctl=$target/release/examples/shimctl
runs=30
while getopts "r:s:c:n:" o; do
  case $o in
    r) runtime=$OPTARG ;;
    s) shim=$OPTARG ;;
    c) shimctl=$OPTARG ;;
    n) runs=$OPTARG ;;
    *) echo "usage: $0 [-r RUNTIME] [-s SHIM] [-c SHIMCTL] [-n RUNS]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "start-latency: run as root" >&2; exit 1; }
for b in "$shim" "$shimctl" "$runtime" hyperfine; do
  command -v "$b" >/dev/null || { echo "start-latency: $b not found" >&2; exit 1; }
done
runtime=$(command -v "$runtime")

work=$(mktemp -d /dev/shm/berth-shim-lat.XXXXXX)
trap '"$runtime" --root "$work/root" delete --force lat-shim >/dev/null 2>&1 || true;
      "$runtime" --root "$work/root" delete --force lat-direct >/dev/null 2>&1 || true;
      pkill -9 -F "$work/state/shim.pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/proc" "$work/bundle/rootfs/dev" "$work/bundle/rootfs/sys"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/sleep"
(cd "$work/bundle" && "$runtime" spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"sleep", "1000000"/' "$work/bundle/config.json"

cat > "$work/shim.sh" <<EOS
#!/bin/sh
set -e
$shim --id lat-shim --bundle $work/bundle --state-dir $work/state --runtime $runtime --runtime-root $work/root --log-path $work/log.json >/dev/null
$shimctl $work/state '{"op":"delete","force":true}' >/dev/null
EOS
cat > "$work/direct.sh" <<EOS
#!/bin/sh
set -e
$runtime --root $work/root create --bundle $work/bundle lat-direct </dev/null >/dev/null 2>&1
$runtime --root $work/root start lat-direct
$runtime --root $work/root delete --force lat-direct
EOS
chmod +x "$work/shim.sh" "$work/direct.sh"
hyperfine --warmup 3 --runs "$runs" -N -n "shim ($runtime)" "$work/shim.sh" -n "direct ($runtime)" "$work/direct.sh"
