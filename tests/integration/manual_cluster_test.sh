#!/usr/bin/env bash
# A cluster started role by role, as docker-compose or Kubernetes would:
# `descent coordinator`, `descent server` and `descent worker` each run
# alone, find each other through the coordinator, train, and all exit 0.
# Then `descent coordinator --resume` continues that job for another epoch
# from its final checkpoint, with servers and a worker started anew.
source "$(dirname "$0")/lib.sh"

OUT="$WORK/cluster"
mkdir -p "$OUT"
"$DESCENT" coordinator --config "$EXAMPLE" --output_dir "$OUT" \
  --set train.epochs=1 --set cluster.num_servers=2 --set cluster.num_workers=1 \
  --set 'train.checkpoint={every_steps: 2000}' \
  --ready_file "$OUT/coordinator.addr" --metrics_linger 0s \
  2>"$WORK/coordinator.log" &
COORDINATOR=$!
BACKGROUND_PIDS+=("$COORDINATOR")
wait_for_file "$OUT/coordinator.addr" 30
ADDRESS="$(cat "$OUT/coordinator.addr")"

# A worker id the job cannot grant (it has one worker) is a usage error.
code=0
"$DESCENT" worker --coordinator "$ADDRESS" --worker_id 1 2>"$WORK/bad_id.log" || code=$?
[[ "$code" == 1 ]] || fail "--worker_id 1 of 1 worker: exit $code: $(tail -2 "$WORK/bad_id.log")"
grep -q "worker id 1 is not one of the job's 1 workers: start the worker without --worker_id to join" "$WORK/bad_id.log" ||
  fail "$(tail -2 "$WORK/bad_id.log")"

# Starts both servers and the worker against $ADDRESS and waits for them
# and the coordinator to exit 0.
run_members() {
  local pids=() shard pid
  for shard in 0 1; do
    # Port 0 in the advertised address means "the port actually bound".
    "$DESCENT" server --coordinator "$ADDRESS" --shard "$shard" \
      --advertise_address 127.0.0.1:0 2>"$WORK/server$shard.log" &
    pids+=($!)
    BACKGROUND_PIDS+=($!)
  done
  "$DESCENT" worker --coordinator "$ADDRESS" 2>"$WORK/worker.log" &
  pids+=($!)
  BACKGROUND_PIDS+=($!)
  wait "$COORDINATOR" || fail "coordinator exited $?: $(tail -5 "$WORK/coordinator.log")"
  for pid in "${pids[@]}"; do
    wait "$pid" || fail "pid $pid exited $?: $(tail -3 "$WORK"/*.log)"
  done
}
run_members
[[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
  fail "summary: $(cat "$OUT/summary.json")"
grep -q "shard 1 holds parameters \[3925, 7850)" "$WORK/server1.log" ||
  fail "server 1 log: $(cat "$WORK/server1.log")"
# The same output directory again: the coordinator refuses it (exit 1)
# before serving, unless told --overwrite.
before="$(md5sum <"$OUT/summary.json")"
code=0
"$DESCENT" coordinator --config "$EXAMPLE" --output_dir "$OUT" \
  --metrics_linger 0s 2>"$WORK/again.log" || code=$?
[[ "$code" == 1 ]] || fail "a reused output directory: exit $code: $(tail -3 "$WORK/again.log")"
grep -q "holds another job's results (summary.json, evals.csv" "$WORK/again.log" ||
  fail "$(tail -3 "$WORK/again.log")"
[[ "$(md5sum <"$OUT/summary.json")" == "$before" ]] || fail "the refused coordinator changed summary.json"
echo "manual_cluster_test: accuracy $(json_field "$OUT/summary.json" test_accuracy)"

# --resume: the job goes on in its directory for a second epoch.
rm -f "$OUT/coordinator.addr"
"$DESCENT" coordinator --resume "$OUT" --set train.epochs=2 \
  --ready_file "$OUT/coordinator.addr" --metrics_linger 0s \
  2>"$WORK/coordinator.log" &
COORDINATOR=$!
BACKGROUND_PIDS+=("$COORDINATOR")
wait_for_file "$OUT/coordinator.addr" 30
ADDRESS="$(cat "$OUT/coordinator.addr")"
run_members
grep -q "resuming job" "$WORK/coordinator.log" || fail "not resumed: $(tail -3 "$WORK/coordinator.log")"
grep -q "restored version" "$WORK/server0.log" || fail "shard 0 not restored"
[[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
  fail "resumed summary: $(cat "$OUT/summary.json")"
[[ "$(json_field "$OUT/summary.json" epochs)" == 2* ]] ||
  fail "resumed job trained $(json_field "$OUT/summary.json" epochs) epochs"
echo "manual_cluster_test: resumed for a second epoch, accuracy $(json_field "$OUT/summary.json" test_accuracy)"
