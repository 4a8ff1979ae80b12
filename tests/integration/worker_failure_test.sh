#!/usr/bin/env bash
# A worker that dies mid-job, through the real `descent local`, under each
# cluster.on_worker_failure policy:
#   RESTART (the launcher's default), BSP: kill -9 of worker/1; the launcher
#     starts a new worker/1, which takes the dead one's id and position; the
#     job succeeds and summary.json counts the restart.
#   CONTINUE, BSP: kill -9; the job goes on with worker 0 alone once worker 1
#     is declared lost; summary.json says how many examples were skipped.
#   CONTINUE, SIGSTOP past the heartbeat timeout, then SIGCONT: the late
#     worker is told it was declared lost and stops; the job succeeds.
#   drain: SIGTERM of a worker: it leaves for good, the job goes on.
#   FAIL: kill -9 ends the job with the dead process's code (137).
source "$(dirname "$0")/lib.sh"

# Starts the example job with `$@`, waits until it trains, and sets victim
# to worker/1's pid.
start_training() {
  start_local --set train.epochs=30 --set train.consistency=BSP "$@"
  wait_until_running
  wait_until_training
  victim="$(awk '$1 == "worker/1" { print $2 }' "$OUT/processes.txt")"
  [[ -n "$victim" ]] || fail "no worker/1 in processes.txt"
}

finish() {
  wait_local
  expect_no_children
}

# RESTART.
start_training
kill -KILL "$victim"
finish
[[ "$code" == 0 ]] || fail "RESTART: exit $code: $(tail -8 "$WORK/stderr")"
grep -q "worker/1 (pid $victim) killed by signal 9 (Killed); restarting it in [0-9.]*m\?s (restart 1 of 3" \
  "$WORK/stderr" || fail "RESTART: no restart message: $(tail -5 "$WORK/stderr")"
[[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
  fail "RESTART: $(head -c 300 "$OUT/summary.json")"
[[ "$(json_field "$OUT/summary.json" worker_restarts)" == 1 ]] ||
  fail "RESTART: summary.json worker_restarts '$(json_field "$OUT/summary.json" worker_restarts)'"
[[ "$(grep -c "trains on" "$OUT/logs/worker-1.log")" == 2 ]] ||
  fail "RESTART: worker-1.log does not hold both processes' runs"
grep -q "worker 1 trains on" "$OUT/logs/worker-1.log" ||
  fail "RESTART: the new process did not get id 1"
accuracy="$(json_field "$OUT/summary.json" test_accuracy)"
at_least "$accuracy" 0.78 || fail "RESTART: test accuracy $accuracy"
echo "worker_failure_test: RESTART (BSP) succeeded, accuracy $accuracy"
rm -rf "$OUT"

# CONTINUE after kill -9.
start_training --set cluster.on_worker_failure=CONTINUE \
  --set cluster.heartbeat_timeout_seconds=3
kill -KILL "$victim"
finish
[[ "$code" == 0 ]] || fail "CONTINUE: exit $code: $(tail -8 "$WORK/stderr")"
grep -q "worker/1 (pid $victim) killed by signal 9 (Killed); the job goes on without it" \
  "$WORK/stderr" || fail "CONTINUE: $(tail -5 "$WORK/stderr")"
[[ "$(json_field "$OUT/summary.json" workers_lost)" == 1 ]] ||
  fail "CONTINUE: $(head -c 400 "$OUT/summary.json")"
skipped="$(json_field "$OUT/summary.json" examples_skipped)"
# At most its whole share (30 epochs of 30,000): all of it when the kill
# came before its first heartbeat reported progress.
(( skipped > 0 && skipped <= 30 * 30000 )) || fail "CONTINUE: examples_skipped '$skipped'"
echo "worker_failure_test: CONTINUE (BSP) succeeded without worker 1, $skipped examples skipped"
rm -rf "$OUT"

# CONTINUE, a worker stopped past the heartbeat timeout and then resumed.
start_training --set cluster.on_worker_failure=CONTINUE \
  --set cluster.heartbeat_timeout_seconds=3
kill -STOP "$victim"
sleep 5
kill -CONT "$victim"
finish
[[ "$code" == 0 ]] || fail "SIGSTOP: exit $code: $(tail -8 "$WORK/stderr")"
grep -q "worker 1 was declared lost" "$OUT/logs/worker-1.log" ||
  fail "SIGSTOP: worker 1 was not told: $(tail -3 "$OUT/logs/worker-1.log")"
grep -q "worker/1 (pid $victim) exited with code 4; the job goes on without it" \
  "$WORK/stderr" || fail "SIGSTOP: $(tail -5 "$WORK/stderr")"
[[ "$(json_field "$OUT/summary.json" workers_lost)" == 1 ]] ||
  fail "SIGSTOP: $(head -c 400 "$OUT/summary.json")"
echo "worker_failure_test: SIGSTOP 5 s, SIGCONT: worker 1 declared lost and stopped, job succeeded"
rm -rf "$OUT"

# Drain: SIGTERM of a worker (an orchestrator scaling down) under the
# default RESTART: it stops between steps, tells the coordinator it
# leaves, and exits 0; nothing restarts it and the job (BSP) goes on
# without it.
start_training
kill -TERM "$victim"
finish
[[ "$code" == 0 ]] || fail "drain: exit $code: $(tail -8 "$WORK/stderr")"
grep -q "worker 1: Terminated: drained after [0-9]* steps; the job goes on without it" \
  "$OUT/logs/worker-1.log" || fail "drain: $(tail -3 "$OUT/logs/worker-1.log")"
! grep -q "restarting it" "$WORK/stderr" || fail "drain: the drained worker was restarted"
grep -q "worker 1 (pid $victim) was drained" "$OUT/logs/coordinator.log" ||
  fail "drain: the coordinator did not hear it"
[[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
  fail "drain: $(head -c 300 "$OUT/summary.json")"
[[ "$(json_field "$OUT/summary.json" workers_drained)" == 1 ]] ||
  fail "drain: workers_drained '$(json_field "$OUT/summary.json" workers_drained)'"
[[ -z "$(json_field "$OUT/summary.json" workers_lost)" ]] ||
  fail "drain: counted as lost too"
skipped="$(json_field "$OUT/summary.json" examples_skipped)"
(( skipped > 0 && skipped <= 30 * 30000 )) || fail "drain: examples_skipped '$skipped'"
echo "worker_failure_test: SIGTERM drained worker 1 ($skipped examples skipped), job succeeded"
rm -rf "$OUT"

# FAIL.
start_training --set cluster.on_worker_failure=FAIL
kill -KILL "$victim"
finish
[[ "$code" == 137 ]] || fail "FAIL: exit $code, expected 137"
grep -q "worker/1 (pid $victim) killed by signal 9 (Killed); last lines of" "$WORK/stderr" ||
  fail "FAIL: $(tail -5 "$WORK/stderr")"
echo "worker_failure_test: FAIL ended the job, exit 137"
