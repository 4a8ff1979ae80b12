#!/usr/bin/env bash
# The coordinator dying (kill -9) ends every process within a bounded time
# with its own exit code, and the job can be resumed from its last
# checkpoint.
#   Started by hand: the server and the worker stop on their own once no
#     heartbeat is answered for cluster.heartbeat_timeout_seconds (3 s here),
#     with exit code 7.
#   Under `descent local`: the launcher stops the rest at once, exits with
#     the coordinator's code (137), prints the --resume command, and that
#     command finishes the job.
source "$(dirname "$0")/lib.sh"

OUT="$WORK/cluster"
mkdir -p "$OUT"
"$DESCENT" coordinator --config "$EXAMPLE" --output_dir "$OUT" \
  --set train.epochs=100 --set cluster.num_servers=1 --set cluster.num_workers=1 \
  --set cluster.heartbeat_timeout_seconds=3 \
  --ready_file "$OUT/coordinator.addr" --metrics_linger 0s \
  2>"$WORK/coordinator.log" &
COORDINATOR=$!
BACKGROUND_PIDS+=("$COORDINATOR")
wait_for_file "$OUT/coordinator.addr" 30
ADDRESS="$(cat "$OUT/coordinator.addr")"
"$DESCENT" server --coordinator "$ADDRESS" --shard 0 2>"$WORK/server.log" &
SERVER=$!
BACKGROUND_PIDS+=("$SERVER")
"$DESCENT" worker --coordinator "$ADDRESS" 2>"$WORK/worker.log" &
WORKER=$!
BACKGROUND_PIDS+=("$WORKER")
for _ in $(seq 1 600); do
  grep -q "trains on" "$WORK/worker.log" && break
  sleep 0.05
done
grep -q "trains on" "$WORK/worker.log" || fail "the worker never trained: $(tail -3 "$WORK/worker.log")"
sleep 0.5
kill -KILL "$COORDINATOR"
started=$(date +%s%N)
for pid in "$SERVER" "$WORKER"; do
  set +e
  timeout 30 tail --pid="$pid" -f /dev/null
  wait "$pid"
  code=$?
  set -e
  [[ "$code" == 7 ]] || fail "pid $pid exited $code, expected 7: $(tail -3 "$WORK/server.log" "$WORK/worker.log")"
done
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
(( elapsed_ms < 15000 )) || fail "the server and worker took ${elapsed_ms} ms to stop"
grep -q "lost the coordinator" "$WORK/worker.log" || fail "worker: $(tail -2 "$WORK/worker.log")"
echo "coordinator_loss_test: by hand, server and worker exited 7 in ${elapsed_ms} ms"

# Under descent local, with checkpoints.
start_local --set train.epochs=6 --set 'train.checkpoint={every_steps: 500}'
wait_until_running
wait_until_training
for _ in $(seq 1 600); do
  has_checkpoint "$OUT" && break
  sleep 0.05
done
coordinator="$(awk '$1 == "coordinator" { print $2 }' "$OUT/processes.txt")"
kill -KILL "$coordinator"
set +e
wait "$LOCAL_PID"
code=$?
set -e
[[ "$code" == 137 ]] || fail "local: exit $code, expected 137: $(tail -5 "$WORK/stderr")"
expect_no_children
grep -q "descent local --resume $OUT" "$WORK/stderr" ||
  fail "local: no resume command: $(tail -5 "$WORK/stderr")"
train_job_resume() {
  timeout 240 "$DESCENT" local --resume "$OUT" >"$WORK/stdout" 2>"$WORK/stderr" ||
    fail "resume: exit $?: $(tail -20 "$WORK/stderr")"
}
train_job_resume
grep -q "resum" "$OUT/logs/coordinator.log" || fail "resume: not resumed"
[[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
  fail "resume: $(head -c 300 "$OUT/summary.json")"
echo "coordinator_loss_test: local exited 137, resumed to SUCCEEDED, accuracy $(json_field "$OUT/summary.json" test_accuracy)"
