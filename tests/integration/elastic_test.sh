#!/usr/bin/env bash
# Elastic membership through the real binaries:
#   join: a `descent worker --coordinator ...` started while a 2-worker
#     `descent local` job trains (no --worker_id) joins it as worker 2, and
#     from the next epoch on each of the three trains a third of the data
#     (their logs name the shares); the job succeeds, summary.json counts
#     the joiner, and the joiner exits 0. Under BSP and SSP.
#   refused: with cluster.max_workers = num_workers a joiner exits 1.
#   split: under CONTINUE, worker/1 killed: from the next epoch worker 0
#     trains all the data, so only the rest of the epoch it died in (and
#     the next one's share, if already handed out) is skipped: far less
#     than its share of the remaining epochs.
source "$(dirname "$0")/lib.sh"

coordinator_address() {
  sed -n 's/.*coordinator serving on \([0-9.:]*\),.*/\1/p' \
    "$OUT/logs/coordinator.log" | head -1
}

for consistency in BSP SSP; do
  start_local --set train.epochs=30 --set train.consistency=$consistency \
    --set train.staleness=2 --set train.eval_every_steps=0
  wait_until_running
  wait_until_training
  address="$(coordinator_address)"
  [[ -n "$address" ]] || fail "$consistency: no coordinator address in its log"
  "$DESCENT" worker --coordinator "$address" >"$WORK/joiner.out" \
    2>"$WORK/joiner.log" &
  joiner=$!
  BACKGROUND_PIDS+=("$joiner")
  wait_local
  [[ "$code" == 0 ]] || fail "$consistency: exit $code: $(tail -8 "$WORK/stderr")"
  set +e
  wait "$joiner"
  joiner_code=$?
  set -e
  [[ "$joiner_code" == 0 ]] ||
    fail "$consistency: the joiner exited $joiner_code: $(tail -5 "$WORK/joiner.log")"
  grep -q "worker 2 trains on 20000 examples from epoch [1-9]" "$WORK/joiner.log" ||
    fail "$consistency: the joiner did not train a third: $(grep -m3 'trains on\|epoch' "$WORK/joiner.log")"
  grep -q "training examples \[0, 20000)" "$OUT/logs/worker-0.log" ||
    fail "$consistency: worker 0 kept its half: $(grep 'training examples' "$OUT/logs/worker-0.log")"
  [[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
    fail "$consistency: not SUCCEEDED"
  [[ "$(json_field "$OUT/summary.json" workers_joined)" == 1 ]] ||
    fail "$consistency: summary.json workers_joined is not 1"
  accuracy="$(json_field "$OUT/summary.json" test_accuracy)"
  at_least "$accuracy" 0.75 || fail "$consistency: accuracy $accuracy"
  echo "$consistency: joined at $(grep -o 'from epoch [0-9]*' "$WORK/joiner.log" | head -1), accuracy $accuracy"
  rm -rf "$OUT"
done

# refused: a job with cluster.max_workers = num_workers takes no joiner.
start_local --set train.epochs=30 --set cluster.max_workers=2
wait_until_running
set +e
"$DESCENT" worker --coordinator "$(coordinator_address)" >"$WORK/joiner.out" \
  2>"$WORK/joiner.log"
joiner_code=$?
set -e
[[ "$joiner_code" == 1 ]] || fail "refused: the joiner exited $joiner_code"
grep -q "takes no more (cluster.max_workers)" "$WORK/joiner.log" ||
  fail "refused: $(tail -2 "$WORK/joiner.log")"
kill -INT "$LOCAL_PID"
wait_local
rm -rf "$OUT"

# split: CONTINUE, worker/1 killed mid-job.
start_local --set train.epochs=30 --set train.consistency=BSP \
  --set cluster.on_worker_failure=CONTINUE --set cluster.heartbeat_timeout_seconds=2 \
  --set train.eval_every_steps=0
wait_until_running
wait_until_training
kill_member worker/1
wait_local
[[ "$code" == 0 ]] || fail "split: exit $code: $(tail -8 "$WORK/stderr")"
grep -q "training examples \[0, 60000)" "$OUT/logs/worker-0.log" ||
  fail "split: worker 0 never took all the data: $(grep 'training examples' "$OUT/logs/worker-0.log")"
skipped="$(json_field "$OUT/summary.json" examples_skipped)"
# The rest of the epoch it died in, and the next epoch's share too if it
# had been handed out already (a kill right at an epoch's end): at most
# two shares of 30000, against some 28 epochs' shares left.
[[ -n "$skipped" && "$skipped" -le 60000 ]] ||
  fail "split: $skipped examples skipped: more than the epoch worker 1 died in and the next"
echo "split: $skipped examples skipped (one epoch's share is 30000)"
