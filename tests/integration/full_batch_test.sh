#!/usr/bin/env bash
# train.batch_size: 0 (batch gradient descent: each step is the worker's
# whole shard) end to end, for model $3: `descent local` on the closest
# example, cut down to a few seconds, must succeed with one step per worker
# and epoch, and a finite test loss from the coordinator's evaluation.
source "$(dirname "$0")/lib.sh"
MODEL="$3"
EPOCHS=3
IDX_SMALL=(--set data.idx.max_train_examples=256
  --set data.idx.max_test_examples=100)
SYNTHETIC_SMALL=(--set data.synthetic.train_examples=2000
  --set data.synthetic.test_examples=500)

case "$MODEL" in
  mlp) EXAMPLE=fashion_mnist_mlp ARGS=("${IDX_SMALL[@]}") ;;
  cnn) EXAMPLE=fashion_mnist_lenet5 ARGS=("${IDX_SMALL[@]}") ;;
  softmax) EXAMPLE=fashion_mnist_softmax ARGS=("${IDX_SMALL[@]}") ;;
  svm) EXAMPLE=fashion_mnist_svm ARGS=("${IDX_SMALL[@]}") ;;
  linear_regression)
    EXAMPLE=synthetic_linear_regression ARGS=("${SYNTHETIC_SMALL[@]}")
    ;;
  logistic)  # the linear-regression example, made binary
    EXAMPLE=synthetic_linear_regression
    ARGS=("${SYNTHETIC_SMALL[@]}" --set model.logistic_regression=
      --set data.synthetic.kind=LOGISTIC)
    ;;
  fm) EXAMPLE=synthetic_ctr_fm ARGS=("${SYNTHETIC_SMALL[@]}") ;;
  sparse_logistic)
    EXAMPLE=synthetic_ctr_logistic ARGS=("${SYNTHETIC_SMALL[@]}")
    ;;
  mf)
    EXAMPLE=synthetic_ratings_mf
    ARGS=("${SYNTHETIC_SMALL[@]}" --set data.synthetic.users=100
      --set data.synthetic.items=100)
    ;;
  *) fail "no full-batch case for model $MODEL" ;;
esac
EXAMPLE="$SOURCE_DIR/examples/$EXAMPLE.textproto"
WORKERS="$(sed -n 's/^ *num_workers: \([0-9]*\)$/\1/p' "$EXAMPLE")"

start_local "${ARGS[@]}" --set train.batch_size=0 --set train.epochs=$EPOCHS \
  --set train.eval_every_steps=0
code=0
wait "$LOCAL_PID" || code=$?
[[ "$code" == 0 ]] ||
  fail "descent local exited with $code: $(tail -20 "$WORK/stderr")"
SUMMARY="$OUT/summary.json"
[[ "$(json_field "$SUMMARY" state)" == SUCCEEDED ]] || fail "state not SUCCEEDED"
steps="$(json_field "$SUMMARY" steps)"
[[ "$steps" == $((EPOCHS * WORKERS)) ]] ||
  fail "$steps steps, expected one per worker and epoch: $((EPOCHS * WORKERS))"
loss="$(json_field "$SUMMARY" test_loss)"
awk -v l="$loss" 'BEGIN { exit !(l + 0 == l && l > 0 && l < 1e30) }' ||
  fail "test loss '$loss' is not a finite positive number"
expect_no_children
echo "full_batch_test $MODEL: $steps full-batch steps, test loss $loss"
