#!/usr/bin/env bash
# The ps-lite reference for issue 15: dmlc/ps-lite built from its public
# source in a temporary folder (never committed), bench/pslite_bench.cc
# compiled against it, and run as local processes on 127.0.0.1:
#   dense  (ZPush + ZPull, summing server): 1 and 2 servers x 1 and 2 workers
#   sparse (ZPush of 10^3..10^6 keys, widths 1 and 64, summing and empty
#          handler): 1 server 1 worker, 2 servers 1 worker
# Prints the `pslite ...` and `pslite_sparse ...` lines (see
# pslite_bench.cc) on stdout; build and node logs go to stderr on failure.
#
#   bench/pslite.sh [PSLITE_SRC] [--seconds=N] [--no-sparse] [other pslite_bench flags...]
#
# PSLITE_SRC is a ps-lite checkout or git repository; by default the mirror
# at /work/.mirror/dmlc+ps-lite/repo. Without either it prints
# "ps-lite: not measured (...)" and exits 0. ZeroMQ comes from Debian
# (libzmq3-dev, installed with apt-get if missing); CMake is pointed at it so
# that ps-lite's FetchContent of libzmq is never reached.
#
# With 2 workers each worker process times its own calls; the lines for
# them merge the workers' per-call samples exactly: calls summed, wall time
# the longest worker's (they start each size at a ps-lite barrier),
# percentiles over all calls of both.
set -euo pipefail
mirror=/work/.mirror/dmlc+ps-lite/repo
src="$mirror"
if [[ $# -gt 0 && "$1" != --* ]]; then
  src="$1"
  shift
fi
seconds=2
sparse=1
flags=()
for arg in "$@"; do
  [[ "$arg" == --seconds=* ]] && seconds="${arg#--seconds=}"
  if [[ "$arg" == --no-sparse ]]; then sparse=0; else flags+=("$arg"); fi
done
set -- "${flags[@]}"
if [[ ! -d "$src" ]]; then
  echo "ps-lite: not measured (no source at $src)"
  exit 0
fi
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

if ! dpkg -s libzmq3-dev >/dev/null 2>&1; then
  echo "installing libzmq3-dev (apt-get)" >&2
  apt-get install -y -q libzmq3-dev >/dev/null
fi

mkdir -p "$work/src" "$work/logs" "$work/samples"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" archive HEAD | tar -x -C "$work/src"
else
  cp -r "$src/." "$work/src"
fi
echo "building ps-lite ($(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "$src"))" >&2
if ! { cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
         -DZMQ_INCLUDE_DIR=/usr/include \
         -DZMQ_LIBRARY=/usr/lib/x86_64-linux-gnu/libzmq.so \
         -DFETCHCONTENT_FULLY_DISCONNECTED=ON &&
       grep -q 'Found ZMQ: /usr/' "$work/logs/build" &&
       cmake --build "$work/build" --target pslite -j1 &&
       g++ -std=c++17 -O3 -DNDEBUG -I "$work/src/include" -I "$work/build" \
         "$repo_root/bench/pslite_bench.cc" "$work/build/libpslite.a" \
         -lprotobuf -lzmq -lpthread -o "$work/pslite_bench"; } \
       >"$work/logs/build" 2>&1; then
  tail -n 40 "$work/logs/build" >&2
  echo "ps-lite: build failed" >&2
  exit 1
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# launch NAME SERVERS WORKERS LIMIT_S FLAGS...: scheduler, servers and
# workers as local processes. If one fails, or LIMIT_S passes, the others
# are killed by PID (a ps-lite node waits for ever on a dead peer).
launch() {
  local name="$1" servers="$2" workers="$3" limit="$4"
  shift 4
  local log="$work/logs/$name" port role pid i rc=0 roles=(scheduler) started=()
  for ((i = 0; i < servers; ++i)); do roles+=(server); done
  for ((i = 0; i < workers; ++i)); do roles+=(worker); done
  port="$(free_port)"
  for i in "${!roles[@]}"; do
    role="${roles[$i]}"
    DMLC_ROLE="$role" DMLC_NUM_SERVER="$servers" DMLC_NUM_WORKER="$workers" \
      DMLC_PS_ROOT_URI=127.0.0.1 DMLC_PS_ROOT_PORT="$port" \
      DMLC_NODE_HOST=127.0.0.1 DMLC_INTERFACE=lo \
      "$work/pslite_bench" "$@" --samples_dir="$work/samples" \
      >"$log.$i.$role.out" 2>"$log.$i.$role.err" &
    started+=($!)
    pids+=($!)
  done
  local deadline=$((SECONDS + limit)) running=("${started[@]}") left
  while ((${#running[@]} > 0)); do
    left=()
    for pid in "${running[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then
        left+=("$pid")
      elif ! wait "$pid"; then
        rc=1
      fi
    done
    running=("${left[@]}")
    if ((${#running[@]} > 0 && (rc != 0 || SECONDS >= deadline))); then
      ((rc != 0)) || echo "ps-lite $name: still running after ${limit}s" >&2
      rc=1
      kill -9 "${running[@]}" 2>/dev/null || true
      for pid in "${running[@]}"; do wait "$pid" 2>/dev/null || true; done
      running=()
    fi
    sleep 0.2
  done
  if ((rc != 0)); then
    for f in "$log".*.err; do echo "== $f" >&2; grep -m 2 "Check failed\|FATAL" "$f" >&2 || tail -n 5 "$f" >&2; done
    return 1
  fi
  cat "$log".*worker.out >"$log.lines"
}

# The dense lines of a W-worker run: one worker's line as printed, or the
# merge of all workers' per-call samples.
dense_lines() {
  local servers="$1" workers="$2"
  if ((workers == 1)); then
    grep '^pslite ' "$work/logs/dense_S${servers}_W1.lines"
    return
  fi
  /usr/bin/python3 - "$work/samples" "$servers" "$workers" <<'PY'
import glob, math, os, re, sys
folder, servers, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]
runs = {}
for path in glob.glob(f"{folder}/dense_S{servers}_W{workers}_B*_r*.txt"):
    b = int(re.search(r"_B(\d+)_", path).group(1))
    lines = open(path).read().split("\n")
    wall = float(lines[0].split()[1])
    calls = [tuple(map(float, l.split())) for l in lines[1:] if l]
    runs.setdefault(b, []).append((wall, calls))
for b in sorted(runs):
    assert len(runs[b]) == workers, (b, len(runs[b]))
    wall = max(w for w, _ in runs[b])
    calls = [c for _, cs in runs[b] for c in cs]
    push = [p for p, _ in calls]
    pull = [q for _, q in calls]
    rnd = [p + q for p, q in calls]
    g = lambda x: f"{x:.4g}"
    print(f"pslite bytes={b} servers={servers} workers={workers} calls={len(calls)} "
          f"push_p50_ms={g(pct(push, 50))} pull_p50_ms={g(pct(pull, 50))} "
          f"p50_ms={g(pct(rnd, 50))} p90_ms={g(pct(rnd, 90))} p99_ms={g(pct(rnd, 99))} "
          f"gbps={g(2 * b * len(calls) / wall / 1e9)}")
PY
}

status=0
for servers in 1 2; do
  for workers in 1 2; do
    name="dense_S${servers}_W${workers}"
    if launch "$name" "$servers" "$workers" "$(awk -v s="$seconds" 'BEGIN { print int(90 + 12 * s) }')" \
        --mode=dense "$@"; then
      dense_lines "$servers" "$workers"
    else
      echo "pslite: dense servers=$servers workers=$workers failed" >&2
      status=1
    fi
  done
done
for servers in 1 2; do
  ((sparse)) || break
  name="sparse_S${servers}_W1"
  if launch "$name" "$servers" 1 "$(awk -v s="$seconds" 'BEGIN { print int(150 + 32 * s) }')" \
      --mode=sparse "$@"; then
    grep '^pslite_sparse ' "$work/logs/$name.lines"
  else
    echo "pslite: sparse servers=$servers failed" >&2
    status=1
  fi
done
exit "$status"
