#!/usr/bin/env bash
# descent predict and descent evaluate on a job's model/: a softmax
# regression on a CSV with string labels and standardized features, and an
# MLP and a CNN on Fashion-MNIST subsets. `descent evaluate` prints the job's
# test_accuracy and test_loss exactly; `descent predict` on the test file
# gives one row per example, labels mapped back to the file's strings, whose
# accuracy is the job's (and the same rows from LIBSVM); a file of another
# width fails with exit 3 naming both widths. Also: evaluate on a linear
# regression and a sparse logistic regression; predict with a sparse
# logistic regression on LIBSVM files.
source "$(dirname "$0")/lib.sh"

three_class_csv

printed() { grep -E '^test_(accuracy|loss): ' "$WORK/stdout"; }
# The share of rows of predictions file $1 whose label column equals line i
# of the labels in $2, to 4 digits.
accuracy() {
  awk -F, 'NR == FNR { truth[FNR] = $1; next }
    FNR > 1 { n++; if ($2 == truth[FNR - 1]) right++ }
    END { printf "%.4f\n", right / n }' "$2" "$1"
}

# 1. Softmax on the CSV with string labels (evaluate --data too).
OUT="$WORK/softmax"
train_job "$WORK/softmax.textproto" "$OUT"
job="$(printed)"
[[ "$job" == *test_accuracy*test_loss* ]] || fail "job printed: $(cat "$WORK/stdout")"
got="$("$DESCENT" evaluate --model "$OUT/model" --config "$OUT/config.textproto")" ||
  fail "evaluate: exit $?"
[[ "$got" == "$job" ]] || fail "evaluate printed '$got', the job '$job'"
echo "softmax: descent evaluate = the job: $(echo $got)"
# --data: the test file itself (string labels mapped to the model's
# classes) gives the job's figures too; a file with a label the model does
# not know is refused, naming it.
got="$("$DESCENT" evaluate --model "$OUT/model" --data "$WORK/test.csv")" ||
  fail "evaluate --data: exit $?"
[[ "$got" == "$job" ]] || fail "evaluate --data printed '$got', the job '$job'"
sed '2s/,[a-z]*$/,purple/' "$WORK/test.csv" >"$WORK/purple.csv"
expect_exit 3 'label "purple" is none of the model' "$DESCENT" evaluate \
  --model "$OUT/model" --data "$WORK/purple.csv"
expect_exit 1 "give one of --config" "$DESCENT" evaluate --model "$OUT/model" \
  --data "$WORK/test.csv" --config "$OUT/config.textproto"
echo "softmax: descent evaluate --data test.csv = the job"

"$DESCENT" predict --model "$OUT/model" --data "$WORK/test.csv" \
  --output "$WORK/preds.csv" || fail "predict: exit $?"
[[ "$(head -1 "$WORK/preds.csv")" == "class,label,p0,p1,p2" ]] ||
  fail "header: $(head -1 "$WORK/preds.csv")"
rows=$(($(wc -l <"$WORK/preds.csv") - 1))
(( rows == 300 )) || fail "$rows prediction rows for 300 examples"
cut -d, -f2 "$WORK/preds.csv" | tail -n +2 | sort -u | tr '\n' ' ' |
  grep -qx 'blue green red ' || fail "labels not mapped back: $(cut -d, -f2 "$WORK/preds.csv" | sort -u)"
awk -F, 'NR > 1 { s = $3 + $4 + $5; if (s < 0.999 || s > 1.001) exit 1 }' \
  "$WORK/preds.csv" || fail "probabilities do not sum to 1"
tail -n +2 "$WORK/test.csv" | awk -F, '{ print $4 }' >"$WORK/truth"
acc="$(accuracy "$WORK/preds.csv" "$WORK/truth")"
[[ "test_accuracy: $acc" == "$(echo "$job" | head -1)" ]] ||
  fail "predict's accuracy $acc, the job's $(echo "$job" | head -1)"
# To stdout, the same rows.
"$DESCENT" predict --model "$OUT/model" --data "$WORK/test.csv" | cut -d, -f1,2 |
  cmp -s - <(cut -d, -f1,2 "$WORK/preds.csv") || fail "stdout differs from --output"
echo "softmax: descent predict accuracy $acc, as the job"

# A job that read its CSV its own way (';' between fields, the label first
# by name): model/'s manifest records how, and predict reads alike.
for split in train test; do
  awk -F, '{ print $4 ";" $1 ";" $2 ";" $3 }' "$WORK/$split.csv" >"$WORK/semi_$split.csv"
done
sed "s|csv { train: \"$WORK/train.csv\" test: \"$WORK/test.csv\" }|csv { train: \"$WORK/semi_train.csv\" test: \"$WORK/semi_test.csv\" delimiter: \";\" label_column: \"kind\" }|" \
  "$WORK/softmax.textproto" >"$WORK/semi.textproto"
grep -q semi_train "$WORK/semi.textproto" || fail "semi.textproto: $(cat "$WORK/semi.textproto")"
train_job "$WORK/semi.textproto" "$WORK/semi"
"$DESCENT" predict --model "$WORK/semi/model" --data "$WORK/semi_test.csv" \
  --output "$WORK/semi_preds.csv" || fail "predict on the ';' CSV: exit $?"
acc="$(accuracy "$WORK/semi_preds.csv" "$WORK/truth")"
[[ "test_accuracy: $acc" == "$(printed | head -1)" ]] ||
  fail "';' CSV: predict's accuracy $acc, the job's $(printed | head -1)"
echo "a ';' CSV with the label first: predict reads it as the job did, accuracy $acc"

# A file of another width: exit 3, naming both.
cut -d, -f2- "$WORK/test.csv" >"$WORK/narrow.csv"
expect_exit 3 "narrow.csv: read as csv, it has 2 features.*the model takes 3" \
  "$DESCENT" predict --model "$OUT/model" --data "$WORK/narrow.csv"
printf '0 1:1 5:2\n' >"$WORK/wide.svm"
expect_exit 3 "wide.svm:1: .*index 5.*the model takes 3 features" \
  "$DESCENT" predict --model "$OUT/model" --data "$WORK/wide.svm"
# The same examples as LIBSVM: the same classes as from the CSV.
tail -n +2 "$WORK/test.csv" | awk -F, '{ printf "0 1:%s 2:%s 3:%s\n", $1, $2, $3 }' >"$WORK/test.svm"
"$DESCENT" predict --model "$OUT/model" --data "$WORK/test.svm" | cut -d, -f1,2 |
  cmp -s - <(cut -d, -f1,2 "$WORK/preds.csv") || fail "LIBSVM predictions differ from the CSV's"
# A format that does not fit: the CSV read as IDX.
expect_exit 3 "test.csv" \
  "$DESCENT" predict --model "$OUT/model" --data "$WORK/test.csv" --format idx
echo "wrong width and wrong format: exit 3 naming the file"
# Another job's config: exit 2, naming both models.
expect_exit 2 "mlp.*is not the one in .*softmax_regression" "$DESCENT" evaluate \
  --model "$OUT/model" --config "$SOURCE_DIR/examples/fashion_mnist_mlp.textproto"

# A sparse model: descent evaluate prints the job's figures (AUC too).
train_job "$SOURCE_DIR/examples/synthetic_ctr_logistic.textproto" "$WORK/ctr" \
  --set data.synthetic.train_examples=2000 --set data.synthetic.test_examples=200 \
  --set train.epochs=1
job="$(grep -E '^test_(accuracy|loss|auc): ' "$WORK/stdout")"
[[ "$job" == *test_auc* ]] || fail "ctr job printed: $(cat "$WORK/stdout")"
got="$("$DESCENT" evaluate --model "$WORK/ctr/model" --config "$WORK/ctr/config.textproto")" ||
  fail "ctr evaluate: exit $?"
[[ "$got" == "$job" ]] || fail "ctr: evaluate printed '$got', the job '$job'"
echo "sparse logistic: descent evaluate = the job: $(echo $got)"
# A regression: test_loss and test_rmse.
train_job "$SOURCE_DIR/examples/synthetic_linear_regression.textproto" "$WORK/linear" \
  --set train.epochs=1
job="$(grep -E '^test_(loss|rmse): ' "$WORK/stdout")"
[[ "$job" == *test_rmse* ]] || fail "regression job printed: $(cat "$WORK/stdout")"
got="$("$DESCENT" evaluate --model "$WORK/linear/model" --config "$WORK/linear/config.textproto")" ||
  fail "regression evaluate: exit $?"
[[ "$got" == "$job" ]] || fail "regression: evaluate printed '$got', the job '$job'"
echo "linear regression: descent evaluate = the job: $(echo $got)"
# A sparse model on LIBSVM files: model/ holds every trained row (from the
# job's final checkpoint), not only the test keys' rows, and descent predict
# on the test file gives the job's test accuracy; a CSV is refused (exit 1).
/usr/bin/python3 - "$WORK" <<'PY'
import random, sys
random.seed(5)
files = {"train": open(sys.argv[1] + "/train.svm", "w"),
         "test": open(sys.argv[1] + "/test.svm", "w")}
for i in range(2300):
    # Test examples use keys 1..100 only: model/ must hold the rest too.
    keys = sorted(set(random.randint(1, 400 if i < 2000 else 100)
                      for _ in range(8)))
    z = sum((j * 7919) % 13 - 6 for j in keys)
    files["train" if i < 2000 else "test"].write(
        ("+1" if z > 0 else "-1") + "".join(" %d:1" % j for j in keys) + "\n")
PY
cat >"$WORK/svm_sparse.textproto" <<CONFIG_END
cluster { num_servers: 2 num_workers: 2 }
model { sparse_logistic_regression {} }
data { libsvm { train: "$WORK/train.svm" test: "$WORK/test.svm" } }
train { epochs: 5 batch_size: 16 threads: 1 }
optimizer { sgd { learning_rate: 0.5 } }
CONFIG_END
train_job "$WORK/svm_sparse.textproto" "$WORK/sparse"
job_accuracy="$(sed -n 's/^test_accuracy: //p' "$WORK/stdout")"
[[ -n "$job_accuracy" ]] || fail "sparse job printed: $(cat "$WORK/stdout")"
trained_keys="$(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, ":"); k[kv[1]] = 1 } }
  END { print length(k) }' "$WORK/train.svm")"
saved_keys="$(/usr/bin/python3 -c 'import json, struct, sys
raw = open(sys.argv[1], "rb").read()
h = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
print(h["sparse/keys"]["shape"][0])' "$WORK/sparse/model/model.safetensors")"
(( saved_keys >= trained_keys )) ||
  fail "model/ holds $saved_keys rows; training touched $trained_keys keys"
"$DESCENT" predict --model "$WORK/sparse/model" --data "$WORK/test.svm" \
  --output "$WORK/sparse_preds.csv" || fail "sparse predict: exit $?"
[[ "$(head -1 "$WORK/sparse_preds.csv")" == "class,label,p0,p1" ]] ||
  fail "sparse header: $(head -1 "$WORK/sparse_preds.csv")"
awk '{ print $1 }' "$WORK/test.svm" | sed 's/^+//' >"$WORK/sparse_truth"
acc="$(accuracy "$WORK/sparse_preds.csv" "$WORK/sparse_truth")"
[[ "$acc" == "$job_accuracy" ]] ||
  fail "sparse predict's accuracy $acc, the job's $job_accuracy"
expect_exit 1 "takes LIBSVM files" \
  "$DESCENT" predict --model "$WORK/sparse/model" --data "$WORK/test.csv"
echo "sparse logistic: model/ holds $saved_keys rows ($trained_keys trained keys); descent predict accuracy $acc, as the job"

# 2. An MLP on a Fashion-MNIST subset.
DATA=/usr/share/datasets/fashion-mnist
if [[ -r "$DATA/t10k-images-idx3-ubyte.gz" ]]; then
  fashion_mlp_config "$DATA" "$WORK/mlp.textproto"
  OUT="$WORK/mlp"
  train_job "$WORK/mlp.textproto" "$OUT"
  job="$(printed)"
  got="$("$DESCENT" evaluate --model "$OUT/model" --config "$OUT/config.textproto")" ||
    fail "mlp evaluate: exit $?"
  [[ "$got" == "$job" ]] || fail "mlp: evaluate printed '$got', the job '$job'"
  echo "mlp: descent evaluate = the job: $(echo $got)"
  "$DESCENT" predict --model "$OUT/model" --data "$DATA/t10k-images-idx3-ubyte.gz" \
    --labels "$DATA/t10k-labels-idx1-ubyte.gz" --max_examples 1000 \
    --output "$WORK/mlp.csv" || fail "mlp predict: exit $?"
  rows=$(($(wc -l <"$WORK/mlp.csv") - 1))
  (( rows == 1000 )) || fail "mlp: $rows prediction rows for 1000 examples"
  /usr/bin/python3 -c '
import gzip, sys
with gzip.open(sys.argv[1]) as f:
    print("\n".join(str(b) for b in f.read()[8:8 + 1000]))' \
    "$DATA/t10k-labels-idx1-ubyte.gz" >"$WORK/mlp_truth"
  acc="$(accuracy "$WORK/mlp.csv" "$WORK/mlp_truth")"
  [[ "test_accuracy: $acc" == "$(echo "$job" | head -1)" ]] ||
    fail "mlp: predict's accuracy $acc, the job's $(echo "$job" | head -1)"
  echo "mlp: descent predict accuracy $acc, as the job"
  # Without --labels, the same classes (probabilities may differ in their
  # last digit between runs: see README).
  "$DESCENT" predict --model "$OUT/model" --data "$DATA/t10k-images-idx3-ubyte.gz" \
    --max_examples 1000 | cut -d, -f1,2 | cmp -s - <(cut -d, -f1,2 "$WORK/mlp.csv") ||
    fail "mlp: without --labels, other classes"
  # A CNN (its model/ rebuilt from the manifest's shape) on a smaller subset.
  sed 's/model { mlp { hidden: \[32\] } }/model { cnn { preset: MCMAHAN_CNN } }/
    s/max_train_examples: 3000 max_test_examples: 1000/max_train_examples: 600 max_test_examples: 200/' \
    "$WORK/mlp.textproto" >"$WORK/cnn.textproto"
  train_job "$WORK/cnn.textproto" "$WORK/cnn"
  job="$(printed)"
  got="$("$DESCENT" evaluate --model "$WORK/cnn/model" --config "$WORK/cnn/config.textproto")" ||
    fail "cnn evaluate: exit $?"
  [[ "$got" == "$job" ]] || fail "cnn: evaluate printed '$got', the job '$job'"
  "$DESCENT" predict --model "$WORK/cnn/model" --data "$DATA/t10k-images-idx3-ubyte.gz" \
    --max_examples 200 --output "$WORK/cnn.csv" || fail "cnn predict: exit $?"
  acc="$(accuracy "$WORK/cnn.csv" <(head -200 "$WORK/mlp_truth"))"
  [[ "test_accuracy: $acc" == "$(echo "$job" | head -1)" ]] ||
    fail "cnn: predict's accuracy $acc, the job's $(echo "$job" | head -1)"
  echo "cnn: descent evaluate = the job: $(echo $got); predict accuracy $acc"
  # The Fashion-MNIST model on the 3-feature CSV: both widths named.
  expect_exit 3 "it has 3 features.*the model takes 784" \
    "$DESCENT" predict --model "$OUT/model" --data "$WORK/test.csv"
fi
echo "predict_test: passed"
