#!/usr/bin/env bash
# Early stopping end to end: a synthetic linear regression that converges in
# about 2 of its 100 epochs stops once its test loss has not improved by
# more than min_delta for `patience` evaluations. Checks the exit code, that
# the job ended long before its epochs were done, that stdout and
# summary.json name the best step and report the best evaluation's figures,
# best_params.bin, and that no process is left.
source "$(dirname "$0")/lib.sh"

PATIENCE=3
MIN_DELTA=0.001
CONFIG="$WORK/early_stopping.textproto"
cat >"$CONFIG" <<EOF
cluster { num_servers: 2 num_workers: 2 }
model { linear_regression {} }
data {
  synthetic {
    kind: LINEAR_REGRESSION train_examples: 20000 test_examples: 2000
    features: 50 noise_stddev: 0.5 seed: 7
  }
}
train {
  epochs: 100 batch_size: 32 threads: 1 eval_every_steps: 200
  early_stopping { patience: $PATIENCE min_delta: $MIN_DELTA }
}
optimizer { sgd { learning_rate: 0.002 } }
EOF

OUT="$WORK/run"
set +e
timeout 180 "$DESCENT" local --config "$CONFIG" --output_dir "$OUT" \
  >"$WORK/stdout" 2>"$WORK/stderr"
code=$?
set -e
[[ "$code" == 0 ]] || fail "exit code $code: $(tail -20 "$WORK/stderr")"

# stdout: the result is the best evaluation's, and says so.
grep -q "^state: SUCCEEDED$" "$WORK/stdout" || fail "stdout: $(cat "$WORK/stdout")"
grep -q "^stopped_early: true$" "$WORK/stdout" || fail "stdout: $(cat "$WORK/stdout")"
best_step="$(sed -n 's/^best_step: //p' "$WORK/stdout")"
(( best_step > 0 )) || fail "stdout best_step '$best_step'"

SUMMARY="$OUT/summary.json"
# A top-level field (config.train has an "epochs" too).
top_field() {
  sed -n "s/^ \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$SUMMARY"
}
[[ "$(json_field "$SUMMARY" state)" == SUCCEEDED ]] || fail "state not SUCCEEDED"
[[ "$(json_field "$SUMMARY" exit_status)" == 0 ]] || fail "exit_status not 0"
[[ "$(json_field "$SUMMARY" stopped_early)" == true ]] || fail "stopped_early not true"
[[ "$(json_field "$SUMMARY" best_step)" == "$best_step" ]] ||
  fail "summary best_step $(json_field "$SUMMARY" best_step), stdout $best_step"
steps="$(top_field steps)"
epochs="$(top_field epochs)"
# The job ended long before its 100 epochs (it converges in about 2).
at_least 50 "$epochs" || fail "ran $epochs epochs: it did not stop early"
(( steps > best_step )) || fail "steps $steps <= best_step $best_step"

# evals.csv: the best step's row holds the summary's test loss, and the
# last PATIENCE evaluations improved on it by no more than MIN_DELTA.
EVALS="$OUT/evals.csv"
best_loss="$(awk -F, -v s="$best_step" '$1 == s { print $5 }' "$EVALS")"
[[ -n "$best_loss" ]] || fail "no evaluation at step $best_step in evals.csv"
awk -v a="$best_loss" -v b="$(json_field "$SUMMARY" test_loss)" \
  'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
  fail "summary test_loss $(json_field "$SUMMARY" test_loss) is not the best evaluation's $best_loss"
after="$(awk -F, -v s="$best_step" 'NR > 1 && $1 > s' "$EVALS" | wc -l)"
[[ "$after" == "$PATIENCE" ]] || fail "$after evaluations after the best, expected $PATIENCE"
awk -F, -v s="$best_step" -v best="$best_loss" -v d="$MIN_DELTA" \
  'NR > 1 && $1 > s && $5 < best - d { exit 1 }' "$EVALS" ||
  fail "an evaluation after step $best_step improved by more than $MIN_DELTA"

# best_params.bin: header "DSCTPRM1", step = best step, 51 parameters.
PARAMS="$OUT/best_params.bin"
[[ "$(head -c 8 "$PARAMS")" == DSCTPRM1 ]] || fail "best_params.bin: bad magic"
[[ "$(stat -c %s "$PARAMS")" == $(( 40 + 4 * 51 )) ]] ||
  fail "best_params.bin: $(stat -c %s "$PARAMS") bytes"
[[ "$(od -An -t u8 -j 8 -N 8 "$PARAMS" | tr -d ' ')" == "$best_step" ]] ||
  fail "best_params.bin holds step $(od -An -t u8 -j 8 -N 8 "$PARAMS")"
grep -q "stopped early at step $steps" "$OUT/logs/coordinator.log" ||
  fail "coordinator.log does not say it stopped early"

expect_no_children
echo "early_stopping_test: stopped at step $steps (epoch $epochs of 100), best step $best_step"
