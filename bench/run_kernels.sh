#!/usr/bin/env bash
# Runs descent_kernels_bench and prints, per shape, the Network step's GEMM
# GFLOPS over the plain-Eigen reference's (BM_MlpStep/64/1 vs
# BM_EigenMlpGemms/64/1, ...). Target: MLP >= 0.70.
#
#   bench/run_kernels.sh [BUILD_DIR] [extra benchmark flags...]
#
# BUILD_DIR defaults to build/. OMP_NUM_THREADS=2 (the largest thread count
# benchmarked) and OMP_WAIT_POLICY=passive are pinned here.
set -euo pipefail

build_dir="${1:-build}"
shift || true
binary="${build_dir}/bench/descent_kernels_bench"
if [[ ! -x "${binary}" ]]; then
  echo "no ${binary}: build target descent_kernels_bench first" >&2
  exit 1
fi

json="$(mktemp)"
trap 'rm -f "${json}"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive "${binary}" \
  --benchmark_min_time=1 --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="${json}" --benchmark_out_format=json "$@" >&2

/usr/bin/python3 - "${json}" <<'PY'
import json, re, sys

rows = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    # Medians when repeated, plain runs otherwise.
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    m = re.match(r"BM_(Eigen)?(Mlp|Cnn)(?:Step|Gemms)/(\d+)/(\d+)", b["name"])
    if not m:
        continue
    side = "eigen" if m.group(1) else "model"
    key = (m.group(2).lower(), int(m.group(3)), int(m.group(4)))
    rows.setdefault(key, {})[side] = b

print()
print("| shape | model GFLOP/s | Eigen GEMM GFLOP/s | ratio | model samples/s |")
print("|---|---|---|---|---|")
for (model, batch, threads), r in sorted(rows.items(),
                                         key=lambda kv: (kv[0][0] != "mlp", kv[0][1:])):
    if "model" not in r or "eigen" not in r:
        continue
    g_model = r["model"]["GFLOPS"]  # the counter is in 1e9 FLOPs per second
    g_eigen = r["eigen"]["GFLOPS"]
    goal = " (goal >= 0.70)" if model == "mlp" else ""
    print(f"| {model} b{batch} t{threads} | {g_model:.1f} | {g_eigen:.1f} | "
          f"{g_model / g_eigen:.2f}{goal} | {r['model']['items_per_second']:.0f} |")
PY
