#!/usr/bin/env bash
# What `descent local` and the roles do around a job rather than in it:
# input files checked before anything starts; cluster.num_workers checked
# against the data before servers and workers start; an output directory
# holding another job's results refused unless --overwrite; worker logs
# named by worker id; the default thread count; OpenMP's passive wait
# policy; a worker saying what it waits for when its coordinator is away.
source "$(dirname "$0")/lib.sh"

CONFIG="$WORK/job.textproto"
cat >"$CONFIG" <<'PB'
cluster { num_servers: 1 num_workers: 2 }
model { linear_regression {} }
data {
  synthetic {
    kind: LINEAR_REGRESSION train_examples: 400 test_examples: 100
    features: 5 noise_stddev: 0.1 seed: 3
  }
}
train { epochs: 2 batch_size: 16 }
optimizer { sgd { learning_rate: 0.01 } }
PB

# run CODE OUTPUT_DIR ARGS...: `descent local` on $CONFIG, checks its code.
run() {
  local want="$1" out="$2"
  shift 2
  set +e
  timeout 120 "$DESCENT" local --config "$CONFIG" --output_dir "$out" "$@" \
    >"$WORK/stdout" 2>"$WORK/stderr"
  local got=$?
  set -e
  [[ "$got" == "$want" ]] ||
    fail "local $* exited $got, expected $want: $(tail -20 "$WORK/stderr")"
}
stderr_has() {
  grep -Eq -e "$1" "$WORK/stderr" || fail "stderr lacks '$1': $(cat "$WORK/stderr")"
}

# 1. Every missing input file is named, by field, before anything starts:
#    no output directory, no process.
CSV="$WORK/csv.textproto"
cat >"$CSV" <<PB
model { linear_regression {} }
data { csv { train: "$WORK/none/train.csv" test: "$WORK/none/test.csv" regression: true } }
optimizer { sgd { learning_rate: 0.01 } }
PB
set +e
"$DESCENT" local --config "$CSV" --output_dir "$WORK/missing" >"$WORK/stdout" 2>"$WORK/stderr"
code=$?
set -e
[[ "$code" == 3 ]] || fail "missing input: exit $code: $(cat "$WORK/stderr")"
stderr_has "data.csv.train: $WORK/none/train.csv: no such file"
stderr_has "data.csv.test: $WORK/none/test.csv: no such file"
[[ ! -e "$WORK/missing" ]] || fail "a job refused for missing inputs created its output directory"

# 2. More workers than training examples: refused by the coordinator as it
#    reads the data, before any server or worker starts.
run 2 "$WORK/too-many" --set cluster.num_workers=500
stderr_has "cluster.num_workers: 500 workers but only 400 training examples"
logs="$(ls "$WORK/too-many/logs")"
[[ "$logs" == "coordinator.log" ]] || fail "processes started: $logs"

# 3. A job, with the default thread count and without OMP_NUM_THREADS:
#    each of the 2 workers on this host gets cores / 2 threads.
OUT="$WORK/run"
(unset OMP_NUM_THREADS; run 0 "$OUT")
cores="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)"  # nproc obeys OMP_NUM_THREADS
want=$(( cores / 2 > 0 ? cores / 2 : 1 ))
for id in 0 1; do
  log="$OUT/logs/worker-$id.log"
  grep -q "worker $id, metrics on" "$log" || fail "$log is not worker $id's: $(head -5 "$log")"
  grep -Eq "train.threads unset: $want OpenMP threads? \($cores cores, 2 workers of the job on this host\)" "$log" ||
    fail "$log: no thread decision for $want threads: $(grep threads "$log")"
done
grep -q "^worker/0 " "$OUT/processes.txt" || fail "processes.txt: $(cat "$OUT/processes.txt")"

# 4. The same output directory again: refused, the old results untouched;
#    with --overwrite the old results and logs are replaced, not appended to.
before="$(md5sum <"$OUT/summary.json")"
run 1 "$OUT"
stderr_has "output directory $OUT holds another job's results \(summary.json.*logs\).*--overwrite"
[[ "$(md5sum <"$OUT/summary.json")" == "$before" ]] || fail "a refused job changed summary.json"
touch "$OUT/notes.txt"  # the user's own file: not descent's to delete
run 0 "$OUT" --overwrite
runs="$(grep -c "worker 0, metrics on" "$OUT/logs/worker-0.log")"
[[ "$runs" == 1 ]] || fail "worker-0.log holds $runs runs"
[[ -e "$OUT/notes.txt" ]] || fail "--overwrite deleted a file descent did not write"

# 5. A worker whose coordinator does not answer says so at once and then
#    every few seconds; and it runs with OMP_WAIT_POLICY=PASSIVE unless the
#    user chose a policy.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
env -u OMP_WAIT_POLICY "$DESCENT" worker --coordinator="127.0.0.1:$port" \
  >"$WORK/worker.log" 2>&1 &
worker=$!
BACKGROUND_PIDS+=("$worker")
OMP_WAIT_POLICY=ACTIVE "$DESCENT" worker --coordinator="127.0.0.1:$port" \
  >"$WORK/active.log" 2>&1 &
active=$!
BACKGROUND_PIDS+=("$active")
sleep 1.5
grep -q "waiting for the coordinator at 127.0.0.1:$port to register this worker" "$WORK/worker.log" ||
  fail "no word within 1.5 s: $(cat "$WORK/worker.log")"
tr '\0' '\n' <"/proc/$worker/environ" | grep -qx "OMP_WAIT_POLICY=PASSIVE" ||
  fail "the worker's OpenMP may spin: $(tr '\0' '\n' <"/proc/$worker/environ" | grep OMP)"
tr '\0' '\n' <"/proc/$active/environ" | grep -qx "OMP_WAIT_POLICY=ACTIVE" ||
  fail "the user's OMP_WAIT_POLICY was replaced"
sleep 5
count="$(grep -c "waiting for the coordinator" "$WORK/worker.log")"
(( count >= 2 )) || fail "one message in 6.5 s: $(cat "$WORK/worker.log")"
kill "$worker" "$active"

echo "launcher_test: inputs, num_workers, output directory, logs, threads and waiting hold"
