"""A FAIL caused by a probe pod that broke while probing becomes an ERROR (runner guard).

Reproduces the fault campaign's finding: a server pod whose nginx crashed mid-run answers
allow cells with RST (refused), which the runner used to report as FAIL, a verdict on the
policies for what was an infrastructure fault.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from harness.errors import ClusterError
from harness.live.pods import fatal_reasons
from harness.live.pods import pod_trouble
from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings
from harness.model import Status
from tests.live.factory import make_plan
from tests.live.fakes import CONNECTED
from tests.live.fakes import DROPPED
from tests.live.fakes import REFUSED
from tests.live.fakes import FakeClock
from tests.live.fakes import FakeCluster
from tests.live.fakes import Probed

POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny-db", "namespace": "ns-r1"},
    "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]},
}

CELLS: list[tuple[str, str, int, Any]] = [
    ("web", "api", 80, "allow"),
    ("web", "db", 5432, "deny"),
]

READY: dict[str, Any] = {
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.3",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {"name": "server", "restartCount": 0, "ready": True, "state": {"running": {}}}
        ],
    }
}


def crashed(pod: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(pod)
    out["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    out["status"]["containerStatuses"] = [
        {
            "name": "server",
            "restartCount": 1,
            "ready": False,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        }
    ]
    return out


class CrashingCluster(FakeCluster):
    """The api pod's server refuses after the policies are applied; its status says why."""

    crash: bool = True
    snapshot_error: ClusterError | None = None

    def snapshot(
        self, namespaces: Iterable[str], extended: Iterable[tuple[str, str]] = ()
    ) -> list[dict[str, Any]]:
        if self.snapshot_error is not None:
            raise self.snapshot_error
        objects = []
        for obj in super().snapshot(namespaces):
            obj = copy.deepcopy(obj)
            if obj.get("kind") == "Pod":
                obj["status"] = copy.deepcopy(READY["status"])
                del obj["status"]["podIP"]  # the fake hands out its own IPs
                if self.crash and obj["metadata"]["name"] == "api":
                    obj = crashed(obj)
            objects.append(obj)
        return objects


def network(p: Probed, round_no: int) -> tuple[int, str]:
    if p.port == 80:
        return REFUSED  # nginx of api is dead
    return DROPPED if p.port == 5432 else CONNECTED


def run(cluster: FakeCluster) -> dict[str, Any]:
    clock = FakeClock()
    settings = RunSettings(concurrency=4, convergence=3.0, explain=False)
    runner = Runner(cluster, settings, recorder=Recorder(), clock=clock, sleep=clock.sleep)
    result = runner.run(make_plan(CELLS, policies=[POLICY]))
    return {v.probe.cell.key: v for v in result.verdicts}


def test_refused_by_a_crashed_server_is_an_error_naming_the_crash() -> None:
    verdicts = run(CrashingCluster(network=network))
    broken = verdicts["web->api:80/TCP"]
    assert broken.status is Status.ERROR
    assert "CrashLoopBackOff" in broken.detail
    assert "restartCount 0 -> 1" in broken.detail
    assert "ns-r1/api" in broken.detail
    assert "refused" in broken.detail  # what it saw is kept
    assert verdicts["web->db:5432/TCP"].status is Status.PASS


def test_a_real_fail_with_healthy_pods_stays_a_fail() -> None:
    cluster = CrashingCluster(network=network)
    cluster.crash = False
    verdicts = run(cluster)
    assert verdicts["web->api:80/TCP"].status is Status.FAIL


def test_health_unknown_keeps_the_fail_and_says_so() -> None:
    cluster = CrashingCluster(network=network)
    cluster.snapshot_error = ClusterError("list pods: HTTP 500")
    verdicts = run(cluster)
    assert verdicts["web->api:80/TCP"].status is Status.FAIL
    assert "probe pod health not checked: list pods: HTTP 500" in verdicts["web->api:80/TCP"].detail


def test_pod_trouble_names_each_kind_of_breakage() -> None:
    assert pod_trouble(READY, copy.deepcopy(READY)) == ""
    assert pod_trouble(READY, None) == "the pod is gone"
    moved = copy.deepcopy(READY)
    moved["status"]["podIP"] = "10.0.0.9"
    assert "pod IP changed from 10.0.0.3 to 10.0.0.9" in pod_trouble(READY, moved)
    deleting = copy.deepcopy(READY)
    deleting["metadata"] = {"deletionTimestamp": "2026-01-01T00:00:00Z"}
    assert "being deleted" in pod_trouble(READY, deleting)
    text = pod_trouble(READY, crashed(READY))
    assert "container server waiting: CrashLoopBackOff" in text
    assert "not Ready" in text


def test_missing_image_is_fatal_at_once_but_a_transient_pull_error_is_not() -> None:
    def waiting(reason: str, message: str) -> dict[str, Any]:
        state = {"waiting": {"reason": reason, "message": message}}
        return {"status": {"containerStatuses": [{"name": "server", "state": state}]}}

    missing = waiting(
        "ErrImagePull",
        'Failed to pull image "x:1": rpc error: code = NotFound desc = failed to pull and '
        'unpack image "x:1": not found',
    )
    assert fatal_reasons(missing) == ["server: ErrImagePull (the image does not exist)"]
    flaky = waiting("ErrImagePull", "dial tcp: i/o timeout")
    assert fatal_reasons(flaky) == []
