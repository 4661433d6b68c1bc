"""harness.live.cluster against a scripted fake API server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ClusterError
from harness.errors import ConfigError
from harness.errors import Conflict
from harness.errors import ExecError
from harness.errors import Forbidden
from harness.errors import Invalid
from harness.errors import NotFound
from harness.errors import PodNotReady
from harness.live.api import ObjectRef
from harness.live.apistatus import error_from_status
from harness.live.apistatus import exit_code_from_status
from harness.live.cluster import Cluster
from harness.live.pods import describe_pod
from harness.live.pods import is_ready
from tests.live.fakeapi import State
from tests.live.fakeapi import serve

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a-r1"}}
NP = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny", "namespace": "a-r1"},
    "spec": {"podSelector": {}},
}


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[State, Cluster]]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with serve(tmp_path) as (state, kubeconfig):
        yield state, Cluster(kubeconfig=kubeconfig, retry_base=0.01, retry_cap=0.05)


def test_create_then_409_replaces_a_policy(api: tuple[State, Cluster]) -> None:
    state, cluster = api
    cluster.create(NP)
    changed = json.loads(json.dumps(NP))
    changed["spec"]["policyTypes"] = ["Ingress"]
    cluster.create(changed)
    stored = state.objects["/apis/networking.k8s.io/v1/namespaces/a-r1/networkpolicies/deny"]
    assert stored["spec"]["policyTypes"] == ["Ingress"]
    assert stored["metadata"]["resourceVersion"] == "1"  # replace carried the version
    assert "PUT /apis/networking.k8s.io/v1/namespaces/a-r1/networkpolicies/deny" in state.requests


def test_409_on_a_namespace_is_success_only_when_ours(api: tuple[State, Cluster]) -> None:
    _, cluster = api
    ours = json.loads(json.dumps(NS))
    ours["metadata"]["labels"] = {"netpol-harness.dev/run": "r1"}
    cluster.create(ours, run_id="r1")
    assert cluster.create(ours, run_id="r1")["metadata"]["name"] == "a-r1"
    with pytest.raises(Conflict):
        cluster.create(ours, run_id="other")


def test_429_honours_retry_after_then_succeeds(api: tuple[State, Cluster]) -> None:
    state, cluster = api
    state.script["POST /api/v1/namespaces"] = [
        (429, {"kind": "Status", "message": "slow down"}, {"Retry-After": "0"}),
        (503, {"kind": "Status", "message": "unavailable"}, {}),
    ]
    cluster.create(NS)
    assert state.requests.count("POST /api/v1/namespaces") == 3
    assert "/api/v1/namespaces/a-r1" in state.objects


def test_422_and_403_are_not_retried(api: tuple[State, Cluster]) -> None:
    state, cluster = api
    state.script["POST /api/v1/namespaces"] = [
        (422, {"kind": "Status", "message": "spec.x: Invalid value"}, {}),
        (403, {"kind": "Status", "message": 'pods "x" is forbidden: violates PodSecurity'}, {}),
    ]
    with pytest.raises(Invalid, match="Invalid value"):
        cluster.create(NS)
    with pytest.raises(Forbidden, match="violates PodSecurity"):
        cluster.create(NS)
    assert state.requests.count("POST /api/v1/namespaces") == 2


SA_MISSING = (
    'pods "web" is forbidden: error looking up service account a-r1/default: '
    'serviceaccount "default" not found'
)
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "a-r1"}}


def test_the_service_account_403_of_a_new_namespace_is_waited_out(tmp_path: Path) -> None:
    # Real API servers refuse pods until the ServiceAccount controller made "default".
    # No generic retries (retry_attempts=1): this wait is its own, not the retry budget.
    with serve(tmp_path) as (state, kubeconfig):
        cluster = Cluster(kubeconfig=kubeconfig, retry_attempts=1)
        state.script["POST /api/v1/namespaces/a-r1/pods"] = [
            (403, {"kind": "Status", "reason": "Forbidden", "message": SA_MISSING}, {})
        ] * 4
        cluster.create(POD)
        assert state.requests.count("POST /api/v1/namespaces/a-r1/pods") == 5
        assert "/api/v1/namespaces/a-r1/pods/web" in state.objects


def test_the_service_account_wait_is_bounded(tmp_path: Path) -> None:
    with serve(tmp_path) as (state, kubeconfig):
        cluster = Cluster(kubeconfig=kubeconfig, retry_attempts=1, service_account_wait=0.3)
        state.script["POST /api/v1/namespaces/a-r1/pods"] = [
            (403, {"kind": "Status", "reason": "Forbidden", "message": SA_MISSING}, {})
        ] * 100
        with pytest.raises(Forbidden, match="serviceaccount"):
            cluster.create(POD)
        assert 2 <= state.requests.count("POST /api/v1/namespaces/a-r1/pods") < 100


def test_delete_missing_is_false_and_list_sets_kind(api: tuple[State, Cluster]) -> None:
    _, cluster = api
    cluster.create(NS)
    cluster.create(NP)
    assert cluster.list_network_policies("a-r1")[0]["kind"] == "NetworkPolicy"
    assert cluster.delete(ObjectRef("networking.k8s.io/v1", "NetworkPolicy", "deny", "a-r1"))
    assert not cluster.delete(ObjectRef("networking.k8s.io/v1", "NetworkPolicy", "deny", "a-r1"))
    with pytest.raises(NotFound):
        cluster.get("v1", "Namespace", "nope")


def test_exec_returns_stdout_stderr_and_exit_code(api: tuple[State, Cluster]) -> None:
    state, cluster = api
    result = cluster.exec("a", "p", ["sh", "-c", "echo 'a b' %{x}"], container="client")
    assert json.loads(result.stdout) == ["sh", "-c", "echo 'a b' %{x}"]
    assert result.stderr == "to stderr\n"
    assert result.exit_code == 0
    state.exec_mode["p3"] = "exit3"
    assert cluster.exec("a", "p3", ["false"]).exit_code == 3


def test_exec_lost_status_and_hang_and_handshake(api: tuple[State, Cluster]) -> None:
    state, cluster = api
    state.exec_mode.update({"lost": "nostatus", "hang": "hang", "gone": "404"})
    with pytest.raises(ExecError, match="lost exit status") as lost:
        cluster.exec("a", "lost", ["true"])
    assert lost.value.retryable
    with pytest.raises(ExecError, match=r"no exit status within 0\.5s"):
        cluster.exec("a", "hang", ["true"], timeout=0.5)
    with pytest.raises(ExecError, match="HTTP 404") as gone:
        cluster.exec("a", "gone", ["true"])
    assert gone.value.status == 404
    assert not gone.value.retryable


def test_exec_from_many_threads_keeps_plain_requests_working(api: tuple[State, Cluster]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _, cluster = api
    cluster.create(NS)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: cluster.exec("a", f"p{i}", ["true"]).exit_code, range(40)))
    assert codes == [0] * 40
    # The ApiClient of this thread was never left monkey-patched by stream().
    assert cluster.get("v1", "Namespace", "a-r1")["metadata"]["name"] == "a-r1"


def test_wait_pods_ready_reports_why(api: tuple[State, Cluster]) -> None:
    state, cluster = api
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "a-r1"},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [
                {
                    "name": "client",
                    "ready": False,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}},
                }
            ],
        },
    }
    state.objects["/api/v1/namespaces/a-r1/pods/web"] = pod
    with pytest.raises(PodNotReady) as info:
        cluster.wait_pods_ready([("a-r1", "web")], timeout=0.3, interval=0.1)
    text = str(info.value)
    assert "a-r1/web: phase Pending" in text
    assert "ImagePullBackOff" in text
    pod["status"] = {
        "phase": "Running",
        "podIP": "10.0.0.5",
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    pods = cluster.wait_pods_ready([("a-r1", "web")], timeout=2, interval=0.1)
    assert is_ready(pods[("a-r1", "web")])


def test_fatal_waiting_reason_fails_fast(api: tuple[State, Cluster]) -> None:
    state, cluster = api
    state.objects["/api/v1/namespaces/a-r1/pods/web"] = {
        "metadata": {"name": "web", "namespace": "a-r1"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "client", "state": {"waiting": {"reason": "InvalidImageName"}}}
            ],
        },
    }
    with pytest.raises(PodNotReady, match="will not start"):
        cluster.wait_pods_ready([("a-r1", "web")], timeout=60, interval=0.05)


def test_describe_never_leaks_the_token(api: tuple[State, Cluster]) -> None:
    _, cluster = api
    assert "s3cr3t" not in cluster.describe()
    assert cluster.describe().startswith("http://127.0.0.1:")


def test_bad_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "kc"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    with pytest.raises(ConfigError, match="fix: pass --netpol-kubeconfig"):
        Cluster(kubeconfig=str(path), context="nope")


# ------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (404, NotFound, False),
        (409, Conflict, False),
        (422, Invalid, False),
        (403, Forbidden, False),
        (429, ClusterError, True),
        (500, ClusterError, True),
        (503, ClusterError, True),
        (0, ClusterError, True),
        (400, ClusterError, False),
    ],
)
def test_error_from_status(status: int, kind: type, retryable: bool) -> None:
    err = error_from_status(status, "msg", what="create x", headers={"Retry-After": "2"})
    assert type(err) is kind
    assert err.retryable is retryable
    assert err.status == status
    if status == 429:
        assert err.retry_after == 2.0


def test_exit_code_from_status() -> None:
    assert exit_code_from_status('{"status":"Success"}') == 0
    fail = {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "28"}]},
    }
    assert exit_code_from_status(json.dumps(fail)) == 28
    with pytest.raises(ExecError, match="lost exit status"):
        exit_code_from_status("")
    with pytest.raises(ExecError, match="container not found"):
        exit_code_from_status('{"status":"Failure","message":"container not found"}')


def test_describe_pod_running_not_ready() -> None:
    pod = {
        "status": {
            "phase": "Running",
            "containerStatuses": [{"name": "server", "ready": False, "state": {"running": {}}}],
        }
    }
    text = describe_pod("ns", "db", pod, ["Warning Unhealthy: probe failed"], {"server": ["boom"]})
    assert "container server running but not ready" in text
    assert "event Warning Unhealthy" in text
    assert "log server: boom" in text
