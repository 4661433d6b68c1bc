"""After probing: what the cluster says about the verdicts (pod health, explanations).

:func:`guard_pod_health` turns a FAIL whose probe pods broke while probing into an
ERROR (a crashed server says nothing about the policies); :func:`explain` gives
failing cells the policy engine's decision over the live objects. Both read the
cluster through :class:`harness.live.api.Snapshots` only.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from harness.errors import HarnessError
from harness.live.api import Snapshots
from harness.live.pods import pod_trouble
from harness.model import Plan
from harness.model import Probe
from harness.model import Status
from harness.model import TargetKind
from harness.model import Verdict

#: Where the cluster DNS pods live (label k8s-app=kube-dns), for explanations.
DNS_NAMESPACE = "kube-system"


def guard_pod_health(
    cluster: Snapshots,
    plan: Plan,
    verdicts: list[Verdict],
    ready: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[Verdict]:
    """A FAIL whose source or target pod broke while probing is an ERROR, not a verdict.

    A server that crashed answers with RST (refused) or not at all; that says
    nothing about the policies. The pods are compared with how they were when
    they became Ready: gone, being deleted, a new IP, restarted, a container
    not running or the Ready condition false all count as broken.
    """
    failing = [v for v in verdicts if v.status is Status.FAIL]
    if not failing:
        return verdicts
    namespaces = sorted({ns for ns, _ in ready})
    try:
        objects = cluster.snapshot(namespaces)
    except HarnessError as exc:
        note = f"; probe pod health not checked: {exc}"
        return [
            replace(v, detail=v.detail + note) if v.status is Status.FAIL else v for v in verdicts
        ]
    now: dict[tuple[str, str], Mapping[str, Any]] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Pod":
            now[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = obj
    trouble: dict[tuple[str, str], str] = {}
    for key, before in ready.items():
        problem = pod_trouble(before, now.get(key))
        if problem:
            trouble[key] = problem
    if not trouble:
        return verdicts
    out: list[Verdict] = []
    for v in verdicts:
        if v.status is Status.FAIL:
            refs = [v.probe.source_pod]
            target = v.probe.cell.target
            if target.kind in (TargetKind.POD, TargetKind.SERVICE):
                refs.append(plan.pod_of(target.name))
            causes = [
                f"{ref}: {trouble[(ref.namespace, ref.name)]}"
                for ref in dict.fromkeys(refs)
                if (ref.namespace, ref.name) in trouble
            ]
            if causes:
                v = replace(
                    v,
                    status=Status.ERROR,
                    detail=(
                        "no verdict: a probe pod broke while probing ("
                        + "; ".join(causes)
                        + f"); it observed {v.observed}: {v.detail}"
                    ),
                )
        out.append(v)
    return out


def explain(
    cluster: Snapshots,
    plan: Plan,
    verdicts: list[Verdict],
    ips: Mapping[str, str],
    nameserver: str = "",
) -> list[Verdict]:
    """Every verdict (pass or fail) carries the engine's decision over the live objects.

    Errors carry none: no network fact to explain. ``nameserver``: the probe pods'
    resolv.conf nameserver, when known (a node-local DNS cache changes the DNS path).
    """
    if all(v.status is Status.ERROR for v in verdicts):
        return verdicts
    explain_one = explainer(cluster, plan, ips, nameserver)
    return [
        v if v.status is Status.ERROR else replace(v, explanation=explain_one(v.probe))
        for v in verdicts
    ]


#: NodeLocal DNSCache's usual link-local listen address (pods then query the node).
_LINK_LOCAL_DNS = "169.254."


def extended_kinds_of(plan: Plan) -> list[tuple[str, str]]:
    """The Calico / cluster-wide policy kinds the plan applies, as (apiVersion, kind):
    the explanation reads them back (with the Tiers, which Calico policies need)."""
    from harness.policy.model import extended_kinds

    docs = [doc.body for _, stage in plan.stages() for doc in stage.manifests]
    found = {(api, kind) for api, _, kind in (k.partition(" ") for k in extended_kinds(docs))}
    if any(api == "projectcalico.org/v3" for api, _ in found):
        # Tiers (Calico policies need theirs) and the ServiceAccounts, whose labels
        # Calico's serviceAccountSelector / serviceAccounts.selector match.
        found |= {("projectcalico.org/v3", "Tier"), ("v1", "ServiceAccount")}
    return sorted(found)


def explainer(
    cluster: Snapshots, plan: Plan, ips: Mapping[str, str], nameserver: str = ""
) -> Callable[[Probe], str]:
    """A function explaining one probe by the live objects (best effort, never raises)."""
    try:
        from harness.policy import engine  # imported lazily: optional at run time

        namespaces = set(plan.namespace_map.values())
        if any(p.cell.target.kind is TargetKind.DNS for p in plan.probes):
            namespaces.add(DNS_NAMESPACE)
        objects = cluster.snapshot(sorted(namespaces), extended_kinds_of(plan))
        model = engine.ClusterModel.from_objects(objects)
        dns_pods = [
            f"{DNS_NAMESPACE}/{o['metadata']['name']}"
            for o in objects
            if o.get("kind") == "Pod"
            and (o.get("metadata") or {}).get("namespace") == DNS_NAMESPACE
            and ((o.get("metadata") or {}).get("labels") or {}).get("k8s-app") == "kube-dns"
        ]
    except Exception as exc:  # the explanation must never break the run
        reason = f"engine unavailable: {type(exc).__name__}: {exc}"
        return lambda _probe: reason

    def explain(probe: Probe) -> str:
        target = probe.cell.target
        src = str(probe.source_pod)
        if target.kind in (TargetKind.POD, TargetKind.SERVICE):
            dst = str(probe.target_pod or plan.pod_of(target.name))
        elif target.kind is TargetKind.EXTERNAL and probe.host:
            dst = probe.host
        elif target.kind is TargetKind.DNS and dns_pods:
            dst = dns_pods[0]
        else:
            return "no explanation: no kube-dns pod (k8s-app=kube-dns) found in kube-system"
        try:
            decision = model.decide(src, dst, probe.port, probe.protocol)
            text: str = decision.explain()
        except Exception as exc:  # explanations are best effort
            return f"engine could not decide: {type(exc).__name__}: {exc}"
        verdict = "allows" if decision.allowed else "denies"
        note = ""
        if target.kind is TargetKind.DNS and nameserver.startswith(_LINK_LOCAL_DNS):
            note = (
                f" (note: the pods' nameserver is {nameserver}, a node-local DNS cache: "
                f"lookups go to the node first, not straight to {dst}; the policy on the "
                "cache's own upstream queries is not modelled)"
            )
        return f"policy engine (live objects) {verdict} it: {text}{note}"

    return explain
