"""The daemon through the CLI: `netpol-harness sandbox up/status/down` (FakeNode node), and
`demo` running pytest against it; nothing may be left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netpol_sandbox.cli import running_pid

FAKE = "tests.sandbox.fakenode:FakeNode"
ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    return subprocess.run(
        check=False,
        args=[sys.executable, "-m", "harness.cli", "sandbox", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    pid = running_pid(state)
    if pid is not None:  # a failed test must not leave the daemon behind
        cli("down", "--state-dir", str(state))


def test_up_status_down_leaves_nothing(state_dir: Path) -> None:
    up = cli("up", "--state-dir", str(state_dir), "--node", FAKE, "--pod-start-delay", "0.01")
    assert up.returncode == 0, up.stderr
    kubeconfig = Path(up.stdout.strip())
    assert kubeconfig == state_dir.resolve() / "kubeconfig"
    assert "server: https://127.0.0.1:" in kubeconfig.read_text()
    pid = running_pid(state_dir)
    assert pid is not None
    info = json.loads((state_dir / "sandbox.json").read_text())
    assert info["ready"] is True and len(info["id"]) == 6
    assert info["faults"]["pod_start_delay"] == [0.01, 0.01]

    status = cli("status", "--state-dir", str(state_dir))
    assert status.returncode == 0, status.stderr
    assert "sandbox: running" in status.stdout
    assert "pods: 1" in status.stdout  # the DNS pod

    again = cli("up", "--state-dir", str(state_dir), "--node", FAKE)
    assert again.returncode == 0
    assert running_pid(state_dir) == pid  # idempotent: the same daemon

    down = cli("down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert f"stopped the sandbox daemon (pid {pid})" in down.stdout
    assert not Path(f"/proc/{pid}").exists()
    assert running_pid(state_dir) is None
    assert "stopping" in (state_dir / "sandbox.log").read_text()

    after = cli("status", "--state-dir", str(state_dir))
    assert after.returncode == 1
    assert "not running" in after.stdout


def test_demo_runs_pytest_and_returns_its_code(state_dir: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe_test.py"
    probe.write_text(
        "def test_kubeconfig(request):\n"
        "    path = request.config.getoption('--netpol-kubeconfig')\n"
        "    assert open(path).read().startswith('apiVersion')\n"
        "    raise SystemExit(5)\n"
    )
    conftest = tmp_path / "conftest.py"
    conftest.write_text(
        "def pytest_addoption(parser):\n"
        "    try:\n"
        "        parser.addoption('--netpol-kubeconfig')\n"
        "    except ValueError:\n"
        "        pass\n"
    )
    demo = cli(
        "demo",
        "--state-dir",
        str(state_dir),
        "--node",
        FAKE,
        "--",
        str(probe),
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
    )
    assert "sandbox up:" in demo.stdout
    assert "stopped the sandbox daemon" in demo.stdout
    assert demo.returncode != 0  # pytest's own code, not 0
    assert running_pid(state_dir) is None


def test_up_reports_a_failing_node(state_dir: Path) -> None:
    up = cli(
        "up",
        "--state-dir",
        str(state_dir),
        "--node",
        "tests.sandbox.fakenode:NoSuchNode",
        "--timeout",
        "20",
    )
    assert up.returncode == 2
    assert "the sandbox daemon exited with code 1" in up.stderr
    assert "NoSuchNode" in up.stderr
    assert running_pid(state_dir) is None


def _get(url: str, token: str | None, ca_file: Path | None) -> tuple[int, dict[str, object]]:
    import ssl
    import urllib.error
    import urllib.request

    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if ca_file is not None:
        context = ssl.create_default_context(cafile=str(ca_file))
        handlers.append(urllib.request.HTTPSHandler(context=context))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_up_serves_tls_with_its_own_ca_and_token_auth(state_dir: Path, tmp_path: Path) -> None:
    import base64
    import ssl
    import urllib.error

    import yaml
    from kubernetes import client
    from kubernetes import config

    up = cli("up", "--state-dir", str(state_dir), "--node", FAKE)
    assert up.returncode == 0, up.stderr
    kubeconfig = yaml.safe_load(Path(up.stdout.strip()).read_text())
    cluster = kubeconfig["clusters"][0]["cluster"]
    token = kubeconfig["users"][0]["user"]["token"]
    server = cluster["server"]
    assert server.startswith("https://127.0.0.1:")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    assert "insecure-skip-tls-verify" not in cluster

    # the certificate verifies against the kubeconfig's CA (IP SAN 127.0.0.1) and only it
    assert _get(f"{server}/api/v1/namespaces", token, ca_file)[0] == 200
    with pytest.raises(urllib.error.URLError) as untrusted:
        _get(f"{server}/version", None, None)
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)

    # a wrong token: 401 with the API server's Status; none at all: system:anonymous
    code, status = _get(f"{server}/api/v1/namespaces", "wrong", ca_file)
    assert code == 401
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    code, status = _get(f"{server}/api/v1/namespaces", None, ca_file)
    assert code == 403
    assert status["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
        'in API group "" at the cluster scope'
    )
    assert _get(f"{server}/version", None, ca_file)[0] == 200  # public-info-viewer

    # the official client, unchanged, from the kubeconfig
    api_client = config.new_client_from_config(config_file=up.stdout.strip())  # type: ignore[no-untyped-call]
    try:
        namespaces = client.CoreV1Api(api_client).list_namespace().items
    finally:
        api_client.close()
    names: set[str | None] = set()
    for ns in namespaces:
        assert ns.metadata is not None
        names.add(ns.metadata.name)
    assert "kube-system" in names
    assert cli("status", "--state-dir", str(state_dir)).returncode == 0


def test_insecure_http_knob_serves_plain_http(state_dir: Path) -> None:
    up = cli("up", "--state-dir", str(state_dir), "--node", FAKE, "--insecure-http")
    assert up.returncode == 0, up.stderr
    text = Path(up.stdout.strip()).read_text()
    assert "server: http://127.0.0.1:" in text
    assert "certificate-authority-data" not in text
    assert not (state_dir / "pki").exists()
    status = cli("status", "--state-dir", str(state_dir))
    assert status.returncode == 0 and "pods: 1" in status.stdout, status.stdout


def test_up_help_documents_every_realism_knob() -> None:
    shown = cli("up", "--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    for flag in (
        "--service-account-delay",
        "--pod-start-delay",
        "--policy-delay",
        "--insecure-http",
        "--no-deployment-controller",
    ):
        assert flag in text, flag
    assert "default 0.5,1.5" in text and "default 1,2" in text and "default 0,1" in text
