"""API semantics of the sandbox, through the official kubernetes client (FakeNode, no netns)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.sandbox.conftest import Api
from tests.sandbox.conftest import wait_service_account


def wait_for(predicate: Any, what: str, attempts: int = 200) -> Any:
    for _ in range(attempts):
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def pod_body(
    name: str, labels: dict[str, str] | None = None, image: str = "curlimages/curl:8.5.0"
) -> Any:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image=image)]),
    )


def make_ns(core: Any, name: str, labels: dict[str, str] | None = None) -> None:
    """Create a namespace and wait for its default ServiceAccount (pods need it)."""
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    wait_service_account(core, name)


def body(exc: ApiException) -> dict[str, Any]:
    assert exc.body is not None
    data: dict[str, Any] = json.loads(exc.body)
    return data


def test_bootstrap_objects(api: Api) -> None:
    core = api.core()
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names
    dns = core.read_namespaced_pod("coredns-sandbox", "kube-system")
    assert dns.status.phase == "Running"
    assert dns.status.pod_ip == api.node.dns_pod_ip()
    assert dns.metadata.labels["k8s-app"] == "kube-dns"
    svc = core.read_namespaced_service("kube-dns", "kube-system")
    assert svc.spec.cluster_ip == "10.96.199.10"
    assert {(p.port, p.protocol) for p in svc.spec.ports} == {(53, "UDP"), (53, "TCP")}
    ns = core.read_namespace("kube-system")
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == "kube-system"


def test_pod_lifecycle_sets_status_and_calls_node(api: Api) -> None:
    core = api.core()
    make_ns(core, "life")
    created = core.create_namespaced_pod("life", pod_body("a", {"app": "a"}))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.status.phase == "Pending"
    pod = wait_for(
        lambda: (
            (p := core.read_namespaced_pod("a", "life"))
            and p.status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            and p
        ),
        "pod Running and Ready",
    )
    assert pod.status.pod_ip == api.node.pods[("life", "a")]
    assert pod.status.pod_ips[0].ip == pod.status.pod_ip
    assert pod.status.host_ip == "10.199.0.1"
    assert pod.spec.node_name == "sandbox-node"
    assert pod.status.container_statuses[0].ready is True
    assert {c.type for c in pod.status.conditions} >= {
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
    }


def test_image_pull_failure_gives_backoff_and_event(api: Api) -> None:
    core = api.core()
    make_ns(core, "pull")
    core.create_namespaced_pod("pull", pod_body("bad", image="example.com/nope:1"))

    def waiting_reason() -> str | None:
        statuses = core.read_namespaced_pod("bad", "pull").status.container_statuses or []
        state = statuses[0].state if statuses else None
        return state.waiting.reason if state and state.waiting else None

    assert wait_for(lambda: waiting_reason() == "ErrImagePull", "ErrImagePull")
    assert wait_for(lambda: waiting_reason() == "ImagePullBackOff", "ImagePullBackOff")
    assert core.read_namespaced_pod("bad", "pull").status.phase == "Pending"
    events = core.list_namespaced_event("pull").items
    failed = [e for e in events if e.reason == "Failed" and "Failed to pull image" in e.message]
    assert failed and failed[0].involved_object.name == "bad"
    assert failed[0].involved_object.kind == "Pod"
    assert '"example.com/nope:1"' in failed[0].message


def test_never_pull_knob(tmp_path: Any) -> None:
    from netpol_sandbox.faults import Faults
    from tests.sandbox.conftest import start_api

    gen = start_api(
        tmp_path,
        Faults(
            pod_start_delay=(0.01, 0.01), policy_delay=(0.01, 0.01), never_pull=("curlimages/*",)
        ),
    )
    api = next(gen)
    try:
        core = api.core()
        core.create_namespaced_pod("default", pod_body("c"))
        assert wait_for(
            lambda: (
                (s := core.read_namespaced_pod("c", "default").status.container_statuses)
                and s[0].state.waiting is not None
            ),
            "pull failure",
        )
        assert ("default", "c") not in api.node.pods
    finally:
        with pytest.raises(StopIteration):
            next(gen)


def test_get_404_and_create_409_and_422(api: Api) -> None:
    core = api.core()
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", "default")
    assert missing.value.status == 404
    assert body(missing.value)["reason"] == "NotFound"
    assert body(missing.value)["message"] == 'pods "nope" not found'
    make_ns(core, "dup")
    with pytest.raises(ApiException) as dup:
        make_ns(core, "dup")
    assert dup.value.status == 409
    assert body(dup.value)["reason"] == "AlreadyExists"
    assert body(dup.value)["message"] == 'namespaces "dup" already exists'
    with pytest.raises(ApiException) as bad:
        make_ns(core, "Bad_Name")
    assert bad.value.status == 422
    status = body(bad.value)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"
    assert status["message"].startswith(
        'Namespace "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'
    )
    with pytest.raises(ApiException) as nocontainers:
        core.create_namespaced_pod(
            "dup",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "x"},
                "spec": {"containers": []},
            },
        )
    assert nocontainers.value.status == 422
    assert body(nocontainers.value)["details"]["causes"][0]["field"] == "spec.containers"
    with pytest.raises(ApiException) as nons:
        core.create_namespaced_pod("ghost", pod_body("x"))
    assert nons.value.status == 404
    assert body(nons.value)["message"] == 'namespaces "ghost" not found'


def test_update_conflict_on_stale_resource_version(api: Api) -> None:
    core = api.core()
    cm = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"a": "1"})
    )
    cm.data = {"a": "2"}
    updated = core.replace_namespaced_config_map("cm", "default", cm)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    cm.data = {"a": "3"}  # still the old resourceVersion
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("cm", "default", cm)
    assert conflict.value.status == 409
    assert body(conflict.value)["reason"] == "Conflict"
    assert "the object has been modified" in body(conflict.value)["message"]
    assert core.read_namespaced_config_map("cm", "default").data == {"a": "2"}


def test_label_and_field_selectors(api: Api) -> None:
    core = api.core()
    make_ns(core, "sel")
    for name, labels in (
        ("a", {"app": "web", "tier": "fe"}),
        ("b", {"app": "db"}),
        ("c", {"app": "web"}),
    ):
        core.create_namespaced_pod("sel", pod_body(name, labels))

    def names(**kwargs: Any) -> list[str]:
        return sorted(p.metadata.name for p in core.list_namespaced_pod("sel", **kwargs).items)

    assert names(label_selector="app=web") == ["a", "c"]
    assert names(label_selector="app==web,tier=fe") == ["a"]
    assert names(label_selector="app!=web") == ["b"]
    assert names(label_selector="app in (db,web),!tier") == ["b", "c"]
    assert names(label_selector="app notin (web)") == ["b"]
    assert names(label_selector="tier") == ["a"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    all_pods = core.list_pod_for_all_namespaces(field_selector="metadata.namespace=sel").items
    assert len(all_pods) == 3
    wait_for(lambda: names(field_selector="status.phase=Running") == ["a", "b", "c"], "all running")


def test_watch_streams_added_modified_deleted(api: Api) -> None:
    core = api.core()
    make_ns(core, "w")
    start_rv = core.list_namespaced_config_map("w").metadata.resource_version
    seen: list[tuple[str, str, str]] = []

    def watcher() -> None:
        watcher_core = api.core()
        w = watch.Watch()  # type: ignore[no-untyped-call]
        for event in w.stream(  # type: ignore[no-untyped-call]
            watcher_core.list_namespaced_config_map,
            "w",
            resource_version=start_rv,
            timeout_seconds=5,
        ):
            seen.append(
                (
                    event["type"],
                    event["object"].metadata.name,
                    (event["object"].data or {}).get("k", ""),
                )
            )
            if event["type"] == "DELETED":
                w.stop()  # type: ignore[no-untyped-call]

    thread = threading.Thread(target=watcher)
    thread.start()
    core.create_namespaced_config_map(
        "w", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"), data={"k": "1"})
    )
    core.patch_namespaced_config_map("x", "w", {"data": {"k": "2"}})
    core.delete_namespaced_config_map("x", "w")
    thread.join(10)
    assert seen == [("ADDED", "x", "1"), ("MODIFIED", "x", "2"), ("DELETED", "x", "2")]


def test_watch_without_resource_version_lists_first(api: Api) -> None:
    core = api.core()
    core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="pre"))
    )
    w = watch.Watch()  # type: ignore[no-untyped-call]
    events = list(
        w.stream(  # type: ignore[no-untyped-call]
            core.list_namespaced_config_map, "default", timeout_seconds=1
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "pre")]


def test_patch_kinds(api: Api) -> None:
    core = api.core()
    core.create_namespaced_config_map(
        "default",
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="p", labels={"a": "1", "b": "2"}), data={"x": "1"}
        ),
    )

    def patch(content_type: str, payload: Any) -> dict[str, Any]:
        status, data, _ = api.request(
            "PATCH", "/api/v1/namespaces/default/configmaps/p", payload, content_type
        )
        assert status == 200, data
        result: dict[str, Any] = data
        return result

    merged = patch("application/merge-patch+json", {"metadata": {"labels": {"b": None, "c": "3"}}})
    assert merged["metadata"]["labels"] == {"a": "1", "c": "3"}
    strategic = patch(
        "application/strategic-merge-patch+json", {"data": {"y": "2"}, "$setElementOrder/x": []}
    )
    assert strategic["data"] == {"x": "1", "y": "2"}
    jsonp = patch(
        "application/json-patch+json",
        [{"op": "replace", "path": "/data/x", "value": "9"}, {"op": "remove", "path": "/data/y"}],
    )
    assert jsonp["data"] == {"x": "9"}
    assert int(jsonp["metadata"]["resourceVersion"]) > int(merged["metadata"]["resourceVersion"])


def _apply(
    api: Api, path: str, doc: dict[str, Any], manager: str = "netpol-harness"
) -> dict[str, Any]:
    status, data, _ = api.request(
        "PATCH", f"{path}?fieldManager={manager}&force=true", doc, "application/apply-patch+yaml"
    )
    assert status in (200, 201), data
    result: dict[str, Any] = data
    return result


def test_server_side_apply_creates_then_updates_and_prunes(api: Api) -> None:
    path = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/np"
    doc: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "np", "labels": {"keep": "1", "drop": "1"}},
        "spec": {
            "podSelector": {"matchLabels": {"app": "a"}},
            "ingress": [{"from": [{"podSelector": {}}]}],
        },
    }
    created = _apply(api, path, doc)
    assert created["metadata"]["labels"] == {"keep": "1", "drop": "1"}
    assert created["spec"]["policyTypes"] == ["Ingress"]
    doc["metadata"]["labels"] = {"keep": "2"}
    doc["spec"]["egress"] = [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]
    updated = _apply(api, path, doc)
    assert updated["metadata"]["labels"] == {"keep": "2"}
    assert updated["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] == "10.0.0.0/8"
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    net = api.networking()
    listed = net.list_namespaced_network_policy("default").items
    assert [p.metadata.name for p in listed] == ["np"]


def test_networkpolicy_validation(api: Api) -> None:
    net = api.networking()
    bad = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "bad"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP", "port": 80}]}]},
    }
    with pytest.raises(ApiException) as err:
        net.create_namespaced_network_policy("default", bad)
    assert err.value.status == 422
    cause = body(err.value)["details"]["causes"][0]
    assert cause["field"] == "spec.ingress[0].ports[0].protocol"
    assert 'Unsupported value: "ICMP"' in cause["message"]


def test_services_get_cluster_ip_and_endpoints(api: Api) -> None:
    core = api.core()
    make_ns(core, "svc")
    core.create_namespaced_pod(
        "svc",
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
            spec=client.V1PodSpec(
                containers=[
                    client.V1Container(
                        name="nginx",
                        image="nginx:1.27",
                        ports=[client.V1ContainerPort(container_port=8080, name="http")],
                    )
                ]
            ),
        ),
    )
    svc = core.create_namespaced_service(
        "svc",
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                selector={"app": "web"}, ports=[client.V1ServicePort(port=80, target_port="http")]
            ),
        ),
    )
    assert svc.spec.cluster_ip.startswith("10.96.199.")
    assert svc.spec.cluster_ip not in ("10.96.199.1", "10.96.199.10")

    def endpoint_ips() -> list[tuple[str, int]]:
        try:
            ep = core.read_namespaced_endpoints("web", "svc")
        except ApiException:
            return []
        return [(a.ip, s.ports[0].port) for s in ep.subsets or [] for a in s.addresses or []]

    ip = wait_for(lambda: api.node.pods.get(("svc", "web")), "pod started")
    assert wait_for(lambda: endpoint_ips() == [(ip, 8080)], "endpoints")


def test_graceful_pod_delete_calls_node(api: Api) -> None:
    core = api.core()
    core.create_namespaced_pod("default", pod_body("gone"))
    wait_for(lambda: ("default", "gone") in api.node.pods, "started")
    api.node.delete_delay = 0.5
    returned = core.delete_namespaced_pod("gone", "default")
    assert returned.metadata.name == "gone"
    assert returned.metadata.deletion_timestamp is not None
    # graceful: the object stays (Terminating) until the node has stopped the pod
    assert core.read_namespaced_pod("gone", "default").metadata.deletion_timestamp is not None

    def gone() -> bool:
        try:
            core.read_namespaced_pod("gone", "default")
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    assert wait_for(gone, "pod removed")
    assert ("default", "gone") in api.node.deleted


def test_namespace_delete_cascades(api: Api) -> None:
    core = api.core()
    make_ns(core, "casc")
    core.create_namespaced_pod("casc", pod_body("p"))
    core.create_namespaced_config_map(
        "casc", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    )
    wait_for(lambda: ("casc", "p") in api.node.pods, "started")
    api.node.delete_delay = 1.0  # the namespace stays Terminating while the pod goes
    ns = core.delete_namespace("casc")
    assert ns["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map(
            "casc", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="late"))
        )
    assert refused.value.status == 403
    assert "because it is being terminated" in body(refused.value)["message"]

    def ns_gone() -> bool:
        try:
            core.read_namespace("casc")
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    assert wait_for(ns_gone, "namespace gone")
    assert ("casc", "p") in api.node.deleted
    assert core.list_namespaced_config_map("casc").items == []


def test_network_sync_is_called_and_coalesced(api: Api) -> None:
    core = api.core()
    api.settle()
    before = len(api.node.syncs)
    make_ns(core, "net")
    for index in range(5):
        core.create_namespaced_config_map(
            "net", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{index}"))
        )
    net = api.networking()
    net.create_namespaced_network_policy(
        "net",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "d"},
            "spec": {"podSelector": {}},
        },
    )
    time.sleep(0.2)
    api.settle()
    after = api.node.syncs[before:]
    assert after, "sync_network was never called"
    assert after[-1][3] == 1  # the policy reached the node
    assert len(after) < 6  # namespace + policy changes were coalesced, not one call each


def test_discovery_and_ssar(api: Api) -> None:
    from kubernetes.client import AuthorizationV1Api
    from kubernetes.client import VersionApi

    core = api.core()
    assert VersionApi(core.api_client).get_code().git_version.startswith("v1.32")
    resources = {r.name for r in core.get_api_resources().resources}
    assert {
        "pods",
        "pods/exec",
        "services",
        "endpoints",
        "namespaces",
        "events",
        "configmaps",
    } <= resources
    review = AuthorizationV1Api(core.api_client).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb="create", resource="pods", namespace="x"
                )
            )
        )
    )
    assert review.status is not None
    assert review.status.allowed is True


def test_status_subresource_keeps_spec(api: Api) -> None:
    core = api.core()
    make_ns(core, "st")
    pod = core.create_namespaced_pod("st", pod_body("s"))
    patched = core.patch_namespaced_pod_status("s", "st", {"status": {"message": "hello"}})
    assert patched.status.message == "hello"
    assert patched.spec.containers[0].image == pod.spec.containers[0].image
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("s", "st", {"spec": {"restartPolicy": "Never"}})
    assert err.value.status == 422
