"""Helpers shared by the reliability tests and the bench/ campaigns (fault, interrupt).

A sandbox per state dir (always brought down), pytest runs of scenarios as subprocesses
(the way CI runs them), their JSON verdicts, and what a run left behind in the cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
MANAGED = "app.kubernetes.io/managed-by=netpol-harness"


def env(**extra: str) -> dict[str, str]:
    """The environment of every child: loopback never goes through a proxy."""
    out = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    out.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    out.update(extra)
    return out


def can_run_sandbox() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("nft") is not None


def _cli(*args: str, timeout: float = 150.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(),
        cwd=REPO,
        check=False,
    )


@contextlib.contextmanager
def sandbox(state: Path, *flags: str) -> Iterator[Path]:
    """A sandbox in ``state`` with fault ``flags``; ALWAYS brought down. Yields its kubeconfig."""
    try:
        up = _cli("sandbox", "up", "--state-dir", str(state), "--timeout", "90", *flags)
        if up.returncode != 0:
            raise RuntimeError(f"sandbox up failed: {up.stdout}\n{up.stderr}")
        yield state / "kubeconfig"
    finally:
        _cli("sandbox", "down", "--state-dir", str(state))


@dataclass(frozen=True)
class PytestRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    junit: Path
    report: Path


def pytest_argv(
    kubeconfig: Path, scenarios: Sequence[str], out: Path, *extra: str
) -> tuple[list[str], Path, Path]:
    junit, report = out / "junit.xml", out / "report.json"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *[str(SCENARIOS / s) if not os.path.isabs(s) else s for s in scenarios],
        "--netpol-kubeconfig",
        str(kubeconfig),
        "--netpol-junit",
        str(junit),
        "--netpol-report-json",
        str(report),
        *extra,
    ]
    return argv, junit, report


def run_pytest(
    kubeconfig: Path,
    scenarios: Sequence[str],
    out: Path,
    *extra: str,
    timeout: float = 900.0,
) -> PytestRun:
    """``pytest <scenarios> --netpol-kubeconfig K`` as CI runs it; reports go to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    argv, junit, report = pytest_argv(kubeconfig, scenarios, out, *extra)
    start = time.monotonic()
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env(), cwd=REPO, check=False
    )
    return PytestRun(
        done.returncode, done.stdout, done.stderr, time.monotonic() - start, junit, report
    )


@dataclass(frozen=True)
class CellResult:
    scenario: str
    cell: str
    expected: str
    status: str
    detail: str


def cells(report: Path) -> dict[str, CellResult]:
    """Cell id -> result, from a --netpol-report-json file."""
    data = json.loads(report.read_text())
    out: dict[str, CellResult] = {}
    for scenario in data.get("scenarios", []):
        for c in scenario.get("cells", []):
            detail = str(c.get("detail") or "")
            if scenario.get("setup_error") and not detail:
                detail = f"setup failed: {scenario['setup_error']}"
            out[str(c["id"])] = CellResult(
                str(scenario["scenario"]),
                str(c["cell"]),
                str(c["expected"]),
                str(c["status"]),
                detail,
            )
    return out


def leftovers(kubeconfig: Path, wait: float = 60.0) -> list[str]:
    """Namespaces, pods and policies labelled managed-by=netpol-harness still there.

    Waits (bounded) for terminating namespaces to go; returns "Kind ns/name" lines.
    """
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=str(kubeconfig))
    deadline = time.monotonic() + wait
    while True:
        found: list[str] = []
        for api_version, kind in (
            ("v1", "Namespace"),
            ("v1", "Pod"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
            ("v1", "Service"),
        ):
            for obj in cluster.list_objects(api_version, kind, label_selector=MANAGED):
                meta = obj.get("metadata") or {}
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                found.append(f"{kind} {where}{meta.get('name')}")
        if not found or time.monotonic() >= deadline:
            return sorted(found)
        time.sleep(1.0)


def moment(kubeconfig: Path) -> str:
    """Which step a run is at, from what exists in the cluster right now."""
    from harness.live.cluster import Cluster
    from harness.live.pods import is_ready

    cluster = Cluster(kubeconfig=str(kubeconfig), retry_attempts=1)
    try:
        namespaces = cluster.list_objects("v1", "Namespace", label_selector=MANAGED)
        pods = cluster.list_objects("v1", "Pod", label_selector=MANAGED)
        policies = cluster.list_objects(
            "networking.k8s.io/v1", "NetworkPolicy", label_selector=MANAGED
        )
    except Exception as exc:  # the moment is informative only
        return f"unknown ({type(exc).__name__})"
    names = [str((ns.get("metadata") or {}).get("name", "")) for ns in namespaces]
    if any((ns.get("metadata") or {}).get("deletionTimestamp") for ns in namespaces):
        return "cleanup"
    scenario_ns = [n for n in names if not n.startswith("netpol-preflight")]
    if not scenario_ns:
        return "preflight canary" if names else "start-up (nothing created)"
    scenario_pods = [p for p in pods if (p.get("metadata") or {}).get("namespace") in scenario_ns]
    if policies:
        return "policies applied / probing"
    if scenario_pods and all(is_ready(p) for p in scenario_pods):
        return "pods ready / data path proof"
    return "namespaces / pod start"


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out
