#!/usr/bin/env bash
# Checkpoints and resume of federated jobs (README "Federated learning",
# "Checkpoints and resume"): short FedAvg jobs on a slice of Fashion-MNIST,
# 2 servers and 2 workers hosting 20 clients, a checkpoint every 10 rounds.
#   1. 20 rounds, then resumed with federated.rounds=40, against 40 at once:
#      the same parameters bit for bit and the same rounds.csv (every figure
#      but the wall-clock seconds).
#   2. A job killed with SIGKILL (launcher and every child) after its first
#      checkpoint resumes from it and ends the same as an uninterrupted run.
#   3. A resume refuses a change of the federated setting (exit 2, naming
#      the field).
#   4. DP-FedAvg with central noise and adaptive clipping: 20 + 20 rounds
#      bit-identical to 40 (the shards' clip norm is in the checkpoint).
source "$(dirname "$0")/lib.sh"
use_federated_example
/usr/bin/python3 -c "import json" 2>/dev/null || { echo "no python3: skipped"; exit 77; }
SHORT=(--set data.idx.max_train_examples=3000
  --set data.idx.max_test_examples=1000 --set model.mlp.hidden=[32]
  --set federated.clients=20 --set federated.client_fraction=0.2
  --set federated.eval_every_rounds=5 --set federated.dropout_probability=0.2
  --set train.checkpoint.every_steps=10)

# Runs `descent local ARGS...`, which must exit 0 with state SUCCEEDED.
run() {
  timeout 240 "$DESCENT" local "$@" >"$WORK/stdout" 2>"$WORK/stderr" ||
    fail "descent local $* exit $?: $(tail -20 "$WORK/stderr")"
  grep -q "^state: SUCCEEDED$" "$WORK/stdout" || fail "$*: $(cat "$WORK/stdout")"
}

# rounds.csv without its wall-clock column.
figures() { cut -d, -f1-13,15- "$1"; }

same_job() {  # A B WHAT
  [[ "$(model_tensors "$1")" == "$(model_tensors "$2")" ]] ||
    fail "$3: parameters differ from the uninterrupted run"
  cmp -s <(figures "$1/rounds.csv") <(figures "$2/rounds.csv") ||
    fail "$3: rounds.csv differs: $(diff <(figures "$1/rounds.csv") <(figures "$2/rounds.csv") | head -6)"
}

# 1. 20 rounds, then 20 more, against 40 at once.
run --config "$FED" --output_dir "$WORK/whole" "${SHORT[@]}" --set federated.rounds=40
run --config "$FED" --output_dir "$WORK/parts" "${SHORT[@]}" --set federated.rounds=20
ls -d "$WORK/parts/checkpoints/step-"* >/dev/null 2>&1 ||
  fail "20 rounds left no checkpoint: $(ls "$WORK/parts")"
run --resume "$WORK/parts" --set federated.rounds=40
grep -q "resuming job" "$WORK/parts/logs/coordinator.log" ||
  fail "the coordinator did not resume"
(( $(wc -l <"$WORK/parts/rounds.csv") == 41 )) ||
  fail "resumed rounds.csv has $(wc -l <"$WORK/parts/rounds.csv") lines, expected 1 + 40"
same_job "$WORK/whole" "$WORK/parts" "20 + 20 rounds"
echo "20 + 20 rounds: bit-identical to 40, the same rounds.csv"

# 2. SIGKILL after a periodic checkpoint of a 400-round job.
LONG=("${SHORT[@]}" --set federated.rounds=400)
OUT="$WORK/killed"
"$DESCENT" local --config "$FED" --output_dir "$OUT" "${LONG[@]}" \
  >"$OUT.out" 2>&1 &
LAUNCHER=$!
BACKGROUND_PIDS+=("$LAUNCHER")
for _ in $(seq 1 1200); do
  has_checkpoint "$OUT" && break
  sleep 0.05
done
has_checkpoint "$OUT" ||
  fail "no checkpoint: $(tail -5 "$OUT.out")"
pids="$(awk '$2 ~ /^[0-9]+$/ { print $2 }' "$OUT/processes.txt" 2>/dev/null || true)"
kill -9 "$LAUNCHER" $pids 2>/dev/null || true
wait "$LAUNCHER" 2>/dev/null || true
for pid in $pids; do while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; done
[[ ! -e "$OUT/summary.json" ]] || fail "the job ended before the kill: raise its rounds"
run --config "$FED" --output_dir "$WORK/uninterrupted" "${LONG[@]}"
run --resume "$OUT"
same_job "$WORK/uninterrupted" "$OUT" "killed and resumed"
echo "SIGKILL after a checkpoint: resumed, bit-identical, the same rounds.csv"

# 3. What a resume of a federated job refuses.
code=0
"$DESCENT" local --resume "$WORK/parts" --set federated.local_epochs=3 \
  >"$WORK/stdout" 2>"$WORK/stderr" || code=$?
[[ "$code" == 2 ]] || fail "a changed local_epochs: exit $code"
grep -q "federated.local_epochs" "$WORK/stderr" ||
  fail "the refusal does not name the field: $(cat "$WORK/stderr")"

# 4. Adaptive clipping's state across a resume.
DP=(--set privacy.clip_norm=0.05 --set privacy.noise_multiplier=0.3
  --set privacy.adaptive_clipping.target_quantile=0.5)
run --config "$FED" --output_dir "$WORK/dp_whole" "${SHORT[@]}" "${DP[@]}" \
  --set federated.rounds=40
run --config "$FED" --output_dir "$WORK/dp_parts" "${SHORT[@]}" "${DP[@]}" \
  --set federated.rounds=20
run --resume "$WORK/dp_parts" --set federated.rounds=40
same_job "$WORK/dp_whole" "$WORK/dp_parts" "DP, adaptive clipping, 20 + 20 rounds"
clips="$(cut -d, -f18 "$WORK/dp_parts/rounds.csv" | tail -n +2 | sort -u | wc -l)"
(( clips > 30 )) || fail "the clip norm did not adapt: $clips distinct values in 40 rounds"
echo "DP with adaptive clipping: 20 + 20 rounds bit-identical to 40"
echo "PASS: federated resume: 20 + 20 rounds, SIGKILL and resume, refused changes, DP"
