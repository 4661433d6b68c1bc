"""End to end: LiveSession -> runner -> cluster -> the sandbox (real API, netns, nftables).

Each sandbox is brought up in a tmp state dir and ALWAYS brought down.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.model import Outcome
from harness.model import ScenarioResult
from harness.model import Status

pytestmark = pytest.mark.sandbox

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-from-web
  namespace: shop
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
      ports: [{port: 5432}]
"""

SCENARIO = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata:
  name: {name}
settings:
  connectTimeout: 1s
  convergence: 10s
namespaces:
  - name: shop
workloads:
  - name: web
    namespace: shop
    labels: {{app: web}}
    role: client
  - name: other
    namespace: shop
    labels: {{app: other}}
    role: client
  - name: db
    namespace: shop
    labels: {{app: db}}
    ports: [5432, 8080]
manifests:
  - policy.yaml
expect:
  default: deny
  allow:
{allow}
"""

DNS_ONLY = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata:
  name: dns-only
settings:
  connectTimeout: 1s
  convergence: 2s
namespaces:
  - name: shop
workloads:
  - name: web
    namespace: shop
    labels: {app: web}
    role: client
expect:
  allow:
    - web -> dns
"""


def _env() -> dict[str, str]:
    return {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def _sandbox(state: Path, *flags: str) -> Iterator[str]:
    """Bring a sandbox up in ``state`` and ALWAYS down; yields its kubeconfig."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("the sandbox needs root, iproute2 and nftables")
    cmd = [sys.executable, "-m", "harness.cli", "sandbox"]
    try:
        up = subprocess.run(
            [*cmd, "up", "--state-dir", str(state), "--timeout", "90", *flags],
            capture_output=True,
            text=True,
            timeout=150,
            env=_env(),
            cwd=state.parent,
            check=False,
        )
        if up.returncode != 0:
            pytest.fail(f"sandbox up failed: {up.stdout}\n{up.stderr}")
        yield str(state / "kubeconfig")
    finally:
        subprocess.run(
            [*cmd, "down", "--state-dir", str(state)],
            capture_output=True,
            timeout=150,
            env=_env(),
            cwd=state.parent,
            check=False,
        )


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _sandbox(tmp_path_factory.mktemp("sbx"))


def _write(directory: Path, name: str, allow: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policy.yaml").write_text(POLICY)
    path = directory / f"{name}.netpol.yaml"
    lines = "\n".join(f'    - "{cell}"' for cell in allow)
    path.write_text(SCENARIO.format(name=name, allow=lines))
    return path


def _run(kubeconfig: str, path: Path, **kw: Any) -> tuple[ScenarioResult, list[str]]:
    """Run one scenario file; returns the result and the namespaces left afterwards."""
    from harness.live.cluster import Cluster
    from harness.live.session import LiveSession
    from harness.model import RUN_LABEL
    from harness.scenario.loader import load

    scenario = load(path)
    from harness.live.runner import RunSettings

    settings = RunSettings(ready_timeout=60.0, datapath_timeout=30.0)
    from harness.options import NetpolOptions

    session = LiveSession(
        NetpolOptions(kubeconfig=kubeconfig, **kw),
        out=io.StringIO(),
        settings=settings,
    )
    try:
        result = session.run_scenario(scenario)
    finally:
        session.close()
    cluster = Cluster(kubeconfig=kubeconfig)
    left = [
        str(ns["metadata"]["name"])
        for ns in cluster.list_namespaces(f"{RUN_LABEL}={result.plan.run_id}")
    ]
    return result, left


def test_tiny_scenario_passes_and_is_cleaned_up(kubeconfig: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "tiny", ["web -> db:5432", "web -> svc:db:5432", "web -> dns"])
    result, left = _run(kubeconfig, path)
    assert result.setup_error == ""
    statuses = {v.probe.cell.key: (v.status, v.observed) for v in result.verdicts}
    assert statuses["web->db:5432/TCP"] == (Status.PASS, Outcome.CONNECTED)
    assert statuses["web->svc:db:5432/TCP"] == (Status.PASS, Outcome.CONNECTED)
    assert statuses["web->dns:53/UDP"] == (Status.PASS, Outcome.CONNECTED)
    assert statuses["other->db:5432/TCP"] == (Status.PASS, Outcome.DROPPED)
    assert statuses["web->db:8080/TCP"] == (Status.PASS, Outcome.DROPPED)
    assert all(v.status is Status.PASS for v in result.verdicts), statuses
    assert left == []


def test_wrong_expectation_fails_with_explanation_and_rerun(
    kubeconfig: str, tmp_path: Path
) -> None:
    path = _write(tmp_path, "wrong", ["web -> db:5432", "other -> db:5432"])
    result, left = _run(kubeconfig, path, convergence=2.0)
    verdict = next(v for v in result.verdicts if v.probe.cell.key == "other->db:5432/TCP")
    assert verdict.status is Status.FAIL
    assert verdict.observed is Outcome.DROPPED
    assert verdict.tries >= 2  # re-probed while the budget lasted
    assert "denies it" in verdict.explanation
    assert "db-from-web" in verdict.explanation
    assert verdict.rerun.startswith(f"kubectl exec -n shop-{result.plan.run_id} other -c client")
    assert "--connect-timeout 1" in verdict.rerun
    others = [v for v in result.verdicts if v is not verdict]
    assert all(v.status is Status.PASS for v in others)
    assert left == []


def test_lost_exit_status_gives_errors_not_verdicts(tmp_path: Path) -> None:
    state = tmp_path / "sbx-faults"
    for kubeconfig in _sandbox(state, "--exec-lost-status", "1.0"):
        directory = tmp_path / "scn"
        directory.mkdir()
        path = directory / "dns-only.netpol.yaml"
        path.write_text(DNS_ONLY)
        result, left = _run(kubeconfig, path)
        verdict = result.verdicts[0]
        assert verdict.status is Status.ERROR
        assert "lost exit status" in verdict.detail
        # Every exec loses its status, the DNS lookup of the data-path proof too: the
        # scenario stops there (no policy applied), an ERROR naming the target.
        assert "not answering before any policy was applied" in result.setup_error
        assert "dns dns:53/UDP" in result.setup_error
        assert left == []


def test_flaky_exec_never_produces_wrong_verdicts(tmp_path: Path) -> None:
    state = tmp_path / "sbx-flaky"
    flags = ("--exec-upgrade-failure", "0.2", "--exec-lost-status", "0.2", "--seed", "7")
    for kubeconfig in _sandbox(state, *flags):
        path = _write(tmp_path / "scn", "flaky", ["web -> db:5432", "web -> dns"])
        result, left = _run(kubeconfig, path)
        if result.setup_error:
            assert "data path" in result.setup_error or "exec" in result.setup_error
        statuses = {v.probe.cell.key: v.status for v in result.verdicts}
        assert Status.FAIL not in statuses.values(), statuses
        assert left == []


def test_api_429_and_500_are_retried_to_correct_verdicts(tmp_path: Path) -> None:
    state = tmp_path / "sbx-api"
    flags = ("--api-429", "0.2", "--api-500", "0.2", "--seed", "3")
    for kubeconfig in _sandbox(state, *flags):
        path = _write(tmp_path / "scn", "apifaults", ["web -> db:5432", "web -> dns"])
        result, left = _run(kubeconfig, path)
        assert result.setup_error == ""
        statuses = {v.probe.cell.key: v.status for v in result.verdicts}
        assert set(statuses.values()) == {Status.PASS}, statuses
        assert left == []
