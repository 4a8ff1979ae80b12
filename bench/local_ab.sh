#!/usr/bin/env bash
# Whole-job wall time of two descent binaries on the same job, alternated
# so both see the same machine: the check that a change to the training
# path costs nothing.
#   bench/local_ab.sh OLD_BINARY NEW_BINARY [REPEATS] [--set ...]
# Runs examples/fashion_mnist_mlp.textproto for 3 epochs (1 server, 1 worker,
# 1 thread, no evaluation until the end) by default; further arguments are
# passed to `descent local` after those; CONFIG=FILE runs another example.
set -euo pipefail
old="$1" new="$2" repeats="${3:-3}"
shift 3 || shift $#
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
  local binary="$1" start end
  shift
  rm -rf "$work/out"  # a fresh output directory each run (see --overwrite)
  start=$(date +%s.%N)
  OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive "$binary" local --config "${CONFIG:-examples/fashion_mnist_mlp.textproto}" \
    --set cluster.num_servers=1 --set cluster.num_workers=1 \
    --set train.epochs=3 --set train.eval_every_steps=0 \
    --output_dir="$work/out" "$@" > "$work/stdout" 2> "$work/stderr" ||
    { echo "$binary failed: $(tail -5 "$work/stderr")" >&2; exit 1; }
  end=$(date +%s.%N)
  accuracy=$(grep -m1 -oE 'test_accuracy: [0-9.]+' "$work/stdout" | awk '{print $2}')
  echo "$(echo "$end - $start" | bc) ${accuracy:-?}"
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| run | old s | old accuracy | new s | new accuracy |"
echo "| --- | --- | --- | --- | --- |"
for i in $(seq "$repeats"); do
  read -r old_s old_acc < <(run "$old" "$@")
  read -r new_s new_acc < <(run "$new" "$@")
  echo "| $i | $old_s | $old_acc | $new_s | $new_acc |"
done
