"""harness.live.inplace without a cluster: pod choice, fallback safety checks, the in-place run."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from harness.errors import Forbidden
from harness.errors import HarnessError
from harness.live.inplace import InPlace
from harness.live.inplace import label_selector_matches
from harness.live.inplace import selecting
from harness.live.pods import choose_pod
from harness.live.runner import Recorder
from harness.live.runner import RunSettings
from harness.model import Outcome
from harness.model import Status
from harness.scenario.loader import loads
from tests.live.fakes import CONNECTED
from tests.live.fakes import DROPPED
from tests.live.fakes import FakeCluster
from tests.live.fakes import Probed
from tests.live.fakes import Result

SCENARIO = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: live}
settings: {connectTimeout: 1s, convergence: 0s}
namespaces:
  - {name: shop, existing: true}
workloads:
  - {name: web, namespace: shop, selector: {app: web}}
  - {name: api, namespace: shop, selector: {app: api}, ports: [8080]}
  - {name: db, namespace: shop, selector: {app: db}, role: server, ports: [5432]}
expect:
  allow: [web -> api:8080, api -> db:5432]
  deny: [web -> db:5432]
"""


def _pod(name: str, labels: Mapping[str, str], ip: str, *, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "shop", "labels": dict(labels)},
        "spec": {"containers": [{"name": "main", "image": "nginx"}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


PODS = [
    _pod("web-b", {"app": "web", "pod-template-hash": "b"}, "10.1.0.3"),
    _pod("web-a", {"app": "web", "pod-template-hash": "a"}, "10.1.0.2"),
    _pod("api-0", {"app": "api"}, "10.1.0.4"),
    _pod("db-0", {"app": "db"}, "10.1.0.5"),
]


def network(probed: Probed, round_no: int) -> tuple[int, str]:
    # live policies: api (its pod, or a fallback pod with its labels) reaches db; nothing else
    if probed.address == "10.1.0.5" and "api" not in probed.pod:
        return DROPPED
    return CONNECTED


@dataclass
class InPlaceFake(FakeCluster):
    pods: list[dict[str, Any]] = field(default_factory=lambda: [dict(p) for p in PODS])
    # kind -> objects, or the error listing them raises
    objects: dict[str, list[dict[str, Any]] | Exception] = field(default_factory=dict)
    refuse_ephemeral: Exception | None = None
    added: list[tuple[str, str, str]] = field(default_factory=list)  # (ns, pod, container)
    containers: list[tuple[str, str]] = field(default_factory=list)  # (pod, exec container)
    specs: list[dict[str, Any]] = field(default_factory=list)  # the ephemeral containers

    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)
        return [
            p
            for p in self.pods
            if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return next(p for p in self.pods if p["metadata"]["name"] == name)

    def add_ephemeral_container(
        self, namespace: str, pod: str, container: Mapping[str, Any]
    ) -> dict[str, Any]:
        if self.refuse_ephemeral is not None:
            raise self.refuse_ephemeral
        self.added.append((namespace, pod, str(container["name"])))
        self.specs.append(dict(container))
        return {}

    def wait_ephemeral_running(
        self, namespace: str, pod: str, container: str, timeout: float = 0, interval: float = 0
    ) -> dict[str, Any]:
        return self.get_pod(namespace, pod)

    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        found = self.objects.get(kind, [])
        if isinstance(found, Exception):
            raise found
        return found

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 0,
    ) -> Result:
        self.containers.append((f"{namespace}/{pod}", str(container)))
        return super().exec(namespace, pod, command, container="client", timeout=timeout)


def _runner(fake: InPlaceFake) -> InPlace:
    settings = RunSettings(round_interval=0.0, exec_backoff=0.0, confirm="none", explain=False)
    return InPlace(fake, settings, session_id="sess1")


def _scenario(text: str = SCENARIO) -> Any:
    return loads(text, "live.netpol.yaml", base_dir=Path("."))


# ---------------------------------------------------------------- pure helpers


def test_choose_pod_takes_the_first_ready_pod_by_name_and_never_ours() -> None:
    deleting = _pod("a-deleting", {"app": "web"}, "10.0.0.9")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ours = _pod("a-ours", {"app": "web", "netpol-harness.dev/run": "x"}, "10.0.0.8")
    unready = _pod("a-unready", {"app": "web"}, "10.0.0.7", ready=False)
    chosen = choose_pod([PODS[0], deleting, ours, unready, PODS[1]])
    assert chosen is not None and chosen["metadata"]["name"] == "web-a"
    assert choose_pod([unready, deleting]) is None


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, True),
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "web", "pod-template-hash": "a"}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, False),
    ],
)
def test_label_selector_semantics(selector: dict[str, Any], matches: bool) -> None:
    assert label_selector_matches(selector, {"app": "web"}) is matches


def test_selecting_names_services_and_controllers_that_would_take_the_pod() -> None:
    labels = {"app": "web", "tier": "front"}
    services: list[dict[str, Any]] = [
        {"metadata": {"namespace": "shop", "name": "web"}, "spec": {"selector": {"app": "web"}}},
        {"metadata": {"namespace": "shop", "name": "headless"}, "spec": {}},  # no selector
        {"metadata": {"namespace": "shop", "name": "api"}, "spec": {"selector": {"app": "api"}}},
    ]
    controllers: list[dict[str, Any]] = [
        {  # a Deployment's ReplicaSet: its selector carries pod-template-hash, which is not copied
            "kind": "ReplicaSet",
            "metadata": {"namespace": "shop", "name": "web-5d8f"},
            "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d8f"}}},
        },
        {
            "kind": "StatefulSet",
            "metadata": {"namespace": "shop", "name": "web"},
            "spec": {"selector": {"matchLabels": {"tier": "front"}}},
        },
    ]
    found = selecting(labels, services, controllers)
    assert found == [
        "Service shop/web (selector app=web) would send it real traffic",
        "StatefulSet shop/web would adopt it",
    ]


# ---------------------------------------------------------------- the run


def test_ephemeral_containers_probe_and_are_reused_across_scenarios() -> None:
    fake = InPlaceFake(network=network)
    fake.policies_applied = True  # the live policies are already there
    runner = _runner(fake)
    result = runner.run(_scenario(), "run1", Recorder())
    statuses = {v.probe.cell.key: (v.status, v.observed) for v in result.verdicts}
    assert statuses == {
        "api->db:5432/TCP": (Status.PASS, Outcome.CONNECTED),
        "web->api:8080/TCP": (Status.PASS, Outcome.CONNECTED),
        "web->db:5432/TCP": (Status.PASS, Outcome.DROPPED),
    }
    # web-a (first by name) and api-0 each got the session's container; db (server) none
    assert sorted(fake.added) == [
        ("shop", "api-0", "netpol-probe-sess1"),
        ("shop", "web-a", "netpol-probe-sess1"),
    ]
    assert {c for _, c in fake.containers} == {"netpol-probe-sess1"}
    assert fake.created == []  # nothing created
    runner.run(_scenario(SCENARIO.replace("name: live", "name: again")), "run2", Recorder())
    assert len(fake.added) == 2  # reused, not added again
    verdict = result.verdicts[0]
    assert "-c netpol-probe-sess1" in verdict.rerun


def test_fallback_pod_when_ephemeral_containers_are_refused() -> None:
    fake = InPlaceFake(network=network, refuse_ephemeral=Forbidden("denied", status=403))
    fake.policies_applied = True
    recorder = Recorder()
    result = _runner(fake).run(_scenario(), "run1", recorder)
    assert {v.status for v in result.verdicts} == {Status.PASS}
    names = sorted(p["metadata"]["name"] for p in fake.created)
    assert names == ["netpol-probe-run1-api", "netpol-probe-run1-web"]
    web = next(p for p in fake.created if p["metadata"]["name"].endswith("-web"))
    assert web["metadata"]["labels"]["app"] == "web"
    assert "pod-template-hash" not in web["metadata"]["labels"]
    assert {c for _, c in fake.containers} == {"client"}
    assert sorted(r.name for r in recorder.snapshot()) == names  # deleted by the session


def test_fallback_is_refused_when_a_controller_selects_the_labels() -> None:
    fake = InPlaceFake(network=network, refuse_ephemeral=Forbidden("denied", status=403))
    fake.policies_applied = True
    fake.objects["DaemonSet"] = [
        {
            "kind": "DaemonSet",
            "metadata": {"namespace": "shop", "name": "api-agent"},
            "spec": {"selector": {"matchLabels": {"app": "api"}}},
        }
    ]
    result = _runner(fake).run(_scenario(), "run1", Recorder())
    by_key = {v.probe.cell.key: v for v in result.verdicts}
    refused = by_key["api->db:5432/TCP"]
    assert refused.status is Status.ERROR
    assert "DaemonSet shop/api-agent would adopt it" in refused.detail
    assert "fix:" in refused.detail
    assert by_key["web->api:8080/TCP"].status is Status.PASS  # other sources still run
    assert [p["metadata"]["name"] for p in fake.created] == ["netpol-probe-run1-web"]


def test_fallback_is_refused_when_the_checks_are_forbidden() -> None:
    fake = InPlaceFake(network=network, refuse_ephemeral=Forbidden("denied", status=403))
    fake.policies_applied = True
    fake.objects["Service"] = Forbidden("services is forbidden", status=403)
    result = _runner(fake).run(_scenario(), "run1", Recorder())
    assert {v.status for v in result.verdicts} == {Status.ERROR}
    assert "netpol-harness-in-place-fallback" in result.verdicts[0].detail
    assert fake.created == []


def test_a_workload_without_a_ready_pod_is_a_setup_error_with_the_fix() -> None:
    fake = InPlaceFake(network=network)
    fake.pods = [p for p in fake.pods if p["metadata"]["labels"]["app"] != "db"]
    with pytest.raises(HarnessError) as info:
        _runner(fake).run(_scenario(), "run1", Recorder())
    text = str(info.value)
    assert "no Running and Ready pod matches app=db in namespace shop" in text
    assert "kubectl get pods -n shop -l app=db" in text
    assert fake.added == []


def _meshed(fake: InPlaceFake, pod: str, sidecar: str) -> None:
    for p in fake.pods:
        if p["metadata"]["name"] == pod:
            p["spec"] = {"containers": [{"name": "app"}, {"name": sidecar}]}


@pytest.mark.parametrize(("sidecar", "uid"), [("istio-proxy", 1337), ("linkerd-proxy", 2102)])
def test_a_meshed_source_probes_as_the_proxy_uid(sidecar: str, uid: int) -> None:
    fake = InPlaceFake(network=network)
    fake.policies_applied = True
    _meshed(fake, "web-a", sidecar)
    result = _runner(fake).run(_scenario(), "run1", Recorder())
    assert all(v.status is Status.PASS for v in result.verdicts)
    by_pod = {pod: spec for (_, pod, _), spec in zip(fake.added, fake.specs, strict=True)}
    assert by_pod["web-a"]["securityContext"]["runAsUser"] == uid  # the mesh leaves it alone
    assert by_pod["api-0"]["securityContext"]["runAsUser"] == 65532  # not meshed
    web = next(v for v in result.verdicts if v.probe.cell.source == "web")
    assert f"-c netpol-probe-sess1-u{uid}" in web.rerun


def test_a_meshed_source_without_ephemeral_containers_is_refused_not_guessed() -> None:
    fake = InPlaceFake(network=network, refuse_ephemeral=Forbidden("denied", status=403))
    fake.policies_applied = True
    _meshed(fake, "web-a", "istio-proxy")
    result = _runner(fake).run(_scenario(), "run1", Recorder())
    web = [v for v in result.verdicts if v.probe.cell.source == "web"]
    assert web and all(v.status is Status.ERROR for v in web)
    assert all("Istio sidecar" in v.detail for v in web)
    assert not any(o.get("kind") == "Pod" and "web" in str(o) for o in fake.created)
