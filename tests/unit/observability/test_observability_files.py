"""The files operations load: alert rules (promtool check and unit tests), the Prometheus
Operator copy of the rules, and the Grafana dashboard's queries."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.observability import (
    ALERTS,
    OBSERVABILITY,
    dashboard_queries,
    metric_names,
    promtool,
)

# Grafana's variables, replaced by values Prometheus accepts, to check the queries parse.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__range": "1h",
    "$job": ".*",
}


def run_promtool(*args: str) -> str:
    result = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_alert_rules_pass_promtool_check_and_unit_tests() -> None:
    assert "SUCCESS: 8 rules found" in run_promtool("check", "rules", str(ALERTS))
    assert "SUCCESS" in run_promtool("test", "rules", str(OBSERVABILITY / "alerts.test.yaml"))


def test_operator_rules_are_the_same_as_the_rule_file() -> None:
    operator: dict[str, Any] = yaml.safe_load(
        (OBSERVABILITY / "kubernetes" / "prometheus-rule.yaml").read_text()
    )
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    rules = []
    for number, query in enumerate(queries):
        for variable, replacement in GRAFANA_VARIABLES.items():
            query = query.replace(variable, replacement)
        assert "$" not in query, query
        rules.append({"record": f"dashboard:query_{number}", "expr": query})
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", str(path))


def test_dashboard_covers_what_operations_watch() -> None:
    used = metric_names(dashboard_queries())
    for name in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "llm_call_duration_seconds_bucket",
        "llm_calls_total",
        "llm_tokens_total",
        "llm_cost_total",
        "tool_calls_total",
        "knowledge_base_searches_total",
        "sse_streams_in_progress",
    ):
        assert name in used, name
