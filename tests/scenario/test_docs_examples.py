"""The scenario examples of docs/scenarios.md load (each code block, each cell on its own)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.scenario.loader import loads

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: NAME, namespace: backend}
spec: {podSelector: {}}
"""


def _blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _complete() -> dict[str, Any]:
    doc = next(yaml.safe_load(b) for b in _blocks() if "kind: Scenario" in b)
    assert isinstance(doc, dict)
    return doc


def _examples() -> list[tuple[str, dict[str, Any]]]:
    """(id, scenario document) for every example."""
    out: list[tuple[str, dict[str, Any]]] = [("complete", _complete())]
    for n, block in enumerate(_blocks()):
        data = yaml.safe_load(block)
        if isinstance(data, dict) and "kind" in data:
            continue
        if isinstance(data, dict) and set(data) <= {"ingress", "egress"}:
            continue  # a NetworkPolicy rule fragment (run-time values: tests/placeholders)
        base = _complete()
        if isinstance(data, list):  # the structured form of one cell
            base["expect"] = {"allow": data}
            out.append((f"block{n}-structured", base))
        elif set(data) <= {"allow", "deny"}:
            for verdict, items in data.items():
                for i, item in enumerate(items):
                    one = _complete()
                    one["expect"] = {verdict: [item]}
                    out.append((f"block{n}-{verdict}{i}", one))
        elif set(data) == {"ports"}:  # a workload's ports: given to the api workload
            api = next(w for w in base["workloads"] if w["name"] == "api")
            api["ports"] = data["ports"]
            base["expect"] = {"default": "deny"}
            out.append((f"block{n}-ports", base))
        elif set(data) == {"namespaces"}:  # more namespaces next to the example's own
            names = {ns["name"] for ns in data["namespaces"]}
            base["namespaces"] = data["namespaces"] + [
                ns for ns in base["namespaces"] if ns["name"] not in names
            ]
            out.append((f"block{n}-namespaces", base))
        elif "workloads" in data:  # the in-place example: a scenario of its own
            doc = {k: v for k, v in _complete().items() if k in ("apiVersion", "kind", "metadata")}
            doc.update(data)
            out.append((f"block{n}-in-place", doc))
        else:
            base.update(data)
            out.append((f"block{n}", base))
    return out


EXAMPLES = _examples()


@pytest.mark.parametrize(("name", "doc"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_documented_example_loads(name: str, doc: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    files = list(doc.get("manifests") or [])
    for step in doc.get("steps") or []:  # the steps example applies and deletes files too
        files += [f for f in (*step.get("apply", ()), *step.get("delete", ())) if f not in files]
    for item in files:
        target = (tmp_path / "scenarios" / item).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(POLICY.replace("NAME", target.stem))
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir(exist_ok=True)
    text = yaml.safe_dump(doc, sort_keys=False)
    scenario = loads(text, str(scenarios / "x.netpol.yaml"), base_dir=scenarios)
    assert scenario.cells


def test_quoted_wildcard_target_in_a_cell_string() -> None:
    """`- web -> "*"` keeps its quotes in YAML: the quotes are part of the name syntax."""
    assert any('web -> "*"' in b for b in _blocks())
    assert any(
        n.startswith("block") and doc["expect"].get("allow") == ['web -> "*"']
        for n, doc in EXAMPLES
    )
