"""Pod Security admission (restricted/baseline namespaces) and the optional RBAC mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netpol_sandbox.admission import violations
from tests.sandbox.conftest import FAST
from tests.sandbox.conftest import Api
from tests.sandbox.conftest import start_api
from tests.sandbox.conftest import wait_service_account

RESTRICTED_OK = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "ok"},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "image": "curlimages/curl:8.5.0",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    },
}
PRIVILEGED = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "x"},
    "spec": {
        "containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]
    },
}


def restricted_ns(api: Api, name: str, level: str = "restricted") -> Any:
    core = api.core()
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=name, labels={"pod-security.kubernetes.io/enforce": level}
            )
        )
    )
    wait_service_account(core, name)
    return core


def test_restricted_rejects_privileged_pod_with_the_real_message(api: Api) -> None:
    core = restricted_ns(api, "locked")
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("locked", PRIVILEGED)
    assert err.value.status == 403
    assert err.value.body is not None
    status = json.loads(err.value.body)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'pods "x" is forbidden: violates PodSecurity "restricted:latest": '
        'privileged (container "c" must not set securityContext.privileged=true), '
        'allowPrivilegeEscalation != false (container "c" must set '
        "securityContext.allowPrivilegeEscalation=false), "
        'unrestricted capabilities (container "c" must set '
        'securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")'
    )


def test_restricted_accepts_compliant_pod(api: Api) -> None:
    core = restricted_ns(api, "locked2")
    created = core.create_namespaced_pod("locked2", RESTRICTED_OK)
    assert created.metadata.name == "ok"


def test_baseline_only_checks_baseline(api: Api) -> None:
    core = restricted_ns(api, "base", "baseline")
    plain = {
        **PRIVILEGED,
        "metadata": {"name": "plain"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    assert core.create_namespaced_pod("base", plain).metadata.name == "plain"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("base", PRIVILEGED)
    assert err.value.body is not None
    assert (
        'violates PodSecurity "baseline:latest": privileged (container "c"'
        in json.loads(err.value.body)["message"]
    )


def test_violations_lists_several_containers() -> None:
    pod = {
        "spec": {
            "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        }
    }
    found = violations("restricted", pod)
    assert found[0] == (
        'allowPrivilegeEscalation != false (containers "a", "b" must set '
        "securityContext.allowPrivilegeEscalation=false)"
    )
    assert len(found) == 2


def test_rbac_denies_outside_rules_with_the_real_message(tmp_path: Path) -> None:
    rbac = tmp_path / "rbac.json"
    rbac.write_text(
        json.dumps(
            {
                "tokens": {
                    "ci-token": {
                        "user": "system:serviceaccount:ci:netpol",
                        "rules": [
                            {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}
                        ],
                    }
                }
            }
        )
    )
    gen = start_api(tmp_path, FAST, rbac=rbac)
    api = next(gen)
    try:
        headers = {"Authorization": "Bearer ci-token"}
        status, _, _ = api.request("GET", "/api/v1/namespaces/default/pods", headers=headers)
        assert status == 200
        status, data, _ = api.request(
            "POST", "/api/v1/namespaces/x/pods", {"metadata": {"name": "p"}}, headers=headers
        )
        assert status == 403
        assert data["message"] == (
            'pods is forbidden: User "system:serviceaccount:ci:netpol" cannot create resource '
            '"pods" '
            'in API group "" in the namespace "x"'
        )
        status, data, _ = api.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            {
                "spec": {
                    "resourceAttributes": {
                        "verb": "create",
                        "resource": "pods",
                        "subresource": "exec",
                    }
                }
            },
            headers=headers,
        )
        assert status == 201
        assert data["status"]["allowed"] is False
        status, data, _ = api.request(
            "GET", "/api/v1/pods", headers={"Authorization": "Bearer wrong"}
        )
        assert status == 401
    finally:
        with pytest.raises(StopIteration):
            next(gen)
