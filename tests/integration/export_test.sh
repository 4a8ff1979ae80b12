#!/usr/bin/env bash
# descent export --format onnx on small jobs of every dense model kind:
# softmax regression, linear SVM and an MLP on a 3-class CSV (standardized
# features, string labels), logistic regression on two of its classes, a
# linear regression on a CSV with a real target, and two CNNs (LeNet-5, and
# one with a strided padded sigmoid conv and overlapping pools, on
# standardized pixels) on a Fashion-MNIST subset. Each exported graph passes onnx's checker and
# strict shape inference, and check_onnx.py's numpy interpreter of the
# graph gives the classes of `descent predict` and its probabilities or
# values to 1e-5 (an SVM's scores: those of numpy on model.safetensors).
# Also: --output, and the failures: a missing model directory (exit 3), a
# sparse model (exit 1 naming it, nothing written), a bad or missing
# --format (exit 1), an output that cannot be written (exit 5).
source "$(dirname "$0")/lib.sh"

PYTHON=/usr/bin/python3
CHECK="$SOURCE_DIR/tests/integration/check_onnx.py"
"$PYTHON" -c "import numpy, onnx" 2>/dev/null || { echo "no numpy or onnx: skipped"; exit 77; }

three_class_csv

# check NAME MODEL_DIR DATA_ARGS...: exports MODEL_DIR to its model.onnx,
# predicts DATA with descent predict, and compares the two.
check() {
  local name="$1" model="$2"
  shift 2
  local printed
  printed="$("$DESCENT" export --model "$model" --format onnx)" ||
    fail "$name: export exit $?"
  [[ "$printed" == "$model/model.onnx" && -s "$model/model.onnx" ]] ||
    fail "$name: export printed '$printed'; $(ls "$model")"
  local data=("$@")
  if [[ "$1" == --csv ]]; then
    "$DESCENT" predict --model "$model" --data "$2" --output "$WORK/$name.csv" ||
      fail "$name: predict exit $?"
  else  # --idx IMAGES LABELS --max_examples N
    "$DESCENT" predict --model "$model" --data "$2" --max_examples "$5" \
      --output "$WORK/$name.csv" || fail "$name: predict exit $?"
  fi
  "$PYTHON" "$CHECK" "$model" "$model/model.onnx" "$WORK/$name.csv" "${data[@]}" \
    >"$WORK/check" 2>&1 || fail "$name: $(cat "$WORK/check")"
  echo "$name: $(cat "$WORK/check")"
}

# 1. The 3-class CSV: softmax regression, linear SVM, an MLP.
train_job "$WORK/softmax.textproto" "$WORK/softmax"
check softmax "$WORK/softmax/model" --csv "$WORK/test.csv"
train_job "$WORK/softmax.textproto" "$WORK/svm" --set model.linear_svm=
check svm "$WORK/svm/model" --csv "$WORK/test.csv"
train_job "$WORK/softmax.textproto" "$WORK/mlp" \
  --set 'model.mlp={layers: [{units: 8}, {units: 6 activation: TANH}]}'
check mlp "$WORK/mlp/model" --csv "$WORK/test.csv"

# --output elsewhere: the same bytes.
"$DESCENT" export --model "$WORK/mlp/model" --format onnx --output "$WORK/mlp.onnx" \
  >/dev/null || fail "export --output: exit $?"
cmp -s "$WORK/mlp.onnx" "$WORK/mlp/model/model.onnx" || fail "--output wrote other bytes"

# 2. Logistic regression on two of the classes (labels green, red).
for split in train test; do
  grep -v ',blue$' "$WORK/$split.csv" >"$WORK/binary_$split.csv"
done
sed "s|$WORK/train.csv|$WORK/binary_train.csv|; s|$WORK/test.csv|$WORK/binary_test.csv|" \
  "$WORK/softmax.textproto" >"$WORK/binary.textproto"
train_job "$WORK/binary.textproto" "$WORK/logistic" --set model.logistic_regression=
check logistic "$WORK/logistic/model" --csv "$WORK/binary_test.csv"

# 3. Linear regression: y = a / 100 - 300 b + c + noise, standardized.
awk 'BEGIN {
  srand(5); print "a,b,c,y" > "'"$WORK"'/reg_train.csv"; print "a,b,c,y" > "'"$WORK"'/reg_test.csv"
  for (i = 0; i < 700; i++) {
    a = 1000 + 100 * rand(); b = 0.01 * rand(); c = 5 + 3 * rand()
    printf "%.4f,%.5f,%.4f,%.4f\n", a, b, c, a / 100 - 300 * b + c + 0.1 * rand() \
      > ("'"$WORK"'/reg_" (i < 500 ? "train" : "test") ".csv")
  }
}'
sed "s|$WORK/train.csv|$WORK/reg_train.csv|; s|$WORK/test.csv\"|$WORK/reg_test.csv\" regression: true|" \
  "$WORK/softmax.textproto" >"$WORK/reg.textproto"
grep -q 'regression: true' "$WORK/reg.textproto" || fail "reg.textproto: $(cat "$WORK/reg.textproto")"
train_job "$WORK/reg.textproto" "$WORK/linear" --set model.linear_regression= \
  --set 'optimizer.sgd={learning_rate: 0.01}'
check linear_regression "$WORK/linear/model" --csv "$WORK/reg_test.csv"

# 4. CNNs on a Fashion-MNIST subset (IDX: the graph takes pixels / 255).
DATA=/usr/share/datasets/fashion-mnist
if [[ -r "$DATA/t10k-images-idx3-ubyte.gz" ]]; then
  fashion_mlp_config "$DATA" "$WORK/fashion.textproto"
  sed -i 's/max_train_examples: 3000 max_test_examples: 1000/max_train_examples: 600 max_test_examples: 200/' \
    "$WORK/fashion.textproto"
  IDX=(--idx "$DATA/t10k-images-idx3-ubyte.gz" "$DATA/t10k-labels-idx1-ubyte.gz"
    --max_examples 200)
  train_job "$WORK/fashion.textproto" "$WORK/lenet" --set 'model.cnn={preset: LENET5}'
  check lenet5 "$WORK/lenet/model" "${IDX[@]}"
  train_job "$WORK/fashion.textproto" "$WORK/cnn" --set 'model.cnn={layers: [
    {conv: {out_channels: 4 kernel: 3 stride: 2 padding: 1 activation: SIGMOID}},
    {max_pool: {size: 3 stride: 2}}, {dense: {units: 16 activation: TANH}}]}' \
    --set data.scaling=STANDARDIZE
  check cnn "$WORK/cnn/model" "${IDX[@]}"
else
  echo "no Fashion-MNIST in $DATA: CNNs skipped"
fi

# 5. Failures.
expect_exit 3 "$WORK/nowhere/manifest.json" \
  "$DESCENT" export --model "$WORK/nowhere" --format onnx
expect_exit 1 "--format" \
  "$DESCENT" export --model "$WORK/softmax/model" --format tflite
expect_exit 1 "--format" "$DESCENT" export --model "$WORK/softmax/model"
expect_exit 5 "$WORK/no/such/dir/m.onnx" \
  "$DESCENT" export --model "$WORK/softmax/model" --format onnx \
  --output "$WORK/no/such/dir/m.onnx"
train_job "$SOURCE_DIR/examples/synthetic_ctr_logistic.textproto" "$WORK/ctr" \
  --set data.synthetic.train_examples=2000 --set data.synthetic.test_examples=200 \
  --set train.epochs=1
expect_exit 1 "holds a sparse model (sparse_logistic_regression).*dense models only" \
  "$DESCENT" export --model "$WORK/ctr/model" --format onnx
[[ ! -e "$WORK/ctr/model/model.onnx" ]] || fail "a sparse model's export wrote model.onnx"
echo "failures: missing directory exit 3, bad or no --format exit 1, unwritable output exit 5, sparse model exit 1"
echo "export_test: passed"
