"""In-place mode end to end on the sandbox: existing workloads, live policies, nothing applied.

"Real" workloads (plain pods, a Service, policies) come from examples/staging/workloads.yaml,
created with the Kubernetes API as kubectl would; then ``pytest --netpol-in-place`` runs as
a subprocess against the sandbox's kubeconfig. Every sandbox is ALWAYS brought down.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "staging"
NAMESPACES = ("staging-shop", "staging-ops")

WRONG = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: in-place-wrong}
settings: {connectTimeout: 1s, convergence: 2s}
namespaces:
  - {name: staging-shop, existing: true}
  - {name: staging-ops, existing: true}
workloads:
  - {name: web, namespace: staging-shop, selector: {app: web}, ports: [8080, 9090]}
  - {name: api, namespace: staging-shop, selector: {app: api}, role: server, ports: [8080]}
  - {name: toolbox, namespace: staging-ops, selector: {app: toolbox}}
expect:
  allow:
    - web -> api:8080
    - toolbox -> web:9090
  deny:
    - toolbox -> web:8080
"""


def _env() -> dict[str, str]:
    return {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def _sandbox(state: Path, *flags: str) -> Iterator[str]:
    """A sandbox with the example's workloads, ALWAYS brought down; yields its kubeconfig."""
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
            check=False,
        )
        if up.returncode != 0:
            pytest.fail(f"sandbox up failed: {up.stdout}\n{up.stderr}")
        kubeconfig = str(state / "kubeconfig")
        _deploy_workloads(kubeconfig)
        yield kubeconfig
    finally:
        subprocess.run(
            [*cmd, "down", "--state-dir", str(state)],
            capture_output=True,
            timeout=150,
            env=_env(),
            check=False,
        )


def _deploy_workloads(kubeconfig: str) -> None:
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=kubeconfig)
    docs = list(yaml.safe_load_all((EXAMPLE / "workloads.yaml").read_text()))
    for doc in docs:
        cluster.create(doc)
    pods = [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs if d["kind"] == "Pod"]
    cluster.wait_pods_ready(pods, timeout=60)


def _state(kubeconfig: str) -> dict[str, Any]:
    """What in-place mode must not change: namespaces, pods (spec, IP), Services, policies."""
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=kubeconfig)
    state: dict[str, Any] = {
        "namespaces": sorted(str(n["metadata"]["name"]) for n in cluster.list_namespaces())
    }
    for ns in NAMESPACES:
        for pod in cluster.list_pods(ns):
            spec = copy.deepcopy(pod["spec"])
            state[f"pod {ns}/{pod['metadata']['name']}"] = {
                "spec": spec,
                "labels": pod["metadata"].get("labels"),
                "ip": pod["status"].get("podIP"),
                "uid": pod["metadata"]["uid"],
            }
        for kind, api in (("Service", "v1"), ("NetworkPolicy", "networking.k8s.io/v1")):
            for obj in cluster.list_objects(api, kind, ns):
                state[f"{kind} {ns}/{obj['metadata']['name']}"] = obj["spec"]
    return state


def _pytest(
    kubeconfig: str, tmp: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = tmp / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--netpol-in-place",
            "--netpol-kubeconfig",
            kubeconfig,
            "--netpol-report-json",
            str(report),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        cwd=ROOT,
        check=False,
    )
    cells: dict[str, Any] = {}
    if report.exists():
        for scenario in json.loads(report.read_text())["scenarios"]:
            for cell in scenario["cells"]:
                cells[cell["cell"]] = cell
    return proc, cells


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _sandbox(tmp_path_factory.mktemp("sbx-inplace"))


def test_example_passes_and_only_adds_ephemeral_containers(kubeconfig: str, tmp_path: Path) -> None:
    before = _state(kubeconfig)
    proc, cells = _pytest(kubeconfig, tmp_path, str(EXAMPLE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "8 passed" in proc.stdout
    assert len(cells) == 8 and all(c["status"] == "pass" for c in cells.values()), cells
    assert cells["toolbox->api:8080/TCP"]["observed"] == "dropped"
    assert cells["web->svc:api:8080/TCP"]["observed"] == "connected"
    after = _state(kubeconfig)
    assert after["namespaces"] == before["namespaces"]  # nothing created, nothing deleted
    assert set(after) == set(before)  # no new pod, Service or policy
    added: dict[str, list[dict[str, Any]]] = {}
    for key, was in before.items():
        now = after[key]
        if not key.startswith("pod "):
            assert now == was, key
            continue
        new = copy.deepcopy(now)
        ephemeral = new["spec"].pop("ephemeralContainers", None) or []
        assert new == was, key  # containers, labels, IP, uid: untouched
        added[key] = ephemeral
    sources = ("pod staging-shop/web-7c9f", "pod staging-shop/api-0", "pod staging-ops/toolbox")
    for key in sources:
        assert len(added[key]) == 1, (key, added[key])  # one container per source pod per run
        container = added[key][0]
        assert container["name"].startswith("netpol-probe-")
        assert container["command"] == ["sleep", "3600"]  # it exits on its own
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    names = {added[key][0]["name"] for key in sources}
    assert len(names) == 1  # the name carries the run id
    assert added["pod staging-shop/db-0"] == []  # role: server is never a source


def test_wrong_expectation_fails_and_closed_port_is_named(kubeconfig: str, tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "wrong.netpol.yaml").write_text(WRONG)
    proc, cells = _pytest(kubeconfig, tmp_path, "--rootdir", str(scenarios), str(scenarios))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert cells["web->api:8080/TCP"]["status"] == "pass"
    wrong = cells["toolbox->web:8080/TCP"]
    assert (wrong["status"], wrong["observed"]) == ("fail", "connected")
    assert "allows it" in wrong["explanation"]
    closed = cells["toolbox->web:9090/TCP"]
    assert (closed["status"], closed["observed"]) == ("fail", "refused")
    assert closed["detail"].startswith("port closed")
    assert "-c netpol-probe-" in closed["rerun"]  # the rerun execs into the ephemeral container


def test_hermetic_scenario_is_refused_in_place(kubeconfig: str, tmp_path: Path) -> None:
    proc, cells = _pytest(kubeconfig, tmp_path, str(ROOT / "scenarios" / "same-app.netpol.yaml"))
    assert proc.returncode != 0
    assert cells == {}
    assert "same-app.netpol.yaml:" in proc.stdout
    assert "--netpol-in-place creates and applies nothing" in proc.stdout


def test_fallback_probe_pod_when_ephemeral_containers_are_forbidden(tmp_path: Path) -> None:
    for kubeconfig in _sandbox(tmp_path / "sbx-forbidden", "--ephemeral-forbidden"):
        before = _state(kubeconfig)
        proc, cells = _pytest(kubeconfig, tmp_path, str(EXAMPLE))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        # api is selected by Service staging-shop/api: no fallback pod for it, its cell errors
        api = cells["api->db:5432/TCP"]
        assert api["status"] == "error"
        assert "Service staging-shop/api" in api["detail"]
        assert "ephemeral containers are not allowed" in api["detail"]
        # web and toolbox probe from fallback pods with their labels: the verdicts hold
        others = {k: c["status"] for k, c in cells.items() if k != "api->db:5432/TCP"}
        assert set(others.values()) == {"pass"}, others
        rerun = cells["web->api:8080/TCP"]["rerun"]
        assert " netpol-probe-" in rerun and "-web -c client " in rerun  # from the fallback pod
        # the fallback pods are deleted (they may take a moment to go) and nothing else changed
        deadline = time.monotonic() + 20
        while _state(kubeconfig) != before and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _state(kubeconfig) == before
