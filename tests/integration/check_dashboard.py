#!/usr/bin/env python3
"""Checks the Grafana dashboard and alert rules against a live Prometheus.

Usage: check_dashboard.py DASHBOARD_JSON PROMETHEUS_URL START END JOB [JOB_ID]
       check_dashboard.py --lint DASHBOARD_JSON ALERTS_YML

--lint (no Prometheus; ctest's monitoring_lint) checks that concurrent
training jobs never mix: every selector of every dashboard query filters by
job_id=~"$job_id"; every aggregation and every `on (...)` of a dashboard
query or rule keeps job_id (`by (job_id, ...)`; no aggregation without
`by`, no `without`, no scalar()); every alert's unit tests (alerts_test.yml
beside ALERTS_YML) expect a job_id label on what fires.

Evaluates every panel query of the dashboard (Grafana variables replaced)
with /api/v1/query_range over [START, END] (Unix seconds: the job's time
window, so queries don't go stale once the job's targets are gone) and fails
if any returns no series. Also checks what a scraped job must show: every
target up with its discovery labels, counters that increased, histograms
with samples, alert rules that evaluate without error and none firing.
Prints one line per query; exits 1 on any failure. Standard library only.
"""
import json
import re
import sys
import urllib.parse
import urllib.request

# Queries allowed to return nothing from a healthy job, by the metric they
# read, with the reason. Labelled families such as
# descent_server_rejected_requests_total start every label value at 0; the
# federated panels' metrics exist only in federated jobs.
MAY_BE_EMPTY = {"descent_federated_": "only federated jobs export it"}

# Grafana's built-in variables at a 1 s scrape interval ($__rate_interval
# is at least four scrapes), and the dashboard's own.
RATE_INTERVAL = "4s"


class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}",
                                    timeout=30) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def range(self, expr, start, end):
        return self.get("/api/v1/query_range", query=expr, start=start,
                        end=end, step="1")["result"]


def panel_queries(dashboard):
    """(panel title, refId, expr) of every target, rows' panels included."""
    def walk(panels):
        for panel in panels:
            yield from walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield panel.get("title", "?"), target["refId"], target["expr"]
    return list(walk(dashboard["panels"]))


def substitute(expr, variables):
    def replace(match):
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise KeyError(f"unknown Grafana variable ${name} in {expr}")
        return variables[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, expr)


def values(series):
    return [float(v) for _, v in series["values"]]


def finite(x):
    return x == x and abs(x) != float("inf")


# PromQL words that are neither metric names nor label names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "and", "or", "unless", "offset", "inf", "nan"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar",
                "count", "count_values", "bottomk", "topk", "quantile"}


def promql_problems(expr, dashboard):
    """What in `expr` mixes jobs. Dashboard queries must also select
    job_id=~"$job_id" in every selector."""
    problems = []
    # Strings and durations first: they may hold anything.
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    code = re.sub(r"\[[^\]]*\]", "", code)
    for op, labels in re.findall(r"\b(by|on|without|ignoring)\s*\(([^)]*)\)", code):
        names = {n.strip() for n in labels.split(",") if n.strip()}
        if op in ("by", "on") and "job_id" not in names:
            problems.append(f"`{op} ({labels})` drops job_id")
        if op == "without":
            problems.append("`without` (use `by (job_id, ...)`)")
        if op == "ignoring" and "job_id" in names:
            problems.append("`ignoring (job_id)`")
    for match in re.finditer(r"\b([a-z_]+)\s*\(", code):
        if match.group(1) in AGGREGATIONS:
            problems.append(f"`{match.group(1)}(` aggregates without `by (job_id)`")
        if match.group(1) in ("scalar", "vector"):
            problems.append(f"`{match.group(1)}()` loses every label")
    if dashboard:
        # Each metric name (an identifier that is no function, keyword or
        # label list entry) must carry the selector.
        bare = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", code)
        for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?", bare):
            name, selector = match.group(1), match.group(2)
            rest = bare[match.end():].lstrip()
            if (name.lower() in KEYWORDS or rest.startswith("(") or
                    bare[max(0, match.start() - 1)] in "$." or
                    re.fullmatch(r"[0-9.e]+", name)):
                continue
            if selector is None:
                problems.append(f"{name} without a selector")
        for selector in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*\s*\{([^}]*)\}", expr):
            if 'job_id=~"$job_id"' not in selector.replace(" ", ""):
                problems.append(f'selector {{{selector}}} lacks job_id=~"$job_id"')
    return problems


def lint(dashboard_path, alerts_path):
    """The --lint checks; returns a list of failures."""
    import yaml  # python3-yaml: Debian's, for /usr/bin/python3
    failures = []
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    names = {v["name"] for v in dashboard["templating"]["list"]}
    if "job_id" not in names:
        failures.append("the dashboard has no variable $job_id")
    queries = panel_queries(dashboard)
    for title, ref, expr in queries:
        for problem in promql_problems(expr, dashboard=True):
            failures.append(f"panel \"{title}\" query {ref}: {problem}: {expr}")
    with open(alerts_path) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    for rule in rules:
        name = rule.get("alert") or rule.get("record")
        for problem in promql_problems(rule["expr"], dashboard=False):
            failures.append(f"rule {name}: {problem}: {rule['expr']}")
    tests_path = alerts_path.rsplit("/", 1)[0] + "/alerts_test.yml"
    with open(tests_path) as f:
        tests = yaml.safe_load(f)["tests"]
    firing = {}
    for test in tests:
        for case in test.get("alert_rule_test", []):
            for alert in case.get("exp_alerts", []):
                firing.setdefault(case["alertname"], []).append(alert["exp_labels"])
    for rule in rules:
        if "alert" not in rule:
            continue
        expected = firing.get(rule["alert"], [])
        if not expected:
            failures.append(f"alert {rule['alert']}: no test in {tests_path} fires it")
        for labels in expected:
            if "job_id" not in labels:
                failures.append(f"alert {rule['alert']}: a test expects it without job_id: {labels}")
    print(f"lint: {len(queries)} dashboard queries, {len(rules)} rules")
    return failures


def check_queries(prom, dashboard, start, end, job, job_id, failures):
    variables = {
        "__rate_interval": RATE_INTERVAL,
        "__interval": "1s",
        "__range": f"{int(end - start)}s",
        "job": job,
        "job_id": job_id,
    }
    names = {v["name"] for v in dashboard["templating"]["list"]}
    for name in names - {"datasource", "job", "job_id"}:
        failures.append(f"dashboard variable ${name} is unknown to this test")
    queries = panel_queries(dashboard)
    for title, ref, raw in queries:
        expr = substitute(raw, variables)
        result = prom.range(expr, start, end)
        samples = [x for s in result for x in values(s)]
        if not result:
            optional = [m for m in MAY_BE_EMPTY if m in expr]
            if optional:
                print(f"  empty (allowed: {MAY_BE_EMPTY[optional[0]]}): "
                      f"{title} {ref}: {expr}")
                continue
            print(f"  NO DATA: {title} {ref}: {expr}")
            failures.append(f"panel \"{title}\" query {ref} returned no data: {expr}")
        elif not any(finite(x) for x in samples):
            print(f"  only NaN/Inf ({len(result)} series): {title} {ref}: {expr}")
        else:
            print(f"  ok ({len(result)} series): {title} {ref}: {expr}")
    print(f"{len(queries)} dashboard queries evaluated")


def check_job(prom, start, end, failures):
    def expect(condition, message):
        if not condition:
            failures.append(message)

    up = prom.range("count by (role) (up == 1)", start, end)
    most = {s["metric"].get("role"): max(values(s)) for s in up}
    expect(most == {"coordinator": 1, "server": 2, "worker": 2},
           f"targets up by role: {most}, expected 1 coordinator, 2 servers, 2 workers")
    labels = prom.range('count(up{role="server",shard=~"0|1"}) + '
                        'count(up{role="worker",worker=~"0|1"})', start, end)
    expect(labels and max(values(labels[0])) == 4,
           "targets lack the shard/worker labels of the discovery file")
    exported = prom.range('count({exported_role!=""})', start, end)
    expect(not exported, "scraped labels were renamed exported_*: honor_labels lost")

    for counter in ("descent_worker_steps_total", "descent_server_pushes_total",
                    "descent_job_examples_total"):
        result = prom.range(counter, start, end)
        expect(result, f"{counter}: no series")
        for series in result:
            v = values(series)
            expect(v[-1] > v[0], f"{counter}{series['metric']} did not increase: {v[0]} -> {v[-1]}")
    for histogram in ("descent_server_push_duration_seconds",
                      "descent_worker_compute_duration_seconds",
                      "descent_server_staleness_updates"):
        result = prom.range(f"sum({histogram}_count)", start, end)
        expect(result and max(values(result[0])) > 0,
               f"{histogram}: no observations")

    groups = prom.get("/api/v1/rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    expect(len(rules) >= 8, f"only {len(rules)} alert rules loaded")
    for rule in rules:
        expect(rule.get("health") == "ok",
               f"rule {rule['name']}: health {rule.get('health')}: {rule.get('lastError')}")
    firing = [a["labels"]["alertname"] for a in prom.get("/api/v1/alerts")["alerts"]
              if a["state"] == "firing"]
    expect(not firing, f"alerts firing during a healthy job: {firing}")
    print(f"{len(rules)} alert rules evaluated without error")


def main():
    if sys.argv[1] == "--lint":
        failures = lint(sys.argv[2], sys.argv[3])
        for failure in failures:
            print(f"FAIL: {failure}", file=sys.stderr)
        return 1 if failures else 0
    dashboard_path, url, start, end, job = sys.argv[1:6]
    job_id = sys.argv[6] if len(sys.argv) > 6 else ".*"
    start, end = float(start), float(end)
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    prom = Prometheus(url)
    failures = []
    check_queries(prom, dashboard, start, end, job, job_id, failures)
    check_job(prom, start, end, failures)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
