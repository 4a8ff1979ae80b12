#!/usr/bin/env bash
# What train.communication trades: the Fashion-MNIST MLP (784-256-128-10,
# batch 64, 1 thread) through `descent local` with 1 server and 1 worker,
# each compression option against the uncompressed job of the same
# optimizer, in one run: final test accuracy, payload bytes per step (pushed
# + pulled, from summary.json), wall seconds, and their ratios to the
# uncompressed job's.
#
#   bench/compression.sh [BUILD_DIR] [EPOCHS]
#
# Adam (lr 0.001): float32, bfloat16, float16, top-k 10% and top-k 1% in
# bfloat16. SGD (lr 0.05): every step, and local SGD pushing every 2 and 4
# steps. EPOCHS default 5. On one host over shared memory bytes cost little,
# so the wall times say what the encoding and selection cost; the bytes are
# what a network would carry.
set -euo pipefail
build_dir="$(cd "${1:-build}" && pwd)"
epochs="${2:-5}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

source bench/summary_field.sh  # field FILE KEY

# Runs one job; prints "accuracy bytes_per_step wall_seconds".
job() {
  rm -rf "$work/out"
  "$build_dir/descent" local --config examples/fashion_mnist_mlp.textproto \
    --set cluster.num_servers=1 --set cluster.num_workers=1 \
    --set train.epochs="$epochs" --set train.eval_every_steps=0 \
    "$@" --output_dir="$work/out" >"$work/stdout" 2>"$work/stderr" ||
    { echo "descent local $*: $(tail -5 "$work/stderr")" >&2; exit 1; }
  local s="$work/out/summary.json"
  echo "$(field "$s" test_accuracy)" \
    "$(( ($(field "$s" bytes_pushed) + $(field "$s" bytes_pulled)) / $(field "$s" steps) ))" \
    "$(field "$s" wall_seconds)"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $epochs epochs"
printf '| optimizer | communication | test accuracy | bytes per step | wall s | accuracy - reference | bytes / reference | wall / reference |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
run_group() {
  local optimizer="$1"
  shift
  local ref_acc ref_bytes ref_wall
  for variant in "$@"; do
    local name="${variant%%:*}" sets="${variant#*:}" args=() a b w
    for s in $sets; do args+=(--set "$s"); done
    read -r a b w < <(job --set "$optimizer" "${args[@]}")
    if [[ -z "${ref_acc:-}" ]]; then ref_acc="$a" ref_bytes="$b" ref_wall="$w"; fi
    awk -v o="${optimizer%%=*}" -v n="$name" -v a="$a" -v b="$b" -v w="$w" \
      -v ra="$ref_acc" -v rb="$ref_bytes" -v rw="$ref_wall" 'BEGIN {
        printf "| %s | %s | %.4f | %d | %.2f | %+.4f | %.3f | %.2f |\n",
          o, n, a, b, w, a - ra, b / rb, w / rw }'
  done
}
run_group "optimizer.adam={learning_rate: 0.001}" \
  "float32:train.communication.encoding=FLOAT32" \
  "bfloat16:train.communication.encoding=BFLOAT16" \
  "float16:train.communication.encoding=FLOAT16" \
  "top-k 10%:train.communication.top_k_fraction=0.1" \
  "top-k 1% bfloat16:train.communication.top_k_fraction=0.01 train.communication.encoding=BFLOAT16"
run_group "optimizer.sgd={learning_rate: 0.05}" \
  "every step:train.communication.push_every=1" \
  "local SGD H=2:train.communication.push_every=2" \
  "local SGD H=4:train.communication.push_every=4"
