"""Two runs at once with cluster-wide policies do not change each other's cells.

A hermetic run confines a cluster-wide policy (Calico GlobalNetworkPolicy,
AdminNetworkPolicy, ClusterNetworkPolicy) to the namespaces it creates and puts its run
id in the policy's name (harness/plan/manifests.py). Here two runs' objects are put in
ONE cluster as the API server would hold them (one object per kind and name: a later
apply of the same name replaces the earlier), and the engine predicts every cell of
each run there: each must be what it is when the run is alone. The live proof, two runs
at once on the sandbox, is tests/live/test_concurrent_runs_sandbox.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.model import Plan
from harness.model import object_identity
from harness.plan import build
from harness.policy.engine import ClusterModel
from harness.policy.static import plan_objects
from harness.policy.static import predict
from harness.scenario.loader import load

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CREATED = "2026-12-01T00:00:00Z"


def _plan(name: str, run_id: str) -> Plan:
    return build(load(SCENARIOS / f"{name}.netpol.yaml"), run_id, created=CREATED)


def _objects(plan: Plan, net: int) -> list[dict[str, Any]]:
    """The plan's objects with its pods moved to 10.<net>.0.0/16 (runs get their own IPs)."""
    out = []
    for obj in plan_objects(plan):
        obj = dict(obj)
        ip = (obj.get("status") or {}).get("podIP", "")
        if obj.get("kind") == "Pod" and ip.startswith("10.255."):
            obj["status"] = {**obj["status"], "podIP": ip.replace("10.255.", f"10.{net}.", 1)}
        out.append(obj)
    return out


def _cluster(*object_sets: list[dict[str, Any]]) -> ClusterModel:
    """One cluster holding every set, as the API server would: one object per identity."""
    held: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for objects in object_sets:
        for obj in objects:
            key = object_identity({"apiVersion": obj.get("apiVersion", "v1"), **obj})
            held.setdefault(key, obj) if obj.get("kind") in ("Namespace", "Pod") else None
            if obj.get("kind") not in ("Namespace", "Pod"):
                held[key] = obj  # a later apply of the same name replaces the object
    return ClusterModel.from_objects(list(held.values()))


def _verdicts(cluster: ClusterModel, plan: Plan) -> dict[str, bool]:
    return {p.id: predict(cluster, plan, p)[0] for p in plan.probes}


PAIRS = [
    ("calico-global-default-deny", "calico-global-default-deny"),
    ("calico-global-default-deny", "same-app"),
    ("cluster-network-policy-admin", "cluster-network-policy-admin"),
    ("cluster-network-policy-admin", "three-tier"),
]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_each_run_predicts_as_alone(first: str, second: str) -> None:
    a, b = _plan(first, "runaaaa1"), _plan(second, "runbbbb2")
    alone_a = _verdicts(ClusterModel.from_objects(_objects(a, 254)), a)
    alone_b = _verdicts(ClusterModel.from_objects(_objects(b, 253)), b)
    together = _cluster(_objects(a, 254), _objects(b, 253))
    assert _verdicts(together, a) == alone_a
    assert _verdicts(together, b) == alone_b
    # Each run's policies are in the cluster as objects of their own (name, namespace).
    bodies = [d.body for d in (*a.manifests, *b.manifests)]
    assert len({object_identity(body) for body in bodies}) == len(bodies)


def test_without_confinement_a_global_deny_would_reach_the_other_run() -> None:
    # The control: the same GlobalNetworkPolicy applied as written (no namespace term,
    # no run name) denies the other run's cells: what the confinement prevents.
    a, b = _plan("calico-global-default-deny", "runaaaa1"), _plan("same-app", "runbbbb2")
    raw = load(SCENARIOS / "calico-global-default-deny.netpol.yaml").manifests
    unconfined = [dict(d.body) for d in raw if d.body.get("kind") == "GlobalNetworkPolicy"]
    alone_b = _verdicts(ClusterModel.from_objects(_objects(b, 253)), b)
    leaky = _cluster(_objects(a, 254), _objects(b, 253), unconfined)
    changed = [k for k, v in _verdicts(leaky, b).items() if v != alone_b[k]]
    assert changed, "an unconfined global deny should have changed the other run's cells"
