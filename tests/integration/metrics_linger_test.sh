#!/usr/bin/env bash
# --metrics_linger without Prometheus: after the job ends, the coordinator
# still serves its final state on /metrics (descent_job_state 3, with the
# job's job_id) for the linger, and stopping the launcher then (SIGTERM)
# stops every child at once, the coordinator by the linger's own handler
# (no SIGKILL), and reports the job as it ended (exit 0, its result). Without --prometheus_sd_file `descent local` does not
# linger. A negative linger is a usage error naming the flag.
source "$(dirname "$0")/lib.sh"

code=0
"$DESCENT" coordinator --config "$EXAMPLE" --metrics_linger=-1s \
  2>"$WORK/usage" || code=$?
[[ "$code" == 1 ]] || fail "negative linger: exit code $code, not 1"
grep -q -- "--metrics_linger=-1s: must not be negative" "$WORK/usage" ||
  fail "negative linger: $(head -1 "$WORK/usage")"

start_local --set train.epochs=1 --prometheus_sd_file "$WORK/targets.json" \
  --metrics_linger 60s
wait_until_running
for _ in $(seq 1 1200); do
  grep -q "serves its final metrics for 1m" "$WORK/stderr" && break
  kill -0 "$LOCAL_PID" 2>/dev/null || fail "descent local exited: $(tail -5 "$WORK/stderr")"
  sleep 0.05
done
grep -q "job SUCCEEDED; the coordinator serves its final metrics for 1m" \
  "$WORK/stderr" || fail "no word of the linger: $(tail -5 "$WORK/stderr")"
JOB_ID="$(json_field "$OUT/summary.json" job_id)"
read -r _ COORDINATOR METRICS < <(grep '^coordinator ' "$OUT/processes.txt")
# The launcher sees the end at its once-a-second poll; the coordinator
# wrote summary.json before that.
curl -fsS --max-time 5 "http://$METRICS/metrics" >"$WORK/metrics" ||
  fail "the coordinator does not serve /metrics after the end"
grep -q "^descent_job_state{job_id=\"$JOB_ID\",role=\"coordinator\"} 3$" \
  "$WORK/metrics" ||
  fail "no final state 3 for job $JOB_ID: $(grep descent_job_state "$WORK/metrics")"
kill -0 "$COORDINATOR" || fail "the coordinator is gone during its linger"

started=$(date +%s%N)
kill -TERM "$LOCAL_PID"
code=0
wait "$LOCAL_PID" || code=$?
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
(( elapsed_ms < 2500 )) || fail "took ${elapsed_ms} ms to stop a lingering coordinator"
expect_no_children
# The job had ended well: that is what the launcher reports.
[[ "$code" == 0 ]] || fail "exit code $code after the job succeeded: $(tail -5 "$WORK/stderr")"
grep -q "^state: SUCCEEDED$" "$WORK/stdout" || fail "stdout: $(cat "$WORK/stdout")"
grep -q "serving the final metrics for 1m" "$OUT/logs/coordinator.log" ||
  fail "the coordinator's log does not mention the linger"

# Without a discovery file nothing lingers.
OUT="$WORK/plain"
"$DESCENT" local --config "$EXAMPLE" --output_dir "$OUT" --set train.epochs=1 \
  >"$WORK/stdout" 2>"$WORK/stderr" || fail "plain job: $(tail -5 "$WORK/stderr")"
! grep -q "final metrics" "$WORK/stderr" "$OUT/logs/coordinator.log" ||
  fail "descent local lingered without --prometheus_sd_file"
echo "metrics_linger_test: final state served after the end; stopped in ${elapsed_ms} ms"

# A server or worker killed after the job ended (here while the coordinator
# lingers) costs nothing: the job's exit is 0, with a note. The launcher
# once exited with the killed process's 137. Tried a few times: the
# processes exit on their own soon after the end. Over gRPC: a server's
# gRPC shutdown keeps it about a second past the end, while over shared
# memory it exits within a heartbeat (200 ms) of learning the end, often
# before the coordinator's /metrics shows SUCCEEDED. What is tested is the
# launcher's, whatever the transport.
killed=""
for attempt in 1 2 3 4 5; do
  rm -rf "$WORK/run"  # start_local's output directory
  start_local --set train.epochs=4 --prometheus_sd_file "$WORK/targets.json" \
    --metrics_linger 3s --set cluster.shared_memory=false
  wait_until_running
  # The moment the coordinator's /metrics says SUCCEEDED (state 3): the
  # others learn it at their next heartbeat and exit.
  read -r _ _ METRICS < <(grep '^coordinator ' "$OUT/processes.txt")
  for _ in $(seq 1 3000); do
    curl -s --max-time 1 "http://$METRICS/metrics" 2>/dev/null |
      grep -q '^descent_job_state{.*} 3$' && break
    kill -0 "$LOCAL_PID" 2>/dev/null || break
    sleep 0.01
  done
  while read -r name pid _; do
    [[ "$name" == \#* || "$name" == coordinator ]] && continue
    # Frozen first, so that it cannot exit on its own between the look and
    # the kill: a process that is exiting, or a zombie, takes both signals
    # without a word and is then reaped with its own exit code.
    kill -STOP "$pid" 2>/dev/null || continue
    stopped=""
    for _ in $(seq 1 50); do
      state="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
      [[ "$state" == T* ]] && { stopped=1; break; }
      [[ -z "$state" || "$state" == Z* ]] && break
      sleep 0.01
    done
    if [[ -z "$stopped" ]]; then
      kill -CONT "$pid" 2>/dev/null || true
      continue
    fi
    kill -KILL "$pid"
    killed="$name"
    break
  done <"$OUT/processes.txt"
  wait_local
  [[ -n "$killed" ]] && break
done
[[ -n "$killed" ]] || fail "no server or worker was alive after the end in 5 tries"
grep -q "serves its final metrics" "$WORK/stderr" ||
  fail "the job did not end with a linger: $(tail -5 "$WORK/stderr")"
[[ "$code" == 0 ]] || fail "$killed killed after the end: exit $code: $(tail -5 "$WORK/stderr")"
grep -q "$killed (pid [0-9]*) killed by signal 9 (Killed) after the job ended; its results are complete" \
  "$WORK/stderr" || fail "no note of $killed: $(tail -5 "$WORK/stderr")"
[[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] || fail "summary: $(head -c 300 "$OUT/summary.json")"
echo "metrics_linger_test: $killed killed after the end (attempt $attempt): exit 0"
