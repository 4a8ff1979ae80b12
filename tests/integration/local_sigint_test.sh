#!/usr/bin/env bash
# Ctrl-C: SIGINT to `descent local` mid-run stops the job quickly, exits
# with the documented code 130, and leaves none of its children running.
source "$(dirname "$0")/lib.sh"

start_local --set train.epochs=50
wait_until_running
sleep 0.5  # well into training

started=$(date +%s%N)
kill -INT "$LOCAL_PID"
set +e
wait "$LOCAL_PID"
code=$?
set -e
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))

[[ "$code" == 130 ]] || fail "exit code $code, expected 130: $(tail -5 "$WORK/stderr")"
grep -q "interrupted" "$WORK/stderr" || fail "no 'interrupted' message on stderr"
(( elapsed_ms < 10000 )) || fail "took ${elapsed_ms} ms to stop"
expect_no_children
[[ ! -s "$WORK/stdout" ]] || fail "an interrupted job printed a result"
# The coordinator, stopped by SIGTERM, ends the job gently: summary.json
# says the job failed because it was interrupted, with exit status 130.
[[ -s "$OUT/summary.json" ]] || fail "an interrupted job left no summary.json"
[[ "$(json_field "$OUT/summary.json" state)" == FAILED ]] ||
  fail "summary.json: $(head -c 300 "$OUT/summary.json")"
grep -q '"error": "interrupted by' "$OUT/summary.json" ||
  fail "summary.json does not say the job was interrupted"
[[ "$(json_field "$OUT/summary.json" exit_status)" == 130 ]] ||
  fail "summary.json exit_status $(json_field "$OUT/summary.json" exit_status)"
# It also leaves the parameters it had reached, as model/ (evaluation
# "final", a step into training).
[[ -s "$OUT/model/model.safetensors" && -s "$OUT/model/manifest.json" ]] ||
  fail "an interrupted job left no model/: $(ls "$OUT")"
[[ "$(json_field "$OUT/model/manifest.json" evaluation)" == final ]] ||
  fail "model/manifest.json: $(head -c 300 "$OUT/model/manifest.json")"
(( $(json_field "$OUT/model/manifest.json" global_step) > 0 )) ||
  fail "model/ of step $(json_field "$OUT/model/manifest.json" global_step)"
echo "local_sigint_test: stopped in ${elapsed_ms} ms, exit 130"
