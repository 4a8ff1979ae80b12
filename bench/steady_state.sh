#!/usr/bin/env bash
# What a distributed step costs against its compute: the Fashion-MNIST MLP
# (784-256-128-10, batch 64, 1 thread) through `descent local` with
# 1 server and 1 worker, SGD (lr 0.05) and Adam (lr 0.001), against
# descent_train_bench's in-process step (LossAndGradient + SGD) measured in
# the same run.
#
#   bench/steady_state.sh [BUILD_DIR] [PAIRS]
#
# Steady state = 3 epochs of examples / (wall of a 4-epoch job - wall of a
# 1-epoch job), so start-up, data loading and the final evaluation cancel;
# PAIRS (default 2) pairs per optimizer, interleaved, medians printed.
# Start-up: launch to the worker's first step, from the worker's log
# (the "trains on" line) against the launch time. Goals: SGD >= 0.90, Adam
# >= 0.80 of the compute-only samples/s; start-up < 0.5 s.
set -euo pipefail
build_dir="$(cd "${1:-build}" && pwd)"
pairs="${2:-2}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
compute="$("$build_dir/bench/descent_train_bench" --model=mlp --batch=64 \
  --threads=1 --seconds=5 | sed -n 's/.*samples_per_second=\([0-9.]*\).*/\1/p')"

# Runs one job; prints its wall seconds and its start-up seconds.
job() {
  local optimizer="$1" epochs="$2" start end first
  rm -rf "$work/out"
  start="$(date +%s.%N)"
  "$build_dir/descent" local --config examples/fashion_mnist_mlp.textproto \
    --set cluster.num_servers=1 --set cluster.num_workers=1 \
    --set train.epochs="$epochs" --set train.eval_every_steps=0 \
    --set "$optimizer" --output_dir="$work/out" \
    >"$work/stdout" 2>"$work/stderr" ||
    { echo "descent local failed: $(tail -5 "$work/stderr")" >&2; exit 1; }
  end="$(date +%s.%N)"
  # glog's time of day on the "trains on" line: the worker's first step.
  first="$(grep -m1 'trains on' "$work/out/logs/worker-0.log" |
    awk '{print $2}')"
  /usr/bin/python3 - "$start" "$end" "$first" <<'PY'
import datetime, sys
start, end, first = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
day = datetime.datetime.fromtimestamp(start).date()
t = datetime.datetime.combine(day, datetime.time.fromisoformat(first)).timestamp()
print(f"{end - start:.3f} {t - start:.3f}")
PY
}

declare -A rate
startups=()
for name in sgd adam; do
  case "$name" in
    sgd) set_flag="optimizer.sgd={learning_rate: 0.05}" ;;
    adam) set_flag="optimizer.adam={learning_rate: 0.001}" ;;
  esac
  rates=()
  for _ in $(seq "$pairs"); do
    read -r one s1 < <(job "$set_flag" 1)
    read -r four s4 < <(job "$set_flag" 4)
    startups+=("$s1" "$s4")
    rates+=("$(echo "3 * 60000 / ($four - $one)" | bc -l)")
    echo "$name: 1 epoch ${one} s, 4 epochs ${four} s, start-up ${s1} / ${s4} s" >&2
  done
  rate[$name]="$(printf '%s\n' "${rates[@]}" | sort -n |
    awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')"
done
startup="$(printf '%s\n' "${startups[@]}" | sort -n |
  awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')"

printf '| run | samples/s | share of compute-only |\n| --- | --- | --- |\n'
printf '| descent_train_bench (compute + SGD in one process) | %.0f | 1.00 |\n' "$compute"
for name in sgd adam; do
  printf '| descent local 1 server 1 worker, %s, steady state | %.0f | %.2f |\n' \
    "$name" "${rate[$name]}" "$(echo "${rate[$name]} / $compute" | bc -l)"
done
printf 'start-up, launch to the first step: median %s s\n' "$startup"
