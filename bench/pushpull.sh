#!/usr/bin/env bash
# Dense PushPull (descent_pushpull_bench: 4 KB to 64 MB, 1 and 2 shards,
# 1/2/4 workers, over shared memory and over loopback gRPC) against, in the
# same run, iperf3's TCP bandwidth on 127.0.0.1 (the wire), memcpy (the
# limit for co-located processes) and ps-lite's ZPush + ZPull on the same
# sizes (bench/pslite.sh, dense part, 1-2 servers x 1-2 workers; skipped
# with PSLITE=0 or without its source). Prints one markdown row per
# configuration: latency percentiles, GB/s both ways, and that rate over
# iperf3's, memcpy's and ps-lite's. Goals (issue 15): 4 MB at >= 0.70 of
# iperf3 and >= 1.2x ps-lite.
#
#   bench/pushpull.sh [BUILD_DIR] [extra descent_pushpull_bench flags...]
#
# iperf3 runs one stream for 3 s on a free port; the server is stopped by
# its PID. OMP_NUM_THREADS=1.
set -euo pipefail
build_dir="${1:-build}"
shift || true
binary="${build_dir}/bench/descent_pushpull_bench"
if [[ ! -x "${binary}" ]]; then
  echo "no ${binary}: build target descent_pushpull_bench first" >&2
  exit 1
fi
if ! command -v iperf3 >/dev/null; then
  echo "installing iperf3 (apt-get)" >&2
  apt-get install -y -q iperf3 >/dev/null
fi
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
iperf3 --server --bind 127.0.0.1 --port "$port" --one-off >"$work/iperf-server" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  iperf3 --client 127.0.0.1 --port "$port" --time 3 --json >"$work/iperf.json" 2>/dev/null && grep -q sum_received "$work/iperf.json" && break
  sleep 0.1
done
wire="$(/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["end"]["sum_received"]["bits_per_second"] / 8 / 1e9)' "$work/iperf.json")"
wait "$server_pid" 2>/dev/null || true
server_pid=""

"$binary" "$@" >"$work/bench.txt"
# ps-lite on the same sizes and seconds (its own flags only).
pslite_flags=(--no-sparse)
for arg in "$@"; do
  case "$arg" in --bytes=* | --seconds=*) pslite_flags+=("$arg") ;; esac
done
if [[ "${PSLITE:-1}" != 0 ]]; then
  "$(dirname "$0")/pslite.sh" "${pslite_flags[@]}" >"$work/pslite.txt" ||
    echo "ps-lite failed; its rows are left out" >&2
else
  echo "ps-lite: not measured (PSLITE=0)" >"$work/pslite.txt"
fi

/usr/bin/python3 - "$wire" "$work/bench.txt" "$work/pslite.txt" <<'PY'
import sys
wire = float(sys.argv[1])
memcpy, rows, pslite = {}, [], {}
for line in open(sys.argv[2]):
    kind, *fields = line.split()
    f = dict(x.split("=") for x in fields)
    if kind == "memcpy":
        memcpy[int(f["bytes"])] = float(f["gbps"])
    elif kind == "pushpull":
        rows.append(f)
for line in open(sys.argv[3]):
    kind, *fields = line.split()
    if kind != "pslite":
        print(line.strip())
        continue
    f = dict(x.split("=") for x in fields)
    pslite[(int(f["bytes"]), f["servers"], f["workers"])] = (float(f["gbps"]), f["p50_ms"])
print(f"iperf3 TCP on 127.0.0.1, one stream: {wire:.2f} GB/s")
print()
print("| transport | bytes | shards | workers | p50 ms | p90 ms | p99 ms | GB/s both ways | / iperf3 | / memcpy | ps-lite p50 ms, GB/s | / ps-lite |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for f in rows:
    b = int(f["bytes"])
    gbps = float(f["gbps"])
    ref = pslite.get((b, f["shards"], f["workers"]))
    ps = f"{ref[1]}, {ref[0]:.3f} | {gbps / ref[0]:.2f}" if ref else "| "
    print(f"| {f['transport']} | {b} | {f['shards']} | {f['workers']} | {f['p50_ms']} | {f['p90_ms']} "
          f"| {f['p99_ms']} | {gbps:.3f} | {gbps / wire:.2f} | {gbps / memcpy[b]:.3f} | {ps} |")
PY
