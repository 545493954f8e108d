#!/usr/bin/env bash
# Runtime benchmark: berth-runtime against runc and crun on one busybox
# bundle, plus the kernel floor (unshare of the same namespaces).
#
#   bench/runtime/run.sh [--runs N] [--many N] [--runtimes berth,runc,crun]
#                        [--variant all|plain|limits] [--no-build]
#
# Measures, for each runtime:
#   run        `run` of /bin/true                        (hyperfine, N runs)
#   cycle      create -> start -> state -> delete        (hyperfine, N runs)
#   many       N containers (sleep) created and started one after the other,
#              total wall time (then cleaned, not timed; median of 3)
#   peak RSS   max resident set of `run` (GNU time %M: the largest of the
#              runtime process and the children it waited for), median of 5
# and, for the "limits" variant (issue #3: cgroup setup must not erase the
# lead), `run` and the cycle with and without memory (256 MiB limit,
# 128 MiB reservation), cpu (shares 512, quota 50000/100000) and pids (64)
# limits, all runtimes interleaved round by round, reported as medians.
# --variant picks plain, limits or both (all, the default). Prints markdown
# tables for docs/benchmarks.md.
#
# Everything runs in a private mount namespace where /sys/fs/cgroup/unified
# is unmounted (a pure cgroup v1 view: crun 1.8 refuses hybrid cgroups), with
# the bundle and state on a tmpfs this script mounts. Needs root, hyperfine,
# busybox-static, runc, crun; installs GNU time if missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

runs=150
many=100
runtimes=berth,runc,crun
build=1
variant=all
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --many) many=$2; shift 2 ;;
    --runtimes) runtimes=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --variant) variant=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $variant in all|plain|limits) ;; *) echo "run.sh: --variant all|plain|limits" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root" >&2; exit 1; }

if [ -z "${BERTH_BENCH_INNER:-}" ]; then
  for tool in hyperfine unshare runc crun busybox; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (scripts/setup installs it)" >&2; exit 1; }
  done
  if [ ! -x /usr/bin/time ]; then
    apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
  fi
  berth_bin=
  if [[ ",$runtimes," == *,berth,* ]]; then
    # the static build berth ships (scripts/setup makes the same one)
    target=${CARGO_TARGET_DIR:-$repo/target}
    host=$(rustc -vV | sed -n 's/^host: //p')
    if [ "$build" = 1 ]; then
      (cd "$repo" && LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
        RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$host" -p berth-runtime >&2)
    fi
    berth_bin=${BERTH_RUNTIME_BIN:-$target/$host/release/berth-runtime}
  fi
  # Private mount namespace: the umount and the tmpfs stay here.
  exec env BERTH_BENCH_INNER=1 BERTH_BENCH_BIN="$berth_bin" \
    unshare --mount --propagation private "$0" --runs "$runs" --many "$many" --runtimes "$runtimes" --variant "$variant" --no-build
fi

if grep -q ' /sys/fs/cgroup/unified cgroup2 ' /proc/self/mounts; then
  umount /sys/fs/cgroup/unified
fi
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
mount -t tmpfs -o size=256m,mode=755 berth-bench "$work"
cleanup() {
  for r in "$work"/root-*; do
    [ -d "$r" ] || continue
    rt=${r##*/root-}
    bin=$(cat "$work/bin-$rt" 2>/dev/null || true)
    [ -n "$bin" ] || continue
    for id in $("$bin" --root "$r" list -q 2>/dev/null); do
      "$bin" --root "$r" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  umount -l "$work" 2>/dev/null || true
  rmdir "$work" 2>/dev/null || true
}
trap cleanup EXIT

# The bundle: busybox rootfs, runc's default config with /bin/true.
bundle=$work/bundle
mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -s busybox "$bundle/rootfs/bin/$a"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bundle/rootfs/etc/passwd"
echo 'root:x:0:' > "$bundle/rootfs/etc/group"
default_resources='{"devices": [{"allow": false, "access": "rwm"}]}'
limit_resources='{"devices": [{"allow": false, "access": "rwm"}],
    "memory": {"limit": 268435456, "reservation": 134217728},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    "pids": {"limit": 64}}'
write_config() { # $1: dir, $2: JSON args array, $3: root path (default rootfs), $4: linux.resources
  local resources=${4:-$default_resources}
  cat > "$1/config.json" <<JSON
{
  "ociVersion": "1.1.0",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": $2,
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "${3:-rootfs}", "readonly": true},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": $resources,
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON
}
write_config "$bundle" '["/bin/true"]'
# A second bundle (sharing the rootfs by absolute path) whose container
# stays up, for "many".
sleeper=$work/sleeper
mkdir -p "$sleeper"
write_config "$sleeper" '["/bin/sleep", "3600"]' "$bundle/rootfs"
# The limits variant: same rootfs, memory/cpu/pids limits.
limited=$work/limited
mkdir -p "$limited"
write_config "$limited" '["/bin/true"]' "$bundle/rootfs" "$limit_resources"

# One create/start/state/delete cycle, as a script hyperfine can run.
cat > "$work/cycle.sh" <<'SH'
#!/bin/sh
# cycle.sh BINARY ROOT BUNDLE ID
set -e
"$1" --root "$2" create --bundle "$3" "$4"
"$1" --root "$2" start "$4"
# grep reads all of state's output (no -q): a runtime must not be timed on
# how it handles a closed stdout
until "$1" --root "$2" state "$4" | grep '"status": *"stopped"' >/dev/null; do :; done
"$1" --root "$2" delete "$4"
SH
chmod +x "$work/cycle.sh"

declare -A bin
IFS=, read -r -a selected <<< "$runtimes"
active=()
for rt in "${selected[@]}"; do
  case "$rt" in
    berth) bin[berth]=${BERTH_BENCH_BIN:-} ;;
    runc) bin[runc]=$(command -v runc) ;;
    crun) bin[crun]=$(command -v crun) ;;
    *) echo "run.sh: unknown runtime $rt" >&2; exit 2 ;;
  esac
  b=${bin[$rt]}
  mkdir -p "$work/root-$rt"
  echo "$b" > "$work/bin-$rt"
  # Smoke test: a runtime that cannot run the bundle is reported, not timed.
  if [ -z "$b" ] || [ ! -x "$b" ] || ! "$b" --root "$work/root-$rt" run --bundle "$bundle" smoke-$rt </dev/null >/dev/null 2>"$work/smoke-$rt.err"; then
    echo "run.sh: $rt cannot run the bundle yet, skipped: $(head -c 300 "$work/smoke-$rt.err" 2>/dev/null)" >&2
    "$b" --root "$work/root-$rt" delete --force smoke-$rt >/dev/null 2>&1 || true
    continue
  fi
  if [ "$variant" != plain ] && ! "$b" --root "$work/root-$rt" run --bundle "$limited" smoke-l-$rt </dev/null >/dev/null 2>"$work/smoke-$rt.err"; then
    echo "run.sh: $rt cannot run the limits bundle, skipped: $(head -c 300 "$work/smoke-$rt.err" 2>/dev/null)" >&2
    "$b" --root "$work/root-$rt" delete --force smoke-l-$rt >/dev/null 2>&1 || true
    continue
  fi
  active+=("$rt")
done
[ ${#active[@]} -gt 0 ] || { echo "run.sh: no runtime works" >&2; exit 1; }

ms() { # ms CSV NAME -> "mean ± stddev"
  awk -F, -v n="$2" 'NR > 1 && $1 == n { printf "%.1f ± %.1f", $2 * 1000, $3 * 1000 }' "$1"
}
if [ "$variant" != limits ]; then
  echo "== run /bin/true and create/start/state/delete, $runs runs each" >&2
  run_cmds=(-n floor "unshare --mount --uts --ipc --net --pid --fork /bin/true")
  cycle_cmds=()
  for rt in "${active[@]}"; do
    b=${bin[$rt]}; r=$work/root-$rt
    run_cmds+=(-n "$rt" "$b --root $r run --bundle $bundle bench-run-$rt")
    cycle_cmds+=(-n "$rt" "$work/cycle.sh $b $r $bundle bench-cycle-$rt")
  done
  hyperfine -N --style basic --warmup 5 --runs "$runs" --export-csv "$work/run.csv" "${run_cmds[@]}" >&2
  hyperfine -N --style basic --warmup 5 --runs "$runs" --export-csv "$work/cycle.csv" "${cycle_cmds[@]}" >&2

  echo "== $many containers created and started in a row (median of 3)" >&2
  declare -A many_ms rss
  now_ns() { date +%s%N; }
  for rt in "${active[@]}"; do
    b=${bin[$rt]}; r=$work/root-$rt
    samples=()
    for round in 1 2 3; do
      t0=$(now_ns)
      for i in $(seq 1 "$many"); do
        "$b" --root "$r" create --bundle "$sleeper" "many-$rt-$i" </dev/null >/dev/null
        "$b" --root "$r" start "many-$rt-$i"
      done
      t1=$(now_ns)
      samples+=($(( (t1 - t0) / 1000000 )))
      for i in $(seq 1 "$many"); do
        "$b" --root "$r" delete --force "many-$rt-$i" >/dev/null 2>&1 || true
      done
    done
    many_ms[$rt]=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 2p)
    echo "$rt: ${samples[*]} ms" >&2
  done

  echo "== peak RSS of run (GNU time, median of 5)" >&2
  for rt in "${active[@]}"; do
    b=${bin[$rt]}; r=$work/root-$rt
    samples=()
    for i in 1 2 3 4 5; do
      samples+=($(/usr/bin/time -f %M "$b" --root "$r" run --bundle "$bundle" "bench-rss-$rt" 2>&1 >/dev/null </dev/null | tail -1))
    done
    rss[$rt]=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p)
    echo "$rt: ${samples[*]} KiB" >&2
  done
  floor_rss=$(/usr/bin/time -f %M unshare --mount --uts --ipc --net --pid --fork /bin/true 2>&1 >/dev/null | tail -1)

fi

if [ "$variant" != plain ]; then
  # Interleaved, not hyperfine: on a shared machine the load drifts over
  # minutes, and hyperfine times one command after the other, so its
  # medians for two runtimes can differ by the drift alone. Here every round
  # runs each runtime with and without limits (order rotated per round),
  # timed with bash's $EPOCHREALTIME (no fork); 5 warm-up rounds.
  echo "== limits variant: run and create/start/state/delete with and without limits, interleaved, $runs rounds" >&2
  interleaved() { # interleaved OUT run|cycle
    local out=$1 kind=$2 i n=${#active[@]} rt v bdir t0 t1
    : > "$out"
    for ((i = 0; i < runs + 5; i++)); do
      local order=("${active[@]:i % n}" "${active[@]:0:i % n}")
      for rt in "${order[@]}"; do
        for v in plain limits; do
          bdir=$bundle; [ "$v" = limits ] && bdir=$limited
          t0=$EPOCHREALTIME
          if [ "$kind" = run ]; then
            "${bin[$rt]}" --root "$work/root-$rt" run --bundle "$bdir" "il-$rt" </dev/null >/dev/null 2>&1 || v=$v-FAILED
          else
            "$work/cycle.sh" "${bin[$rt]}" "$work/root-$rt" "$bdir" "il-$rt" </dev/null >/dev/null 2>&1 || v=$v-FAILED
          fi
          t1=$EPOCHREALTIME
          [ "$i" -ge 5 ] && echo "$rt $v $t0 $t1" >> "$out"
        done
      done
    done
  }
  LC_NUMERIC=C interleaved "$work/lrun.txt" run
  LC_NUMERIC=C interleaved "$work/lcycle.txt" cycle
fi

versions() {
  case "$1" in
    berth) "${bin[berth]}" --version 2>/dev/null | head -1 ;;
    *) "${bin[$1]}" --version 2>/dev/null | head -1 ;;
  esac
}

if [ "$variant" != limits ]; then
  echo
  echo "Runtime benchmark, $(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs; \`bench/runtime/run.sh --runs $runs --many $many\`."
  echo "Times in ms (mean ± σ over $runs runs; \"$many in a row\" is the median of 3 rounds); RSS is GNU time's maximum resident set of \`run\`."
  echo
  echo "| runtime | version | run /bin/true (ms) | create→start→state→delete (ms) | $many create+start in a row (ms) | peak RSS of run (MiB) |"
  echo "|---|---|---|---|---|---|"
  for rt in "${active[@]}"; do
    printf '| %s | %s | %s | %s | %s | %.1f |\n' "$rt" "$(versions "$rt")" "$(ms "$work/run.csv" "$rt")" \
      "$(ms "$work/cycle.csv" "$rt")" "${many_ms[$rt]}" "$(awk -v k="${rss[$rt]}" 'BEGIN { print k / 1024 }')"
  done
  printf '| floor: `unshare --mount --uts --ipc --net --pid --fork /bin/true` | util-linux | %s | | | %.1f |\n' \
    "$(ms "$work/run.csv" floor)" "$(awk -v k="$floor_rss" 'BEGIN { print k / 1024 }')"
fi

if [ "$variant" != plain ]; then
  # lmed FILE RT VARIANT -> "median (p25–p75)" in ms
  lmed() {
    awk -v rt="$2" -v v="$3" '$1 == rt && $2 == v { printf "%.3f\n", ($4 - $3) * 1000 }' "$1" | sort -n |
      awk '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit } m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
             printf "%.1f (%.1f–%.1f)", m, a[int(NR / 4) + 1], a[int(3 * NR / 4) + 1] }'
  }
  failed=$(cat "$work/lrun.txt" "$work/lcycle.txt" | grep -c FAILED || true)
  echo
  echo "With and without limits (linux.resources: memory 256 MiB limit + 128 MiB reservation, cpu shares 512 + quota 50000/100000, pids 64), $(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); \`bench/runtime/run.sh --runs $runs --variant $variant\`."
  echo "Median ms (25th–75th percentile) over $runs interleaved rounds; failed runs: $failed."
  echo
  echo "| runtime | run /bin/true | run /bin/true, limits | create→start→state→delete | create→start→state→delete, limits |"
  echo "|---|---|---|---|---|"
  for rt in "${active[@]}"; do
    printf '| %s | %s | %s | %s | %s |\n' "$rt" "$(lmed "$work/lrun.txt" "$rt" plain)" "$(lmed "$work/lrun.txt" "$rt" limits)" \
      "$(lmed "$work/lcycle.txt" "$rt" plain)" "$(lmed "$work/lcycle.txt" "$rt" limits)"
  done
  if [[ " ${active[*]} " == *" berth "* && " ${active[*]} " == *" crun "* ]]; then
    m() { lmed "$1" "$2" limits | cut -d' ' -f1; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
    echo
    echo "berth-runtime ÷ crun, medians with limits: run $(ratio "$(m "$work/lrun.txt" berth)" "$(m "$work/lrun.txt" crun)"), create→start→state→delete $(ratio "$(m "$work/lcycle.txt" berth)" "$(m "$work/lcycle.txt" crun)") (≤ 1.00 keeps the lead)."
  fi
fi
