# Shared helpers for the integration tests. Each test is a bash script run by
# ctest as: TEST.sh DESCENT_BINARY SOURCE_DIR. Every process a test starts
# is stopped by PID; every address is 127.0.0.1.
set -euo pipefail

DESCENT="$1"
SOURCE_DIR="$2"
EXAMPLE="$SOURCE_DIR/examples/fashion_mnist_softmax.textproto"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/descent-it.XXXXXX")"
BACKGROUND_PIDS=()

cleanup() {
  for pid in "${BACKGROUND_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
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

# Fails if any process listed in processes.txt is still alive.
expect_no_children() {
  local name pid address
  while read -r name pid address; do
    [[ "$name" == \#* ]] && continue
    ! kill -0 "$pid" 2>/dev/null || fail "$name (pid $pid) still running"
  done <"$OUT/processes.txt"
}
