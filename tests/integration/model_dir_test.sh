#!/usr/bin/env bash
# model/ and best_model/: a softmax regression on a small CSV (string
# labels, standardized features) and an MLP on a Fashion-MNIST subset leave
# model/ (safetensors and manifest.json); examples/load_model.py, numpy
# only, loads it, applies the manifest's scaling and reproduces the job's
# printed test accuracy to its 4 digits. With early stopping best_model/ is
# the one that does. No temporary directory is left beside them.
source "$(dirname "$0")/lib.sh"

LOAD="$SOURCE_DIR/examples/load_model.py"
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "no numpy: skipped"; exit 77; }

three_class_csv
CONFIG="$WORK/softmax.textproto"

printed_accuracy() { sed -n 's/^test_accuracy: //p' "$WORK/stdout"; }
manifest() {  # DIR FIELD: a top-level field of DIR/manifest.json
  /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1] + "/manifest.json"))[sys.argv[2]])' "$1" "$2"
}
no_leftovers() {
  local left
  left="$(ls -A "$1" | grep -E '^\.|tmp' || true)"
  [[ -z "$left" ]] || fail "$1 holds temporary entries: $left"
}

# 1. Softmax on the CSV: model/ reproduces the printed accuracy.
OUT="$WORK/softmax"
train_job "$CONFIG" "$OUT"
printed="$(printed_accuracy)"
[[ -n "$printed" ]] || fail "no test_accuracy printed: $(cat "$WORK/stdout")"
[[ -s "$OUT/model/model.safetensors" && -s "$OUT/model/manifest.json" ]] ||
  fail "no model/: $(ls "$OUT")"
[[ ! -e "$OUT/best_model" ]] || fail "best_model/ without early stopping"
no_leftovers "$OUT"
got="$(/usr/bin/python3 "$LOAD" "$OUT/model" --csv "$WORK/test.csv")"
[[ "$got" == "accuracy $printed" ]] || fail "softmax: load_model.py says '$got', the job $printed"
[[ "$(manifest "$OUT/model" evaluation)" == final ]] || fail "evaluation not final"
[[ "$(manifest "$OUT/model" labels)" == "['blue', 'green', 'red']" ]] ||
  fail "labels $(manifest "$OUT/model" labels)"
[[ "$(manifest "$OUT/model" config_hash)" == "$(json_field "$OUT/summary.json" config_hash)" ]] ||
  fail "config_hash differs from summary.json's"
[[ "$(json_field "$OUT/model/manifest.json" kind)" == STANDARDIZE ]] || fail "no scaling kind"
(( $(manifest "$OUT/model" global_step) > 0 )) || fail "global_step not positive"
# Without the manifest's scaling the model scores differently.
mkdir "$WORK/unscaled"
cp "$OUT/model/model.safetensors" "$WORK/unscaled/"
sed 's/"kind": "STANDARDIZE"/"kind": "NO_SCALING"/' "$OUT/model/manifest.json" \
  >"$WORK/unscaled/manifest.json"
[[ "$(/usr/bin/python3 "$LOAD" "$WORK/unscaled" --csv "$WORK/test.csv")" != "accuracy $printed" ]] ||
  fail "scaling made no difference: the test does not check it"
echo "softmax: load_model.py accuracy $printed, as the job"

# 2. With early stopping on a validation split: best_model/ (chosen on
# validation, tested once at the end) is the printed result; model/ the last.
OUT="$WORK/early"
train_job "$CONFIG" "$OUT" --set train.early_stopping.patience=100 \
  --set data.validation_fraction=0.2
printed="$(printed_accuracy)"
[[ -s "$OUT/best_model/model.safetensors" ]] || fail "no best_model/: $(ls "$OUT")"
[[ -s "$OUT/model/model.safetensors" ]] || fail "no model/ with early stopping"
[[ "$(manifest "$OUT/best_model" evaluation)" == best ]] || fail "best_model/ not 'best'"
[[ "$(manifest "$OUT/best_model" global_step)" == "$(json_field "$OUT/summary.json" best_step)" ]] ||
  fail "best_model/ step differs from summary.json best_step"
[[ "$(manifest "$OUT/best_model" selected_on)" == validation ]] || fail "best_model/ not selected on validation"
[[ "$(manifest "$OUT/best_model" validation_loss)" == "$(json_field "$OUT/summary.json" validation_loss)" ]] ||
  fail "best_model/ validation_loss differs from summary.json's"
got="$(/usr/bin/python3 "$LOAD" "$OUT/best_model" --csv "$WORK/test.csv")"
[[ "$got" == "accuracy $printed" ]] || fail "best_model: load_model.py says '$got', the job $printed"
no_leftovers "$OUT"
echo "early stopping on validation: best_model/ accuracy $printed, as the job"

# 3. An MLP on a Fashion-MNIST subset.
DATA=/usr/share/datasets/fashion-mnist
if [[ -r "$DATA/t10k-images-idx3-ubyte.gz" ]]; then
  fashion_mlp_config "$DATA" "$WORK/mlp.textproto"
  OUT="$WORK/mlp"
  train_job "$WORK/mlp.textproto" "$OUT"
  printed="$(printed_accuracy)"
  got="$(/usr/bin/python3 "$LOAD" "$OUT/model" --idx "$DATA/t10k-images-idx3-ubyte.gz" \
    "$DATA/t10k-labels-idx1-ubyte.gz" --max_examples 1000)"
  [[ "$got" == "accuracy $printed" ]] || fail "mlp: load_model.py says '$got', the job $printed"
  echo "mlp: load_model.py accuracy $printed, as the job"
fi
echo "model_dir_test: passed"
