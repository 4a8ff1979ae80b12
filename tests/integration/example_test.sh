#!/usr/bin/env bash
# One example config end to end, with short settings: `descent local` on
# examples/$3.textproto (2 servers, 2 workers, as the file says), then the
# figure that example is about, from stdout. The full settings and their
# figures are documented in each example file.
source "$(dirname "$0")/lib.sh"
NAME="$3"
EXAMPLE="$SOURCE_DIR/examples/$NAME.textproto"

# The value of `key: value` on descent local's stdout.
result() {
  sed -n "s/^$1: //p" "$WORK/stdout"
}

run_example() {
  start_local "$@"
  wait "$LOCAL_PID" || fail "descent local exited with $?: $(tail -20 "$WORK/stderr")"
  grep -q "^state: SUCCEEDED$" "$WORK/stdout" || fail "stdout: $(cat "$WORK/stdout")"
  cat "$WORK/stdout"
}

case "$NAME" in
  fashion_mnist_mlp)
    run_example --set train.epochs=1 \
      --set data.idx.max_test_examples=2000
    at_least "$(result test_accuracy)" 0.75 || fail "test accuracy below 0.75"
    ;;
  fashion_mnist_svm)
    run_example --set train.epochs=1 \
      --set data.idx.max_test_examples=2000
    at_least "$(result test_accuracy)" 0.75 || fail "test accuracy below 0.75"
    ;;
  fashion_mnist_cnn)
    run_example --set train.epochs=3 --set data.idx.max_train_examples=2048 \
      --set data.idx.max_test_examples=500 --set train.eval_every_steps=0
    at_least "$(result test_accuracy)" 0.55 || fail "test accuracy below 0.55"
    ;;
  fashion_mnist_lenet5)
    run_example --set train.epochs=2 --set data.idx.max_train_examples=16384 \
      --set data.idx.max_test_examples=1000 --set train.eval_every_steps=0
    at_least "$(result test_accuracy)" 0.65 || fail "test accuracy below 0.65"
    ;;
  synthetic_linear_regression)
    run_example
    error="$(result planted_relative_error)"
    at_least 0.02 "$error" || fail "weights $error away from the planted ones"
    ;;
  breast_cancer_logistic)
    csv="$(sed -n 's/^ *train: "\(.*\)"$/\1/p' "$EXAMPLE")"
    [[ -r "$csv" ]] || { echo "SKIP: $csv missing (python3-sklearn)"; exit 77; }
    # BSP: under ASP the order of the two workers' updates on these 455
    # examples moves the result (0.9646 to 1.0000 seen under full-suite
    # load); BSP gives one answer (0.9912) to compare with scikit-learn.
    run_example --set train.consistency=BSP
    ours="$(result test_accuracy)"
    at_least "$ours" 0.95 || fail "test accuracy $ours below 0.95"
    if /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
      theirs="$(/usr/bin/python3 "$SOURCE_DIR/examples/sklearn_baseline.py" "$csv" 5 |
        sed -n 's/^sklearn_test_accuracy: //p')"
      echo "descent $ours, scikit-learn $theirs on the same split"
      at_least "$ours" "$(awk -v t="$theirs" 'BEGIN { print t - 0.03 }')" ||
        fail "descent's $ours trails scikit-learn's $theirs by more than 0.03"
    fi
    ;;
  synthetic_ctr_fm)
    run_example --set data.synthetic.train_examples=300000 --set train.epochs=2
    gap="$(awk -v a="$(result test_auc)" -v p="$(result planted_test_auc)" \
      'BEGIN { print p - a }')"
    at_least 0.03 "$gap" || fail "test AUC $gap below the planted model's"
    ;;
  synthetic_ctr_logistic)
    # A linear model cannot fit the planted FM's pairwise terms: at full
    # settings it ends about 0.035 below the planted AUC.
    run_example --set data.synthetic.train_examples=300000 --set train.epochs=1
    gap="$(awk -v a="$(result test_auc)" -v p="$(result planted_test_auc)" \
      'BEGIN { print p - a }')"
    at_least 0.07 "$gap" || fail "test AUC $gap below the planted model's"
    ;;
  synthetic_ratings_mf)
    run_example --set data.synthetic.users=300 --set data.synthetic.items=300 \
      --set data.synthetic.train_examples=40000 \
      --set data.synthetic.test_examples=4000
    ratio="$(awk -v r="$(result test_rmse)" -v p="$(result planted_test_rmse)" \
      'BEGIN { print r / p }')"
    at_least 1.3 "$ratio" || fail "test RMSE is $ratio x the noise level"
    ;;
  federated_fedavg_iid)
    run_example --set federated.rounds=15 --set federated.eval_every_rounds=5 \
      --set data.idx.max_test_examples=2000
    at_least "$(result test_accuracy)" 0.75 || fail "test accuracy below 0.75"
    (( $(wc -l <"$OUT/rounds.csv") == 16 )) || fail "rounds.csv: $(cat "$OUT/rounds.csv")"
    ;;
  federated_dirichlet)
    run_example --set federated.rounds=4 --set data.idx.max_test_examples=2000
    at_least "$(result test_accuracy)" 0.6 || fail "test accuracy below 0.6"
    p10="$(tail -1 "$OUT/rounds.csv" | cut -d, -f13)"
    at_least "$p10" 0.2 || fail "clients' 10th-percentile accuracy '$p10'"
    ;;
  federated_scale)
    run_example --set federated.rounds=10 --set data.idx.max_test_examples=2000
    at_least "$(result test_accuracy)" 0.5 || fail "test accuracy below 0.5"
    (( $(wc -l <"$OUT/partition.csv") == 1001 )) || fail "partition.csv is not 1000 clients"
    ;;
  federated_dp)
    run_example --set federated.clients=600 --set federated.rounds=10 \
      --set data.idx.max_train_examples=6000 --set data.idx.max_test_examples=1000
    # Round 10's epsilon at q = 0.1, z = 1.87, delta = 1/600^1.1: what
    # descent privacy computes.
    expected="$("$DESCENT" privacy --sampling_rate 0.1 --steps 10 \
      --delta "$(awk 'BEGIN { printf "%.17g", 1 / exp(1.1 * log(600)) }')" \
      --noise_multiplier 1.87 | sed -n 's/^epsilon: \([^ ]*\).*/\1/p')"
    got="$(tail -1 "$OUT/rounds.csv" | cut -d, -f16)"
    awk -v a="$got" -v b="$expected" 'BEGIN { exit !(a > 0 && (a - b) ^ 2 < (1e-4 * b) ^ 2) }' ||
      fail "round 10's epsilon $got, descent privacy says $expected"
    at_least "$(result test_accuracy)" 0.3 || fail "test accuracy below 0.3"
    ;;
  federated_robust)
    run_example --set federated.rounds=15 --set data.idx.max_test_examples=2000
    at_least "$(result test_accuracy)" 0.7 || fail "the median under attack: test accuracy below 0.7"
    ;;
  fashion_mnist_dp_sgd)
    run_example --set train.epochs=1 --set data.idx.max_train_examples=10000 \
      --set data.idx.max_test_examples=2000 --set train.eval_every_steps=0
    # q = 2 x 128 / 10,000, 40 BSP steps: what descent privacy computes.
    expected="$("$DESCENT" privacy --sampling_rate 0.0256 --steps 40 --delta 1e-5 \
      --noise_multiplier 1.1 | sed -n 's/^epsilon: \([^ ]*\).*/\1/p')"
    got="$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["privacy"]["epsilon"])' "$OUT/summary.json")"
    awk -v a="$got" -v b="$expected" 'BEGIN { exit !(a > 0 && (a - b) ^ 2 < (1e-4 * b) ^ 2) }' ||
      fail "epsilon $got, descent privacy says $expected"
    at_least "$(result test_accuracy)" 0.5 || fail "DP-SGD: test accuracy below 0.5"
    ;;
  federated_secure)
    run_example --set federated.rounds=10 --set data.idx.max_test_examples=2000
    at_least "$(result test_accuracy)" 0.7 || fail "secure FedAvg: test accuracy below 0.7"
    # 10 clients a round, 2 dropping after sharing keys: 8 unmasked.
    counts="$(cut -d, -f19,20 "$OUT/rounds.csv" | tail -n +2 | sort -u)"
    [[ "$counts" == "8,2" ]] || fail "secure_clients,secure_dropped: $counts"
    ;;
  *)
    fail "no checks for example $NAME"
    ;;
esac
