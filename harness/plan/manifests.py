"""The manifests under test, rewritten for one hermetic run.

Namespace names move to the run's suffixed names (``metadata.namespace``,
``kubernetes.io/metadata.name`` in namespace selectors, the namespace names in Calico
selector strings); cluster-wide policies (Calico GlobalNetworkPolicy, the
network-policy-api kinds) are confined to the namespaces the run creates; every
object carries the run's labels, so cleanup finds it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL
from harness.model import SCENARIO_LABEL
from harness.model import ManifestDoc
from harness.plan.common import NAMESPACE_NAME_LABEL

#: Cluster-wide policies confined to the run's namespaces (see _confine).
CALICO_VERSION = "projectcalico.org/v3"
DEFAULT_TIER = "default"
CLUSTER_POLICY_KINDS = frozenset(
    {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"}
)
#: Namespace-name labels whose values a Calico selector string may name.
_CALICO_NAME_KEYS = ("projectcalico.org/name", "projectcalico.org/namespace", NAMESPACE_NAME_LABEL)
_CALICO_NAME_TERM = re.compile(
    r"(?P<key>" + "|".join(re.escape(k) for k in _CALICO_NAME_KEYS) + r")"
    r"(?P<op>\s*(?:==|!=|not\s+in|in)\s*)(?P<rest>\{[^}]*\}|'[^']*'|\"[^\"]*\")"
)
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def run_labels(run_id: str, scenario: str) -> dict[str, str]:
    """The labels on every object a run creates (cleanup finds them by these)."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: run_id, SCENARIO_LABEL: scenario}


def labelled(doc: ManifestDoc, common: Mapping[str, str]) -> ManifestDoc:
    """A manifest carrying the run's labels (its own labels win), for cleanup by label."""
    body = dict(doc.body)
    meta = dict(body.get("metadata") or {})
    meta["labels"] = {**common, **dict(meta.get("labels") or {})}
    body["metadata"] = meta
    return ManifestDoc(body, doc.source)


def map_manifest(
    doc: ManifestDoc, namespace_map: Mapping[str, str], run_id: str = ""
) -> ManifestDoc:
    """``doc`` with the run's namespace names; a cluster-wide policy confined to the run.

    With ``run_id``, a cluster-wide policy also gets the run id in its name
    (``default-deny`` -> ``default-deny-<run id>``): two runs applying the same file at
    once then make two objects, instead of the second replacing the first (and the
    first run's cleanup deleting the second's). A BaselineAdminNetworkPolicy must be
    named ``default`` (one per cluster) and a Tier is shared by name: neither is renamed.
    """
    body = copy.deepcopy(dict(doc.body))
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("namespace"), str):
        meta["namespace"] = namespace_map.get(meta["namespace"], meta["namespace"])
    named = isinstance(meta, dict) and isinstance(meta.get("name"), str)
    if run_id and named and _renamed_per_run(body):
        assert isinstance(meta, dict)
        meta["name"] = f"{meta['name'][: 253 - len(run_id) - 1]}-{run_id}"
    if run_id and named and body.get("apiVersion") == CALICO_VERSION:
        _tier_per_run(body, run_id)
    _map_selectors(body, namespace_map)
    kind = body.get("kind")
    if body.get("apiVersion") == CALICO_VERSION and kind in (
        "NetworkPolicy",
        "GlobalNetworkPolicy",
    ):
        _map_calico_selectors(body.get("spec"), namespace_map)
    created = sorted(v for k, v in namespace_map.items() if v != k)
    if str(body.get("apiVersion", "")).startswith("policy.networking.k8s.io/"):
        if kind in CLUSTER_POLICY_KINDS:
            _map_cluster_policy(body, namespace_map, created)
    elif body.get("apiVersion") == CALICO_VERSION and kind == "GlobalNetworkPolicy":
        spec = body.setdefault("spec", {})
        if isinstance(spec, dict):
            spec["namespaceSelector"] = _confined_calico(spec.get("namespaceSelector"), created)
    return ManifestDoc(body, doc.source)


def tier_name(tier: str, run_id: str) -> str:
    """A run's name for a Calico Tier (``default`` is Calico's own and stays)."""
    return tier if tier == DEFAULT_TIER else f"{tier[: 63 - len(run_id) - 1]}-{run_id}"


def _tier_per_run(body: dict[str, Any], run_id: str) -> None:
    """A Tier gets the run id in its name, and the policies in it follow (``spec.tier``
    and the ``<tier>.`` name prefix Calico up to 3.31 requires): two runs may then use
    tiers of one name with different orders or default actions. Tier policies of a run
    select only the run's pods, so the run's tier decides nothing for other runs."""
    meta = body["metadata"]
    kind = body.get("kind")
    if kind == "Tier":
        meta["name"] = tier_name(meta["name"], run_id)
        return
    spec = body.get("spec")
    if kind not in ("NetworkPolicy", "GlobalNetworkPolicy") or not isinstance(spec, dict):
        return
    tier = spec.get("tier")
    if not isinstance(tier, str) or not tier or tier == DEFAULT_TIER:
        return
    spec["tier"] = tier_name(tier, run_id)
    if meta["name"].startswith(f"{tier}."):
        meta["name"] = f"{spec['tier']}.{meta['name'][len(tier) + 1 :]}"


def shared_objects(docs: Sequence[ManifestDoc]) -> list[str]:
    """Cluster-wide singletons among ``docs`` that runs cannot rename, as "Kind/name":
    the BaselineAdminNetworkPolicy (must be named ``default``) and the ``default`` Tier.
    Two runs that both apply one must not overlap (the live session serialises them)."""
    keys: set[str] = set()
    for doc in docs:
        body = doc.body
        name = (body.get("metadata") or {}).get("name")
        kind = body.get("kind")
        api = str(body.get("apiVersion", ""))
        banp = kind == "BaselineAdminNetworkPolicy" and api.startswith("policy.networking.k8s.io/")
        if banp or (kind == "Tier" and api == CALICO_VERSION and name == DEFAULT_TIER):
            keys.add(f"{kind}/{name}")
    return sorted(keys)


def _renamed_per_run(body: Mapping[str, Any]) -> bool:
    """A cluster-scoped policy two runs could both apply under one name (see map_manifest)."""
    api, kind = str(body.get("apiVersion", "")), body.get("kind")
    if api == CALICO_VERSION:
        return kind == "GlobalNetworkPolicy"
    return api.startswith("policy.networking.k8s.io/") and kind in (
        "AdminNetworkPolicy",
        "ClusterNetworkPolicy",
    )


def _confined_calico(selector: Any, created: Sequence[str]) -> str:
    """``selector`` AND "the namespace is one this run creates" (Calico selector syntax)."""
    names = ", ".join(f"'{n}'" for n in created)
    term = f"projectcalico.org/name in {{{names}}}"
    if isinstance(selector, str) and selector.strip():
        return f"({selector}) && {term}"
    return term


def _map_cluster_policy(
    body: dict[str, Any], namespace_map: Mapping[str, str], created: Sequence[str]
) -> None:
    """Map namespace names in ``namespaces`` peers; confine the subject to the run.

    A cluster-wide policy of a hermetic run must not select pods outside the namespaces
    the run creates: its subject gets a ``kubernetes.io/metadata.name In [...]`` term.
    """
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return
    stack: list[Any] = [spec.get("ingress"), spec.get("egress")]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if isinstance(node.get("namespaces"), dict):
                _map_selector(node["namespaces"], namespace_map)
            stack.extend(v for k, v in node.items() if k != "namespaces")
    subject = spec.get("subject")
    if not isinstance(subject, dict):
        return
    term = {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": list(created)}
    if isinstance(subject.get("namespaces"), dict):
        selector = subject["namespaces"]
    elif isinstance(subject.get("pods"), dict):
        selector = subject["pods"].setdefault("namespaceSelector", {})
        if not isinstance(selector, dict):
            return
    else:
        return
    _map_selector(selector, namespace_map)
    exprs = selector.get("matchExpressions")
    selector["matchExpressions"] = [*(exprs if isinstance(exprs, list) else []), term]


def _map_calico_selectors(value: Any, namespace_map: Mapping[str, str]) -> None:
    """Rewrite namespace names in the selector strings of a Calico policy."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, child in node.items():
                if key in ("selector", "notSelector", "namespaceSelector") and isinstance(
                    child, str
                ):
                    node[key] = _map_calico_names(child, namespace_map)
                else:
                    stack.append(child)


def _map_calico_names(selector: str, namespace_map: Mapping[str, str]) -> str:
    def quoted(m: re.Match[str]) -> str:
        name = m.group(1) if m.group(1) is not None else m.group(2)
        return f"'{namespace_map.get(name, name)}'"

    def term(m: re.Match[str]) -> str:
        return m.group("key") + m.group("op") + _QUOTED.sub(quoted, m.group("rest"))

    return _CALICO_NAME_TERM.sub(term, selector)


def _map_selectors(value: Any, namespace_map: Mapping[str, str]) -> None:
    """Rewrite kubernetes.io/metadata.name in every namespaceSelector below ``value``."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key, child in node.items():
            if key == "namespaceSelector" and isinstance(child, dict):
                _map_selector(child, namespace_map)
            stack.append(child)


def _map_selector(selector: dict[str, Any], namespace_map: Mapping[str, str]) -> None:
    labels = selector.get("matchLabels")
    if isinstance(labels, dict) and isinstance(labels.get(NAMESPACE_NAME_LABEL), str):
        name = labels[NAMESPACE_NAME_LABEL]
        labels[NAMESPACE_NAME_LABEL] = namespace_map.get(name, name)
    for expr in selector.get("matchExpressions") or ():
        if isinstance(expr, dict) and expr.get("key") == NAMESPACE_NAME_LABEL:
            values = expr.get("values")
            if isinstance(values, list):
                expr["values"] = [
                    namespace_map.get(v, v) if isinstance(v, str) else v for v in values
                ]
