"""Helpers for the scenario tests: a tiny project on disk and line markers.

A line ending in ``#!`` marks where an error is expected; :func:`marked_line`
finds it, so each case states its expected line next to the offending text.
"""

from __future__ import annotations

from pathlib import Path

from harness.model import Scenario
from harness.scenario.loader import load

MARK = "#!"

BASE_WORKLOADS = """\
workloads:
  - name: web
    namespace: front
    labels: {app: web}
    ports: [80]
  - name: api
    namespace: back
    labels: {app: api}
    ports: [{port: 8080, name: http}, "53/UDP", "9000/SCTP"]
  - name: db
    namespace: back
    labels: {app: db}
    role: server
    ports: [5432]
  - name: job
    namespace: back
    labels: {app: job}
"""

BASE_NAMESPACES = """\
namespaces:
  - name: front
    labels: {tier: front}
  - name: back
  - name: kube-system
    existing: true
"""

BASE_EXTERNALS = """\
externals:
  - {name: pay, address: 198.51.100.10, port: 443}
"""

BASE_EXPECT = """\
expect:
  default: deny
  allow:
    - web -> api:8080
"""


def scenario_text(
    *,
    head: str = "",
    namespaces: str = BASE_NAMESPACES,
    workloads: str = BASE_WORKLOADS,
    externals: str = BASE_EXTERNALS,
    manifests: str = "",
    expect: str = BASE_EXPECT,
    name: str = "demo",
) -> str:
    top = (
        head
        or f"apiVersion: netpol-harness.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: {name}\n"
    )
    return top + namespaces + workloads + externals + manifests + expect


def marked_line(text: str) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.rstrip().endswith(MARK)]
    assert len(lines) == 1, f"exactly one {MARK} marker expected, found {lines}"
    return lines[0]


def project(tmp_path: Path) -> Path:
    """A project root (with pyproject.toml) holding scenarios/ and manifests/."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    (tmp_path / "manifests").mkdir(exist_ok=True)
    return tmp_path


def write_scenario(root: Path, text: str | bytes, name: str = "s.netpol.yaml") -> Path:
    path = root / "scenarios" / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_text(root: Path, text: str, name: str = "s.netpol.yaml") -> Scenario:
    return load(write_scenario(root, text, name))
