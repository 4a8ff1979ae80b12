#!/usr/bin/env bash
# Chaos trials through the real `descent local` (the Fashion-MNIST softmax
# example, 2 servers, 2 workers, EPOCHS epochs): an undisturbed run first,
# then TRIALS runs in which one process is killed with SIGKILL at a random
# moment of training:
#   worker       a random worker (cluster.on_worker_failure: the launcher's
#                default RESTART, or POLICY=CONTINUE);
#   server       a random server shard; the launcher rolls the job back to
#                its newest complete checkpoint (cluster.max_server_restarts);
#   coordinator  the coordinator; the job is then resumed with
#                `descent local --resume` from its last checkpoint.
# Every run takes a checkpoint every 500 global steps.
# A trial completes if the job (and its resume) exits 0 with state
# SUCCEEDED within 300 s; one that runs past that is a hang. Prints one line
# a trial and the summary: completed, hangs, test accuracy against the
# undisturbed run's (the worst drop), the mean extra wall time and the most
# steps a server's rollback undid.
#   bench/chaos.sh [BUILD (build)] [worker|server|coordinator] [BSP|ASP|SSP] [TRIALS (20)] [EPOCHS (20)]
# SEED=N reproduces the kill moments and victims.
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
target="${2:-worker}"
consistency="${3:-BSP}"
trials="${4:-20}"
epochs="${5:-20}"
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
RANDOM="${SEED:-$$}"
work="$(mktemp -d "${TMPDIR:-/tmp}/descent-chaos.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(getconf _NPROCESSORS_ONLN) cores)"
echo "target $target, $consistency, ${POLICY:-default} policy, $trials trials, $epochs epochs, seed ${SEED:-$$}"

args=(--config examples/fashion_mnist_softmax.textproto
      --set "train.epochs=$epochs" --set "train.consistency=$consistency"
      --set 'train.checkpoint={every_steps: 500}')
[[ -n "${POLICY:-}" ]] && args+=(--set "cluster.on_worker_failure=$POLICY")

source bench/summary_field.sh  # field FILE KEY
now() { date +%s.%N; }

# Runs `descent local` with "$@" in the background; sets pid.
launch() {
  "$build/descent" local "$@" >"$work/stdout" 2>>"$work/stderr" &
  pid=$!
}
# Waits for $pid up to 300 s; sets code (124 for a hang, the job then killed).
await() {
  local waited=0
  while kill -0 "$pid" 2>/dev/null && (( waited < 3000 )); do
    sleep 0.1
    waited=$(( waited + 1 ))
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid"; sleep 5; kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    code=124
  else
    set +e; wait "$pid"; code=$?; set -e
  fi
}

out="$work/run"
start=$(now)
launch "${args[@]}" --output_dir "$out"
await
(( code == 0 )) || { echo "the undisturbed run failed: exit $code"; tail -5 "$work/stderr"; exit 1; }
base_wall=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
base_accuracy=$(field "$out/summary.json" test_accuracy)
echo "undisturbed: accuracy $base_accuracy, wall ${base_wall} s"

completed=0 hangs=0 worst_drop=0 extra_sum=0 most_steps_lost=0
for trial in $(seq 1 "$trials"); do
  rm -rf "$out"
  : >"$work/stderr"
  start=$(now)
  launch "${args[@]}" --output_dir "$out"
  # Until training has started: the first checkpoint exists.
  for _ in $(seq 1 1200); do
    ls "$out"/checkpoints/step-*/manifest.json >/dev/null 2>&1 && break
    sleep 0.05
  done
  # A random moment in the first 60% of the undisturbed run's training.
  delay=$(awk -v r="$RANDOM" -v w="$base_wall" 'BEGIN { printf "%.2f", r / 32768 * w * 0.6 }')
  sleep "$delay"
  if [[ "$target" == worker || "$target" == server ]]; then
    victim_name="$target/$(( RANDOM % 2 ))"
  else
    victim_name=coordinator
  fi
  victim=$(awk -v n="$victim_name" '$1 == n { print $2 }' "$out/processes.txt" 2>/dev/null || true)
  if [[ -n "$victim" ]]; then kill -KILL "$victim" 2>/dev/null || true; fi
  await
  if [[ "$target" == coordinator && "$code" != 124 && "$code" != 0 ]]; then
    launch --resume "$out"
    await
  fi
  wall=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
  state=$( [[ -s "$out/summary.json" ]] && field "$out/summary.json" state || echo none)
  accuracy=$( [[ -s "$out/summary.json" ]] && field "$out/summary.json" test_accuracy || echo 0)
  restarts=$( [[ -s "$out/summary.json" ]] && field "$out/summary.json" worker_restarts || true)
  lost=$( [[ -s "$out/summary.json" ]] && field "$out/summary.json" workers_lost || true)
  rollbacks=$( [[ -s "$out/summary.json" ]] && field "$out/summary.json" server_restarts || true)
  steps_lost=$( [[ -s "$out/summary.json" ]] && field "$out/summary.json" steps_lost || true)
  (( code == 124 )) && hangs=$(( hangs + 1 ))
  (( ${steps_lost:-0} > most_steps_lost )) && most_steps_lost=${steps_lost}
  if (( code == 0 )) && [[ "$state" == SUCCEEDED ]]; then
    completed=$(( completed + 1 ))
    worst_drop=$(awk -v w="$worst_drop" -v b="$base_accuracy" -v a="$accuracy" \
      'BEGIN { d = b - a; print (d > w ? d : w) }')
    extra_sum=$(awk -v s="$extra_sum" -v w="$wall" -v b="$base_wall" 'BEGIN { print s + w - b }')
  fi
  echo "trial $trial: killed $victim_name (pid ${victim:-none}) after ${delay} s; exit $code, $state, accuracy $accuracy, wall ${wall} s, restarts ${restarts:-0}, lost ${lost:-0}, rollbacks ${rollbacks:-0}, steps lost ${steps_lost:-0}"
done
echo "summary: $target $consistency: $completed/$trials completed, $hangs hangs," \
  "accuracy worst drop $(awk -v d="$worst_drop" 'BEGIN { printf "%.4f", d }') from $base_accuracy," \
  "mean extra wall time $(awk -v s="$extra_sum" -v n="$completed" 'BEGIN { printf "%.2f", n ? s / n : 0 }') s over ${base_wall} s," \
  "most steps lost in a rollback $most_steps_lost (a checkpoint every 500)"
