#!/usr/bin/env python3
"""Checks the Grafana dashboard and alert rules against a live Prometheus.

Usage: check_dashboard.py DASHBOARD_JSON PROMETHEUS_URL START END JOB

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
# read, with the reason. None so far: labelled families such as
# descent_server_rejected_requests_total start every label value at 0.
MAY_BE_EMPTY = {}

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


def check_queries(prom, dashboard, start, end, job, failures):
    variables = {
        "__rate_interval": RATE_INTERVAL,
        "__interval": "1s",
        "__range": f"{int(end - start)}s",
        "job": job,
    }
    names = {v["name"] for v in dashboard["templating"]["list"]}
    for name in names - {"datasource", "job"}:
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
    dashboard_path, url, start, end, job = sys.argv[1:6]
    start, end = float(start), float(end)
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    prom = Prometheus(url)
    failures = []
    check_queries(prom, dashboard, start, end, job, failures)
    check_job(prom, start, end, failures)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
