#!/usr/bin/env bash
# The main job end to end: `descent local` on the example with 2 servers and
# 2 workers. Checks its stdout, summary.json, evals.csv and evals.svg, the
# exit code, and each process's /metrics while the job runs.
source "$(dirname "$0")/lib.sh"

# Children bind port 0 and report the ports they got, so nothing here picks
# a port that could be taken in the meantime.
# 16 epochs: about 4 s here, long enough to scrape every process and ask
# its health while it runs (3 epochs once ended before the first scrape).
start_local --set train.epochs=16 --set train.eval_every_steps=1200
wait_until_running

# Scrape each role's /metrics while the job runs.
declare -A EXPECTED=(
  [coordinator]="descent_job_global_step descent_job_examples_total descent_coordinator_pull_bytes_total descent_coordinator_pull_duration_seconds_bucket"
  [server]="descent_server_pushes_total descent_server_push_bytes_total descent_server_pull_bytes_total descent_server_push_duration_seconds_bucket descent_server_pull_duration_seconds_bucket"
  [worker]="descent_worker_steps_total descent_worker_examples_total descent_worker_push_bytes_total descent_worker_pull_bytes_total descent_worker_push_duration_seconds_bucket descent_worker_pull_duration_seconds_bucket descent_worker_gradient_norm"
)
while read -r name pid address; do
  [[ "$name" == \#* ]] && continue
  role="${name%%/*}"
  body="$(curl -fsS --max-time 5 "http://$address/metrics")" ||
    fail "$name: cannot scrape http://$address/metrics"
  for metric in ${EXPECTED[$role]}; do
    grep -q "^$metric{" <<<"$body" || fail "$name: $metric missing from /metrics"
  done
  grep -q "role=\"$role\"" <<<"$body" || fail "$name: metrics lack role=\"$role\""
done <"$OUT/processes.txt"

# gRPC health of every role while the job runs (descent health): the
# coordinator's and the servers' addresses from their logs, each worker's
# too (workers serve health only).
HEALTH=()
for log in "$OUT"/logs/*.log; do
  address="$(grep -o "\(gRPC health on\|serving on\|coordinator serving on\) 127.0.0.1:[0-9]*" "$log" |
    head -1 | grep -o "127.0.0.1:[0-9]*" || true)"
  [[ -n "$address" ]] || fail "$log names no gRPC address: $(head -5 "$log")"
  HEALTH+=("$(basename "$log" .log)=$address")
  status="$("$DESCENT" health "$address" --timeout 5)" ||
    fail "descent health $address ($log) exited $?: $status"
  [[ "$status" == SERVING ]] || fail "$log: health $status"
done
(( ${#HEALTH[@]} == 5 )) || fail "health of ${#HEALTH[@]} processes, expected 5: ${HEALTH[*]}"

wait "$LOCAL_PID" || fail "descent local exited with $?: $(tail -20 "$WORK/stderr")"

# Gone, nothing answers: exit 4.
code=0
"$DESCENT" health "${HEALTH[-1]#*=}" --timeout 1 2>"$WORK/health.err" || code=$?
[[ "$code" == 4 ]] || fail "health of an exited process: exit $code"
grep -q "descent health: ${HEALTH[-1]#*=}: " "$WORK/health.err" ||
  fail "health error: $(cat "$WORK/health.err")"
# A server that has not registered (no coordinator there) answers
# NOT_SERVING: exit 5.
"$DESCENT" server --coordinator 127.0.0.1:1 --shard 0 >"$WORK/lonely.log" 2>&1 &
lonely=$!
BACKGROUND_PIDS+=("$lonely")
wait_for_file "$WORK/lonely.log" 10
for _ in $(seq 1 100); do grep -q "serving on" "$WORK/lonely.log" && break; sleep 0.05; done
address="$(grep -o "serving on 127.0.0.1:[0-9]*" "$WORK/lonely.log" | grep -o "127.0.0.1:[0-9]*")"
code=0
status="$("$DESCENT" health "$address" --timeout 5)" || code=$?
[[ "$code" == 5 && "$status" == NOT_SERVING ]] ||
  fail "an unregistered server's health: exit $code, $status"
# Stopped by hand before it serves a job: exit 130 at once, saying so (it
# had died of SIGTERM with 143 and no word).
kill -TERM "$lonely"
code=0
wait "$lonely" || code=$?
[[ "$code" == 130 ]] || fail "SIGTERM of an unregistered server: exit $code"
grep -q "descent server: interrupted before serving" "$WORK/lonely.log" ||
  fail "SIGTERM of an unregistered server: $(tail -2 "$WORK/lonely.log")"

# stdout: the result, as key: value lines.
grep -q "^state: SUCCEEDED$" "$WORK/stdout" || fail "stdout: $(cat "$WORK/stdout")"
accuracy="$(sed -n 's/^test_accuracy: //p' "$WORK/stdout")"
at_least "$accuracy" 0.80 || fail "printed test accuracy $accuracy < 0.80"

# summary.json: the documented keys, and the same accuracy.
SUMMARY="$OUT/summary.json"
[[ -s "$SUMMARY" ]] || fail "no summary.json"
for key in config test_accuracy test_loss steps epochs wall_seconds \
           samples_per_second exit_status; do
  grep -q "\"$key\":" "$SUMMARY" || fail "summary.json lacks \"$key\""
done
summary_accuracy="$(json_field "$SUMMARY" test_accuracy)"
at_least "$summary_accuracy" 0.80 || fail "summary accuracy $summary_accuracy"
[[ "$(json_field "$SUMMARY" exit_status)" == 0 ]] || fail "exit_status not 0"
[[ "$(json_field "$SUMMARY" state)" == SUCCEEDED ]] || fail "state not SUCCEEDED"
at_least "$(json_field "$SUMMARY" epochs)" 11.99 || fail "epochs < 12"

# evals.csv: the header, then one row per evaluation (every 1200 of the
# ~11,300 global steps, plus the final one), steps increasing.
EVALS="$OUT/evals.csv"
[[ "$(head -1 "$EVALS")" == "step,epoch,wall_seconds,train_loss,test_loss,test_accuracy,test_rmse,test_auc,parameter_version,due_step,validation_loss,validation_accuracy,validation_rmse,validation_auc" ]] ||
  fail "evals.csv header: $(head -1 "$EVALS")"
rows=$(( $(wc -l <"$EVALS") - 1 ))
(( rows >= 5 )) || fail "evals.csv has only $rows rows"
awk -F, 'NR > 2 && $1 < prev { exit 1 } { prev = $1 }' "$EVALS" ||
  fail "evals.csv steps decrease"

# evals.svg beside it: well-formed, one test_accuracy point per row.
CHART="$OUT/evals.svg"
[[ -s "$CHART" ]] || fail "no evals.svg"
line="$(grep -o '<polyline id="test_accuracy"[^>]*>' "$CHART")" ||
  fail "evals.svg has no test_accuracy polyline"
points=$(sed 's/.* points="\([^"]*\)".*/\1/' <<<"$line" | wc -w)
(( points == rows )) || fail "evals.svg: $points test_accuracy points, $rows rows"
if command -v xmllint >/dev/null; then
  xmllint --noout "$CHART" || fail "evals.svg is not well-formed XML"
fi

expect_no_children

echo "local_job_test: accuracy $accuracy, $rows evaluations"
