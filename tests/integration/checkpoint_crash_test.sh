#!/usr/bin/env bash
# Crash safety of checkpoints, measured (README "Checkpoints and resume"):
# ITERATIONS times, a real `descent local` job (an MLP 784-512-10 with
# momentum on 3000 Fashion-MNIST images, 2 servers, 2 workers, a checkpoint
# every 4 global steps: about 1.6 MB per shard file, written a dozen times
# a second) is started, and at a random moment while a checkpoint is being
# written one server is SIGKILLed, then the launcher and every child
# (checkpoint_crash.py kill). Then:
#   - every step-N directory with a manifest.json must be complete (every
#     listed file of the listed size and CRC-32): a half-written checkpoint
#     is never taken for complete;
#   - if a manifest was seen before the kill, a complete checkpoint remains,
#     and the last `keep` checkpoints the coordinator logged as taken are
#     all there, complete;
#   - every RESUME_EVERY-th iteration (and the last), `descent local
#     --resume` must succeed, from the newest complete checkpoint.
# Prints per iteration and at the end the counts: iterations, kills that
# landed while a checkpoint was being written (and those that left the
# killed shard's temporary file: a torn write), complete checkpoints found,
# resumes.
#   checkpoint_crash_test.sh DESCENT SOURCE_DIR [ITERATIONS (5)] [RESUME_EVERY (5)]
# bench/checkpoint_crash.sh runs it 100 times.
source "$(dirname "$0")/lib.sh"
ITERATIONS="${3:-5}"
RESUME_EVERY="${4:-5}"
TOOL="$SOURCE_DIR/tests/integration/checkpoint_crash.py"
DATA=/usr/share/datasets/fashion-mnist
[[ -r "$DATA/train-images-idx3-ubyte.gz" ]] || { echo "no $DATA: skipped"; exit 77; }

CONFIG="$WORK/crash.textproto"
fashion_mlp_config "$DATA" "$CONFIG"
sed -i -e 's/hidden: \[32\]/hidden: [512]/' \
  -e 's/max_test_examples: 1000/max_test_examples: 500/' \
  -e "s/^train {.*/train { epochs: 6 batch_size: 32 threads: 1 eval_every_steps: 0\\n  checkpoint { every_steps: 4 keep: ${KEEP:-2} } }/" \
  -e 's/sgd { learning_rate: 0.05 }/momentum { learning_rate: 0.02 momentum: 0.9 }/' "$CONFIG"
grep -q "every_steps: 4" "$CONFIG" || fail "config not rewritten: $(cat "$CONFIG")"

field() {  # JSON_LINE KEY
  /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

# Logged checkpoints of OUT's coordinator log: "GLOBAL_STEP DIR_STEP" lines.
logged_steps() {
  sed -n 's/.*checkpoint ([a-z]*) at global step \([0-9]*\): .*step-0*\([0-9][0-9]*\), .*/\1 \2/p' \
    "$1/logs/coordinator.log"
}

# Across a resume, checkpoint names keep increasing: a checkpoint taken
# after resuming from step-N is named above N, so it is not pruned at once
# as the oldest (keep 1), and a later --resume starts from it rather than
# from step-N.
OUT="$WORK/names"
timeout 120 "$DESCENT" local --config "$CONFIG" --output_dir "$OUT" --set train.epochs=1 \
  --set train.checkpoint.keep=1 >"$WORK/stdout" 2>"$WORK/stderr" ||
  fail "names: exit $?: $(tail -5 "$WORK/stderr")"
resumed_step="$(logged_steps "$OUT" | tail -1 | awk '{print $2}')"
[[ -n "$resumed_step" ]] || fail "names: no checkpoint logged"
timeout 120 "$DESCENT" local --resume "$OUT" --set train.epochs=2 >"$WORK/stdout" 2>"$WORK/stderr" ||
  fail "names: --resume exit $?: $(tail -5 "$WORK/stderr")"
after="$(logged_steps "$OUT" | awk -v n="$resumed_step" 'f {print} $2 == n {f = 1}')"
[[ -n "$after" ]] || fail "names: the resumed job logged no checkpoint"
while read -r global dir_step; do
  (( dir_step > resumed_step )) ||
    fail "names: resumed from step-$resumed_step, then a checkpoint named step-$dir_step (global step $global)"
done <<<"$after"
/usr/bin/python3 "$TOOL" check "$OUT" 1 >/dev/null || fail "names: a checkpoint lost"
echo "names: checkpoints after resuming from step-$resumed_step: $(awk '{print "step-" $2}' <<<"$after" | tr '\n' ' ')"

seed_base="${SEED:-$(date +%s)}"
echo "seeds from $seed_base (SEED=$seed_base reproduces the kill moments)"
kills=0 in_progress=0 torn=0 complete_total=0 resumed=0 ended=0
for i in $(seq 1 "$ITERATIONS"); do
  OUT="$WORK/run-$i"
  resume=0
  (( i % RESUME_EVERY == 0 || i == ITERATIONS )) && resume=1
  "$DESCENT" local --config "$CONFIG" --output_dir "$OUT" >"$WORK/stdout" 2>"$WORK/stderr" &
  launcher=$!
  BACKGROUND_PIDS+=("$launcher")
  need=""
  (( resume )) && need=--need-complete
  killed="$(/usr/bin/python3 "$TOOL" kill "$OUT" "$launcher" $((seed_base + i)) $need)" ||
    fail "iteration $i: the killer failed"
  wait "$launcher" 2>/dev/null || true
  checked="$(/usr/bin/python3 "$TOOL" check "$OUT" "${KEEP:-2}")" || fail "iteration $i: $checked"
  complete="$(field "$checked" complete)"
  if [[ "$(field "$killed" ended)" == True ]]; then
    [[ "$(json_field "$OUT/summary.json" state 2>/dev/null)" == SUCCEEDED ]] ||
      fail "iteration $i: the job ended before the kill without succeeding: $(tail -5 "$WORK/stderr")"
    ended=$((ended + 1))
  else
    kills=$((kills + 1))
    [[ "$(field "$killed" in_progress)" == True ]] && in_progress=$((in_progress + 1))
    [[ "$(field "$killed" torn_write)" == True ]] && torn=$((torn + 1))
  fi
  if [[ "$(field "$killed" seen_complete)" == True && "$complete" == 0 ]]; then
    fail "iteration $i: a checkpoint was complete before the kill, none is after: $(ls -R "$OUT/checkpoints")"
  fi
  complete_total=$((complete_total + complete))
  echo "iteration $i: $killed -> $checked"
  if (( resume )) && [[ "$complete" != 0 ]]; then
    newest="$(field "$checked" newest_complete)"
    timeout 240 "$DESCENT" local --resume "$OUT" >"$WORK/stdout" 2>"$WORK/stderr" ||
      fail "iteration $i: --resume exit $?: $(tail -5 "$WORK/stderr")"
    [[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
      fail "iteration $i: the resumed job did not succeed"
    grep -q "resuming job .* from $newest " "$OUT/logs/coordinator.log" ||
      fail "iteration $i: not resumed from $newest: $(grep resuming "$OUT/logs/coordinator.log")"
    resumed=$((resumed + 1))
    echo "iteration $i: resumed from $newest, SUCCEEDED"
  fi
  (( resume )) || rm -rf "$OUT"
done
echo "iterations: $ITERATIONS, kills: $kills (while a checkpoint was being written: $in_progress; torn shard writes: $torn), jobs ended before the kill: $ended, complete checkpoints found: $complete_total, torn checkpoints taken for complete: 0, resumes succeeded: $resumed"
(( resumed > 0 )) || fail "no resume ran"
