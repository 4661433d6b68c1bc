"""kubectl (v1.32, /usr/bin/kubectl) against the sandbox API: create, apply, get -o wide,
exec with exit codes and separate streams, delete."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.conftest import Api
from tests.sandbox.test_api_objects import wait_for

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: x
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports: [{containerPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: x
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 8080}]
"""


def kubectl(
    env: dict[str, str], *args: str, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        input=input_text,
    )


def test_kubectl_create_apply_get_exec_delete(
    api: Api, kubectl_env: dict[str, str], tmp_path: Path
) -> None:
    created = kubectl(kubectl_env, "create", "ns", "x")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "namespace/x created"
    # as on a real cluster, pods need the default ServiceAccount, which comes a bit later
    waited = kubectl(
        kubectl_env, "wait", "--for=create", "serviceaccount/default", "-n", "x", "--timeout=20s"
    )
    assert waited.returncode == 0, waited.stderr
    accounts = kubectl(kubectl_env, "get", "sa", "-n", "x", "-o", "name")
    assert accounts.stdout.split() == ["serviceaccount/default"], accounts.stderr
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    applied = kubectl(kubectl_env, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert "pod/web created" in applied.stdout
    assert "networkpolicy.networking.k8s.io/allow-web created" in applied.stdout
    again = kubectl(kubectl_env, "apply", "-f", str(manifest))
    assert again.returncode == 0, again.stderr
    assert "pod/web unchanged" in again.stdout
    manifest.write_text(MANIFEST.replace("port: 8080}]\n", "port: 9090}]\n"))
    changed = kubectl(kubectl_env, "apply", "-f", str(manifest))
    assert "networkpolicy.networking.k8s.io/allow-web configured" in changed.stdout, changed.stderr
    ports = kubectl(
        kubectl_env,
        "get",
        "netpol",
        "allow-web",
        "-n",
        "x",
        "-o",
        "jsonpath={.spec.ingress[0].ports[0].port}",
    )
    assert ports.stdout == "9090"

    ip = wait_for(lambda: api.node.pods.get(("x", "web")), "pod started")
    wide = wait_for(
        lambda: (
            (r := kubectl(kubectl_env, "get", "pods", "-n", "x", "-o", "wide")).returncode == 0
            and "Running" in r.stdout
            and r
        ),
        "kubectl shows Running",
    )
    header, row = wide.stdout.splitlines()[:2]
    assert header.split()[:6] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"]
    assert row.split()[0] == "web"
    assert ip in row.split()

    executed = kubectl(
        kubectl_env, "exec", "-n", "x", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 7"
    )
    assert executed.returncode == 7
    assert executed.stdout == "out\n"
    assert executed.stderr.startswith("err\n")

    deleted = kubectl(kubectl_env, "delete", "ns", "x", "--timeout=30s")
    assert deleted.returncode == 0, deleted.stderr
    assert ("x", "web") in api.node.deleted
    gone = kubectl(kubectl_env, "get", "ns", "x")
    assert gone.returncode == 1
    assert 'namespaces "x" not found' in gone.stderr


def test_kubectl_create_configmap_and_errors(api: Api, kubectl_env: dict[str, str]) -> None:
    made = kubectl(kubectl_env, "create", "configmap", "c", "--from-literal=a=b", "-n", "default")
    assert made.returncode == 0, made.stderr
    value = kubectl(kubectl_env, "get", "cm", "c", "-o", "jsonpath={.data.a}")
    assert value.stdout == "b"
    dup = kubectl(kubectl_env, "create", "configmap", "c", "-n", "default")
    assert dup.returncode == 1
    assert 'configmaps "c" already exists' in dup.stderr
    missing = kubectl(kubectl_env, "get", "pod", "nope")
    assert 'pods "nope" not found' in missing.stderr


CALICO = """\
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: platform
spec:
  order: 100
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: platform.deny-intruders
spec:
  tier: platform
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
    source: {selector: "role == 'intruder'"}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: admin-deny
spec:
  tier: Admin
  priority: 10
  subject: {namespaces: {}}
  ingress:
  - action: Deny
    from: [{namespaces: {matchLabels: {team: red}}}]
"""


def test_kubectl_and_custom_objects_on_the_policy_kinds(
    api: Api, kubectl_env: dict[str, str], tmp_path: Path
) -> None:
    """Calico v3 and network-policy-api objects: kubectl apply / get / delete and the
    official client's CustomObjectsApi work, and a bad object is a 422 naming the field."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    manifest = tmp_path / "calico.yaml"
    manifest.write_text(CALICO)
    applied = kubectl(kubectl_env, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert "globalnetworkpolicy.projectcalico.org/platform.deny-intruders created" in applied.stdout
    assert "clusternetworkpolicy.policy.networking.k8s.io/admin-deny created" in applied.stdout
    again = kubectl(kubectl_env, "apply", "-f", str(manifest))
    assert "tier.projectcalico.org/platform unchanged" in again.stdout, again.stderr
    listed = kubectl(kubectl_env, "get", "gnp,tiers.projectcalico.org", "-o", "name")
    assert set(listed.stdout.split()) == {
        "globalnetworkpolicy.projectcalico.org/platform.deny-intruders",
        "tier.projectcalico.org/platform",
    }, listed.stderr
    bad = kubectl(
        kubectl_env,
        "apply",
        "-f",
        "-",
        input_text=CALICO.replace("Deny\n    source", "Drop\n    source"),
    )
    assert bad.returncode != 0
    assert 'spec.ingress[0].action: Invalid value: "Drop"' in bad.stderr
    from tests.sandbox.conftest import new_client

    api_client = new_client(api.kubeconfig)
    api.clients.append(api_client)
    custom: Any = client.CustomObjectsApi(api_client)
    got = custom.get_cluster_custom_object(
        "policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies", "admin-deny"
    )
    assert got["spec"]["tier"] == "Admin"
    try:
        custom.create_cluster_custom_object(
            "policy.networking.k8s.io",
            "v1alpha2",
            "clusternetworkpolicies",
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha2",
                "kind": "ClusterNetworkPolicy",
                "metadata": {"name": "bad"},
                "spec": {"tier": "Middle", "priority": 1, "subject": {"namespaces": {}}},
            },
        )
        raise AssertionError("a ClusterNetworkPolicy with tier Middle was stored")
    except ApiException as exc:
        assert exc.status == 422 and "spec.tier" in str(exc.body)
    deleted = kubectl(kubectl_env, "delete", "-f", str(manifest))
    assert deleted.returncode == 0, deleted.stderr
