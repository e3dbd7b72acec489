"""Prometheus side of the end-to-end suite: Envoy's /stats/prometheus scraped and parsed,
the metric names and labels that PromQL expressions (the Grafana dashboard, the alert
rules) use, and promtool from Debian's `prometheus` package."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import harness

RULES = harness.REPO / "deploy" / "prometheus" / "webhook-guard-rules.yaml"
RULES_TEST = harness.REPO / "deploy" / "prometheus" / "webhook-guard-rules.test.yaml"
DASHBOARD = harness.REPO / "deploy" / "grafana" / "webhook-guard.json"

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Scrape:
    """One scrape: every sample as (name, labels) -> value, and the declared types."""

    text: str
    samples: dict[tuple[str, frozenset], float] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "Scrape":
        s = cls(text)
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(None, 3)
                s.types[name] = kind
                continue
            if not line.strip() or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            if not m:
                raise ValueError(f"not a Prometheus sample line: {line!r}")
            name, labels, value = m.groups()
            pairs = frozenset((k, v.replace('\\"', '"').replace("\\\\", "\\")) for k, v in _LABEL.findall(labels or ""))
            s.samples[(name, pairs)] = float(value)
        return s

    def value(self, name: str, **labels: str) -> float | None:
        """The sample with exactly these labels, or None."""
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for (n, labels) in self.samples if n == name]

    def names(self) -> set[str]:
        return {n for (n, _) in self.samples}

    def labels_of(self, name: str) -> set[str]:
        return {k for (n, labels) in self.samples if n == name for k, _ in labels}


def scrape(envoy: harness.Envoy) -> Scrape:
    with urllib.request.urlopen(envoy.admin + "/stats/prometheus", timeout=harness.REQUEST_TIMEOUT) as resp:
        text = resp.read().decode("utf-8")
    workdir = getattr(envoy, "workdir", None)
    if workdir is not None:
        (workdir / "scrape.prom").write_text(text)  # kept with the run, to read afterwards
    return Scrape.parse(text)


# --------------------------------------------------------------------------------------
# Metric names and labels in PromQL expressions.

# Words in PromQL that are not metric names.
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "inf", "nan", "atan2",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_DURATION = re.compile(r"\[[^\]]*\]")
_GRAFANA_VAR = re.compile(r"\$\{?\w+\}?|\$__\w+")


@dataclass
class Usage:
    """What one PromQL expression reads: metric names, and label names it groups,
    matches or joins on."""

    metrics: set[str]
    labels: set[str]


def promql_usage(expr: str) -> Usage:
    labels: set[str] = set()
    for group in _GROUPING.findall(expr):
        labels.update(x.strip() for x in group.split(",") if x.strip())
    for block in _MATCHERS.findall(expr):
        labels.update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", block))
    # Strip what is not a metric name: strings, label matchers, groupings, ranges,
    # Grafana variables, numbers; then the remaining identifiers not followed by '('
    # (functions) and not keywords are metric names.
    rest = _STRING.sub('""', expr)
    rest = _MATCHERS.sub(" ", rest)
    rest = _GROUPING.sub(" ", rest)
    rest = _DURATION.sub(" ", rest)
    rest = _GRAFANA_VAR.sub(" ", rest)
    metrics = {m for m in _IDENT.findall(rest) if m.lower() not in _KEYWORDS and not re.fullmatch(r"\d.*", m)}
    return Usage(metrics, labels)


# --------------------------------------------------------------------------------------
# promtool (Debian's `prometheus` package; scripts/setup.sh installs it).


def promtool() -> str:
    local = harness.REPO / ".venv" / "bin" / "promtool"
    path = str(local) if local.exists() else shutil.which("promtool")
    if not path:
        raise FileNotFoundError("promtool not found (run `make setup`: it takes it from Debian's prometheus package)")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)


def rule_exprs(rules: dict) -> list[tuple[str, str]]:
    """(alert or record name, expr) for every rule of a rule file."""
    out = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            out.append((rule.get("alert") or rule.get("record"), rule["expr"]))
    return out


def dashboard_exprs(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expr) for every Prometheus query of a Grafana dashboard, panels in
    rows included, and the template variables' queries."""
    out = []

    def panels(items):
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dashboard.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append((p.get("title", "?"), t["expr"]))
    for var in dashboard.get("templating", {}).get("list", []):
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if var.get("type") == "query" and q:
            m = re.fullmatch(r"label_values\((?:(.+),\s*)?(\w+)\)", q.strip())
            if m:
                # label_values(metric, label): the metric must have that label.
                out.append((f"variable {var.get('name')}", f"sum by ({m.group(2)}) ({m.group(1) or 'up'})"))
            else:
                out.append((f"variable {var.get('name')}", q))
    return out


def target_labels() -> set[str]:
    """Labels Prometheus adds to every scraped series (not in Envoy's answer)."""
    return {"instance", "job"}


def load(path: Path):
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
