#!/usr/bin/env bash
# Security through the binary: a role without the job's token is refused
# (exit 8) and the job never counts it; a role with no token at all does
# not start (exit 1) unless --insecure; /metrics beyond loopback needs
# --insecure; and a whole job runs over mutual TLS with certificates made
# here with openssl.
source "$(dirname "$0")/lib.sh"

OUT="$WORK/job"
"$DESCENT" coordinator --config "$EXAMPLE" --output_dir "$OUT" \
  --set train.epochs=1 --set cluster.num_servers=1 --set cluster.num_workers=1 \
  --ready_file "$WORK/coordinator.addr" --metrics_linger 0s \
  2>"$WORK/coordinator.log" &
COORDINATOR=$!
BACKGROUND_PIDS+=("$COORDINATOR")
wait_for_file "$WORK/coordinator.addr" 30
ADDRESS="$(cat "$WORK/coordinator.addr")"

# A stranger with a wrong token: refused at once, exit 8, no token shown.
code=0
DESCENT_JOB_TOKEN=guess timeout 30 "$DESCENT" worker --coordinator "$ADDRESS" \
  2>"$WORK/stranger.log" || code=$?
[[ "$code" == 8 ]] || fail "wrong token: exit $code: $(tail -3 "$WORK/stranger.log")"
grep -q "wrong job token" "$WORK/stranger.log" || fail "$(tail -3 "$WORK/stranger.log")"
grep -q "$DESCENT_JOB_TOKEN" "$WORK/stranger.log" && fail "the token leaked into the log"
# No token at all: a usage error naming the variable, before anything.
code=0
env -u DESCENT_JOB_TOKEN "$DESCENT" server --coordinator "$ADDRESS" --shard 0 \
  2>"$WORK/none.log" || code=$?
[[ "$code" == 1 ]] || fail "no token: exit $code: $(tail -3 "$WORK/none.log")"
grep -q "no job token: set DESCENT_JOB_TOKEN" "$WORK/none.log" || fail "$(cat "$WORK/none.log")"
# /metrics on all interfaces needs --insecure.
code=0
"$DESCENT" server --coordinator "$ADDRESS" --shard 0 --metrics_listen 0.0.0.0:0 \
  2>"$WORK/metrics.log" || code=$?
[[ "$code" == 1 ]] || fail "metrics on 0.0.0.0: exit $code"
grep -q "without TLS or authentication; pass --insecure" "$WORK/metrics.log" ||
  fail "$(cat "$WORK/metrics.log")"

# The real members, with the token: the job succeeds with its one worker.
"$DESCENT" server --coordinator "$ADDRESS" --shard 0 2>"$WORK/server.log" &
BACKGROUND_PIDS+=($!)
SERVER=$!
"$DESCENT" worker --coordinator "$ADDRESS" 2>"$WORK/worker.log" &
BACKGROUND_PIDS+=($!)
WORKER=$!
wait "$COORDINATOR" || fail "coordinator exited $?: $(tail -5 "$WORK/coordinator.log")"
wait "$SERVER" || fail "server exited $?"
wait "$WORKER" || fail "worker exited $?"
[[ "$(json_field "$OUT/summary.json" state)" == SUCCEEDED ]] ||
  fail "summary: $(cat "$OUT/summary.json")"

# A whole job over mutual TLS: one CA, one certificate for 127.0.0.1.
TLS="$WORK/tls"
mkdir -p "$TLS"
(
  cd "$TLS"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj /CN=test-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr \
    -subj /CN=node 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
  openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out node.pem -days 2 -extfile san.ext 2>/dev/null
)
code=0
env -u DESCENT_JOB_TOKEN "$DESCENT" local --config "$EXAMPLE" \
  --output_dir "$WORK/tls_job" --set train.epochs=1 \
  --tls_cert "$TLS/node.pem" --tls_key "$TLS/node.key" --tls_ca "$TLS/ca.pem" \
  >"$WORK/tls.out" 2>"$WORK/tls.err" || code=$?
[[ "$code" == 0 ]] || fail "local over mTLS: exit $code: $(tail -5 "$WORK/tls.err")"
[[ "$(json_field "$WORK/tls_job/summary.json" state)" == SUCCEEDED ]] ||
  fail "mTLS summary: $(cat "$WORK/tls_job/summary.json")"
echo "auth_test: ok"
