#!/usr/bin/env bash
# Each optimizer's update of a dense slice against STREAM's triad in the
# same run (descent_optimizer_bench): per rule and size, the bytes per
# second of the shard's path (Optimizer::ApplyFinite: saved, applied,
# checked, all or nothing) and of Apply alone, as a fraction of the
# triad's. Goal: ApplyFinite >= 0.50 of the triad for every rule; and the
# time of Adam's update of 1M parameters.
#
#   bench/optimizers.sh [BUILD_DIR] [extra benchmark flags...]
#
# Bytes counted STREAM's way (the least traffic the update needs): the
# gradient read (4), the parameter read and written (8), each state buffer
# read and written (8 each; Adam's m, v and step count: 36 in all).
# Repetitions are interleaved at random, medians reported. One thread;
# rates from CPU time, so a busy machine slows less than wall time would.
# Sizes 1M and 8M parameters (this machine's 2 MiB L2 holds neither).
set -euo pipefail

build_dir="${1:-build}"
shift || true
binary="${build_dir}/bench/descent_optimizer_bench"
if [[ ! -x "${binary}" ]]; then
  echo "no ${binary}: build target descent_optimizer_bench first" >&2
  exit 1
fi

json="$(mktemp)"
trap 'rm -f "${json}"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive "${binary}" \
  --benchmark_min_time=0.2 --benchmark_repetitions=5 \
  --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="${json}" --benchmark_out_format=json "$@" >/dev/null

/usr/bin/python3 - "${json}" <<'PY'
import json, re, sys

triad, apply_rate, time_ns = {}, {}, {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    name = b.get("run_name", b["name"])
    m = re.match(r"BM_Triad/(\d+)$", name)
    if m:
        triad[int(m.group(1))] = b["bytes_per_second"]
        continue
    m = re.match(r"BM_(Apply|ApplyOnly)/(\w+)/(\d+)$", name)
    if m:
        key = (m.group(2), m.group(1), int(m.group(3)))
        apply_rate[key] = b["bytes_per_second"]
        time_ns[key] = b["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]]

sizes = sorted(triad)
order = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "ftrl"]
rules = sorted({rule for rule, _, _ in apply_rate}, key=order.index)
print("triad GB/s: " + ", ".join(f"n={n}: {triad[n] / 1e9:.1f}" for n in sizes))
print()
print("| rule | " + " | ".join(f"n={n} shard (Apply only)" for n in sizes) + " |")
print("|---|" + "---|" * len(sizes))
failing = []
for rule in rules:
    cells = []
    for n in sizes:
        shard = apply_rate.get((rule, "Apply", n), 0) / triad[n]
        alone = apply_rate.get((rule, "ApplyOnly", n), 0) / triad[n]
        cells.append(f"{shard:.2f} ({alone:.2f})")
        if shard < 0.50:
            failing.append(f"{rule} n={n}")
    print(f"| {rule} | " + " | ".join(cells) + " |")
print()
one_m = 1 << 20
if ("adam", "Apply", one_m) in time_ns:
    print(f"adam, {one_m} parameters (CPU time): shard path "
          f"{time_ns[('adam', 'Apply', one_m)] / 1e6:.3f} ms, Apply alone "
          f"{time_ns[('adam', 'ApplyOnly', one_m)] / 1e6:.3f} ms, triad of "
          f"{one_m} floats {12 * one_m / triad[one_m] * 1e3:.3f} ms")
print("below 0.50 of the triad: " + (", ".join(failing) if failing else "none"))
PY
