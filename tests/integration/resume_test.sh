#!/usr/bin/env bash
# Checkpoints and resume (README "Checkpoints and resume"), through the
# binary. Under BSP with a fixed seed and one thread per worker:
#   1. a job run for 2 epochs and resumed for 2 more ends with parameters
#      bit-identical to one run for 4 epochs, for SGD, momentum, Adam and
#      FTRL, dense (softmax on a CSV) and sparse (sparse logistic
#      regression), and for Adam on an MLP;
#   2. a job killed with SIGKILL (launcher and every child) after a
#      periodic checkpoint resumes from it and still ends bit-identical;
#   3. SIGINT: the launcher has the coordinator checkpoint and write
#      summary.json (state INTERRUPTED, exit 130); resuming it ends
#      bit-identical too;
#   4. a damaged newest checkpoint (truncated shard file, altered file,
#      missing manifest) is passed over with DATA_LOSS naming the file, and
#      the previous complete one is used; with none complete, exit 3;
#   5. --resume refuses unsafe changes (exit 2) and bad flag combinations
#      (exit 1); `keep` bounds the checkpoints kept;
#   6. train.init_from starts a job from a model directory.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "no numpy: skipped"; exit 77; }

three_class_csv

# Writes config $1 for optimizer $2 (a text-format body), model $3.
write_config() {
  local model="${3:-softmax}" data
  if [[ "$model" == softmax || "$model" == mlp ]]; then
    data="csv { train: \"$WORK/train.csv\" test: \"$WORK/test.csv\" } scaling: STANDARDIZE"
    if [[ "$model" == softmax ]]; then
      model="softmax_regression {}"
    else
      model="mlp { hidden: [16] }"
    fi
  else
    data="synthetic { kind: CTR train_examples: 6000 test_examples: 1000 features: 500 nnz_per_row: 8 factor_dim: 4 seed: 3 }"
    model="sparse_logistic_regression {}"
  fi
  cat >"$1" <<CONFIG_END
cluster { num_servers: 2 num_workers: 2 }
model { $model }
data { $data }
train {
  epochs: 4 batch_size: 16 threads: 1 seed: 5 consistency: BSP
  eval_every_steps: 40
  checkpoint { every_steps: 30 keep: 2 }
}
optimizer { $2 }
CONFIG_END
}

# Runs `descent local ARGS...`, which must exit 0.
run() {
  timeout 240 "$DESCENT" local "$@" >"$WORK/stdout" 2>"$WORK/stderr" ||
    fail "descent local $* exit $?: $(tail -20 "$WORK/stderr")"
}

same_model() {  # A B WHAT
  local a b
  a="$(model_tensors "$1")"
  b="$(model_tensors "$2")"
  [[ "$a" == "$b" ]] || fail "$3: parameters differ from the uninterrupted run"
}

# 1. Two epochs, then two more, against four at once.
OPTIMIZERS=("sgd { learning_rate: 0.05 }"
            "momentum { learning_rate: 0.05 momentum: 0.9 }"
            "adam { learning_rate: 0.01 }"
            "ftrl { learning_rate: 0.1 l1: 0.001 }"
            "sgd { learning_rate: 0.05 }|sparse"
            "momentum { learning_rate: 0.05 momentum: 0.9 }|sparse"
            "adam { learning_rate: 0.01 }|sparse"
            "ftrl { learning_rate: 0.1 l1: 0.001 }|sparse"
            "adam { learning_rate: 0.01 }|mlp")

for optimizer in "${OPTIMIZERS[@]}"; do
  model=softmax
  [[ "$optimizer" == *"|sparse" ]] && model=sparse && optimizer="${optimizer%|sparse}"
  [[ "$optimizer" == *"|mlp" ]] && model=mlp && optimizer="${optimizer%|mlp}"
  name="$(echo "$optimizer" | cut -d' ' -f1)-$model"
  write_config "$WORK/$name.textproto" "$optimizer" "$model"
  run --config "$WORK/$name.textproto" --output_dir "$WORK/$name-whole"
  run --config "$WORK/$name.textproto" --output_dir "$WORK/$name-parts" \
    --set train.epochs=2
  run --resume "$WORK/$name-parts" --set train.epochs=4
  grep -q "resuming job" "$WORK/$name-parts/logs/coordinator.log" ||
    fail "$name: the coordinator did not resume"
  same_model "$WORK/$name-whole" "$WORK/$name-parts" "$name"
  [[ "$(json_field "$WORK/$name-parts/summary.json" steps)" == \
     "$(json_field "$WORK/$name-whole/summary.json" steps)" ]] ||
    fail "$name: steps differ"
  echo "$name: 2 + 2 epochs bit-identical to 4"
done

# keep: 2 complete checkpoints at most (of those the job took: a periodic
# one may miss its step boundary on a busy machine).
taken="$(grep -c "bytes in" "$WORK/sgd-softmax-whole/logs/coordinator.log" || true)"
kept="$(ls -d "$WORK/sgd-softmax-whole/checkpoints/step-"* | wc -l)"
(( taken >= 1 && kept == (taken < 2 ? taken : 2) )) ||
  fail "keep 2: $taken checkpoints taken, $kept left"

# 2. SIGKILL after a periodic checkpoint.
CONFIG="$WORK/adam-softmax.textproto"
# Starts the 100-epoch Adam job in $OUT in the background (its launcher's
# PID in LAUNCHER) and waits for its first complete checkpoint.
start_until_checkpoint() {
  "$DESCENT" local --config "$CONFIG" --output_dir "$OUT" --set train.epochs=100 \
    >"$OUT.out" 2>&1 &
  LAUNCHER=$!
  for _ in $(seq 1 600); do
    has_checkpoint "$OUT" && return
    sleep 0.05
  done
  fail "no checkpoint: $(tail -5 "$OUT.out"; ls -R "$OUT" | head -20)"
}
OUT="$WORK/killed"
start_until_checkpoint
pids="$(awk '$2 ~ /^[0-9]+$/ { print $2 }' "$OUT/processes.txt" 2>/dev/null || true)"
kill -9 "$LAUNCHER" $pids 2>/dev/null || true
wait "$LAUNCHER" 2>/dev/null || true
for pid in $pids; do while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; done
[[ ! -e "$OUT/summary.json" ]] || fail "a killed job wrote summary.json"
run --config "$CONFIG" --output_dir "$WORK/adam-100" --set train.epochs=100
run --resume "$OUT"
same_model "$WORK/adam-100" "$OUT" "killed and resumed"
echo "SIGKILL after a checkpoint: resumed, bit-identical"

# 3. SIGINT: a last checkpoint and summary.json INTERRUPTED.
OUT="$WORK/interrupted"
start_until_checkpoint
kill -INT "$LAUNCHER"
code=0
wait "$LAUNCHER" || code=$?
[[ "$code" == 130 ]] || fail "interrupted launcher exit $code"
[[ "$(json_field "$OUT/summary.json" state)" == INTERRUPTED ]] ||
  fail "summary state $(json_field "$OUT/summary.json" state)"
grep -q '"reason": "interrupt"' "$OUT"/checkpoints/step-*/manifest.json ||
  fail "no interrupt checkpoint: $(grep -h reason "$OUT"/checkpoints/*/manifest.json)"
[[ -s "$OUT/model/model.safetensors" ]] || fail "an interrupted job left no model/"
run --resume "$OUT"
[[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] || fail "resumed job did not succeed"
same_model "$WORK/adam-100" "$OUT" "interrupted and resumed"
echo "SIGINT: INTERRUPTED with a checkpoint; resumed, bit-identical"

# 4. Damaged checkpoints: the newest is passed over, naming the file.
damage_and_resume() {  # HOW
  local out="$WORK/damaged-$1" newest
  rm -rf "$out"
  cp -r "$WORK/sgd-softmax-parts" "$out"
  # Back to the state after 2 epochs: drop the resumed run's results.
  rm -rf "$out/model" "$out/summary.json"
  newest="$(ls -d "$out"/checkpoints/step-* | sort | tail -1)"
  case "$1" in
    truncated) truncate -s -9 "$newest/shard-1.safetensors"; echo "$newest/shard-1.safetensors" ;;
    altered) printf 'X' | dd of="$newest/shard-0.safetensors" bs=1 seek=100 conv=notrunc 2>/dev/null
             echo "$newest/shard-0.safetensors" ;;
    manifest) rm "$newest/manifest.json"; echo "$newest/manifest.json" ;;
  esac >"$WORK/damaged-file"
  run --resume "$out"
  grep -q "DATA_LOSS: $(cat "$WORK/damaged-file")" "$out/logs/coordinator.log" ||
    fail "$1: no DATA_LOSS naming $(cat "$WORK/damaged-file"): $(grep -i damaged "$out/logs/coordinator.log")"
  [[ "$(json_field "$out/summary.json" state)" == SUCCEEDED ]] || fail "$1: not resumed"
}
for how in truncated altered manifest; do
  damage_and_resume "$how"
  echo "damaged ($how): passed over with DATA_LOSS, the previous one used"
done
OUT="$WORK/none-complete"
cp -r "$WORK/sgd-softmax-parts" "$OUT"
for m in "$OUT"/checkpoints/step-*/manifest.json; do rm "$m"; done
code=0
"$DESCENT" local --resume "$OUT" >"$WORK/stdout" 2>"$WORK/stderr" || code=$?
[[ "$code" == 3 ]] || fail "no complete checkpoint: exit $code"
grep -q "no complete checkpoint" "$WORK/stderr" || fail "no message: $(cat "$WORK/stderr")"

# 5. What a resume refuses.
code=0
"$DESCENT" local --resume "$WORK/sgd-softmax-parts" --set train.seed=9 \
  >"$WORK/stdout" 2>"$WORK/stderr" || code=$?
[[ "$code" == 2 ]] || fail "unsafe change: exit $code"
grep -q "train.seed" "$WORK/stderr" || fail "unsafe change not named: $(cat "$WORK/stderr")"
code=0
"$DESCENT" local --resume "$WORK/sgd-softmax-parts" --config "$CONFIG" \
  >"$WORK/stdout" 2>"$WORK/stderr" || code=$?
[[ "$code" == 1 ]] || fail "--resume with --config: exit $code"
code=0
"$DESCENT" local --resume "$WORK/nowhere" >"$WORK/stdout" 2>"$WORK/stderr" || code=$?
[[ "$code" == 3 ]] || fail "--resume of a missing directory: exit $code"
echo "refusals: exit 2, 1, 3"

# 6. Warm start: train.init_from starts from a model directory's
# parameters. With a learning rate too small to move them, the new job's
# model/ is the old one's (to float precision); from scratch it is not.
A="$WORK/sgd-softmax-whole"
# Argmax of |a - b| over the tensors of two model directories.
max_diff() {
  /usr/bin/python3 - "$1/model/model.safetensors" "$2/model/model.safetensors" <<'PY'
import json, struct, sys
import numpy as np
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4")
            for k, v in header.items()}
a, b = load(sys.argv[1]), load(sys.argv[2])
print(max(float(np.max(np.abs(a[k] - b[k]))) for k in a))
PY
}
run --config "$WORK/sgd-softmax.textproto" --output_dir "$WORK/warm" \
  --set train.init_from="$A/model" --set optimizer.sgd.learning_rate=1e-9 \
  --set train.epochs=1
run --config "$WORK/sgd-softmax.textproto" --output_dir "$WORK/cold" \
  --set optimizer.sgd.learning_rate=1e-9 --set train.epochs=1
warm="$(max_diff "$A" "$WORK/warm")"
cold="$(max_diff "$A" "$WORK/cold")"
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$warm') < 1e-5 < float('$cold') else 1)" ||
  fail "warm start: max |difference| from the model started from $warm (from scratch $cold)"
grep -q "warm start from" "$WORK/warm/logs/server-0.log" || fail "no warm start logged"
expect_exit 2 "train.init_from: .*nowhere" "$DESCENT" local --config "$WORK/sgd-softmax.textproto" \
  --output_dir "$WORK/warm-missing" --set train.init_from="$WORK/nowhere"
expect_exit 2 "train.init_from: " "$DESCENT" local --config "$WORK/ftrl-sparse.textproto" \
  --output_dir "$WORK/warm-other" --set train.init_from="$A/model"
echo "warm start: $warm from the model started from (from scratch $cold); bad init_from exit 2"
