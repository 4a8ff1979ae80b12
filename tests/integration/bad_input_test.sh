#!/usr/bin/env bash
# Bad input through the real binary: each case exits with its documented
# code and a message that names the place and the problem.
source "$(dirname "$0")/lib.sh"

# expect CODE PATTERN COMMAND...: runs COMMAND, checks exit code and stderr.
expect() {
  local want="$1" pattern="$2"
  shift 2
  set +e
  "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  set -e
  [[ "$got" == "$want" ]] || fail "$* exited $got, expected $want: $(cat "$WORK/err")"
  grep -q -- "$pattern" "$WORK/err" ||
    fail "$*: stderr lacks '$pattern': $(cat "$WORK/err")"
}

# Usage errors: 1.
expect 1 'unknown command "launch"' "$DESCENT" launch
expect 1 "no command given" "$DESCENT"
expect 1 "--config FILE is required" "$DESCENT" local
expect 1 "--shard is required" "$DESCENT" server --coordinator=127.0.0.1:1
expect 1 "nonsense" "$DESCENT" local --nonsense --config "$EXAMPLE"
# Addresses: a port outside 0..65535 or not a number is a usage error naming
# the flag, never a silently different port (183400 is 52328 mod 65536).
expect 1 "--listen: \"127.0.0.1:183400\" is not HOST:PORT: port \"183400\"" \
  "$DESCENT" server --coordinator 127.0.0.1:1 --shard 0 --listen 127.0.0.1:183400
expect 1 "--listen: .*port \"99999\"" \
  "$DESCENT" coordinator --config "$EXAMPLE" --listen 127.0.0.1:99999
expect 1 "--metrics_listen: .*port \"x\"" \
  "$DESCENT" worker --coordinator 127.0.0.1:1 --metrics_listen 127.0.0.1:x
expect 1 "--coordinator: .*port \"70000\"" \
  "$DESCENT" worker --coordinator 127.0.0.1:70000
expect 1 "--coordinator: .*port 0 is for listening" \
  "$DESCENT" worker --coordinator 127.0.0.1:0
expect 1 "--advertise_address: .*no :PORT" \
  "$DESCENT" server --coordinator 127.0.0.1:1 --shard 0 --advertise_address 127.0.0.1

# Config errors: 2, with file, line and column.
BAD="$WORK/bad.textproto"
sed 's/batch_size: 64/batch_sise: 32/' "$EXAMPLE" >"$BAD"
line=$(grep -n batch_sise "$BAD" | cut -d: -f1)
expect 2 "$BAD:$line:[0-9]*: .*no field named \"batch_sise\"" \
  "$DESCENT" local --config "$BAD" --output_dir "$WORK/o1"
sed 's/^  epochs: [0-9]*$/  epochs: -15/' "$EXAMPLE" >"$BAD"
line=$(grep -n "epochs: -15" "$BAD" | cut -d: -f1)
expect 2 "$BAD:$line:3: train.epochs: must be in \[1, 100000\], got -15" \
  "$DESCENT" local --config "$BAD" --output_dir "$WORK/o2"
expect 2 "--set train.epochs=three: cannot parse" \
  "$DESCENT" local --config "$EXAMPLE" --set train.epochs=three --output_dir "$WORK/o3"
expect 2 "no such file\|cannot open config" \
  "$DESCENT" local --config "$WORK/missing.textproto"

# Data errors: 3, naming the file. The launcher checks that every input
# file is there before anything starts; the coordinator reads the data
# first, so a bad file fails the job before any server or worker starts.
expect 3 "data.idx.train_images: /nonexistent/train.gz: no such file" \
  "$DESCENT" local --config "$EXAMPLE" --output_dir "$WORK/o4" \
  --set data.idx.train_images=/nonexistent/train.gz
[[ ! -e "$WORK/o4" ]] || fail "a job with a missing input created its output directory"
TRUNCATED="$WORK/t10k-images-truncated.gz"
{ gunzip -c /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz || true; } |
  head -c 100000 | gzip >"$TRUNCATED"  # gunzip dies of SIGPIPE, as intended
expect 3 "$TRUNCATED: truncated at image 127 of 10000" \
  "$DESCENT" local --config "$EXAMPLE" --output_dir "$WORK/o5" \
  --set data.idx.test_images="$TRUNCATED"
SWAPPED="$WORK/labels-as-images.gz"
cp /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz "$SWAPPED"
expect 3 "$SWAPPED: .*magic" \
  "$DESCENT" local --config "$EXAMPLE" --output_dir "$WORK/o6" \
  --set data.idx.test_images="$SWAPPED"
OUT="$WORK/o6"
expect_no_children

echo "bad_input_test: every case exited with its documented code"
