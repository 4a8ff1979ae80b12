#!/usr/bin/env bash
# Evaluations and what a job reports, end to end:
#  - cadence: eval_every_steps 400 over a 2760-step job evaluates at every
#    boundary (20 over 138 once gave 2 evaluations), each row recording the step and
#    parameter version it saw and the boundary it was due at, the final one
#    due at none; unset eval_every_steps gives total steps / 20;
#  - a regression job's stdout and summary.json hold RMSE and no accuracy,
#    AUC or early-stopping fields, and integers as JSON numbers;
#  - evals.svg draws the RMSE on an axis of its own.
source "$(dirname "$0")/lib.sh"

run() {  # CONFIG OUT [ARGS...]
  local config="$1" out="$2"
  shift 2
  set +e
  timeout 120 "$DESCENT" local --config "$config" --output_dir "$out" "$@" \
    >"$out.stdout" 2>"$out.stderr"
  local code=$?
  set -e
  [[ "$code" == 0 ]] || fail "exit code $code: $(tail -20 "$out.stderr")"
}

# 1. 2 workers x 2 epochs x 690 steps of 16 of 22080 examples: 2760 steps,
# every 400.
CONFIG="$WORK/classifier.textproto"
cat >"$CONFIG" <<EOF
cluster { num_servers: 1 num_workers: 2 }
model { logistic_regression {} }
data { synthetic { kind: LOGISTIC train_examples: 22080 test_examples: 500 features: 10 seed: 3 } }
train { epochs: 2 batch_size: 16 threads: 1 eval_every_steps: 400 }
optimizer { sgd { learning_rate: 0.05 } }
EOF
OUT="$WORK/classifier"
run "$CONFIG" "$OUT"
EVALS="$OUT/evals.csv"
[[ "$(cut -d, -f9,10 <<<"$(head -1 "$EVALS")")" == "parameter_version,due_step" ]] ||
  fail "evals.csv header: $(head -1 "$EVALS")"
# due_step: 400, 800, ... without a gap, then 0 for the final one; each row's
# step at or after its boundary; versions never go back.
awk -F, 'NR == 1 { next }
  { if (last) exit 1 }
  $10 == 0 { last = 1; next }
  $10 != due + 400 || $1 < $10 || $9 < version { exit 1 }
  { due = $10; version = $9 }
  END { exit !(last && due >= 400) }' "$EVALS" ||
  fail "evaluations skipped a boundary or saw an earlier step: $(cat "$EVALS")"
rows=$(( $(wc -l <"$EVALS") - 1 ))
# 6 boundaries; a coordinator starved of CPU may see the last ones only once
# every worker is done (the final evaluation covers those).
(( rows >= 4 )) || fail "only $rows evaluations over 2760 steps every 400"
[[ "$(json_field "$OUT/summary.json" evaluations)" == "$rows" ]] ||
  fail "summary evaluations $(json_field "$OUT/summary.json" evaluations), rows $rows"
(( $(grep -c '"due_step": ' "$OUT/summary.json") == rows )) ||
  fail "summary.json history lacks due_step"
grep -q "^test_accuracy: [0-9]" "$OUT.stdout" || fail "stdout: $(cat "$OUT.stdout")"
expect_no_children

# 2. Regression, eval_every_steps unset: 2 x ceil(10000 / 32) = 626 steps,
# every 31; no accuracy anywhere; integers as numbers.
CONFIG="$WORK/regression.textproto"
cat >"$CONFIG" <<EOF
cluster { num_servers: 1 num_workers: 2 }
model { linear_regression {} }
data { synthetic { kind: LINEAR_REGRESSION train_examples: 20000 test_examples: 2000 features: 20 noise_stddev: 0.5 seed: 7 } }
train { epochs: 1 batch_size: 32 threads: 1 }
optimizer { sgd { learning_rate: 0.01 } }
EOF
OUT="$WORK/regression"
run "$CONFIG" "$OUT"
SUMMARY="$OUT/summary.json"
[[ "$(json_field "$SUMMARY" eval_every_steps)" == 31 ]] ||
  fail "default eval_every_steps $(json_field "$SUMMARY" eval_every_steps), expected 626 / 20"
grep -q '^ "eval_every_steps": 31,$' "$SUMMARY" || fail "eval_every_steps is not a number"
grep -q '^ "steps": 626,$' "$SUMMARY" || fail "steps: $(grep '"steps"' "$SUMMARY")"
! grep -Eq '": "-?[0-9]+"' "$SUMMARY" || fail "integers as strings: $(grep -E '": "-?[0-9]+"' "$SUMMARY" | head -3)"
for absent in test_accuracy test_auc planted_test_auc planted_test_rmse best_step \
              stopped_early validation_loss '"error"'; do
  ! grep -q "$absent" "$SUMMARY" || fail "summary.json has $absent"
  ! grep -q "$absent" "$OUT.stdout" || fail "stdout has $absent: $(cat "$OUT.stdout")"
done
grep -q '^ "test_rmse": [0-9]' "$SUMMARY" || fail "summary.json lacks test_rmse"
grep -q '^ "planted_relative_error": [0-9]' "$SUMMARY" || fail "no planted_relative_error"
grep -q "^test_rmse: [0-9]" "$OUT.stdout" || fail "stdout: $(cat "$OUT.stdout")"
awk -F, 'NR > 1 && $10 > 0 && $10 % 31 != 0 { exit 1 }' "$OUT/evals.csv" ||
  fail "due steps are not multiples of 31"
awk -F, 'NR > 1 && $6 != "" { exit 1 }' "$OUT/evals.csv" ||
  fail "evals.csv has an accuracy for a regression"
# evals.svg: test RMSE on an axis of its own, its labels distinct.
CHART="$OUT/evals.svg"
grep -q '<polyline id="test_rmse"' "$CHART" || fail "evals.svg has no test_rmse"
rmse_ticks="$(grep -o 'class="tick-rmse"[^<]*<' "$CHART" | sed 's/.*>//;s/<//')"
(( $(wc -l <<<"$rmse_ticks") >= 2 )) || fail "evals.svg: no RMSE axis"
[[ "$(sort <<<"$rmse_ticks" | uniq -d)" == "" ]] || fail "repeated RMSE ticks: $rmse_ticks"
top_ticks="$(grep -o 'class="tick-top"[^<]*<' "$CHART" | sed 's/.*>//;s/<//')"
[[ "$(sort <<<"$top_ticks" | uniq -d)" == "" ]] || fail "repeated top ticks: $top_ticks"
if command -v xmllint >/dev/null; then
  xmllint --noout "$CHART" || fail "evals.svg is not well-formed XML"
fi
expect_no_children
echo "evaluation_output_test: $rows evaluations over 2760 steps every 400"
