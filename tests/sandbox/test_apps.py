"""apps/v1: a Deployment makes a pod-template-hash ReplicaSet, which makes and keeps its
pods; status counts, scaling (the scale subresource), cascading deletion."""

from __future__ import annotations

import re
from typing import Any

from kubernetes import client

from tests.sandbox.conftest import Api
from tests.sandbox.test_api_objects import wait_for

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        },
    },
}


def deployment(body: dict[str, Any]) -> client.V1Deployment:
    """``body`` as the client's model (what the client itself makes of a dict body)."""
    model = client.V1Deployment.from_dict(body)
    assert model is not None
    return model


def deployment_status(apps: client.AppsV1Api, name: str, ns: str) -> client.V1DeploymentStatus:
    status = apps.read_namespaced_deployment(name, ns).status
    assert status is not None
    return status


def _pods(core: Any, ns: str) -> list[Any]:
    return [
        p
        for p in core.list_namespaced_pod(ns, label_selector="app=web").items
        if p.metadata.deletion_timestamp is None
    ]


def test_deployment_replicaset_pods_status_scale_and_cascade(api: Api) -> None:
    core = api.core()
    apps = client.AppsV1Api(core.api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="app")))
    # created at once: the ReplicaSet controller retries while the ServiceAccount is missing
    apps.create_namespaced_deployment("app", deployment(DEPLOYMENT))

    sets = wait_for(lambda: apps.list_namespaced_replica_set("app").items, "a ReplicaSet")
    assert len(sets) == 1
    rs = sets[0]
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    owner = rs.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.controller) == ("Deployment", "web", True)

    pods = wait_for(lambda: len(_pods(core, "app")) == 3 and _pods(core, "app"), "3 pods")
    for pod in pods:
        assert re.fullmatch(rf"web-{pod_hash}-[a-z0-9]{{5}}", pod.metadata.name)
        assert pod.metadata.labels == {"app": "web", "pod-template-hash": pod_hash}
        assert pod.metadata.owner_references[0].name == rs.metadata.name

    apps_ready = wait_for(
        lambda: deployment_status(apps, "web", "app").available_replicas == 3,
        "3 available",
    )
    assert apps_ready
    status = deployment_status(apps, "web", "app")
    assert (status.replicas, status.ready_replicas, status.updated_replicas) == (3, 3, 3)
    assert status.conditions is not None
    assert {c.type: c.status for c in status.conditions}["Available"] == "True"
    rs_status = apps.read_namespaced_replica_set(rs.metadata.name, "app").status
    assert rs_status is not None
    assert (rs_status.ready_replicas, rs_status.available_replicas) == (3, 3)

    # a pod deleted by hand is replaced
    core.delete_namespaced_pod(pods[0].metadata.name, "app", grace_period_seconds=0)
    wait_for(
        lambda: (
            len(_pods(core, "app")) == 3
            and pods[0].metadata.name not in {p.metadata.name for p in _pods(core, "app")}
        ),
        "replacement pod",
    )

    # scaling through the scale subresource
    scale = apps.read_namespaced_deployment_scale("web", "app")
    assert scale.spec is not None
    assert scale.spec.replicas == 3
    apps.patch_namespaced_deployment_scale("web", "app", {"spec": {"replicas": 1}})
    wait_for(lambda: len(_pods(core, "app")) == 1, "scaled to 1")
    wait_for(
        lambda: deployment_status(apps, "web", "app").replicas == 1,
        "status.replicas 1",
    )

    # deleting the Deployment deletes its ReplicaSet and pods
    apps.delete_namespaced_deployment("web", "app")
    wait_for(lambda: not apps.list_namespaced_replica_set("app").items, "ReplicaSet gone")
    wait_for(lambda: not core.list_namespaced_pod("app").items, "pods gone")


def test_a_new_template_makes_a_new_replicaset(api: Api) -> None:
    core = api.core()
    apps = client.AppsV1Api(core.api_client)
    apps.create_namespaced_deployment("default", deployment(DEPLOYMENT))
    first = wait_for(lambda: apps.list_namespaced_replica_set("default").items, "rs")[0]
    apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}},
    )

    def new_sets() -> list[Any]:
        new = []
        for rs in apps.list_namespaced_replica_set("default").items:
            assert rs.metadata is not None
            if rs.metadata.name != first.metadata.name:
                new.append(rs)
        return new

    second = wait_for(new_sets, "second rs")[0]
    assert second.metadata.labels["pod-template-hash"] != first.metadata.labels["pod-template-hash"]
    wait_for(
        lambda: apps.read_namespaced_replica_set(first.metadata.name, "default").spec.replicas == 0,
        "old rs scaled to 0",
    )
    wait_for(
        lambda: (
            {p.metadata.labels.get("v") for p in _pods(core, "default")} == {"2"}
            and len(_pods(core, "default")) == 3
        ),
        "pods of the new template",
    )


def test_invalid_deployment_is_422(api: Api) -> None:
    from kubernetes.client.exceptions import ApiException

    apps = client.AppsV1Api(api.core().api_client)
    bad = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "selector": {"matchLabels": {"a": "b"}}}}
    try:
        apps.create_namespaced_deployment("default", deployment(bad))
    except ApiException as exc:
        assert exc.status == 422
        assert exc.body is not None
        assert "`selector` does not match template `labels`" in exc.body
    else:
        raise AssertionError("accepted")
