#!/usr/bin/env bash
# The validation split end to end: with data.validation_fraction (a
# synthetic classifier) and with a CSV validation file, every evaluation
# measures validation, early stopping and the result's selection follow it,
# and test is measured once, at the end, on the selected (best) model, whose
# figures summary.json and stdout report beside the validation ones.
# Without validation data the summary says test chose the result. A
# fraction together with a validation file is refused, naming the field.
source "$(dirname "$0")/lib.sh"

run() {  # CONFIG OUT: runs descent local, fails on a non-zero exit
  set +e
  timeout 120 "$DESCENT" local --config "$1" --output_dir "$2" \
    >"$2.stdout" 2>"$2.stderr"
  local code=$?
  set -e
  [[ "$code" == 0 ]] || fail "$1: exit code $code: $(tail -20 "$2.stderr")"
}

# 1. validation_fraction 0.25 of 4000 synthetic examples, early stopping.
CONFIG="$WORK/fraction.textproto"
cat >"$CONFIG" <<EOF
cluster { num_servers: 1 num_workers: 2 }
model { logistic_regression {} }
data {
  synthetic { kind: LOGISTIC train_examples: 4000 test_examples: 1000 features: 10 seed: 3 }
  validation_fraction: 0.25
}
train {
  epochs: 40 batch_size: 32 threads: 1 eval_every_steps: 40
  early_stopping { patience: 3 min_delta: 0.0005 }
}
optimizer { sgd { learning_rate: 0.05 } }
EOF
OUT="$WORK/fraction"
run "$CONFIG" "$OUT"
SUMMARY="$OUT/summary.json"
LOG="$OUT/logs/coordinator.log"
grep -q "evaluating on 1000 validation examples; test (1000 examples) once" "$LOG" ||
  fail "coordinator.log does not hold out 1000 validation examples: $(grep -m3 evaluat "$LOG")"
grep -q "data: 3000 training, 1000 validation and 1000 test examples" "$LOG" ||
  fail "the data's shape leaves out the validation split: $(grep -m1 "data: " "$LOG")"
grep -q '"validation_examples": 1000' "$SUMMARY" ||
  fail "summary.json's data lacks validation_examples"
[[ "$(json_field "$SUMMARY" selected_on)" == validation ]] ||
  fail "selected_on $(json_field "$SUMMARY" selected_on)"
for key in validation_loss validation_accuracy test_loss test_accuracy; do
  grep -q "^ \"$key\": [0-9]" "$SUMMARY" || fail "summary.json lacks a top-level $key"
  grep -q "^$key: [0-9]" "$OUT.stdout" || fail "stdout lacks $key: $(cat "$OUT.stdout")"
done
grep -q "^selected_on: validation$" "$OUT.stdout" || fail "stdout: $(cat "$OUT.stdout")"
# Every evaluation measured validation, none test (columns 5 and 11).
EVALS="$OUT/evals.csv"
rows=$(( $(wc -l <"$EVALS") - 1 ))
(( rows >= 4 )) || fail "only $rows evaluations"
awk -F, 'NR > 1 && ($5 != "" || $11 == "") { exit 1 }' "$EVALS" ||
  fail "an evaluation measured test, or not validation: $(head -3 "$EVALS")"
# Test once, at the end, on the best evaluation's parameters.
[[ "$(grep -c "test of the selected model" "$LOG")" == 1 ]] ||
  fail "test was not measured exactly once"
best_step="$(json_field "$SUMMARY" best_step)"
[[ "$(json_field "$SUMMARY" selected_step)" == "$best_step" ]] ||
  fail "selected_step $(json_field "$SUMMARY" selected_step), best_step $best_step"
[[ "$(od -An -t u8 -j 8 -N 8 "$OUT/best_params.bin" | tr -d ' ')" == "$best_step" ]] ||
  fail "best_params.bin is not the best step's"
best_loss="$(awk -F, -v s="$best_step" 'NR > 1 && $1 == s { print $11; exit }' "$EVALS")"
awk -v a="$best_loss" -v b="$(json_field "$SUMMARY" validation_loss)" \
  'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
  fail "summary validation_loss is not the best evaluation's ($best_loss)"
# The model trained on the other 3000: 40 epochs of them would be 3750 steps.
at_least "$(json_field "$SUMMARY" test_accuracy)" 0.8 ||
  fail "test accuracy $(json_field "$SUMMARY" test_accuracy)"
expect_no_children

# 2. A CSV validation file, read like the training file.
awk 'BEGIN {
  srand(5); print "x1,x2,label" > "'"$WORK"'/train.csv"
  print "x1,x2,label" > "'"$WORK"'/test.csv"; print "x1,x2,label" > "'"$WORK"'/validation.csv"
  for (i = 0; i < 600; i++) {
    x = rand() * 4 - 2; y = rand() * 4 - 2; l = (x + y + (rand() - 0.5) > 0) ? 1 : 0
    f = i < 400 ? "train" : i < 500 ? "test" : "validation"
    printf "%.4f,%.4f,%d\n", x, y, l > ("'"$WORK"'/" f ".csv")
  }
}'
CSV_CONFIG="$WORK/csv.textproto"
cat >"$CSV_CONFIG" <<EOF
cluster { num_servers: 1 num_workers: 1 }
model { softmax_regression {} }
data {
  csv { train: "$WORK/train.csv" test: "$WORK/test.csv" validation: "$WORK/validation.csv" }
}
train { epochs: 20 batch_size: 16 threads: 1 eval_every_steps: 50 }
optimizer { sgd { learning_rate: 0.1 } }
EOF
OUT="$WORK/csv"
run "$CSV_CONFIG" "$OUT"
grep -q "evaluating on 100 validation examples; test (100 examples) once" \
  "$OUT/logs/coordinator.log" || fail "the CSV validation file was not used"
[[ "$(json_field "$OUT/summary.json" selected_on)" == validation ]] ||
  fail "csv: selected_on $(json_field "$OUT/summary.json" selected_on)"
at_least "$(json_field "$OUT/summary.json" test_accuracy)" 0.8 ||
  fail "csv: test accuracy $(json_field "$OUT/summary.json" test_accuracy)"
expect_no_children

# 3. No validation data: today's behaviour, and the summary says so.
sed -i 's| validation: "[^"]*"||' "$CSV_CONFIG"
OUT="$WORK/plain"
run "$CSV_CONFIG" "$OUT"
[[ "$(json_field "$OUT/summary.json" selected_on)" == test ]] ||
  fail "no validation: selected_on $(json_field "$OUT/summary.json" selected_on)"
grep -q "^selected_on: test$" "$OUT.stdout" || fail "stdout: $(cat "$OUT.stdout")"
! grep -q "validation_" "$OUT/summary.json" || fail "validation figures without validation data"
grep -q "no validation data" "$OUT/logs/coordinator.log" ||
  fail "coordinator.log does not say test chose the result"
expect_no_children

# 4. A fraction and a validation file at once: refused before anything starts.
sed -i 's|  csv { train: "\([^"]*\)" test: "\([^"]*\)" }|  csv { train: "\1" test: "\2" validation: "\1" }\n  validation_fraction: 0.2|' "$CSV_CONFIG"
set +e
"$DESCENT" local --config "$CSV_CONFIG" --output_dir "$WORK/both" \
  >/dev/null 2>"$WORK/both.stderr"
code=$?
set -e
(( code != 0 )) || fail "a fraction with a validation file was accepted"
grep -q "data.validation_fraction" "$WORK/both.stderr" ||
  fail "the error does not name data.validation_fraction: $(cat "$WORK/both.stderr")"

echo "validation_test: best step $best_step of $rows validation evaluations"
