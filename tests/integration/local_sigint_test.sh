#!/usr/bin/env bash
# Ctrl-C (SIGINT), and SIGHUP when the terminal goes away: either signal to
# `descent local` mid-run stops the job quickly, exits with the documented
# code 130, and leaves none of its children running. The coordinator is
# stopped first and ends the job gently: summary.json says the job was
# interrupted, and the workers learn it from the coordinator rather than
# being killed.
source "$(dirname "$0")/lib.sh"

for signal in INT HUP; do
  start_local --set train.epochs=50
  wait_until_running
  wait_until_training
  # Both workers have loaded their shard (a worker still loading learns of
  # the end only once it has).
  for _ in $(seq 1 600); do
    grep -q "trains on" "$OUT/logs/worker-0.log" "$OUT/logs/worker-1.log" 2>/dev/null &&
      [[ "$(grep -l "trains on" "$OUT"/logs/worker-*.log | wc -l)" == 2 ]] && break
    sleep 0.05
  done
  sleep 0.2  # well into training

  started=$(date +%s%N)
  kill -"$signal" "$LOCAL_PID"
  set +e
  wait "$LOCAL_PID"
  code=$?
  set -e
  elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))

  [[ "$code" == 130 ]] || fail "SIG$signal: exit code $code, expected 130: $(tail -5 "$WORK/stderr")"
  grep -q "interrupted" "$WORK/stderr" || fail "SIG$signal: no 'interrupted' message on stderr"
  (( elapsed_ms < 10000 )) || fail "SIG$signal: took ${elapsed_ms} ms to stop"
  expect_no_children
  [[ ! -s "$WORK/stdout" ]] || fail "SIG$signal: an interrupted job printed a result"
  # summary.json says the job was interrupted (state INTERRUPTED, 130).
  [[ -s "$OUT/summary.json" ]] || fail "SIG$signal: an interrupted job left no summary.json"
  [[ "$(json_field "$OUT/summary.json" state)" == INTERRUPTED ]] ||
    fail "summary.json: $(head -c 300 "$OUT/summary.json")"
  grep -q '"error": "interrupted by' "$OUT/summary.json" ||
    fail "SIG$signal: summary.json does not say the job was interrupted"
  [[ "$(json_field "$OUT/summary.json" exit_status)" == 130 ]] ||
    fail "summary.json exit_status $(json_field "$OUT/summary.json" exit_status)"
  # It also leaves the parameters it had reached, as model/ (evaluation
  # "final", a step into training).
  [[ -s "$OUT/model/model.safetensors" && -s "$OUT/model/manifest.json" ]] ||
    fail "SIG$signal: an interrupted job left no model/: $(ls "$OUT")"
  [[ "$(json_field "$OUT/model/manifest.json" evaluation)" == final ]] ||
    fail "model/manifest.json: $(head -c 300 "$OUT/model/manifest.json")"
  (( $(json_field "$OUT/model/manifest.json" global_step) > 0 )) ||
    fail "model/ of step $(json_field "$OUT/model/manifest.json" global_step)"
  for id in 0 1; do
    grep -q "interrupted by" "$OUT/logs/worker-$id.log" ||
      fail "SIG$signal: worker $id was not told: $(tail -3 "$OUT/logs/worker-$id.log")"
  done
  echo "local_sigint_test: SIG$signal stopped the job in ${elapsed_ms} ms, exit 130"
  rm -rf "$OUT"
done
