"""``--netpol-baseline PREVIOUS.json``: two static runs, a policy file changed in between.

Exactly the cells whose observed outcome changed are listed: in the terminal section
"netpol changes since the baseline", in the JSON summary's ``baseline`` object, and in
the Markdown and HTML reports.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from typing import cast

import pytest

from harness.report.baseline import compare
from harness.report.baseline import read_baseline
from harness.report.summary import ScenarioSummary

SCENARIO = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: shop}
namespaces: [{name: shop}]
workloads:
  - {name: web, namespace: shop, labels: {app: web}, ports: [80]}
  - {name: api, namespace: shop, labels: {app: api}, ports: [8080]}
  - {name: db, namespace: shop, labels: {app: db}, ports: [5432]}
manifests: [policies.yaml]
expect:
  default: deny
  allow: [web -> api:8080, api -> db:5432, api -> web:80, db -> web:80]
"""
OTHER = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: other}
namespaces: [{name: other}]
workloads:
  - {name: a, namespace: other, labels: {app: a}, ports: [80]}
  - {name: b, namespace: other, labels: {app: b}}
expect:
  allow: [b -> a:80]
"""
POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: shop}}
spec:
  podSelector: {{matchLabels: {{app: {target}}}}}
  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: {source}}}}}}}]}}]
"""
BEFORE = (
    POLICY.format(name="api", target="api", source="web")
    + "---\n"
    + POLICY.format(name="db", target="db", source="api")
)
#: db admits web instead of api: two cells change; nothing else does.
AFTER = (
    POLICY.format(name="api", target="api", source="web")
    + "---\n"
    + POLICY.format(name="db", target="db", source="web")
)
CHANGED = {
    "api->db:5432/TCP": ("connected", "dropped"),
    "web->db:5432/TCP": ("dropped", "connected"),
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(pytester.path))
    checks = pytester.path / "checks"
    checks.mkdir()
    (checks / "shop.netpol.yaml").write_text(SCENARIO)
    (checks / "other.netpol.yaml").write_text(OTHER)
    (checks / "policies.yaml").write_text(BEFORE)
    pytester.makeini("[pytest]\n")
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "--netpol-static",
        *args,
        "checks",
    )


def section(result: pytest.RunResult) -> list[str]:
    lines = [ANSI.sub("", ln) for ln in result.outlines]
    start = next(i for i, ln in enumerate(lines) if "netpol changes since the baseline" in ln)
    end = next(i for i, ln in enumerate(lines) if i > start and ln.startswith("====="))
    return lines[start + 1 : end]


def _document(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_exactly_the_changed_cells_are_listed(project: pytest.Pytester, workers: list[str]) -> None:
    before, after = project.path / "before.json", project.path / "after.json"
    first = run(project, *workers, "--netpol-report-json", str(before))
    first.assert_outcomes(passed=7)  # shop: 6 cells, other: 1
    assert "netpol changes since the baseline" not in first.stdout.str()
    assert "baseline" not in _document(before)

    (project.path / "checks" / "policies.yaml").write_text(AFTER)
    second = run(
        project,
        *workers,
        "--netpol-report-json",
        str(after),
        "--netpol-baseline",
        str(before),
        "--netpol-markdown",
        str(project.path / "after.md"),
        "--netpol-html",
        str(project.path / "after.html"),
    )
    second.assert_outcomes(passed=5, failed=2)

    lines = section(second)
    assert lines[0] == f"2 of 7 cells changed their observed outcome since {before}"
    listed = [ln.split()[0] for ln in lines[1:] if ln.startswith("  shop::")]
    assert listed == [f"shop::{key}" for key in sorted(CHANGED)]
    assert "  shop::api->db:5432/TCP  connected -> dropped  (expected allow: pass -> fail)" in lines
    assert any("now: ingress denies: shop-static/db is isolated" in ln for ln in lines)

    baseline = _document(after)["baseline"]
    assert baseline["path"] == str(before)
    assert (baseline["compared"], baseline["unmatched"]) == (7, 0)
    got = {
        c["cell"]: (c["before"]["observed"], c["after"]["observed"]) for c in baseline["changed"]
    }
    assert got == CHANGED
    assert [c["id"] for c in baseline["changed"]] == [
        "shop::api->db:5432/TCP[allow]",
        "shop::web->db:5432/TCP[deny]",
    ]
    assert all(c["scenario"] == "shop" for c in baseline["changed"])

    markdown = (project.path / "after.md").read_text()
    assert "### Changes since the baseline" in markdown
    rows = [
        ln
        for ln in markdown.split("### Changes since the baseline")[1].splitlines()
        if ln.startswith("| `")
    ]
    assert [r.split(" | ")[:3] for r in rows] == [
        ["| `shop::api->db:5432/TCP`", "connected", "**dropped**"],
        ["| `shop::web->db:5432/TCP`", "dropped", "**connected**"],
    ]
    html = (project.path / "after.html").read_text()
    assert html.count("<tr><td><code>shop::") == 2


def test_an_unchanged_run_says_so(project: pytest.Pytester) -> None:
    before = project.path / "before.json"
    run(project, "--netpol-report-json", str(before)).assert_outcomes(passed=7)
    again = run(project, "--netpol-baseline", str(before), "--netpol-report-json", str(before))
    again.assert_outcomes(passed=7)
    assert section(again) == [f"no cell changed since {before} (7 cells compared)"]
    assert _document(before)["baseline"]["changed"] == []  # the same file, read first


def test_cells_the_baseline_lacks_are_counted(project: pytest.Pytester) -> None:
    before = project.path / "before.json"
    run(project, "-k", "shop", "--netpol-report-json", str(before)).assert_outcomes(
        passed=6, deselected=1
    )
    again = run(project, "--netpol-baseline", str(before))
    assert section(again) == [
        f"no cell changed since {before} (6 cells compared); 1 cells of this run are not in it"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--netpol-baseline {path}: no such file (fix: give the JSON summary an earlier"),
        ("not json", "--netpol-baseline {path}: is not JSON (fix: give the file an earlier"),
        ('{"version": 2}', "is not a netpol-harness JSON summary (no scenarios list)"),
        ('{"scenarios": [{"scenario": "x", "cells": [{}]}]}', "scenarios[0].cells[0] has no"),
    ],
)
def test_a_bad_baseline_is_a_usage_error(
    project: pytest.Pytester, content: str | None, message: str
) -> None:
    path = project.path / "previous.json"
    if content is not None:
        path.write_text(content)
    result = run(project, "--netpol-baseline", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message.format(path=path) in result.stderr.str()


def _summary(scenario: str, *cells: tuple[str, str]) -> ScenarioSummary:
    summary: dict[str, Any] = {
        "version": 2,
        "scenario": scenario,
        "setup_error": "",
        "counts": {},
        "cells": [
            {
                "id": f"{scenario}::{key}[allow]",
                "cell": key,
                "observed": observed,
                "status": "pass" if observed == "connected" else "fail",
                "expected": "allow",
                "explanation": "",
            }
            for key, observed in cells
        ],
    }
    return cast(ScenarioSummary, summary)


def test_cells_match_by_scenario_and_cell_key(tmp_path: Path) -> None:
    path = tmp_path / "previous.json"
    previous = [
        _summary("a", ("x->y:80/TCP", "connected"), ("x->z:80/TCP", "dropped")),
        _summary("b", ("x->y:80/TCP", "dropped")),
    ]
    path.write_text(json.dumps({"version": 2, "scenarios": previous}))
    now = [
        _summary("a", ("x->y:80/TCP", "connected"), ("x->z:80/TCP", "error")),
        _summary("b", ("x->y:80/TCP", "connected"), ("new->y:80/TCP", "connected")),
    ]
    result = compare(read_baseline(str(path)), now, "previous.json")
    assert [
        (c["scenario"], c["cell"], c["before"]["observed"], c["after"]["observed"])
        for c in result["changed"]
    ] == [
        ("a", "x->z:80/TCP", "dropped", "error"),  # no verdict now: listed, it differs
        ("b", "x->y:80/TCP", "dropped", "connected"),  # same key, other scenario: its own
    ]
    assert (result["compared"], result["unmatched"]) == (3, 1)
