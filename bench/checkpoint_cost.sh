#!/usr/bin/env bash
# What checkpoints cost (README "Checkpoints and resume"), for the
# Fashion-MNIST MLP and CNN examples (2 servers, 2 workers, 1 thread each):
#   1. per checkpoint: bytes and seconds (the coordinator's log lines
#      "checkpoint (periodic) at global step N: DIR, B bytes in S s": from the
#      request to the manifest written), medians over a run with a
#      checkpoint every COST_EVERY seconds (default 3);
#   2. the slowdown of training with a checkpoint every 30 s against none,
#      the two alternated run by run (REPEATS each, default 2): median
#      summary.json wall_seconds of each and their ratio.
#   bench/checkpoint_cost.sh [BUILD (build)] [REPEATS (2)]
# MLP_ARGS and CNN_ARGS set the job lengths (--set ...); the defaults give
# runs of about 90 to 120 s on 2 idle cores, two or more periodic
# checkpoints each (and the final one); MLP_COST_ARGS and CNN_COST_ARGS those
# of the per-checkpoint runs (about 20 s).
set -euo pipefail
build="${1:-build}" repeats="${2:-2}"
cd "$(dirname "$0")/.."
descent="$build/descent"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
MLP_ARGS="${MLP_ARGS:---set train.epochs=40}"
CNN_ARGS="${CNN_ARGS:---set train.epochs=1}"
MLP_COST_ARGS="${MLP_COST_ARGS:---set train.epochs=15}"
CNN_COST_ARGS="${CNN_COST_ARGS:---set train.epochs=1 --set data.idx.max_train_examples=15000}"

# run NAME CONFIG ARGS...: one job into $work/NAME; prints its wall_seconds.
run() {
  local name="$1" config="$2"
  shift 2
  rm -rf "$work/$name"
  "$descent" local --config "$config" --output_dir "$work/$name" \
    --set train.threads=1 --set train.eval_every_steps=0 "$@" \
    >"$work/$name.stdout" 2>"$work/$name.stderr" ||
    { echo "$name failed: $(tail -5 "$work/$name.stderr")" >&2; exit 1; }
  sed -n 's/^ "wall_seconds": \([0-9.]*\),*$/\1/p' "$work/$name/summary.json" | head -1
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# checkpoint_lines NAME: "bytes seconds" of each periodic checkpoint.
checkpoint_lines() {
  sed -n 's/.*checkpoint (periodic) at global step [0-9]*: [^,]*, \([0-9]*\) bytes in \([0-9.e-]*\) s$/\1 \2/p' \
    "$work/$1/logs/coordinator.log"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(getconf _NPROCESSORS_ONLN) cores)"
echo "| model | bytes per checkpoint | s per checkpoint (median, max) | checkpoints | wall s, none (median) | wall s, every 30 s (median) | ratio | runs |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for model in mlp cnn; do
  config="examples/fashion_mnist_$model.textproto"
  args="$MLP_ARGS" cost_args="$MLP_COST_ARGS"
  [[ "$model" == cnn ]] && args="$CNN_ARGS" cost_args="$CNN_COST_ARGS"
  # shellcheck disable=SC2086  # the --set words
  run "$model-cost" "$config" $cost_args \
    --set train.checkpoint.every_seconds="${COST_EVERY:-3}" >/dev/null
  lines="$(checkpoint_lines "$model-cost")"
  [[ -n "$lines" ]] || { echo "$model: no periodic checkpoint logged" >&2; exit 1; }
  bytes="$(awk '{print $1}' <<<"$lines" | median)"
  seconds="$(awk '{print $2}' <<<"$lines" | median)"
  slowest="$(awk '{print $2}' <<<"$lines" | sort -g | tail -1)"
  count="$(wc -l <<<"$lines")"
  none=() every=() taken=()
  for i in $(seq "$repeats"); do
    # shellcheck disable=SC2086
    none+=("$(run "$model-none-$i" "$config" $args)")
    # shellcheck disable=SC2086
    every+=("$(run "$model-30s-$i" "$config" $args --set train.checkpoint.every_seconds=30)")
    taken+=("$(checkpoint_lines "$model-30s-$i" | wc -l)")
  done
  none_s="$(printf '%s\n' "${none[@]}" | median)"
  every_s="$(printf '%s\n' "${every[@]}" | median)"
  ratio="$(awk -v a="$every_s" -v b="$none_s" 'BEGIN {printf "%.4f", a / b}')"
  echo "| $model | $bytes | $seconds, $slowest | $count | $none_s | $every_s | $ratio | none: ${none[*]}; every 30 s: ${every[*]} (periodic checkpoints: ${taken[*]}) |"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
