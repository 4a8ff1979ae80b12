#!/usr/bin/env bash
# The learning-rate story on one model: the Fashion-MNIST MLP
# (examples/fashion_mnist_mlp.textproto, 2 servers, 2 workers, SGD) with a
# learning rate too small, a sensible constant one, one too large (the
# divergence guard ends the job with exit code 6), and a peak rate with
# linear warmup and cosine decay. Prints a markdown table.
#
#   bench/learning_rate_story.sh [BUILD] [EPOCHS]     (defaults: build, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
EPOCHS="${2:-5}"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
WORK="$(mktemp -d "${TMPDIR:-/tmp}/descent-lr.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# Updates over the whole job (60000 examples, batch 64, every worker's
# pushes count): the cosine schedule's period.
STEPS=$(( EPOCHS * 60000 / 64 ))

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $EPOCHS epochs"
echo
echo "| learning rate | exit code | test accuracy | test loss | wall s | note |"
echo "|---|---|---|---|---|---|"
run() {  # label, optimizer
  local out="$WORK/$RANDOM" code=0 start end
  start=$(date +%s.%N)
  "$BUILD/descent" local --config examples/fashion_mnist_mlp.textproto \
    --output_dir "$out" --set "train.epochs=$EPOCHS" \
    --set "optimizer=$2" >"$out.stdout" 2>"$out.stderr" || code=$?
  end=$(date +%s.%N)
  local accuracy loss note=""
  accuracy="$(sed -n 's/^test_accuracy: //p' "$out.stdout")"
  loss="$(sed -n 's/^test_loss: //p' "$out.stdout")"
  (( code == 0 )) || note="$(grep -m1 -o 'training diverged[^;]*' "$out.stderr" || tail -1 "$out.stderr")"
  printf '| %s | %d | %s | %s | %.1f | %s |\n' "$1" "$code" "${accuracy:--}" \
    "${loss:--}" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$note"
}
run "0.001 constant (too small)" "sgd { learning_rate: 0.001 }"
run "0.05 constant" "sgd { learning_rate: 0.05 }"
run "5 constant (too large)" "sgd { learning_rate: 5 }"
run "0.1 constant" "sgd { learning_rate: 0.1 }"
run "0.1 peak, 300 warmup steps, cosine to 0" \
  "sgd { learning_rate: 0.1 } schedule { kind: COSINE period: $STEPS warmup_steps: 300 }"
