#!/usr/bin/env bash
# How the distributed step's cost grows with the cluster: the Fashion-MNIST
# MLP (784-256-128-10, batch 64, SGD lr 0.05, 1 thread per worker, no
# evaluations) through `descent local` for W = 1, 2, 4, 8 workers and
# S = 1, 2, 4 shards, ASP (overlap on, the default) over shared memory and
# over loopback gRPC (cluster.shared_memory false), and BSP over shared memory.
#
#   bench/scaling.sh [BUILD_DIR] [EPOCHS] [ROUNDS]
#
# Per configuration: steady-state samples/s = (EPOCHS - 1) epochs of
# examples / (the EPOCHS-epoch job's wall - the 1-epoch job's wall, both from
# summary.json), so start-up and the end of the job cancel; payload bytes per
# worker step (pushed + pulled) from summary.json; and the ratio of the
# samples/s to W=1 S=1's over the same transport. EPOCHS default 3; ROUNDS
# (default 3) passes over all configurations, the median of each printed
# with every round's figure (this machine's figures vary by 10-20% from one
# run to the next).
#
# Every process runs on this host's cores: with more processes than cores
# the samples/s say what the protocol costs in CPU, not what W machines
# would train at; the bytes per step are exact whatever the host.
set -euo pipefail
build_dir="$(cd "${1:-build}" && pwd)"
epochs="${2:-3}"
repeats="${3:-3}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
train_examples=60000

source bench/summary_field.sh  # field FILE KEY

# Runs one job; prints "wall_seconds bytes_per_step".
job() {
  local e="$1"
  shift
  rm -rf "$work/out"
  "$build_dir/descent" local --config examples/fashion_mnist_mlp.textproto \
    --set train.epochs="$e" --set train.eval_every_steps=0 \
    "$@" --output_dir="$work/out" >"$work/stdout" 2>"$work/stderr" ||
    { echo "descent local $*: $(tail -5 "$work/stderr")" >&2; exit 1; }
  local s="$work/out/summary.json"
  echo "$(field "$s" wall_seconds)" \
    "$(( ($(field "$s" bytes_pushed) + $(field "$s" bytes_pulled)) / $(field "$s" steps) ))"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc --all) cores; 1 and $epochs epochs per configuration, $repeats rounds"
configs=()
for transport in shm grpc; do
  for consistency in ASP BSP; do
    [[ "$transport" == grpc && "$consistency" == BSP ]] && continue
    for w in 1 2 4 8; do
      for s in 1 2 4; do
        [[ "$consistency" == BSP && "$s" != 2 ]] && continue
        configs+=("$transport $consistency $w $s")
      done
    done
  done
done
# Rounds over every configuration in turn, so that a slow spell of the
# machine touches all of them alike.
declare -A rates bytes_of
for (( round = 1; round <= repeats; round++ )); do
  for config in "${configs[@]}"; do
    read -r transport consistency w s <<<"$config"
    shared=true
    [[ "$transport" == grpc ]] && shared=false
    sets=(--set cluster.num_workers="$w" --set cluster.num_servers="$s"
          --set cluster.shared_memory="$shared" --set train.consistency="$consistency")
    read -r wall1 _ < <(job 1 "${sets[@]}")
    read -r wall_n bytes < <(job "$epochs" "${sets[@]}")
    rate="$(awk -v a="$wall1" -v b="$wall_n" -v e="$epochs" -v n="$train_examples" \
      'BEGIN { printf "%.0f", (e - 1) * n / (b - a) }')"
    rates[$config]+="$rate "
    bytes_of[$config]="$bytes"
    echo "round $round: $config: $rate samples/s" >&2
  done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '| transport | consistency | workers | shards | samples/s (median) | / (W=1, S=1) | all rounds | bytes per worker step |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- |\n'
declare -A reference
for config in "${configs[@]}"; do
  read -r transport consistency w s <<<"$config"
  rate="$(median <<<"${rates[$config]}")"
  [[ -z "${reference[$transport]:-}" ]] && reference[$transport]="$rate"
  awk -v t="$transport" -v c="$consistency" -v w="$w" -v s="$s" -v r="$rate" \
    -v ref="${reference[$transport]}" -v all="${rates[$config]% }" \
    -v b="${bytes_of[$config]}" 'BEGIN {
      gsub(/ /, ", ", all)
      printf "| %s | %s | %d | %d | %d | %.2f | %s | %d |\n", t, c, w, s, r, r / ref, all, b }'
done
