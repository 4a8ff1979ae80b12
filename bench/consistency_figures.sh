#!/usr/bin/env bash
# Consistency models side by side: the Fashion-MNIST MLP
# (examples/fashion_mnist_mlp.textproto) with 2 servers and 4 workers under
# BSP, SSP(2) and ASP, each with SGD + momentum and with Adam. Prints a
# markdown table: test accuracy, wall time, and shard 0's staleness
# percentiles (updates between the version a gradient was computed on and
# the version it was applied at, exact, from the shard's log line).
#
#   bench/consistency_figures.sh [BUILD] [EPOCHS]     (defaults: build, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
EPOCHS="${2:-10}"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
WORK="$(mktemp -d "${TMPDIR:-/tmp}/descent-consistency.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $EPOCHS epochs"
echo
echo "| consistency | optimizer | test accuracy | wall s | staleness p50 / p90 / p99 / max (shard 0) |"
echo "|---|---|---|---|---|"
for optimizer in "momentum { learning_rate: 0.01 momentum: 0.9 }" \
                 "adam { learning_rate: 0.001 }"; do
  for consistency in BSP "SSP staleness=2" ASP; do
    set -- $consistency
    flags=(--set "train.consistency=$1")
    [[ $# -gt 1 ]] && flags+=(--set "train.$2")
    out="$WORK/$1-${optimizer%% *}"
    "$BUILD/descent" local --config examples/fashion_mnist_mlp.textproto \
      --output_dir "$out" --set cluster.num_workers=4 \
      --set "train.epochs=$EPOCHS" --set "optimizer=$optimizer" \
      "${flags[@]}" >"$out.stdout" 2>"$out.stderr" ||
      { echo "| $consistency | ${optimizer%% *} | failed: $(tail -1 "$out.stderr") | | |"; continue; }
    accuracy="$(sed -n 's/^test_accuracy: //p' "$out.stdout")"
    wall="$(sed -n 's/^wall_seconds: //p' "$out.stdout")"
    staleness="$(sed -n 's/.*pushes: p50 \([0-9]*\), p90 \([0-9]*\), p99 \([0-9]*\), max \([0-9]*\).*/\1 \/ \2 \/ \3 \/ \4/p' \
      "$out/logs/server-0.log")"
    label="$1"; [[ $1 == SSP ]] && label="SSP(2)"
    echo "| $label | ${optimizer%% *} | $accuracy | $wall | $staleness |"
  done
done
