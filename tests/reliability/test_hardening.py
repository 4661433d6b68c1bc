"""Hardening: restricted Pod Security, no service account token, no secret in any output."""

from __future__ import annotations

import base64
import copy
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from harness import plan as planning
from harness.errors import Forbidden
from harness.live.cluster import Cluster
from harness.live.cluster import translate
from harness.scenario.loader import load
from netpol_sandbox.admission import violations
from tests.reliability import kit

SCENARIO_FILES = sorted(kit.SCENARIOS.glob("*.netpol.yaml"))
CREATED = "2026-01-01T00:00:00Z"


def _plans() -> list[Any]:
    return [planning.build(load(path), "hard0001", created=CREATED) for path in SCENARIO_FILES]


def test_every_scenario_mounts_no_token_and_fits_the_restricted_profile() -> None:
    plans = _plans()
    assert len(plans) == len(SCENARIO_FILES) >= 10
    pods = 0
    for plan in plans:
        for pod in plan.pods:
            pods += 1
            name = f"{plan.scenario.name}/{pod['metadata']['name']}"
            assert pod["spec"]["automountServiceAccountToken"] is False, name
            assert violations("restricted", copy.deepcopy(dict(pod))) == [], name
        for ns in plan.namespaces:
            assert ns["metadata"]["labels"][planning.POD_SECURITY_LABEL] == "restricted"
    assert pods > 30


def test_the_pod_security_label_can_be_turned_off() -> None:
    scenario = load(SCENARIO_FILES[0])
    plan = planning.build(scenario, "hard0001", created=CREATED, pod_security=None)
    assert all(
        planning.POD_SECURITY_LABEL not in ns["metadata"]["labels"] for ns in plan.namespaces
    )


SECRET = "nph-secret-token-0123456789abcdef"


def test_api_errors_never_carry_the_authorization_header() -> None:
    exc = ApiException(status=401, reason="Unauthorized")
    exc.headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    exc.body = '{"kind":"Status","message":"Unauthorized","code":401}'
    text = str(translate(exc, "list pods"))
    assert "Unauthorized" in text
    assert SECRET not in text and "Bearer" not in text


def test_describe_names_the_server_never_the_token(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\n"
        f"users:\n- name: u\n  user: {{token: {SECRET}}}\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
    )
    cluster = Cluster(kubeconfig=str(path))
    assert cluster.describe() == "http://127.0.0.1:1"
    assert SECRET not in repr(cluster.__dict__.get("_context", ""))


# ------------------------------------------------------------------ live (sandbox)


@pytest.mark.sandbox
def test_a_scenario_runs_in_namespaces_enforcing_restricted(sandbox_kubeconfig: Path) -> None:
    from harness.live.session import LiveSession
    from harness.model import RUN_LABEL

    cluster = Cluster(kubeconfig=str(sandbox_kubeconfig))
    from harness.options import NetpolOptions

    session = LiveSession(
        NetpolOptions(kubeconfig=str(sandbox_kubeconfig), keep=True), out=io.StringIO()
    )
    try:
        result = session.run_scenario(load(kit.SCENARIOS / "default-deny-ingress.netpol.yaml"))
        assert result.setup_error == ""
        assert {v.status.value for v in result.verdicts} == {"pass"}
        namespaces = cluster.list_namespaces(f"{RUN_LABEL}={result.plan.run_id}")
        assert len(namespaces) == 2
        for ns in namespaces:
            assert ns["metadata"]["labels"][planning.POD_SECURITY_LABEL] == "restricted"
        # ... and the label is enforced: a privileged pod is refused there.
        target = namespaces[0]["metadata"]["name"]
        bad = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "privileged", "namespace": target},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox:1.36",
                        "securityContext": {"privileged": True},
                    }
                ]
            },
        }
        with pytest.raises(Forbidden, match="restricted"):
            cluster.create(bad)
    finally:
        session.close()
        run_id = session.run_id_for(load(kit.SCENARIOS / "default-deny-ingress.netpol.yaml"))
        cluster.delete_run(run_id)
    assert kit.leftovers(sandbox_kubeconfig) == []


def _outputs(run: kit.PytestRun) -> str:
    parts = [run.stdout, run.stderr]
    for path in (run.junit, run.report):
        if path.is_file():
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


@pytest.mark.sandbox
def test_no_token_key_or_certificate_in_logs_junit_or_json(
    sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    config = yaml.safe_load(sandbox_kubeconfig.read_text())
    token = config["users"][0]["user"]["token"]
    # A real (self-signed) client certificate and key: the API is TLS, and the client
    # loads the pair before connecting; the server does not ask for it.
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=nph-canary", "-days", "1",
         "-keyout", str(tmp_path / "client.key"), "-out", str(tmp_path / "client.crt")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    cert = (tmp_path / "client.crt").read_bytes()
    key = (tmp_path / "client.key").read_bytes()
    config["users"][0]["user"]["client-certificate-data"] = base64.b64encode(cert).decode()
    config["users"][0]["user"]["client-key-data"] = base64.b64encode(key).decode()
    good = tmp_path / "kubeconfig"
    good.write_text(yaml.safe_dump(config))
    wrong = copy.deepcopy(config)
    wrong["users"][0]["user"]["token"] = SECRET
    denied = tmp_path / "kubeconfig-wrong-token"
    denied.write_text(yaml.safe_dump(wrong))

    scenario = ["dns.netpol.yaml"]
    ok = kit.run_pytest(good, scenario, tmp_path / "ok", "-v", "-rA")
    assert ok.returncode == 0, ok.stdout[-2000:]
    refused = kit.run_pytest(denied, scenario, tmp_path / "denied", "-v", "-rA")
    assert refused.returncode != 0
    assert (
        "401" in refused.stdout + refused.stderr
        or "Unauthorized" in refused.stdout + refused.stderr
    )
    unchecked = kit.run_pytest(
        denied, scenario, tmp_path / "unchecked", "-v", "-rA", "--netpol-no-preflight"
    )
    assert unchecked.returncode != 0
    for run in (ok, refused, unchecked):
        text = _outputs(run)
        for needle in (
            token,
            SECRET,
            "BEGIN CERTIFICATE",
            "BEGIN PRIVATE KEY",
            "client-key-data",
            "client-certificate-data",
            "nph-canary",
            base64.b64encode(cert).decode()[:24],
            "".join(key.decode().splitlines()[1:2])[:24],  # the key's own base64 text
            "Authorization",
        ):
            assert needle not in text, f"{needle!r} leaked into the output of {run.report.parent}"


def test_exec_handshake_errors_drop_the_echoed_headers() -> None:
    from harness.live.cluster import _handshake_error

    reason = (
        "Handshake status 403 Forbidden -+-+- "
        f"{{'authorization': 'Bearer {SECRET}', 'content-type': 'application/json'}} -+-+- "
        '{"kind":"Status","message":"pods \\"web\\" is forbidden","code":403}'
    )
    error = _handshake_error(ApiException(status=0, reason=reason), "exec in a/web")
    assert "forbidden" in str(error) and error.status == 403
    assert SECRET not in str(error) and "Bearer" not in str(error)
