"""End to end with the real node agent (root, netns, nftables): `sandbox up`, kubectl apply,
exec curl through the API (200 allowed, 28 denied by a NetworkPolicy), `sandbox down` leaving
no namespace, process or registry entry behind."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netpol_sandbox.cli import running_pid
from tests.sandbox.test_api_daemon import cli

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0, reason="the real node needs root"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("netpol_sandbox.node") is None, reason="no node agent yet"
    ),
]

APPS = """\
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  containers:
  - {name: nginx, image: "nginxinc/nginx-unprivileged:1.27", ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: prod, labels: {app: client}}
spec:
  containers:
  - {name: main, image: "curlimages/curl:8.5.0", command: [sleep, "3600"]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""
DENY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    state = tmp_path / "state"
    up = cli("up", "--state-dir", str(state))  # the realistic defaults: TLS, delays
    try:
        assert up.returncode == 0, up.stderr
        env = dict(os.environ, KUBECONFIG=up.stdout.strip(), HOME=str(tmp_path))
        yield state, env
    finally:
        cli("down", "--state-dir", str(state))


def kubectl(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def curl(env: dict[str, str], url: str) -> subprocess.CompletedProcess[str]:
    return kubectl(
        env,
        "exec",
        "-n",
        "prod",
        "client",
        "--",
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--connect-timeout",
        "1",
        url,
    )


def test_real_node_end_to_end(sandbox: tuple[Path, dict[str, str]]) -> None:
    state, env = sandbox
    info = json.loads((state / "sandbox.json").read_text())
    # as on a real cluster: the new namespace's pods are refused until its default
    # ServiceAccount exists, so wait for it and apply again (idempotent)
    first = kubectl(env, "apply", "-f", "-", stdin=APPS)
    if first.returncode != 0:
        assert "error looking up service account prod/default" in first.stderr, first.stderr
    waited = kubectl(
        env, "wait", "--for=create", "serviceaccount/default", "-n", "prod", "--timeout=30s"
    )
    assert waited.returncode == 0, waited.stderr
    applied = kubectl(env, "apply", "-f", "-", stdin=APPS)
    assert applied.returncode == 0, applied.stderr
    ready = kubectl(
        env, "wait", "--for=condition=Ready", "pod", "--all", "-n", "prod", "--timeout=60s"
    )
    assert ready.returncode == 0, ready.stderr
    web_ip = kubectl(
        env, "get", "pod", "web", "-n", "prod", "-o", "jsonpath={.status.podIP}"
    ).stdout
    assert web_ip.startswith(info["pod_cidr"].rsplit(".", 2)[0] + ".")

    by_ip = curl(env, f"http://{web_ip}:8080/")
    assert (by_ip.returncode, by_ip.stdout) == (0, "200")
    by_name = curl(env, "http://web.prod.svc.cluster.local/")
    assert (by_name.returncode, by_name.stdout) == (0, "200")

    assert kubectl(env, "apply", "-f", "-", stdin=DENY).returncode == 0
    denied = None
    for _ in range(40):  # each pod takes the policy up within policy_delay (1 s), then nft
        denied = curl(env, f"http://{web_ip}:8080/")
        if denied.returncode == 28:
            break
        time.sleep(0.1)
    assert denied is not None and denied.returncode == 28

    prefix = f"nph{info['id']}-"
    netns_before = subprocess.run(
        ["ip", "netns", "list"], check=True, capture_output=True, text=True
    ).stdout
    assert prefix in netns_before
    pid = running_pid(state)
    down = cli("down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert pid is not None and not Path(f"/proc/{pid}").exists()
    netns_after = subprocess.run(
        ["ip", "netns", "list"], check=True, capture_output=True, text=True
    ).stdout
    assert prefix not in netns_after
