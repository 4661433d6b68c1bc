"""Fuzzing every loader: only HarnessError subclasses come out, fast, never a traceback.

Inputs are mutations of valid files (bytes flipped, lines cut, duplicated, YAML
punctuation and control characters inserted), so most examples reach deep into
the validators, not only the YAML parser.
"""

from __future__ import annotations

import os
import resource
import tempfile
from pathlib import Path

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from tests.inputs.corpus import HEAD
from tests.inputs.corpus import KUBECONFIG
from tests.inputs.corpus import MANIFESTS
from tests.inputs.corpus import OBJECTS
from tests.inputs.corpus import POLICY
from tests.inputs.corpus import TAIL

PIECES = [
    "{",
    "}",
    "[",
    "]",
    ":",
    "- ",
    "*a",
    "&a ",
    "!!str ",
    "'",
    '"',
    "\t",
    "\x00",
    "\x1b",
    "~",
    "on",
    "-1",
    "0x",
    "\u0435",
    "\n",
    "  ",
    "---\n",
    "<<: *a\n",
    "#",
    "?",
]


@st.composite
def mutated(draw: st.DrawFn, base: str) -> bytes:
    text = base
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "dup", "byte"]))
        if op == "insert":
            text = text[:pos] + draw(st.sampled_from(PIECES)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        elif op == "dup":
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i] * draw(st.integers(1, 3)))
            text = "\n".join(lines)
        else:
            data = bytearray(text.encode("utf-8"))
            if data:
                data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
            return bytes(data)
    return text.encode("utf-8", "surrogatepass")


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


def _bounded(call: object) -> None:
    """No crash, one clear message, bounded memory (how fast: bench/bench_inputs.py)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        call()  # type: ignore[operator]
    except HarnessError as exc:
        assert "Traceback" not in str(exc)
        assert all(len(line) < 2000 for line in str(exc).splitlines())
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB"


def _project(tmp: Path, scenario: bytes, policy: bytes | None = None) -> Path:
    (tmp / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp / "scenarios").mkdir(exist_ok=True)
    (tmp / "manifests").mkdir(exist_ok=True)
    (tmp / "manifests" / "p.yaml").write_bytes(policy if policy is not None else POLICY.encode())
    path = tmp / "scenarios" / "s.netpol.yaml"
    path.write_bytes(scenario)
    return path


@FUZZ
@given(mutated(HEAD + MANIFESTS + TAIL))
def test_scenario_loader(data: bytes) -> None:
    from harness.scenario.loader import load

    with tempfile.TemporaryDirectory() as tmp:
        path = _project(Path(tmp), data)
        _bounded(lambda: load(path))


@FUZZ
@given(mutated(POLICY + "---\n" + POLICY.replace("name: p", "name: q")))
def test_manifest_loader(data: bytes) -> None:
    from harness.scenario.loader import load

    with tempfile.TemporaryDirectory() as tmp:
        path = _project(Path(tmp), (HEAD + MANIFESTS + TAIL).encode(), data)
        _bounded(lambda: load(path))


@FUZZ
@given(mutated(OBJECTS + POLICY))
def test_predict_objects_loader(data: bytes) -> None:
    from harness.commands.predict import load_cluster

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "objects.yaml"
        path.write_bytes(data)
        _bounded(lambda: load_cluster([str(path)]))


@FUZZ
@given(mutated(KUBECONFIG))
def test_kubeconfig_loader(data: bytes) -> None:
    from harness.live.cluster import Cluster

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kubeconfig"
        path.write_bytes(data)
        os.environ.pop("KUBECONFIG", None)
        _bounded(lambda: Cluster(kubeconfig=str(path)))
