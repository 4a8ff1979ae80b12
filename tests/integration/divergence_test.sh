#!/usr/bin/env bash
# The divergence guard end to end: linear regression with a learning rate
# 2500 times too large. The loss explodes within a few steps; the job must
# stop quickly with exit code 6 and a message naming the worker, its step
# and the loss, in stderr, the coordinator's log and summary.json, and leave
# no process behind. Run twice: with the default max_loss_factor (the loss
# passes 100 times its first steps'), and with only the non-finite checks.
source "$(dirname "$0")/lib.sh"

CONFIG="$(dirname "$0")/diverging.textproto"

# Runs the job with extra arguments; expects exit 6 and a message matching
# $1 (an extended regex) within 60 s.
expect_divergence() {
  local pattern="$1"
  shift
  OUT="$WORK/run$#"
  local start end code
  start="$(date +%s.%N)"
  set +e
  timeout 60 "$DESCENT" local --config "$CONFIG" --output_dir "$OUT" "$@" \
    >"$WORK/stdout" 2>"$WORK/stderr"
  code=$?
  set -e
  end="$(date +%s.%N)"
  ELAPSED="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
  [[ "$code" == 6 ]] || fail "exit code $code, expected 6: $(tail -20 "$WORK/stderr")"
  grep -Eq "$pattern" "$WORK/stderr" ||
    fail "stderr lacks /$pattern/: $(tail -20 "$WORK/stderr")"
  grep -Eq "job failed: $pattern" "$OUT/logs/coordinator.log" ||
    fail "coordinator.log lacks /$pattern/"
  SUMMARY="$OUT/summary.json"
  [[ "$(json_field "$SUMMARY" state)" == FAILED ]] || fail "state not FAILED"
  [[ "$(json_field "$SUMMARY" exit_status)" == 6 ]] || fail "exit_status not 6"
  MESSAGE="$(sed -n 's/^ *"error": "\(.*\)",$/\1/p' "$SUMMARY")"
  [[ "$MESSAGE" =~ $pattern ]] || fail "summary error: $MESSAGE"
  at_least 30 "$ELAPSED" || fail "took $ELAPSED s"
  expect_no_children
}

expect_divergence "training diverged: worker [01] got loss [0-9.e+]+ at its step [0-9]+, more than 100 times the mean loss of its first steps"
first="$MESSAGE ($ELAPSED s)"
expect_divergence "training diverged: worker [01] got (loss (inf|nan)|a gradient of L2 norm (inf|nan) in layer (weights|bias)) at its step [0-9]+" \
  --set train.max_loss_factor=0
echo "divergence_test: exit 6 in $first; without the factor: exit 6 in $ELAPSED s: $MESSAGE"
