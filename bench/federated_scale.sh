#!/usr/bin/env bash
# How many simulated clients two nodes hold: examples/federated_scale.textproto
# (Fashion-MNIST, the 2NN, Dirichlet label skew, 50 clients a round, E = 1,
# B = 10, FedAvg) on 2 worker processes and 2 shards, for K = 1000, 10000
# and 100000 clients (min_client_size 1 for K = 1000, else 0: at 6 or
# fewer examples a client, Dir(0.3) leaves some clients empty).
#
#   bench/federated_scale.sh [BUILD_DIR] [ROUNDS] [ALPHA]
#
# Per K: rounds per second (ROUNDS, default 50, over the sum of rounds.csv's
# `seconds`: the rounds' wall time on worker 0, start-up excluded) and each
# process's peak resident memory (VmHWM of /proc/PID/status, read every 0.1
# s while the job runs, the largest kept). Memory per simulated client is
# the workers' peak growth from K = 1000 to the largest K over the clients
# added, against a model copy (4 P bytes); the largest K that fits in
# 8 GiB follows from it.
set -euo pipefail
build_dir="$(cd "${1:-build}" && pwd)"
rounds="${2:-50}"
alpha="${3:-0.3}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

# peak_rss_kib PID: VmHWM of a live process, or nothing.
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }

declare -A worker_peak
for k in 1000 10000 100000; do
  out="$work/k$k"
  min=1
  (( k > 1000 )) && min=0
  "$build_dir/descent" local --config examples/federated_scale.textproto \
    --output_dir "$out" --set federated.clients="$k" \
    --set federated.rounds="$rounds" --set federated.eval_every_rounds=0 \
    --set federated.partition.alpha="$alpha" \
    --set federated.partition.min_client_size="$min" \
    >"$work/k$k.out" 2>"$work/k$k.err" &
  launcher=$!
  declare -A peak=()
  while kill -0 "$launcher" 2>/dev/null; do
    if [[ -s "$out/processes.txt" ]]; then
      while read -r name pid _; do
        [[ "$name" == \#* || -z "$pid" ]] && continue
        kib="$(peak_rss_kib "$pid")"
        [[ -n "$kib" ]] && (( kib > ${peak[$name]:-0} )) && peak[$name]="$kib"
      done <"$out/processes.txt"
    fi
    sleep 0.1
  done
  wait "$launcher" || { echo "K=$k failed: $(tail -3 "$work/k$k.err")" >&2; exit 1; }
  rps="$(tail -n +2 "$out/rounds.csv" | awk -F, '{s += $14} END {printf "%.2f", NR / s}')"
  line="K=$k: $rps rounds/s;"
  for name in $(printf '%s\n' "${!peak[@]}" | sort); do
    line+=" $name $(( peak[$name] / 1024 )) MiB"
  done
  echo "$line"
  worker_peak[$k]=$(( ${peak[worker/0]:-0} + ${peak[worker/1]:-0} ))
done
# The 2NN: 784*200 + 200 + 200*200 + 200 + 200*10 + 10 parameters.
params=199210
awk -v a="${worker_peak[1000]}" -v b="${worker_peak[100000]}" -v p="$params" 'BEGIN {
  per = (b - a) * 1024 / (100000 - 1000)   # bytes per client, both workers
  copy = 4 * p
  printf "memory per simulated client: %.1f bytes (%.4f%% of a %d-byte model copy)\n",
    per, 100 * per / copy, copy
  if (per > 0) {
    printf "largest K in 8 GiB (two workers at K = 1000 use %.0f MiB): %.3g clients\n",
      a / 1024, (8 * 1024 * 1024 * 1024 - a * 1024) / per + 1000
  }
}'
