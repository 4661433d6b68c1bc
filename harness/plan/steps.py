"""The steps of a multi-step scenario as whole states, and the plans they are probed with.

:func:`plan_steps` turns each :class:`~harness.model.Step` (changes) into a
:class:`~harness.model.PlanStep` (what the cluster holds after it: namespaces, pods
and manifests, mapped to the run's namespaces). ``Plan.stages()`` gives what is
probed, in order, each as a plain :class:`~harness.model.Plan` of one state: the
top-level cells (if any) on the top-level manifests, then each step. The live runner applies
the difference between consecutive states (:func:`transition`); the engine predicts
each state on its own. Both read the same states, so the static check and the live
run see the same cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.model import Cell
from harness.model import LabelChange
from harness.model import ManifestDoc
from harness.model import Plan
from harness.model import PlanStep
from harness.model import Probe
from harness.model import object_identity

ProbeOf = Callable[[Plan, Cell], Probe]


def plan_steps(
    plan: Plan, mapped: Callable[[ManifestDoc], ManifestDoc], probe_of: ProbeOf
) -> tuple[PlanStep, ...]:
    """Every step of ``plan.scenario`` as the state after it, with its probes.

    ``mapped`` rewrites a manifest for the run (namespaces, labels) as the top-level
    manifests were; ``probe_of`` makes a cell's probe. Label changes of workloads the
    run does not deploy (pytest selected none of their cells) are left out.
    """
    namespaces = {str(ns["metadata"]["name"]): ns for ns in plan.namespaces}
    pods = {str(pod["metadata"]["name"]): pod for pod in plan.pods}
    manifests = {object_identity(m.body): m for m in plan.manifests}
    out: list[PlanStep] = []
    for step in plan.scenario.steps:
        for doc in step.delete:
            manifests.pop(object_identity(mapped(doc).body), None)
        for doc in step.apply:
            new = mapped(doc)
            manifests[object_identity(new.body)] = new
        for change in step.labels:
            if change.target == "workload":
                if change.name in pods:
                    pods[change.name] = _relabelled(pods[change.name], change)
                continue
            real = plan.namespace_map.get(change.name, change.name)
            if real in namespaces:
                namespaces[real] = _relabelled(namespaces[real], change)
        cells = [c for c in plan.scenario.cells if c.step == step.name]
        probes = tuple(sorted((probe_of(plan, c) for c in cells), key=lambda p: p.id))
        out.append(
            PlanStep(
                step.name,
                tuple(namespaces.values()),
                tuple(pods.values()),
                tuple(manifests.values()),
                probes,
            )
        )
    return tuple(out)


def _relabelled(body: Mapping[str, Any], change: LabelChange) -> Mapping[str, Any]:
    new = copy.deepcopy(dict(body))
    labels = new.setdefault("metadata", {}).setdefault("labels", {})
    for key in change.remove:
        labels.pop(key, None)
    labels.update(change.set)
    return new


@dataclass(frozen=True)
class Transition:
    """What changes from one state to the next: deleted, applied and relabelled objects."""

    delete: tuple[ManifestDoc, ...]
    apply: tuple[ManifestDoc, ...]
    #: Pods and namespaces whose labels change: (the object after the change, the label
    #: patch: new values, and None for each label removed).
    relabel: tuple[tuple[Mapping[str, Any], Mapping[str, str | None]], ...]

    @property
    def empty(self) -> bool:
        return not (self.delete or self.apply or self.relabel)


def transition(before: Plan, after: Plan) -> Transition:
    """The changes that turn state ``before`` into state ``after`` (same run)."""
    old = {object_identity(m.body): m for m in before.manifests}
    new = {object_identity(m.body): m for m in after.manifests}
    delete = tuple(m for key, m in old.items() if key not in new)
    apply = tuple(m for key, m in new.items() if key not in old or old[key].body != m.body)
    relabel: list[tuple[Mapping[str, Any], Mapping[str, str | None]]] = []
    for was, now in ((before.namespaces, after.namespaces), (before.pods, after.pods)):
        labels_before = {object_identity(b): _labels(b) for b in was}
        for body in now:
            labels = _labels(body)
            old_labels = labels_before.get(object_identity(body), labels)
            if old_labels == labels:
                continue
            patch: dict[str, str | None] = {k: None for k in old_labels if k not in labels}
            patch.update({k: v for k, v in labels.items() if old_labels.get(k) != v})
            relabel.append((body, patch))
    return Transition(delete, apply, tuple(relabel))


def _labels(body: Mapping[str, Any]) -> dict[str, str]:
    return dict((body.get("metadata") or {}).get("labels") or {})
