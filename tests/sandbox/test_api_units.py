"""Pure pieces of the sandbox API: selectors, patches, tables, protobuf, routing, raw HTTP
answers (405, 400, logs, Table, ephemeral containers, discovery for kubectl)."""

from __future__ import annotations

from typing import Any

import pytest

from netpol_sandbox.api import parse_target
from netpol_sandbox.apierror import ApiError
from netpol_sandbox.patch import json_patch
from netpol_sandbox.patch import merge_patch
from netpol_sandbox.patch import remove_unapplied
from netpol_sandbox.patch import strategic_merge_patch
from netpol_sandbox.protobuf import decode
from netpol_sandbox.selectors import parse_field_selector
from netpol_sandbox.selectors import parse_label_selector
from netpol_sandbox.selectors import selector_matches
from netpol_sandbox.tables import age
from tests.sandbox.conftest import Api
from tests.sandbox.test_api_objects import pod_body
from tests.sandbox.test_api_objects import wait_for


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=1", {"a": "1"}, True),
        ("a==1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a in (1, 2),b", {"a": "2", "b": ""}, True),
        ("a notin (1,2)", {"a": "1"}, False),
        ("!a", {"a": "1"}, False),
        ("", {"x": "y"}, True),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(selector)(labels) is expected


def test_bad_label_selector_is_400() -> None:
    with pytest.raises(ApiError) as err:
        parse_label_selector("a in b")
    assert err.value.code == 400


def test_field_selector_and_structured_selector() -> None:
    pod = {"metadata": {"name": "a", "namespace": "n"}, "status": {"phase": "Running"}}
    assert parse_field_selector("metadata.name=a,status.phase==Running")(pod)
    assert not parse_field_selector("metadata.namespace!=n")(pod)
    selector = {
        "matchLabels": {"a": "1"},
        "matchExpressions": [{"key": "b", "operator": "DoesNotExist"}],
    }
    assert selector_matches(selector, {"a": "1"})
    assert not selector_matches(selector, {"a": "1", "b": "x"})
    assert not selector_matches(None, {"a": "1"})


def test_patches() -> None:
    doc: dict[str, Any] = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(doc, {"a": {"b": None}, "l": [3]}) == {"a": {"c": 2}, "l": [3]}
    containers = {"containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "1"}]}
    merged = strategic_merge_patch(
        containers, {"containers": [{"name": "y", "image": "2"}], "$setElementOrder/containers": []}
    )
    assert merged == {"containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "2"}]}
    assert json_patch(doc, [{"op": "add", "path": "/l/-", "value": 9}])["l"] == [1, 2, 9]
    assert doc["l"] == [1, 2]  # the input is not mutated
    with pytest.raises(ApiError) as err:
        json_patch(doc, [{"op": "test", "path": "/a/b", "value": 5}])
    assert err.value.code == 422
    pruned = remove_unapplied(
        {"m": {"a": "1", "b": "2", "c": "3"}}, {"m": {"a": "1", "b": "2"}}, {"m": {"a": "1"}}
    )
    assert pruned == {"m": {"a": "1", "c": "3"}}


def test_age_format() -> None:
    from datetime import UTC
    from datetime import datetime

    at = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert age("2026-01-01T11:59:30Z", at) == "30s"
    assert age("2026-01-01T11:55:00Z", at) == "5m"
    assert age("2026-01-01T09:00:00Z", at) == "3h"
    assert age("2025-12-29T12:00:00Z", at) == "3d"


def test_protobuf_namespace() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([(number << 3) | 2, len(payload)]) + payload

    meta = field(1, b"x") + field(11, field(1, b"team") + field(2, b"a"))
    raw = field(1, meta)
    body = b"k8s\x00" + field(1, field(1, b"v1") + field(2, b"Namespace")) + field(2, raw)
    assert decode(body) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "x", "labels": {"team": "a"}},
    }


def test_routing() -> None:
    target = parse_target("/api/v1/namespaces/n/pods/p/exec")
    assert target is not None
    assert (target.kind.resource, target.namespace, target.name, target.subresource) == (
        "pods",
        "n",
        "p",
        "exec",
    )
    ns = parse_target("/api/v1/namespaces/n")
    assert ns is not None and (ns.kind.resource, ns.name) == ("namespaces", "n")
    netpol = parse_target("/apis/networking.k8s.io/v1/namespaces/n/networkpolicies")
    assert netpol is not None and netpol.kind.kind == "NetworkPolicy" and netpol.name == ""
    assert parse_target("/api/v1/namespaces/n/widgets") is None
    assert parse_target("/api/v1/pods/p") is None


def test_raw_answers(api: Api) -> None:
    status, data, _ = api.request("PUT", "/api/v1/namespaces/default/configmaps", {"metadata": {}})
    assert status == 405 and data["reason"] == "MethodNotAllowed"
    status, data, _ = api.request("POST", "/api/v1/namespaces/default/configmaps", "not an object")
    assert status == 400 and data["kind"] == "Status"
    status, data, _ = api.request("GET", "/api/v1/namespaces/default/widgets")
    assert status == 404 and data["kind"] == "Status"
    status, data, _ = api.request("GET", "/apis/networking.k8s.io/v1")
    assert status == 200 and data["resources"][0]["name"] == "networkpolicies"
    status, data, _ = api.request("GET", "/openapi/v3")
    assert status == 200 and "apis/networking.k8s.io/v1" in data["paths"]


def test_logs_table_and_ephemeral_containers(api: Api) -> None:
    core = api.core()
    core.create_namespaced_pod("default", pod_body("t"))
    wait_for(lambda: core.read_namespaced_pod("t", "default").status.pod_ip, "ip")
    assert core.read_namespaced_pod_log("t", "default") == ""
    status, table, _ = api.request(
        "GET",
        "/api/v1/namespaces/default/pods",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    assert status == 200 and table["kind"] == "Table"
    columns = [c["name"] for c in table["columnDefinitions"]]
    row = table["rows"][0]["cells"]
    assert row[columns.index("IP")] == core.read_namespaced_pod("t", "default").status.pod_ip
    status, data, _ = api.request(
        "PATCH",
        "/api/v1/namespaces/default/pods/t/ephemeralcontainers",
        {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}},
        "application/strategic-merge-patch+json",
    )
    assert status == 200, data
    assert data["spec"]["ephemeralContainers"][0]["name"] == "dbg"
