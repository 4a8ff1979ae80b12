# Shared helpers for the integration tests. Each test is a bash script run by
# ctest as: TEST.sh DESCENT_BINARY SOURCE_DIR. Every process a test starts
# is stopped by PID; every address is 127.0.0.1.
set -euo pipefail

DESCENT="$1"
SOURCE_DIR="$2"
EXAMPLE="$SOURCE_DIR/examples/fashion_mnist_softmax.textproto"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/descent-it.XXXXXX")"
BACKGROUND_PIDS=()
# Roles started by hand need the job's token (descent local makes its own
# when none is set; the same value there is harmless).
export DESCENT_JOB_TOKEN="integration-test-token-$$"

cleanup() {
  for pid in "${BACKGROUND_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  # DESCENT_KEEP_WORK=1 keeps the folder (logs, outputs) to look at a failure.
  if [[ -n "${DESCENT_KEEP_WORK:-}" ]]; then
    echo "kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# JSON field of a flat key in summary.json (numbers and strings).
json_field() {
  sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1" | head -1
}

# Waits up to $2 seconds for file $1 to exist and be non-empty.
wait_for_file() {
  for _ in $(seq 1 $(( $2 * 20 ))); do
    [[ -s "$1" ]] && return 0
    sleep 0.05
  done
  fail "$1 did not appear within $2 s"
}

# True if $1 >= $2 (floating point).
at_least() {
  awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'
}

# Starts `descent local` in the background on the example with extra
# arguments; sets LOCAL_PID and OUT.
start_local() {
  OUT="$WORK/run"
  "$DESCENT" local --config "$EXAMPLE" --output_dir "$OUT" "$@" \
    >"$WORK/stdout" 2>"$WORK/stderr" &
  LOCAL_PID=$!
  BACKGROUND_PIDS+=("$LOCAL_PID")
}

# Waits until processes.txt lists every member with its metrics address,
# i.e. the job is RUNNING.
wait_until_running() {
  for _ in $(seq 1 600); do
    grep -q "worker/1 [0-9]* 127.0.0.1:" "$OUT/processes.txt" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "the job never started: $(cat "$WORK/stderr")"
}

# Waits until the coordinator's descent_job_global_step is above 0: the
# workers have loaded their data and pushed (RUNNING alone means only that
# every process registered).
wait_until_training() {
  local address step
  for _ in $(seq 1 600); do
    address="$(awk '$1 == "coordinator" {print $3}' "$OUT/processes.txt" 2>/dev/null)"
    if [[ -n "$address" && "$address" != - ]]; then
      step="$(curl -s --max-time 1 "http://$address/metrics" |
        awk '/^descent_job_global_step/ {print int($2)}' | head -1)"
      [[ -n "$step" && "$step" -gt 0 ]] && return 0
    fi
    sleep 0.05
  done
  fail "the job never trained: $(tail -5 "$WORK/stderr")"
}

# kill_member NAME [SIGNAL]: kill -SIGNAL (default KILL) of the job's
# process processes.txt lists as NAME (e.g. server/1); sets victim to its
# pid.
kill_member() {
  victim="$(awk -v n="$1" '$1 == n { print $2 }' "$OUT/processes.txt")"
  [[ -n "$victim" ]] || fail "no $1 in processes.txt"
  kill -"${2:-KILL}" "$victim"
}

# Waits for the `descent local` start_local started; sets code to its exit
# code.
wait_local() {
  set +e
  wait "$LOCAL_PID"
  code=$?
  set -e
}

# Fails if any process listed in processes.txt is still alive.
expect_no_children() {
  local name pid address
  while read -r name pid address; do
    [[ "$name" == \#* ]] && continue
    ! kill -0 "$pid" 2>/dev/null || fail "$name (pid $pid) still running"
  done <"$OUT/processes.txt"
}

# train_job CONFIG OUT [args]: `descent local` on CONFIG into OUT (stdout and
# stderr in $WORK/stdout and $WORK/stderr), which must succeed in 240 s.
train_job() {
  local config="$1" out="$2"
  shift 2
  timeout 240 "$DESCENT" local --config "$config" --output_dir "$out" "$@" \
    >"$WORK/stdout" 2>"$WORK/stderr" || fail "exit $?: $(tail -20 "$WORK/stderr")"
}

# expect_exit CODE PATTERN COMMAND...: COMMAND exits CODE, its stderr
# matching PATTERN.
expect_exit() {
  local want="$1" pattern="$2" code
  shift 2
  set +e
  "$@" >/dev/null 2>"$WORK/err"
  code=$?
  set -e
  (( code == want )) && grep -q -e "$pattern" "$WORK/err" ||
    fail "$*: exit $code, expected $want: $(cat "$WORK/err")"
}

# Writes $WORK/train.csv (600 rows) and $WORK/test.csv (300): features a, b,
# c around centres far from 0 with very different scales (unscaled inputs
# score differently), label "kind": red, green or blue; and
# $WORK/softmax.textproto, a softmax regression on them with standardized
# features.
three_class_csv() {
  awk 'BEGIN {
    srand(11); print "a,b,c,kind" > "'"$WORK"'/train.csv"
    print "a,b,c,kind" > "'"$WORK"'/test.csv"
    split("red green blue", name, " ")
    for (i = 0; i < 900; i++) {
      k = i % 3 + 1; f = (i < 600) ? "train" : "test"
      printf "%.4f,%.4f,%.4f,%s\n", 1000 + 40 * k + 60 * rand(), 0.01 * k + 0.02 * rand(),
        5 + 3 * rand(), name[k] > ("'"$WORK"'/" f ".csv")
    }
  }'
  cat >"$WORK/softmax.textproto" <<CONFIG_END
cluster { num_servers: 2 num_workers: 2 }
model { softmax_regression {} }
data {
  csv { train: "$WORK/train.csv" test: "$WORK/test.csv" }
  scaling: STANDARDIZE
}
train { epochs: 3 batch_size: 16 threads: 1 eval_every_steps: 20 }
optimizer { sgd { learning_rate: 0.05 } }
CONFIG_END
}

# Writes job config $2: an MLP (hidden 32, one epoch) on the Fashion-MNIST
# files in directory $1, 3000 training and 1000 test examples.
fashion_mlp_config() {
  local data="$1"
  cat >"$2" <<CONFIG_END
cluster { num_servers: 2 num_workers: 2 }
model { mlp { hidden: [32] } }
data {
  idx {
    train_images: "$data/train-images-idx3-ubyte.gz"
    train_labels: "$data/train-labels-idx1-ubyte.gz"
    test_images: "$data/t10k-images-idx3-ubyte.gz"
    test_labels: "$data/t10k-labels-idx1-ubyte.gz"
    max_train_examples: 3000 max_test_examples: 1000
  }
}
train { epochs: 1 batch_size: 32 threads: 1 }
optimizer { sgd { learning_rate: 0.05 } }
CONFIG_END
}

# The tensors of DIR/model/model.safetensors (names and data, not the
# metadata) as one line, for exact comparison.
model_tensors() {
  /usr/bin/python3 - "$1/model/model.safetensors" <<'PY'
import hashlib, json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
header.pop("__metadata__", None)
print(sorted(header), hashlib.sha256(raw[8 + n:]).hexdigest())
PY
}

# True if DIR/checkpoints holds at least one manifest. Not `ls` of the glob:
# a checkpoint pruned between the glob's expansion and ls's look makes ls
# fail although newer ones are there.
has_checkpoint() {
  local manifest
  for manifest in "$1"/checkpoints/step-*/manifest.json; do
    [[ -e "$manifest" ]] && return 0
  done
  return 1
}

# fed NAME [--set ...]: a federated job of config $FED with the test's
# ${SHORT[@]} settings into $WORK/NAME; must succeed.
fed() {
  local name="$1"
  shift
  timeout 240 "$DESCENT" local --config "$FED" --output_dir "$WORK/$name" \
    "${SHORT[@]}" "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" ||
    fail "$name: exit $?: $(tail -5 "$WORK/$name.stderr")"
  grep -q "^state: SUCCEEDED$" "$WORK/$name.stdout" ||
    fail "$name: $(cat "$WORK/$name.stdout")"
}

# column FILE NAME: the values of CSV column NAME (by its header), one a
# line.
column() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
    { print $c }' "$1"
}

# Sets FED to the FedAvg example, whose Fashion-MNIST files must be
# installed.
use_federated_example() {
  FED="$SOURCE_DIR/examples/federated_fedavg_iid.textproto"
  local images
  images="$(sed -n 's/^ *train_images: "\(.*\)"$/\1/p' "$FED")"
  [[ -r "$images" ]] || fail "$images not installed (scripts/setup.sh installs it)"
}

# scrape_until_rounds N: scrapes the coordinator of the job in $OUT into
# $scrape until descent_federated_rounds_total reaches N (at most 60 s).
scrape_until_rounds() {
  local address
  address="$(awk '$1 == "coordinator" {print $3}' "$OUT/processes.txt")"
  scrape=""
  for _ in $(seq 1 600); do
    scrape="$(curl -s --max-time 1 "http://$address/metrics" || true)"
    grep -q "^descent_federated_rounds_total{.*} $1\$" <<<"$scrape" && return 0
    sleep 0.1
  done
}

# refused EXPECTED ARGS...: `descent local ARGS` must exit 2 (a config
# error) saying EXPECTED (a fixed string).
refused() {
  local expected="$1"
  shift
  local code=0
  "$DESCENT" local --output_dir "$WORK/refused" "$@" >"$WORK/refused.out" 2>&1 || code=$?
  [[ "$code" == 2 ]] || fail "$*: exit $code, expected 2"
  grep -qF -- "$expected" "$WORK/refused.out" || fail "$*: $(cat "$WORK/refused.out")"
}

# kill_node NAME POLICY VICTIM [--set ...]: a 1500-round job of $FED with
# ${SHORT[@]} into $WORK/NAME under cluster.on_worker_failure POLICY, VICTIM (worker/N)
# killed with kill -9 as training starts; the job must end within 120 s
# and succeed.
kill_node() {
  local name="$1" policy="$2" victim_name="$3"
  shift 3
  OUT="$WORK/$name"
  "$DESCENT" local --config "$FED" --output_dir "$OUT" "${SHORT[@]}" \
    --set federated.rounds=1500 --set cluster.on_worker_failure="$policy" \
    --set cluster.heartbeat_timeout_seconds=1 "$@" \
    >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" &
  LOCAL_PID=$!
  BACKGROUND_PIDS+=("$LOCAL_PID")
  wait_until_running
  wait_until_training
  kill_member "$victim_name"
  set +e
  timeout 120 tail --pid="$LOCAL_PID" -f /dev/null
  wait "$LOCAL_PID"
  code=$?
  set -e
  (( code == 0 )) || fail "$name: exit $code: $(tail -5 "$WORK/$name.stderr")"
}
