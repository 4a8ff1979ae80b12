#!/usr/bin/env bash
# Data as new users bring it, end to end through `descent local`: scikit-learn's
# iris written without a header, with species names, as gzip'd TSV; LIBSVM
# labelled 1..3 with 1-based indices; integer targets forgotten as classes;
# unscaled wine diverging; a corrupt gzip file. Each job must read every row,
# log what it assumed, warn where the data looks wrong, and leave the shape
# and the label mapping in summary.json and labels.json.
source "$(dirname "$0")/lib.sh"

SKLEARN=/usr/lib/python3/dist-packages/sklearn/datasets/data
[[ -r "$SKLEARN/iris.csv" ]] || { echo "data_formats_test: SKIP (no python3-sklearn)"; exit 0; }
PY=/usr/bin/python3

# A small job on `data { $1 }`; extra arguments go to `descent local`.
# Sets OUT; returns descent's exit code.
run_job() {
  local data="$1"
  shift
  OUT="$WORK/run$((++RUNS))"
  cat >"$WORK/job.textproto" <<CONFIG
cluster { num_servers: 1 num_workers: 2 }
model { softmax_regression {} }
data { $data }
train { epochs: 5 batch_size: 16 threads: 1 eval_every_steps: 0 }
optimizer { sgd { learning_rate: 0.1 } }
CONFIG
  local code=0
  timeout 120 "$DESCENT" local --config "$WORK/job.textproto" \
    --output_dir "$OUT" "$@" >"$WORK/stdout" 2>"$WORK/stderr" || code=$?
  return "$code"
}
RUNS=0

# Python's verdict on summary.json: $1 is an expression over `s`.
summary_check() {
  "$PY" -c 'import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$OUT/summary.json" "$1" ||
    fail "summary.json fails $1: $(cat "$OUT/summary.json")"
}

# 1. Iris: no header, species names, tab-separated, gzip'd.
IRIS="$WORK/iris.tsv.gz"
tail -n +2 "$SKLEARN/iris.csv" |
  awk -F, 'BEGIN { split("setosa versicolor virginica", name, " ") }
           { printf "%s\t%s\t%s\t%s\t%s\n", $1, $2, $3, $4, name[$5 + 1] }' |
  gzip >"$IRIS"
run_job "csv { train: \"$IRIS\" } scaling: STANDARDIZE" ||
  fail "iris exited $?: $(tail -5 "$WORK/stderr")"
LOG="$OUT/logs/coordinator.log"
grep -q "$IRIS: line 1 is taken as data" "$LOG" || fail "no header decision in $LOG"
grep -q "data: 120 training and 30 test examples, 4 features, 3 classes (labels setosa, versicolor, virginica" "$LOG" ||
  fail "no data shape in $LOG: $(grep 'data:' "$LOG")"
summary_check 's["data"]["train_examples"] == 120 and s["data"]["test_examples"] == 30'
summary_check 's["data"]["num_features"] == 4 and s["data"]["num_classes"] == 3'
summary_check 's["labels"] == ["setosa", "versicolor", "virginica"]'
summary_check 's["test_accuracy"] > 0.8'
"$PY" -c 'import json, sys
assert json.load(open(sys.argv[1])) == {"labels": ["setosa", "versicolor", "virginica"]}' \
  "$OUT/labels.json" || fail "labels.json: $(cat "$OUT/labels.json")"
iris_accuracy="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["test_accuracy"])' "$OUT/summary.json")"

# 2. LIBSVM labelled 1..3, 1-based indices (index 0 never occurs), gzip'd:
#    3 classes, not 4, and the base is logged.
SVM="$WORK/iris.svm.gz"
tail -n +2 "$SKLEARN/iris.csv" |
  awk -F, '{ printf "%d 1:%s 2:%s 3:%s 4:%s\n", $5 + 1, $1, $2, $3, $4 }' | gzip >"$SVM"
run_job "libsvm { train: \"$SVM\" } scaling: STANDARDIZE" ||
  fail "libsvm exited $?: $(tail -5 "$WORK/stderr")"
grep -q "indices are taken as 1-based.*data.libsvm.zero_based: true" "$OUT/logs/coordinator.log" ||
  fail "no index base decision"
summary_check 's["data"]["num_classes"] == 3 and s["data"]["num_features"] == 4'
summary_check 's["labels"] == ["1", "2", "3"] and s["data"]["label_min"] == 1'
summary_check 'not s["data"].get("warnings")'

# 3. Integer targets (25..124) read as classes: a warning naming the fix.
TARGETS="$WORK/targets.csv"
tail -n +2 "$SKLEARN/iris.csv" | awk -F, '{ print $1 "," $2 "," $3 "," $4 "," 25 + NR % 100 }' >"$TARGETS"
run_job "csv { train: \"$TARGETS\" } scaling: STANDARDIZE" ||
  fail "targets exited $?: $(tail -5 "$WORK/stderr")"
grep -q "^W.*data: 100 classes for 120 training examples.*looks like a regression target; set data.csv.regression: true" \
  "$OUT/logs/coordinator.log" || fail "no regression warning: $(grep '^W' "$OUT/logs/coordinator.log")"
summary_check 'any("regression target" in w for w in s["data"].get("warnings", []))'
grep -q "^descent local: warning: data: 100 classes for 120 training examples" "$WORK/stderr" ||
  fail "the launcher does not repeat the warning: $(tail -5 "$WORK/stderr")"

# 4. Wine unscaled with a (far too) large step diverges; the start warns and the
#    divergence message names data.scaling.
code=0
run_job "csv { train: \"$SKLEARN/wine_data.csv\" skip_lines: 1 header: false }" \
  --set optimizer.sgd.learning_rate=1000 || code=$?
grep -q "^W.*feature ranges differ by orders of magnitude.*data.scaling: STANDARDIZE" \
  "$OUT/logs/coordinator.log" || fail "no scaling warning"
[[ "$code" == 6 ]] || fail "unscaled wine exited $code, expected 6 (diverged)"
grep -q "lower the learning rate; feature ranges differ.*set data.scaling: STANDARDIZE" "$WORK/stderr" ||
  fail "divergence message lacks data.scaling: $(tail -5 "$WORK/stderr")"
summary_check '"data.scaling: STANDARDIZE" in s["error"]'

# 5. A corrupt gzip file: exit 3, naming the file and the stream, never a
#    "bad label" of compressed bytes.
BAD="$WORK/corrupt.svm.gz"
{ printf '\037\213\010\000'; head -c 300 /dev/zero | tr '\0' 'x'; } >"$BAD"
code=0
run_job "libsvm { train: \"$BAD\" }" || code=$?
[[ "$code" == 3 ]] || fail "corrupt gzip exited $code, expected 3"
grep -q "$BAD: corrupt gzip stream" "$WORK/stderr" || fail "stderr: $(tail -3 "$WORK/stderr")"
! grep -q "bad label" "$WORK/stderr" || fail "compressed bytes read as a label"
expect_no_children

# 6. One stray feature index in a 13 KB LIBSVM file: exit 3 at its file and
#    line, before any memory is sized by it (it had made a dense model of
#    4.9 GB; an index near INT64_MAX aborted the coordinator).
for stray in 3000000 9223372036854775806; do
  WIDE="$WORK/wide-$stray.svm"
  for i in $(seq 1 400); do echo "$((i % 2)) 1:0.5 2:0.$((i % 10))"; done >"$WIDE"
  sed -i "200s/\$/ $stray:1/" "$WIDE"
  code=0
  run_job "libsvm { train: \"$WIDE\" }" || code=$?
  [[ "$code" == 3 ]] || fail "index $stray exited $code, expected 3: $(tail -3 "$WORK/stderr")"
  grep -q "$WIDE:200: feature index $stray in \"$stray:1\" is beyond the feature space's limit: data.libsvm.max_features = 1048576" \
    "$WORK/stderr" || fail "index $stray: stderr: $(tail -3 "$WORK/stderr")"
  expect_no_children
done
# The limit is the config's: a 1-based index 2000 needs max_features 2000.
NARROW="$WORK/narrow.svm"
sed "200s/ 3000000:1/ 2000:1/" "$WORK/wide-3000000.svm" >"$NARROW"
code=0
run_job "libsvm { train: \"$NARROW\" max_features: 1999 }" || code=$?
[[ "$code" == 3 ]] || fail "max_features 1999 exited $code, expected 3"
grep -q "$NARROW:200: .*max_features = 1999 allows indices up to 1999" "$WORK/stderr" ||
  fail "max_features 1999: $(tail -3 "$WORK/stderr")"
run_job "libsvm { train: \"$NARROW\" max_features: 2000 }" ||
  fail "max_features 2000 exited $?: $(tail -3 "$WORK/stderr")"
summary_check 's["data"]["num_features"] == 2000'

echo "data_formats_test: iris (gzip'd TSV, species names, no header) test accuracy $iris_accuracy; LIBSVM 1..3 gave 3 classes; warnings and hints as expected"
