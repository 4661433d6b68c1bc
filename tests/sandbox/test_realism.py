"""Real-cluster timing, on by default (issue 11 item 5): the default ServiceAccount comes
after the namespace (pods are 403 until then), pods take a while to become Ready, and a
NetworkPolicy change reaches each pod's rules after its own random delay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from netpol_sandbox import enforce
from netpol_sandbox.faults import Faults
from tests.sandbox.conftest import Api
from tests.sandbox.conftest import start_api
from tests.sandbox.test_api_objects import body
from tests.sandbox.test_api_objects import pod_body
from tests.sandbox.test_api_objects import wait_for


@pytest.fixture
def real(tmp_path: Path) -> Iterator[Api]:
    """The defaults of `sandbox up`, unchanged (seeded for repeatability)."""
    yield from start_api(tmp_path, Faults(seed=7))


def test_defaults_are_realistic() -> None:
    faults = Faults()
    assert faults.service_account_delay == (0.5, 1.5)
    assert faults.pod_start_delay == (1.0, 2.0)
    assert faults.policy_delay == (0.0, 1.0)
    assert faults.insecure_http is False


def test_default_service_account_comes_late_and_pods_are_403_until_then(real: Api) -> None:
    core = real.core()
    started = time.monotonic()
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="fresh")))
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod("fresh", pod_body("early"))
    assert refused.value.status == 403
    assert body(refused.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "early" is forbidden: error looking up service account '
        'fresh/default: serviceaccount "default" not found',
        "reason": "Forbidden",
        "details": {"name": "early", "kind": "pods"},
        "code": 403,
    }
    assert core.list_namespaced_service_account("fresh").items == []

    # the ServiceAccount controller: a watch sees `default` ADDED within the bound
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    names = []
    for event in stream.stream(  # type: ignore[no-untyped-call]
        core.list_namespaced_service_account, "fresh", timeout_seconds=5
    ):
        names.append((event["type"], event["object"].metadata.name))
        break
    stream.stop()  # type: ignore[no-untyped-call]
    elapsed = time.monotonic() - started
    assert names == [("ADDED", "default")]
    assert 0.4 <= elapsed <= 2.5, elapsed
    assert core.read_namespaced_service_account("default", "fresh").metadata.name == "default"
    assert core.create_namespaced_pod("fresh", pod_body("late")).metadata.name == "late"
    # bootstrap namespaces are old on a real cluster: theirs exist from the start
    assert core.read_namespaced_service_account("default", "default").metadata.name == "default"


def test_generate_name_pods_are_refused_without_a_name(real: Api) -> None:
    core = real.core()
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="gen")))
    pod = pod_body("")
    pod.metadata = client.V1ObjectMeta(generate_name="web-")
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod("gen", pod)
    assert body(refused.value)["message"].startswith(
        "pods is forbidden: error looking up service account gen/default"
    )
    assert body(refused.value)["details"] == {"kind": "pods"}


def test_a_deleted_default_service_account_comes_back(real: Api) -> None:
    core = real.core()
    core.delete_namespaced_service_account("default", "default")
    wait_for(lambda: core.list_namespaced_service_account("default").items, "default SA re-created")


def _ready(core: Any, name: str) -> bool:
    pod = core.read_namespaced_pod(name, "default")
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_pods_take_one_to_two_seconds_to_become_ready(real: Api) -> None:
    core = real.core()
    started = time.monotonic()
    core.create_namespaced_pod("default", pod_body("slow"))
    time.sleep(0.8)
    assert not _ready(core, "slow")
    assert core.read_namespaced_pod("slow", "default").status.phase == "Pending"
    wait_for(lambda: _ready(core, "slow"), "Ready", attempts=100)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed <= 3.0, elapsed


def _programmed_on(policies: list[dict[str, Any]], name: str) -> set[str] | None:
    """Pods the policy ``name`` is programmed on as of the last sync (None: all)."""
    found: set[str] = set()
    for policy in policies:
        if policy["metadata"]["name"] == name:
            on = policy.get(enforce.PROGRAMMED_ON)
            if on is None:
                return None
            found |= set(on)
    return found


def test_a_policy_reaches_each_pod_after_its_own_delay(tmp_path: Path) -> None:
    # pods start fast here: this test is about the policy lag (bound 1 s, the default)
    for api in start_api(tmp_path, Faults(seed=3, pod_start_delay=(0.01, 0.01))):
        core = api.core()
        names = [f"p{i}" for i in range(6)]
        for name in names:
            core.create_namespaced_pod("default", pod_body(name, {"app": "x"}))
        for name in names:
            wait_for(lambda name=name, core=core: _ready(core, name), f"{name} Ready")
        api.settle()
        wanted = {f"default/{name}" for name in names}
        api.networking().create_namespaced_network_policy(
            "default",
            {"metadata": {"name": "deny"}, "spec": {"podSelector": {"matchLabels": {"app": "x"}}}},
        )
        started = time.monotonic()
        first_seen: dict[str, float] = {}
        while time.monotonic() - started < 3.0 and len(first_seen) < len(names):
            on = _programmed_on(api.node.policies, "deny")
            covered = wanted if on is None else on & wanted
            for key in covered:
                first_seen.setdefault(key, time.monotonic() - started)
            time.sleep(0.01)
        assert set(first_seen) == wanted
        times = sorted(first_seen.values())
        assert times[-1] <= 1.3, times  # within the bound (+ sync slack)
        assert times[-1] - times[0] >= 0.1, times  # not all at once: one lag per pod
        api.settle()
        assert _programmed_on(api.node.policies, "deny") is None  # all up to date


def test_programmed_on_limits_the_pods_a_policy_isolates() -> None:
    pods = [
        {
            "metadata": {"namespace": "d", "name": n, "labels": {"app": "x"}},
            "status": {"podIP": ip},
        }
        for n, ip in (("a", "10.0.0.1"), ("b", "10.0.0.2"))
    ]
    deny = {"metadata": {"namespace": "d", "name": "deny"}, "spec": {"podSelector": {}}}
    assert enforce.compile_sets([], pods, [deny]).ing_isolated == {"10.0.0.1", "10.0.0.2"}
    lagging = {**deny, enforce.PROGRAMMED_ON: ["d/b"]}
    assert enforce.compile_sets([], pods, [lagging]).ing_isolated == {"10.0.0.2"}
