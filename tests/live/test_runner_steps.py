"""The runner on a multi-step scenario: each step's changes, then its cells, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import plan as planning
from harness.errors import ClusterError
from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings
from harness.model import Plan
from harness.model import Status
from tests.live.fakes import CONNECTED
from tests.live.fakes import DROPPED
from tests.live.fakes import FakeClock
from tests.live.fakes import FakeCluster
from tests.live.fakes import Probed
from tests.scenario.util import load_text
from tests.scenario.util import project
from tests.scenario.util import scenario_text

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-api, namespace: back}
spec: {podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress]}
"""
SCENARIO_STEPS = """\
steps:
  - name: deny
    apply: [../manifests/deny-api.yaml]
    changes: {deny: [web -> api:8080]}
  - name: relabel
    label: [{workload: web, set: {role: x}}]
  - name: undo
    delete: [../manifests/deny-api.yaml]
    changes: {allow: [web -> api:8080]}
"""


def _plan(tmp_path: Path) -> Plan:
    root = project(tmp_path)
    (root / "manifests" / "deny-api.yaml").write_text(POLICY)
    text = scenario_text(expect="expect:\n  allow: [web -> api:8080]\n") + SCENARIO_STEPS
    return planning.build(load_text(root, text), "r1", created="2026-12-01T00:00:00Z")


class Enforcing(FakeCluster):
    """Drops traffic to api while deny-api is applied and not deleted since."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(network=self._net, **kw)
        self.log: list[str] = []

    def denying(self) -> bool:
        applied = sum(1 for o in self.created if o["metadata"].get("name") == "deny-api")
        removed = sum(1 for r in self.deleted if r.name == "deny-api")
        return applied > removed

    def _net(self, probed: Probed, round_no: int) -> tuple[int, str]:
        return DROPPED if probed.port == 8080 and self.denying() else CONNECTED

    def create(self, body: Any, *, run_id: str | None = None) -> dict[str, Any]:
        if body.get("kind") == "NetworkPolicy":
            self.log.append(f"apply {body['metadata']['name']}")
        return super().create(body, run_id=run_id)

    def delete(self, ref: Any) -> bool:
        self.log.append(f"delete {ref.name}")
        return super().delete(ref)

    def patch_labels(self, ref: Any, labels: Any) -> dict[str, Any]:
        self.log.append(f"label {ref.kind} {ref.name}")
        return super().patch_labels(ref, labels)


def _runner(cluster: FakeCluster, recorder: Recorder | None = None) -> Runner:
    clock = FakeClock()
    settings = RunSettings(concurrency=4, round_interval=1.0, settle=0.0, settle_floor=0.0)
    return Runner(
        cluster, settings, recorder=recorder or Recorder(), clock=clock, sleep=clock.sleep
    )


def test_every_step_changes_the_cluster_then_probes_its_cells(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    cluster = Enforcing()
    result = _runner(cluster).run(plan)
    assert not result.setup_error
    statuses = {v.probe.id: v.status for v in result.verdicts}
    assert set(statuses) == {p.id for p in plan.probes}
    assert set(statuses.values()) == {Status.PASS}, statuses
    # The changes happen in step order, each before its step's cells are probed.
    assert cluster.log == ["apply deny-api", "label Pod web", "delete deny-api"]
    assert cluster.patched[0][1] == {"role": "x"}
    # Verdicts come in the order the cells were probed: top level, then step by step.
    steps = [v.probe.cell.step for v in result.verdicts]
    assert steps == sorted(steps, key=["", "deny", "relabel", "undo"].index)


def test_a_step_expectation_the_cluster_contradicts_fails_in_that_step_only(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path)

    class NeverDenies(Enforcing):
        def denying(self) -> bool:
            return False

    result = _runner(NeverDenies()).run(plan)
    failing = sorted(v.probe.id for v in result.verdicts if v.status is Status.FAIL)
    assert failing == [
        "demo::deny::web->api:8080/TCP[deny]",
        "demo::relabel::web->api:8080/TCP[deny]",
    ]


def test_a_step_that_cannot_be_applied_is_an_error_for_it_and_later_steps(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path)
    cluster = Enforcing(fail_patch=ClusterError("label pods/web: 403 forbidden", status=403))
    recorder = Recorder()
    result = _runner(cluster, recorder).run(plan)
    by_step: dict[str, set[Status]] = {}
    for v in result.verdicts:
        by_step.setdefault(v.probe.cell.step, set()).add(v.status)
    assert by_step == {
        "": {Status.PASS},
        "deny": {Status.PASS},
        "relabel": {Status.ERROR},
        "undo": {Status.ERROR},
    }
    errors = [v.detail for v in result.verdicts if v.status is Status.ERROR]
    assert all(d.startswith("step relabel could not be applied:") and "403" in d for d in errors)
    assert "delete deny-api" not in cluster.log  # no later step ran
    # What was applied is recorded for the cleanup.
    assert any(r.name == "deny-api" for r in recorder.snapshot())
