"""What `diff` and `generate` read: manifests, and pods from a scenario, a dump or workloads.

Files are read through the hardened loader of ``predict`` (bounded, every object with
its line), every object is validated as the API server would, and each one is either:

- a policy: an object the engine reads that decides traffic (NetworkPolicy, and the other
  policy kinds :func:`harness.policy.model.classify` accepts);
- a Namespace (its labels count for namespace selectors);
- a pod: a Pod, or the pod a workload's template makes (Deployment, StatefulSet,
  DaemonSet, ReplicaSet, ReplicationController, Job, CronJob);
- another object the engine reads (kept with the pods);
- or an object that cannot change traffic (a Service, a ConfigMap...): noted, left out.

Kinds the engine cannot model are refused by name, never skipped. Pods are grouped into
workloads (:func:`harness.policy.workloads.group_pods`); a group's pod without an address
gets a synthetic one from 10.255.0.0/16, as ``--netpol-static`` gives its probe pods.
A scenario file given as pods contributes its workloads' pods (and its namespaces with
their labels), built the way ``--netpol-static`` builds them, under the scenario's own
namespace names. :func:`scenario_policies` says how a generated scenario carries the
policies read: referenced in their files, or copied without the cluster's bookkeeping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.commands.predict import each_object
from harness.commands.predict import given_once
from harness.commands.predict import identity
from harness.commands.predict import validated
from harness.errors import ConfigError
from harness.errors import HarnessError
from harness.errors import ScenarioError
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.policy import workloads

#: Files a directory contributes (scenario files are not manifests).
SUFFIXES = (".yaml", ".yml", ".json")
SCENARIO_API = "netpol-harness.dev/"
#: At most this many files are read from the directories given.
MAX_FILES = 2000
#: Notes list at most this many objects by name.
SHOWN = 5


def shown_list(items: Sequence[str]) -> str:
    listed = ", ".join(items[:SHOWN])
    return listed + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def files_of(paths: Sequence[str], what: str, *, empty_ok: bool = False) -> list[str]:
    """The files of ``paths``: files as given, directories as their YAML/JSON files (sorted).

    Hidden files and directories and ``*.netpol.yaml`` scenario files are left out. A
    directory without such files is an error unless ``empty_ok``.
    """
    from harness.scenario.loader import SUFFIX
    from harness.scenario.yamlload import escape

    out: list[str] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            out.append(given)
            continue
        found = sorted(
            str(f)
            for f in path.rglob("*")
            if f.suffix in SUFFIXES
            and not f.name.endswith(SUFFIX)
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
            and f.is_file()
        )
        if not found and not empty_ok:
            raise ConfigError(
                f"{escape(given)}: {what}: the directory holds no .yaml, .yml or .json file "
                "(fix: give a directory of manifests, or a file)"
            )
        out += found
        if len(out) > MAX_FILES:
            raise ConfigError(
                f"{escape(given)}: {what}: more than {MAX_FILES} files (fix: give a smaller "
                "directory)"
            )
    return out


def is_policy(obj: Mapping[str, Any]) -> bool:
    """Does the object decide traffic itself (a policy kind, or part of one: a Tier)?"""
    from harness.policy.model import POLICY_GROUPS

    kind = str(obj.get("kind") or "")
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    return "NetworkPolicy" in kind or group in POLICY_GROUPS


@dataclass(frozen=True)
class Entry:
    """One object of an input file, validated; ``action`` is what the engine does with it."""

    path: str
    line: int
    obj: dict[str, Any]  # plain dicts and lists
    action: str  # "use", "ignore" or "workload"

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def ident(self) -> str:
        return identity(self.obj)


def _is_scenario(objects: list[tuple[int, Any]]) -> bool:
    if len(objects) != 1 or not isinstance(objects[0][1], Mapping):
        return False
    doc = objects[0][1]
    return doc.get("kind") == "Scenario" and str(doc.get("apiVersion", "")).startswith(SCENARIO_API)


def _entry(path: str, line: int, obj: Any) -> Entry:
    """``obj`` validated (API server rules, then the engine's own parse)."""
    from harness.policy.engine import parse_objects
    from harness.scenario.yamlload import to_plain

    give = "give Kubernetes objects: multi-document YAML or a kind: List"
    _, action = validated(path, line, obj, give=give)
    plain: dict[str, Any] = to_plain(obj)
    parsed = workloads.template_pod(plain) if action == "workload" else plain
    if action != "ignore":
        try:
            parse_objects([parsed])
        except HarnessError as exc:
            raise ScenarioError(path, line, str(exc)) from None
    return Entry(path, line, plain, action)


def read_entries(paths: Sequence[str]) -> tuple[list[Entry], list[str]]:
    """Every object of the object files (not scenarios), validated; and the scenario files.

    All problems found (up to a cap) are reported together, each as ``file:line: ...``.
    """
    from harness.scenario.checker import all_errors
    from harness.scenario.checker import combine

    entries: list[Entry] = []
    scenarios: list[str] = []
    errors: list[ScenarioError] = []
    seen: dict[tuple[str, ...], str] = {}

    def scenario(path: str, objects: list[tuple[int, Any]]) -> bool:
        if _is_scenario(objects):
            scenarios.append(path)
            return True
        return False

    for path, line, obj in each_object(paths, errors, scenario):
        try:
            entry = _entry(path, line, obj)
            meta = entry.obj.get("metadata") or {}
            group = str(entry.obj.get("apiVersion", "")).rpartition("/")[0]
            key = (group, entry.kind, str(meta.get("namespace") or ""), str(meta["name"]))
            if entry.action != "ignore":  # an ignored kind is never one that is used
                given_once(seen, key, path, line, entry.ident)
        except ScenarioError as exc:
            errors += all_errors(exc)
            continue
        entries.append(entry)
    if errors:
        raise combine(errors)
    return entries, scenarios


# ---------------------------------------------------------------- manifests (BEFORE, AFTER)


@dataclass
class Manifests:
    """One side of a diff: its policies, and the Namespaces it (re)labels."""

    policies: list[dict[str, Any]] = field(default_factory=list)
    namespaces: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_manifests(given: str, what: str) -> Manifests:
    """The policies and Namespaces of a file or directory of manifests.

    Pods, workloads and other objects are left out (the pods of a diff come from
    ``--pods``), each kind of them named in a note.
    """
    from harness.scenario.yamlload import escape

    # No policies is a side too (the first policies of a namespace): an empty directory,
    # or an empty file such as /dev/null.
    files = [f for f in files_of([given], what, empty_ok=True) if not _blank(f)]
    entries, scenarios = read_entries(files)
    if scenarios:
        raise ConfigError(
            f"{escape(scenarios[0])}: {what}: a scenario file is not a manifest (fix: give the "
            "policy files it applies, or pass it with --pods for its workloads)"
        )
    side = Manifests()
    left_out: list[str] = []
    for entry in entries:
        if entry.action == "use" and is_policy(entry.obj):
            side.policies.append(entry.obj)
        elif entry.action == "use" and entry.kind == "Namespace":
            side.namespaces.append(entry.obj)
        else:
            left_out.append(entry.ident)
    if left_out:
        side.notes.append(
            f"{what}: left out {len(left_out)} object(s) that are not policies or "
            f"namespaces (the pods come from --pods): {shown_list(left_out)}"
        )
    if not side.policies:
        side.notes.append(f"{what}: no policies in {escape(given)}: every pod is unrestricted")
    return side


def _blank(path: str) -> bool:
    """An empty (or only white space) file, or a character device such as /dev/null."""
    import stat

    try:
        info = Path(path).stat()
        if stat.S_ISCHR(info.st_mode) and path == "/dev/null":
            return True
        if not stat.S_ISREG(info.st_mode) or info.st_size > 4096:
            return False
        return not Path(path).read_bytes().strip()
    except OSError:
        return False


# ---------------------------------------------------------------- pods


@dataclass
class Pods:
    """The pods of a diff or of a generated scenario, grouped into workloads."""

    groups: list[workloads.PodGroup] = field(default_factory=list)
    namespaces: list[dict[str, Any]] = field(default_factory=list)
    #: Objects the engine reads that are neither pods, namespaces nor policies.
    others: list[dict[str, Any]] = field(default_factory=list)
    #: The policies found among the pods' files (generate uses them).
    policies: list[Entry] = field(default_factory=list)
    #: Every object read from object files (not scenarios).
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def objects(self) -> list[dict[str, Any]]:
        """Namespaces, one pod per group, and the other objects: for a ClusterModel."""
        return [*self.namespaces, *(dict(g.pod) for g in self.groups), *self.others]

    def namespace_labels(self, name: str) -> dict[str, str]:
        for ns in self.namespaces:
            meta = ns.get("metadata") or {}
            if meta.get("name") == name:
                return {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        return {}


def _scenario_objects(path: str) -> list[dict[str, Any]]:
    """The namespaces and pods of a scenario's workloads, as ``--netpol-static`` builds them.

    The namespaces keep the scenario's names (a run would suffix them): the manifests a
    diff compares name them so. The cluster DNS pod static adds is kept.
    """
    from harness.plan import build
    from harness.policy.static import plan_objects
    from harness.scenario.loader import load

    scenario = load(path)
    scenario = replace(
        scenario,
        namespaces=tuple(replace(ns, existing=True) for ns in scenario.namespaces),
        manifests=(),
    )
    plan = build(scenario, "pods", created="1970-01-01T00:00:00Z")
    return [dict(obj) for obj in plan_objects(plan) if obj.get("kind") in ("Namespace", "Pod")]


def synthetic_ips(taken: set[str]) -> Iterator[str]:
    from harness.policy.static import SYNTHETIC_NET

    for addr in SYNTHETIC_NET.hosts():
        text = str(addr)
        if text not in taken and not text.endswith(".0"):
            yield text


def _addresses(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    found = [str(status["podIP"])] if status.get("podIP") else []
    found += [str(e.get("ip")) for e in status.get("podIPs") or () if e.get("ip")]
    return found


def load_pods(paths: Sequence[str], what: str = "--pods", *, scenarios_ok: bool = True) -> Pods:
    """The pods (grouped into workloads) of scenario files, dumps and workload manifests."""
    from harness.scenario.yamlload import escape

    entries, scenarios = read_entries(files_of(paths, what))
    if scenarios and not scenarios_ok:
        raise ConfigError(
            f"{escape(scenarios[0])}: {what}: a scenario file, not objects (fix: give "
            "`kubectl get ns,pods,networkpolicies -A -o yaml` output or workload manifests)"
        )
    pods = Pods(entries=entries)
    raw: list[dict[str, Any]] = []
    namespaces: dict[str, dict[str, Any]] = {}
    for path in scenarios:
        for obj in _scenario_objects(path):
            if obj["kind"] == "Namespace":
                namespaces.setdefault(obj["metadata"]["name"], obj)
            else:
                raw.append(obj)
    skipped: dict[str, list[str]] = {}
    for entry in entries:
        obj = entry.obj
        if entry.action == "ignore":
            skipped.setdefault("objects that do not change which pod may reach which", []).append(
                entry.ident
            )
        elif entry.action == "workload":
            raw.append(workloads.template_pod(obj))
        elif is_policy(obj):
            pods.policies.append(entry)
        elif entry.kind == "Namespace":
            namespaces[str(obj["metadata"]["name"])] = obj
        elif entry.kind == "Pod":
            labels = workloads.labels_of(obj)
            if workloads.is_host_network(obj):
                reason = "hostNetwork pods (NetworkPolicies do not apply to them)"
                skipped.setdefault(reason, []).append(entry.ident)
            elif workloads.is_finished(obj):
                skipped.setdefault("finished pods", []).append(entry.ident)
            elif labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE:
                skipped.setdefault("probe pods of netpol-harness runs", []).append(entry.ident)
            else:
                raw.append(obj)
        else:
            pods.others.append(obj)
    for reason, names in skipped.items():
        pods.notes.append(f"{what}: left out {len(names)} {reason}: {shown_list(names)}")
    templates = [p for p in raw if workloads.is_host_network(p)]
    if templates:
        names = [identity(p) for p in templates]
        pods.notes.append(
            f"{what}: left out {len(names)} hostNetwork workload(s): {shown_list(names)}"
        )
        raw = [p for p in raw if not workloads.is_host_network(p)]
    groups = workloads.group_pods(raw)
    taken = {ip for p in raw for ip in _addresses(p)}
    ips = synthetic_ips(taken)
    for group in groups:
        if _addresses(group.pod):
            pods.groups.append(group)
            continue
        pod = dict(group.pod)
        pod["status"] = {**dict(pod.get("status") or {}), "podIP": next(ips)}
        pods.groups.append(replace(group, pod=pod))
    pods.namespaces = list(namespaces.values())
    if not pods.groups:
        shown = ", ".join(paths)
        raise ConfigError(
            f"{shown}: no pods (fix: give a scenario, `kubectl get ns,pods -A -o yaml` output "
            "or workload manifests: Deployments, StatefulSets, DaemonSets, Jobs)"
        )
    return pods


# ---------------------------------------------------------------- policies (generate)

#: Metadata a copied policy keeps (uid, resourceVersion, managedFields... are the cluster's).
KEPT_METADATA = ("name", "namespace", "labels", "annotations")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _clean_policy(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A policy as committed: its spec and identity, none of the cluster's bookkeeping."""
    meta = dict(obj.get("metadata") or {})
    kept = {k: meta[k] for k in KEPT_METADATA if meta.get(k)}
    annotations = {k: v for k, v in (kept.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        kept["annotations"] = annotations
    else:
        kept.pop("annotations", None)
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    return {
        "apiVersion": body.pop("apiVersion"),
        "kind": body.pop("kind"),
        "metadata": kept,
        **body,
    }


def _referable(path: str, entries: Sequence[Entry], root: Path) -> bool:
    """A policy-only file of plain documents, every namespaced object with its namespace."""
    from harness.scenario import k8svalidate
    from harness.scenario.loader import MAX_MANIFEST_BYTES
    from harness.scenario.yamlload import load_all
    from harness.scenario.yamlload import read_bytes

    if not entries or not all(e.action == "use" and is_policy(e.obj) for e in entries):
        return False
    for e in entries:
        namespaced = e.kind not in k8svalidate.CLUSTER_SCOPED_KINDS
        if namespaced and not (e.obj.get("metadata") or {}).get("namespace"):
            return False
    try:
        if not Path(path).resolve().is_relative_to(root):
            return False
        docs = load_all(read_bytes(Path(path), path, max_bytes=MAX_MANIFEST_BYTES), path)
    except (HarnessError, OSError):
        return False
    return len([d for d in docs if d is not None]) == len(entries)


def scenario_policies(
    pods: Pods, output: Path, namespaces: set[str], copy_all: bool, notes: list[str]
) -> tuple[list[str], list[dict[str, Any]], set[str]]:
    """The policies of ``pods`` for a generated scenario written to ``output``.

    Returns (the files it references, relative to ``output``'s directory; the policies
    to copy; the namespaces the referenced files need besides ``namespaces``). A
    policy-only file of plain documents inside the project (the directory holding
    pyproject.toml or .git) is referenced where it is, unless ``copy_all``; other
    policies are copied, those of namespaces without workloads left out (named in
    ``notes``).
    """
    from harness.scenario import k8svalidate
    from harness.scenario.loader import find_root

    root = find_root(output.parent)
    by_file: dict[str, list[Entry]] = {}
    for entry in pods.entries:
        by_file.setdefault(entry.path, []).append(entry)
    referenced: list[str] = []
    needed: set[str] = set()
    copied: list[dict[str, Any]] = []
    idle: list[str] = []
    policy_ids = {id(e) for e in pods.policies}
    policy_files = sorted({e.path for e in pods.policies})
    for path in policy_files:
        entries = by_file[path]
        if not copy_all and _referable(path, entries, root):
            referenced.append(os.path.relpath(Path(path).resolve(), output.parent.resolve()))
            for e in entries:
                if e.kind not in k8svalidate.CLUSTER_SCOPED_KINDS:
                    needed.add(str(e.obj["metadata"]["namespace"]))
            continue
        for e in entries:
            if id(e) not in policy_ids:
                continue
            namespace = (e.obj.get("metadata") or {}).get("namespace") or "default"
            if e.kind in k8svalidate.CLUSTER_SCOPED_KINDS:
                copied.append(_clean_policy(e.obj))
            elif namespace in namespaces:
                policy = _clean_policy(e.obj)
                policy["metadata"]["namespace"] = namespace
                copied.append(policy)
            else:
                idle.append(e.ident)
    if idle:
        notes.append(
            f"left out {len(idle)} policies of namespaces without workloads (they select no "
            f"pod of the scenario): {shown_list(idle)}"
        )
    return referenced, copied, needed - namespaces
