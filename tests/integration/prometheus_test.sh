#!/usr/bin/env bash
# Monitoring end to end: a real Prometheus, configured by
# deploy/prometheus/prometheus-file-sd.yml (intervals cut to 1 s) with its
# alert rules, and a real Alertmanager (deploy/alertmanager/), follow
# `descent local` jobs through --prometheus_sd_file.
# A healthy job: every query of the Grafana dashboard must return data for
# its job_id over the job's time window (check_dashboard.py says which
# did), counters must increase, histograms hold samples, rules evaluate
# without error and none fires, the final state is scraped at least twice
# (--metrics_linger); the discovery file must be [] once the job has ended.
# A job that diverges within seconds: DescentJobFailed fires and reaches
# Alertmanager. Skips (77) without Debian's prometheus.
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
# A free port on 127.0.0.1 (callers retry if another process takes it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Alertmanager, if installed (Debian's prometheus-alertmanager), on a free
# port; sets AM_PORT (empty without it). Clustering off: 127.0.0.1 only.
AM_PORT=""
AM="$(command -v prometheus-alertmanager || true)"
if [[ -n "$AM" ]]; then
  for attempt in 1 2 3; do
    AM_PORT="$(free_port)"
    "$AM" --config.file="$DEPLOY/alertmanager/alertmanager.yml" \
      --storage.path="$WORK/alertmanager" --cluster.listen-address= \
      --web.listen-address="127.0.0.1:$AM_PORT" --log.level=warn \
      >>"$WORK/alertmanager.log" 2>&1 &
    AM_PID=$!
    BACKGROUND_PIDS+=("$AM_PID")
    for _ in $(seq 1 100); do
      curl -fsS --max-time 2 "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null 2>&1 && break 2
      kill -0 "$AM_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$AM_PID" 2>/dev/null || true
    AM_PORT=""
  done
  [[ -n "$AM_PORT" ]] || fail "alertmanager did not start: $(tail -5 "$WORK/alertmanager.log")"
else
  echo "note: prometheus-alertmanager is not installed; alerts are not delivered"
fi

sed -e 's/\(scrape_interval\|evaluation_interval\|refresh_interval\): .*/\1: 1s/' \
  -e "s/127.0.0.1:9093/127.0.0.1:${AM_PORT:-9}/" \
  "$DEPLOY/prometheus/prometheus-file-sd.yml" >"$PROM/prometheus.yml"
grep -q 'refresh_interval: 1s' "$PROM/prometheus.yml" ||
  fail "prometheus-file-sd.yml has no refresh_interval to shorten"
grep -q "127.0.0.1:${AM_PORT:-9}\"" "$PROM/prometheus.yml" ||
  fail "prometheus-file-sd.yml sends alerts to no Alertmanager on 127.0.0.1:9093"

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
    PORT="$(free_port)"
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

# How many scraped samples of range selector $1 (e.g. x[10m]) equal $2.
samples_equal() {
  curl -fsS --max-time 5 "http://127.0.0.1:$PORT/api/v1/query" \
    --data-urlencode "query=$1" |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(sum(float(v) == float(sys.argv[1]) for s in r for _, v in s["values"]))' "$2"
}

# The job id in a discovery file, or empty.
sd_job_id() {
  { sed -n 's/.*"job_id": "\([^"]*\)".*/\1/p' "$1" 2>/dev/null || true; } | head -1
}

start_prometheus
START="$(date +%s)"
# About 15 s of training (some 600,000 examples/s here, over shared
# memory) with evaluations every second or so.
start_local --set train.epochs=150 --set train.eval_every_steps=2000 \
  --prometheus_sd_file "$SD_FILE" --metrics_linger 3s
wait_until_running
for _ in $(seq 1 50); do  # written just after processes.txt
  grep -q '"role": "worker", "worker": "1"' "$SD_FILE" && break
  sleep 0.1
done
grep -q '"role": "worker", "worker": "1"' "$SD_FILE" ||
  fail "the discovery file lacks worker 1: $(cat "$SD_FILE")"
JOB_ID="$(sd_job_id "$SD_FILE")"
[[ -n "$JOB_ID" && "$(grep -c "\"job_id\": \"$JOB_ID\"" "$SD_FILE")" == 5 ]] ||
  fail "not every target of the discovery file has the job's job_id: $(cat "$SD_FILE")"

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
grep -q "job SUCCEEDED; the coordinator serves its final metrics for 3s" \
  "$WORK/stderr" || fail "no word of the linger: $(tail -5 "$WORK/stderr")"
[[ "$(tr -d ' \n' <"$SD_FILE")" == "[]" ]] ||
  fail "the discovery file was not emptied: $(cat "$SD_FILE")"
sleep 2  # the rules' last evaluations
final="$(samples_equal "descent_job_state{job_id=\"$JOB_ID\"}[10m]" 3)"
(( final >= 2 )) || fail "the final state (3) was scraped $final times, not at least twice"

python3 "$(dirname "$0")/check_dashboard.py" \
  "$DEPLOY/grafana/dashboards/descent-job.json" "http://127.0.0.1:$PORT" \
  "$START" "$END" descent "$JOB_ID" ||
  fail "the dashboard or alert rules do not match the job's metrics"

# A job that diverges within seconds of its start (diverging.textproto, as
# in divergence_test.sh): its coordinator is scraped in state 4 although the
# job is over at once, and DescentJobFailed fires, for this job, and
# reaches Alertmanager. Its linger covers two scrapes (2 s) plus the up to
# 5 s Prometheus takes to pass a changed discovery file on to its scrapers.
FAILED_SD="$PROM/targets/failed.json"
"$DESCENT" local --config "$(dirname "$0")/diverging.textproto" --output_dir "$WORK/failed" \
  --prometheus_sd_file "$FAILED_SD" --metrics_linger 8s \
  >"$WORK/failed.stdout" 2>"$WORK/failed.stderr" &
FAILED_PID=$!
BACKGROUND_PIDS+=("$FAILED_PID")
FAILED_ID=""
delivered=""
for _ in $(seq 1 600); do
  [[ -n "$FAILED_ID" ]] || FAILED_ID="$(sd_job_id "$FAILED_SD")"
  if [[ -n "$AM_PORT" && -n "$FAILED_ID" && -z "$delivered" ]] &&
    curl -fsS --max-time 2 "http://127.0.0.1:$AM_PORT/api/v2/alerts" |
      python3 -c 'import json, sys; sys.exit(not any(a["labels"].get("alertname") == "DescentJobFailed" and a["labels"].get("job_id") == sys.argv[1] for a in json.load(sys.stdin)))' "$FAILED_ID"; then
    delivered=yes
  fi
  kill -0 "$FAILED_PID" 2>/dev/null || break
  sleep 0.1
done
code=0
wait_for_exit 60 "$FAILED_PID" || code=$?
[[ "$code" == 6 ]] || fail "the diverging job exited $code, not 6: $(tail -5 "$WORK/failed.stderr")"
[[ -n "$FAILED_ID" ]] || fail "the diverging job never listed its targets"
sleep 2
failed="$(samples_equal "descent_job_state{job_id=\"$FAILED_ID\"}[10m]" 4)"
(( failed >= 2 )) ||
  fail "the failed state (4) was scraped $failed times, not at least twice:" \
    "$(cat "$WORK/failed.stderr"; tail -4 "$WORK/failed/logs/coordinator.log")"
[[ "$(instant "max_over_time(ALERTS{alertname=\"DescentJobFailed\",alertstate=\"firing\",job_id=\"$FAILED_ID\"}[10m])")" == 1 ]] ||
  fail "DescentJobFailed did not fire for job $FAILED_ID"
[[ -z "$AM_PORT" || -n "$delivered" ]] ||
  fail "Alertmanager never received DescentJobFailed: $(tail -5 "$WORK/alertmanager.log")"
[[ -z "$(instant "count(ALERTS{alertstate=\"firing\",job_id=\"$JOB_ID\"})")" ]] ||
  fail "alerts fire for the job that succeeded"

echo "prometheus_test: every dashboard query has data; $(( END - START )) s job;" \
  "final state scraped $final times; the diverged job's $failed times;" \
  "DescentJobFailed fired${delivered:+ and reached Alertmanager}"
