#!/usr/bin/env bash
# A server that dies mid-job, through the real `descent local`:
#   with train.checkpoint, BSP: kill -9 of server/1 after the first complete
#     checkpoint; the launcher rolls the whole job back to its newest
#     complete checkpoint (every shard's slice and optimizer state, every
#     worker's position) and the job succeeds; summary.json counts the
#     rollback and the steps it undid (at most one checkpoint interval,
#     and the few steps of a checkpoint's write).
#   the same under ASP.
#   (without train.checkpoint the job fails: local_child_failure_test.)
#   cluster.max_server_restarts: 0: the job fails at once.
source "$(dirname "$0")/lib.sh"

EVERY=500
# Starts the example with `$@`, waits for its first complete checkpoint (or,
# without checkpoints, for training) and sends server/1 $SIGNAL (KILL).
start_and_kill_server() {
  start_local --set train.epochs=30 "$@"
  wait_until_running
  wait_until_training
  if [[ " $* " == *train.checkpoint* ]]; then
    for _ in $(seq 1 1200); do
      has_checkpoint "$OUT" && break
      sleep 0.05
    done
    has_checkpoint "$OUT" ||
      fail "no checkpoint was written: $(tr '\r' '\n' <"$WORK/stderr" | tail -3)
$(tail -n 3 "$OUT"/logs/*.log)"
  fi
  kill_member server/1 "${SIGNAL:-KILL}"
  wait_local
  expect_no_children
}

for run in BSP:KILL ASP:KILL BSP:TERM; do
  consistency="${run%:*}" SIGNAL="${run#*:}"
  start_and_kill_server --set train.consistency=$consistency \
    --set "train.checkpoint={every_steps: $EVERY}"
  [[ "$code" == 0 ]] || fail "$consistency: exit $code: $(tail -8 "$WORK/stderr")"
  if [[ "$SIGNAL" == TERM ]]; then
    died="exited with code 130"
    # Stopped gently: it closed its shard and said so.
    grep -q "shard 1: interrupted by Terminated at version [0-9]*; shard closed" \
      "$OUT/logs/server-1.log" || fail "TERM: $(tail -3 "$OUT/logs/server-1.log")"
  else
    died="killed by signal 9 (Killed)"
  fi
  grep -q "server/1 (pid $victim) $died; rolling the job back to its checkpoint at global step [0-9]* (.*checkpoints/step-[0-9]*): [0-9]* steps lost (rollback 1 of 3, cluster.max_server_restarts)" \
    "$WORK/stderr" || fail "$consistency: no rollback message: $(tail -5 "$WORK/stderr")"
  [[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
    fail "$consistency: $(head -c 300 "$OUT/summary.json")"
  [[ "$(json_field "$OUT/summary.json" server_restarts)" == 1 ]] ||
    fail "$consistency: server_restarts '$(json_field "$OUT/summary.json" server_restarts)'"
  lost="$(json_field "$OUT/summary.json" steps_lost)"
  # At most one interval: checkpoints hold exactly the step boundaries,
  # plus the steps of a checkpoint's write if the kill fell in it and those
  # the workers take before they find the shard gone. Both last tens of
  # milliseconds, which is a few hundred steps of this model (5000-6500
  # steps/s here); a rollback to the checkpoint before the newest would
  # lose more than EVERY + EVERY/2 unless the kill fell in the first 250
  # steps of an interval.
  (( lost >= 0 && lost <= EVERY + EVERY / 2 )) || fail "$consistency: steps_lost '$lost'"
  said="$(sed -n 's/.*): \([0-9]*\) steps lost.*/\1/p' "$WORK/stderr")"
  [[ "$said" == "$lost" ]] || fail "$consistency: stderr says $said steps lost, summary $lost"
  accuracy="$(json_field "$OUT/summary.json" test_accuracy)"
  at_least "$accuracy" 0.78 || fail "$consistency: test accuracy $accuracy"
  # The surviving server was rolled back too: its new process restored
  # its slice from the checkpoint.
  grep -q "shard 0: restored version" "$OUT/logs/server-0.log" ||
    fail "$consistency: server 0 did not restore: $(tail -3 "$OUT/logs/server-0.log")"
  grep -q "shard 1: restored version" "$OUT/logs/server-1.log" ||
    fail "$consistency: server 1 did not restore: $(tail -3 "$OUT/logs/server-1.log")"
  # Periodic checkpoints hold exact boundaries, however late the
  # coordinator asks: named at multiples of EVERY, and under BSP after
  # exactly that many steps.
  periodic=0
  for manifest in "$OUT"/checkpoints/step-*/manifest.json; do
    [[ "$(json_field "$manifest" reason)" == periodic ]] || continue
    dir="${manifest%/manifest.json}"
    name=$((10#${dir##*step-}))
    (( name % EVERY == 0 )) || fail "$consistency: periodic checkpoint off its boundary: $dir"
    if [[ "$consistency" == BSP ]]; then
      [[ "$(json_field "$manifest" global_step)" == "$name" ]] ||
        fail "$consistency: $dir holds global step $(json_field "$manifest" global_step)"
    fi
    periodic=$((periodic + 1))
  done
  (( periodic > 0 )) || fail "$consistency: no periodic checkpoint kept: $(ls "$OUT/checkpoints")"
  echo "server_failure_test: $consistency rolled back after SIG$SIGNAL of server/1: $lost steps lost, accuracy $accuracy, $periodic periodic checkpoints on their boundaries"
  rm -rf "$OUT"
done

# Rollbacks switched off.
SIGNAL=KILL
start_and_kill_server --set cluster.max_server_restarts=0 \
  --set "train.checkpoint={every_steps: $EVERY}"
[[ "$code" == 137 ]] || fail "max_server_restarts 0: exit $code, expected 137"
grep -q "the job cannot go on without it" "$WORK/stderr" ||
  fail "max_server_restarts 0: $(tail -5 "$WORK/stderr")"
echo "server_failure_test: with rollbacks switched off the job fails with 137"
