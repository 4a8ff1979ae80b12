#!/usr/bin/env bash
# Monitoring end to end: a real Prometheus, configured by
# deploy/prometheus/prometheus-file-sd.yml (intervals cut to 1 s) with its
# alert rules, follows a `descent local` job through --prometheus_sd_file.
# Every query of the Grafana dashboard must return data over the job's time
# window (check_dashboard.py says which did), counters must increase,
# histograms hold samples, rules evaluate without error; the discovery file
# must be [] once the job has ended. Skips (77) without Debian's prometheus.
source "$(dirname "$0")/lib.sh"

# The flag is checked before anything starts: usage error (1), named.
code=0
"$DESCENT" local --config "$EXAMPLE" --output_dir "$WORK/unused" \
  --prometheus_sd_file "$WORK/no/such/dir/job.json" 2>"$WORK/usage" || code=$?
[[ "$code" == 1 ]] || fail "missing directory: exit code $code, not 1"
grep -q -- "--prometheus_sd_file=$WORK/no/such/dir/job.json: directory .* does not exist" \
  "$WORK/usage" || fail "missing directory: $(head -1 "$WORK/usage")"
[[ ! -e "$WORK/unused" ]] || fail "a job started despite the usage error"
code=0
"$DESCENT" worker --coordinator 127.0.0.1:1 --prometheus_sd_file "$WORK/t.json" \
  2>"$WORK/usage" || code=$?
[[ "$code" == 1 ]] && grep -q "unknown flag --prometheus_sd_file" "$WORK/usage" ||
  fail "worker accepted --prometheus_sd_file (exit $code)"

PROMETHEUS="$(command -v prometheus || true)"
if [[ -z "$PROMETHEUS" ]]; then
  echo "SKIP: prometheus is not installed (Debian package prometheus;" \
       "scripts/setup.sh installs it)"
  exit 77
fi

DEPLOY="$SOURCE_DIR/deploy"
PROM="$WORK/prometheus"
SD_FILE="$PROM/targets/job.json"
mkdir -p "$PROM/targets"
cp "$DEPLOY/prometheus/alerts.yml" "$PROM/"
sed -e 's/\(scrape_interval\|evaluation_interval\|refresh_interval\): .*/\1: 1s/' \
  "$DEPLOY/prometheus/prometheus-file-sd.yml" >"$PROM/prometheus.yml"
grep -q 'refresh_interval: 1s' "$PROM/prometheus.yml" ||
  fail "prometheus-file-sd.yml has no refresh_interval to shorten"

# Waits up to $1 seconds for process $2 to exit; on timeout stops it with
# SIGTERM (descent local then stops its children) and fails.
wait_for_exit() {
  for _ in $(seq 1 $(( $1 * 10 ))); do
    kill -0 "$2" 2>/dev/null || { wait "$2"; return $?; }
    sleep 0.1
  done
  kill -TERM "$2" 2>/dev/null || true
  sleep 4
  fail "process $2 still running after $1 s"
}

# A free port for Prometheus (it cannot pick its own and report it); retried
# if another process takes the port first.
start_prometheus() {
  local attempt
  for attempt in 1 2 3; do
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$PROMETHEUS" --config.file="$PROM/prometheus.yml" \
      --storage.tsdb.path="$PROM/data" \
      --web.listen-address="127.0.0.1:$PORT" --log.level=warn \
      >>"$WORK/prometheus.log" 2>&1 &
    PROM_PID=$!
    BACKGROUND_PIDS+=("$PROM_PID")
    for _ in $(seq 1 300); do
      curl -fsS --max-time 2 "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1 &&
        return 0
      kill -0 "$PROM_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$PROM_PID" 2>/dev/null || true
  done
  fail "prometheus did not start: $(tail -5 "$WORK/prometheus.log")"
}

# The value of a PromQL instant query with one result, or empty.
instant() {
  curl -fsS --max-time 5 "http://127.0.0.1:$PORT/api/v1/query" \
    --data-urlencode "query=$1" |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}

start_prometheus
START="$(date +%s)"
# About 20 s of training with evaluations every second or so.
start_local --set train.epochs=20 --set train.eval_every_steps=300 \
  --prometheus_sd_file "$SD_FILE"
wait_until_running
grep -q '"role": "worker", "worker": "1"' "$SD_FILE" ||
  fail "the discovery file lacks worker 1: $(cat "$SD_FILE")"

# Prometheus finds all five targets through the file while the job runs.
for _ in $(seq 1 200); do
  [[ "$(instant 'count(up == 1)')" == 5 ]] && break
  kill -0 "$LOCAL_PID" 2>/dev/null || fail "the job ended before all targets were scraped"
  sleep 0.1
done
[[ "$(instant 'count(up == 1)')" == 5 ]] ||
  fail "Prometheus scrapes $(instant 'count(up == 1)') targets, not 5: $(tail -5 "$WORK/prometheus.log")"

wait_for_exit 240 "$LOCAL_PID" ||
  fail "descent local exited with $?: $(tail -20 "$WORK/stderr")"
END="$(date +%s)"
grep -q "^state: SUCCEEDED$" "$WORK/stdout" || fail "stdout: $(cat "$WORK/stdout")"
[[ "$(tr -d ' \n' <"$SD_FILE")" == "[]" ]] ||
  fail "the discovery file was not emptied: $(cat "$SD_FILE")"
sleep 2  # the rules' last evaluations

python3 "$(dirname "$0")/check_dashboard.py" \
  "$DEPLOY/grafana/dashboards/descent-job.json" "http://127.0.0.1:$PORT" \
  "$START" "$END" descent ||
  fail "the dashboard or alert rules do not match the job's metrics"

echo "prometheus_test: every dashboard query has data; $(( END - START )) s job"
