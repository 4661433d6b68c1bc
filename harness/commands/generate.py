"""`netpol-harness generate`: a scenario that freezes today's behaviour, for review and commit.

Reads what exists (``--objects``: a ``kubectl get ns,pods,networkpolicies -A -o yaml``
dump, or workload manifests and policy files; or ``--live``: the same read from the
cluster through the API, pods narrowed by ``--namespace`` and ``--selector``) and
writes a scenario: one workload per
group of pods (replicas fold into one; see :mod:`harness.policy.workloads`), every
cell a client workload -> a served port of a server workload (and each client -> dns),
and as expectations what the policy engine predicts today: ``default: deny`` and the
allowed cells (``--expect default-deny``, the default), or every cell listed under
``allow:`` or ``deny:`` (``--expect explicit``).

Hermetic (the default): the workloads become probe pods with the same namespaces and
labels, and the policies are the scenario's manifests: files that hold only policies are
referenced where they are (so a later change to them is what the scenario then tests),
other policies are copied into ``<name>.policies.yaml`` beside the scenario
(``--copy-policies`` copies all of them). Expectations come from the plan exactly as
``pytest --netpol-static`` builds it, so the file passes there as written; cells whose
prediction for the real pods differs (an ipBlock on pod addresses, a label the scenario
cannot carry) are named in a note.

``--in-place``: the workloads pick the existing pods by their labels in existing
namespaces, nothing is applied, and expectations come from the objects as they are
(run it with ``pytest --netpol-in-place``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import yaml

from harness.commands.arguments import add_live_options
from harness.commands.arguments import add_objects_option
from harness.errors import ConfigError
from harness.errors import HarnessError
from harness.errors import ScenarioError

if TYPE_CHECKING:
    from harness.commands.inputs import Pods
    from harness.model import Cell
    from harness.model import Scenario
    from harness.policy.workloads import PodGroup

#: Namespaces left out unless named with --namespace (their pods are the cluster's own).
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
DNS_NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}
API_VERSION = "netpol-harness.dev/v1alpha1"


def configure(parser: argparse.ArgumentParser) -> None:
    add_objects_option(
        parser,
        "what exists: `kubectl get ns,pods,networkpolicies -A -o yaml` output, or "
        "workload manifests (Deployments, StatefulSets, DaemonSets, Jobs) and policy files;"
        " a directory reads its YAML/JSON files; repeatable",
    )
    parser.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="FILE",
        help="the scenario to write (NAME.netpol.yaml)",
    )
    parser.add_argument("--name", help="the scenario's name (default: from --output)")
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="only the pods of this namespace become workloads (repeatable; default: every "
        f"namespace but {', '.join(sorted(SYSTEM_NAMESPACES))})",
    )
    parser.add_argument(
        "--expect",
        default="default-deny",
        choices=("default-deny", "explicit"),
        help="default-deny (default): `default: deny` and the allowed cells; explicit: "
        "every cell under allow: or deny:",
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="probe the existing pods (selector:, existing namespaces, no manifests), for "
        "`pytest --netpol-in-place`",
    )
    parser.add_argument(
        "--copy-policies",
        action="store_true",
        help="copy every policy into NAME.policies.yaml (default: policy-only files are "
        "referenced where they are)",
    )
    add_live_options(
        parser,
        "read what exists from the cluster (namespaces, pods, networkpolicies through the "
        "API) instead of --objects; with --namespace and --selector to narrow the pods",
    )
    parser.add_argument(
        "--selector", "-l", metavar="LABELS", help="with --live: only the pods it matches"
    )
    parser.add_argument("--no-dns", action="store_true", help="leave out the `client -> dns` cells")
    parser.add_argument(
        "--force", action="store_true", help="overwrite the output files when they exist"
    )


def run(args: argparse.Namespace) -> int:
    from harness.commands import inputs

    if args.live and args.objects:
        raise ConfigError("--live and --objects exclude each other (fix: keep one of them)")
    if not args.live and (args.selector or args.kubeconfig or args.context):
        raise ConfigError("--selector, --kubeconfig and --context are for --live (fix: add --live)")
    if not args.objects and not args.live:
        raise ConfigError(
            "generate needs --objects FILE or --live (fix: `kubectl get "
            "ns,pods,networkpolicies -A -o yaml > cluster.yaml`, your workload manifests and "
            "policy files, or --live to read the cluster)"
        )
    output = _output(args.output, force=args.force)
    name = _name(args.name, output)
    with tempfile.TemporaryDirectory(prefix="netpol-generate-") as tmp:
        sources = args.objects
        if args.live:
            from harness.commands.clusterdump import dump_cluster

            selector = args.selector or ""
            live, server = dump_cluster(args.kubeconfig, args.context, Path(tmp), selector)
            args.objects = [str(live)]
            sources = [f"the live cluster {server}" + (f", pods {selector}" if selector else "")]
        pods = inputs.load_pods(args.objects, "--objects", scenarios_ok=False)
        return _generate(args, output, name, pods, sources)


def _generate(
    args: argparse.Namespace, output: Path, name: str, pods: Pods, sources: Sequence[str]
) -> int:
    result = generate(
        pods,
        output,
        name,
        namespaces=args.namespace,
        explicit=args.expect == "explicit",
        in_place=args.in_place,
        copy_policies=args.copy_policies,
        dns=not args.no_dns,
        force=args.force,
        sources=sources,
    )
    for note in result.notes:
        print(f"netpol-harness: note: {note}", file=sys.stderr)
    for line in result.summary():
        print(line)
    return 0


# ---------------------------------------------------------------- arguments


def _output(text: str, *, force: bool) -> Path:
    from harness.scenario.loader import SUFFIX
    from harness.scenario.yamlload import escape

    path = Path(text)
    if not path.name.endswith(SUFFIX) or path.name == SUFFIX:
        raise ConfigError(
            f"--output {escape(text)}: scenario files are named NAME{SUFFIX} (fix: e.g. "
            f"--output checks/shop{SUFFIX})"
        )
    if path.exists() and not force:
        raise ConfigError(
            f"--output {escape(text)} exists (fix: --force to overwrite it, or another name)"
        )
    if path.is_dir():
        raise ConfigError(f"--output {escape(text)} is a directory (fix: give a file name)")
    return path


def _name(given: str | None, output: Path) -> str:
    from harness.scenario.checker import dns1123_label_problem
    from harness.scenario.loader import MAX_NAME
    from harness.scenario.loader import SUFFIX
    from harness.scenario.yamlload import echo

    name = given if given is not None else output.name.removesuffix(SUFFIX)
    problem = dns1123_label_problem(name, MAX_NAME)
    if problem:
        raise ConfigError(
            f"scenario name {echo(name)} {problem} (fix: --name shop, lower case letters, "
            f"digits and '-', at most {MAX_NAME} characters)"
        )
    return name


# ---------------------------------------------------------------- the scenario


def _reserved(key: str) -> bool:
    from harness.model import MANAGED_BY_LABEL
    from harness.scenario.checker import RESERVED_LABEL_PREFIX

    return key == MANAGED_BY_LABEL or key.startswith(RESERVED_LABEL_PREFIX)


class _Flow(list[Any]):
    """A list written in flow style (``[80, 443]``)."""


class _FlowMap(dict[str, Any]):
    """A mapping written in flow style (``{app: web}``)."""


class _Dumper(yaml.SafeDumper):
    pass


def _flow_list(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _flow_map(dumper: yaml.SafeDumper, data: _FlowMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


_Dumper.add_representer(_Flow, _flow_list)
_Dumper.add_representer(_FlowMap, _flow_map)


def _dump(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


@dataclass(frozen=True)
class _Workload:
    name: str
    group: PodGroup
    labels: Mapping[str, str]
    ports: tuple[tuple[int, str, str | None], ...]  # (number, protocol, name)


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"


@dataclass
class Generated:
    """What generate wrote, for the summary."""

    scenario: Path
    name: str
    workloads: int = 0
    allow: int = 0
    deny: int = 0
    referenced: list[str] = field(default_factory=list)
    copied: Path | None = None
    copied_count: int = 0
    in_place: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        cells = self.allow + self.deny
        lines = [
            f"wrote {self.scenario}: scenario {self.name!r}, {_count(self.workloads, 'workload')}, "
            f"{_count(cells, 'cell')} ({self.allow} allow, {self.deny} deny)"
        ]
        if self.referenced:
            lines.append(f"  policies referenced where they are: {', '.join(self.referenced)}")
        if self.copied is not None:
            lines.append(f"  wrote {self.copied}: {_count(self.copied_count, 'policy')} copied")
        run = "pytest --netpol-in-place" if self.in_place else "pytest --netpol-static"
        lines.append(f"  check it: {run} {self.scenario}")
        return lines


def _ports(pod: Mapping[str, Any]) -> tuple[tuple[int, str, str | None], ...]:
    from harness.scenario.checker import port_name_problem

    found: list[tuple[int, str, str | None]] = []
    seen: set[tuple[int, str]] = set()
    names: set[str] = set()
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            number = port.get("containerPort")
            protocol = str(port.get("protocol") or "TCP")
            if not isinstance(number, int) or (number, protocol) in seen:
                continue
            seen.add((number, protocol))
            pname = port.get("name")
            if not isinstance(pname, str) or port_name_problem(pname) or pname in names:
                pname = None
            else:
                names.add(pname)
            found.append((number, protocol, pname))
    return tuple(sorted(found, key=lambda p: (p[0], p[1])))


def _port_entry(number: int, protocol: str, name: str | None) -> Any:
    if name:
        return _FlowMap({"port": number, "protocol": protocol, "name": name})
    return number if protocol == "TCP" else f"{number}/{protocol}"


def _workloads(
    pods: Pods, chosen: set[str] | None, in_place: bool, notes: list[str]
) -> list[_Workload]:
    from harness.commands.inputs import shown_list
    from harness.policy.workloads import dns_label
    from harness.policy.workloads import stable_labels
    from harness.policy.workloads import unique_name
    from harness.scenario.loader import RESERVED_NAMES

    out: list[_Workload] = []
    taken = set(RESERVED_NAMES)  # dns, svc, *: cells give them other meanings
    unlabelled: list[str] = []
    system: list[str] = []
    for group in pods.groups:
        if chosen is not None:
            if group.namespace not in chosen:
                continue
        elif group.namespace in SYSTEM_NAMESPACES:
            system.append(group.ref)
            continue
        labels = stable_labels(group.labels)
        if not in_place:
            labels = {k: v for k, v in labels.items() if not _reserved(k)}
        if not labels:
            unlabelled.append(group.ref)
            continue
        name = dns_label(group.name)
        if name in taken:
            name = dns_label(f"{group.name}-{group.namespace}")
        name = unique_name(name, taken)
        out.append(_Workload(name, group, dict(sorted(labels.items())), _ports(group.pod)))
    if system:
        notes.append(
            f"left out {len(system)} workload(s) of {', '.join(sorted(SYSTEM_NAMESPACES))} "
            f"(name the namespace with --namespace to include them): {shown_list(system)}"
        )
    if unlabelled:
        notes.append(
            f"left out {len(unlabelled)} workload(s) without labels a scenario can carry "
            f"(no policy can select them by label): {shown_list(unlabelled)}"
        )
    if not out:
        raise ConfigError(
            "no workloads to write (fix: give pods with labels, or name their namespace with "
            "--namespace)"
        )
    return out


def _namespace_labels(pods: Pods, name: str) -> dict[str, str]:
    from harness.policy.model import NAME_LABEL

    return {
        k: v
        for k, v in sorted(pods.namespace_labels(name).items())
        if k != NAME_LABEL and not _reserved(k)
    }


def _cell_text(cell: Cell) -> str:
    from harness.model import TargetKind

    if cell.target.kind is TargetKind.DNS:
        return f"{cell.source} -> dns"
    return f"{cell.source} -> {cell.target}:{cell.port}/{cell.protocol}"


def _document(
    name: str,
    sources: Sequence[str],
    workloads: Sequence[_Workload],
    namespaces: Mapping[str, Mapping[str, str]],
    existing: Mapping[str, Mapping[str, str]],
    manifests: Sequence[str],
    expect: Mapping[str, Any],
    in_place: bool,
) -> dict[str, Any]:
    ns_entries: list[Any] = []
    for ns, labels in namespaces.items():
        entry: dict[str, Any] = {"name": ns}
        if labels:
            entry["labels"] = _FlowMap(labels)
        if in_place:
            entry["existing"] = True
        ns_entries.append(entry)
    for ns, labels in existing.items():
        entry = {"name": ns, "existing": True}
        if labels:
            entry["labels"] = _FlowMap(labels)
        ns_entries.append(entry)
    w_entries: list[Any] = []
    for w in workloads:
        item: dict[str, Any] = {"name": w.name, "namespace": w.group.namespace}
        item["selector" if in_place else "labels"] = _FlowMap(w.labels)
        if w.ports:
            item["ports"] = _Flow(_port_entry(*p) for p in w.ports)
        w_entries.append(item)
    what = ", ".join(sources)
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Scenario",
        "metadata": {
            "name": name,
            "description": f"generated from {what}: the behaviour the policy engine predicts",
        },
        "namespaces": ns_entries,
        "workloads": w_entries,
    }
    if manifests:
        doc["manifests"] = list(manifests)
    doc["expect"] = dict(expect)
    return doc


def _header(sources: Sequence[str], in_place: bool) -> str:
    run = "pytest --netpol-in-place" if in_place else "pytest --netpol-static (or live)"
    return (
        f"# Generated by `netpol-harness generate` from {', '.join(sources)}.\n"
        "# The expectations are what the policy engine predicts for these objects today:\n"
        "# review them and commit the file; after a change,\n"
        f"# `{run}` shows what moved.\n"
    )


def _load(text: str, output: Path) -> Scenario:
    from harness.scenario.loader import loads

    return loads(text, str(output), base_dir=output.parent.resolve())


def _predictions_static(scenario: Scenario) -> dict[str, bool]:
    """cell key -> connects, as ``pytest --netpol-static`` predicts it."""
    from harness.plan import build
    from harness.policy import static

    plan = build(scenario, "static", created="1970-01-01T00:00:00Z")
    cluster = static.plan_cluster(plan)
    return {p.cell.key: static.predict(cluster, plan, p)[0] for p in plan.probes}


def _dns_group(pods: Pods) -> PodGroup | None:
    for group in pods.groups:
        if group.namespace == DNS_NAMESPACE and all(
            group.labels.get(k) == v for k, v in DNS_LABELS.items()
        ):
            return group
    return None


def _predictions_objects(
    scenario: Scenario, pods: Pods, workloads: Sequence[_Workload]
) -> dict[str, bool]:
    """cell key -> connects, for the real pods (the objects as they are)."""
    from harness.model import TargetKind
    from harness.policy.engine import ClusterModel

    model = ClusterModel.from_objects([*pods.objects(), *(e.obj for e in pods.policies)])
    ref = {w.name: w.group.ref for w in workloads}
    dns = _dns_group(pods)
    out: dict[str, bool] = {}
    for cell in scenario.cells:
        if cell.target.kind is TargetKind.DNS:
            if dns is not None:
                out[cell.key] = model.decide(ref[cell.source], dns.ref, 53, "UDP").allowed
            continue
        if cell.target.kind is TargetKind.POD:
            decision = model.decide(
                ref[cell.source], ref[cell.target.name], cell.port, cell.protocol
            )
            out[cell.key] = decision.allowed
    return out


def generate(
    pods: Pods,
    output: Path,
    name: str,
    *,
    namespaces: Sequence[str] = (),
    explicit: bool = False,
    in_place: bool = False,
    copy_policies: bool = False,
    dns: bool = True,
    force: bool = False,
    sources: Sequence[str] = (),
) -> Generated:
    """Write the scenario (and the copied policies) for ``pods``; see the module docstring."""
    from harness.commands import inputs
    from harness.commands.inputs import shown_list
    from harness.report.files import atomic_write
    from harness.scenario.yamlload import escape

    result = Generated(output, name, in_place=in_place, notes=list(pods.notes))
    chosen = set(namespaces) or None
    if chosen is not None:
        known = {g.namespace for g in pods.groups}
        unknown = sorted(chosen - known)
        if unknown:
            raise ConfigError(
                f"--namespace {escape(unknown[0])}: no pods in that namespace (fix: one of "
                f"{', '.join(sorted(known))})"
            )
    workloads = _workloads(pods, chosen, in_place, result.notes)
    ns_names = list(dict.fromkeys(w.group.namespace for w in workloads))
    referenced: list[str] = []
    copied: list[dict[str, Any]] = []
    extra: set[str] = set()
    if not in_place:
        referenced, copied, extra = inputs.scenario_policies(
            pods, output, set(ns_names), copy_policies, result.notes
        )
    elif pods.policies:
        result.notes.append(
            f"in place: the {len(pods.policies)} policies read are the cluster's; they decide "
            "the expectations and are not applied"
        )
    namespace_labels = {ns: _namespace_labels(pods, ns) for ns in [*ns_names, *sorted(extra)]}
    limit = 63 if in_place else 40
    too_long = [ns for ns in namespace_labels if len(ns) > limit]
    if too_long:
        raise ConfigError(
            f"namespace {escape(too_long[0])} is longer than {limit} characters, the most a "
            f"{'' if in_place else 'created '}scenario namespace may have (fix: leave it out "
            "with --namespace, or use --in-place)"
        )
    existing: dict[str, dict[str, str]] = {}
    has_dns_pod = _dns_group(pods) is not None
    if dns and not in_place and DNS_NAMESPACE not in namespace_labels:
        labels = _namespace_labels(pods, DNS_NAMESPACE)
        if labels:  # static predicts the DNS by these labels; live, they are checked
            existing[DNS_NAMESPACE] = labels
    copy_path = output.with_name(output.name.removesuffix(".netpol.yaml") + ".policies.yaml")
    manifests = list(referenced)
    if copied:
        if copy_path.exists() and not force:
            raise ConfigError(f"{escape(str(copy_path))} exists (fix: --force to overwrite it)")
        manifests.append(copy_path.name)
    client_names = [w.name for w in workloads]  # every workload can be a source
    dns_cells = dns and (not in_place or has_dns_pod)
    if dns and in_place and not has_dns_pod:
        result.notes.append(
            "no cluster DNS pod (kube-system, k8s-app=kube-dns) among the objects: no dns "
            "cells (dump with -A to include it)"
        )
    draft_expect: dict[str, Any] = {"default": "deny"}
    if dns_cells:
        draft_expect["deny"] = [f"{w} -> dns" for w in client_names]
    draft = _document(
        name,
        sources,
        workloads,
        {ns: namespace_labels[ns] for ns in namespace_labels},
        existing,
        manifests,
        draft_expect,
        in_place,
    )
    previous = copy_path.read_bytes() if copied and copy_path.is_file() else None
    wrote_copy = False
    try:
        if copied:
            atomic_write(
                copy_path,
                "# Policies copied by `netpol-harness generate` for "
                f"{output.name}.\n" + "---\n".join(_dump(p) for p in copied),
            )
            wrote_copy = True
        try:
            draft_scenario = _load(_dump(draft), output)
        except ScenarioError as exc:
            if "the matrix has no cells" in str(exc):
                raise ConfigError(
                    "nothing to expect: no workload serves a port (fix: give pods whose "
                    "containers declare ports)"
                ) from None
            raise
        if in_place:
            predicted = _predictions_objects(draft_scenario, pods, workloads)
        else:
            predicted = _predictions_static(draft_scenario)
            real = _predictions_objects(draft_scenario, pods, workloads)
            differ = sorted(k for k, v in real.items() if k in predicted and predicted[k] != v)
            if differ:
                result.notes.append(
                    f"{len(differ)} cell(s) are predicted otherwise for the real pods than for "
                    "the scenario's probe pods (an ipBlock on pod addresses, labels a scenario "
                    f"cannot carry, namespaces' labels): {shown_list(differ)}"
                )
        allow: list[str] = []
        deny: list[str] = []
        for cell in draft_scenario.cells:
            if cell.key not in predicted:
                continue
            implied = cell.origin == "default"
            if predicted[cell.key]:
                allow.append(_cell_text(cell))
            elif explicit or not implied:
                deny.append(_cell_text(cell))
        expect: dict[str, Any] = {} if explicit else {"default": "deny"}
        if allow:
            expect["allow"] = allow
        if deny:
            expect["deny"] = deny
        final = _document(
            name,
            sources,
            workloads,
            namespace_labels,
            existing,
            manifests,
            expect,
            in_place,
        )
        text = _header(sources, in_place) + _dump(final)
        scenario = _load(text, output)
        for cell in scenario.cells:  # the file says what was predicted, cell by cell
            want = predicted.get(cell.key)
            if want is not None and (cell.expect == "allow") != want:
                raise HarnessError(f"generate: {cell.key} came out {cell.expect}")  # a bug
        atomic_write(output, text)
    except BaseException:
        if wrote_copy and previous is None:
            copy_path.unlink(missing_ok=True)
        elif wrote_copy and previous is not None:
            copy_path.write_bytes(previous)  # --force: what was there before
        raise
    result.workloads = len(workloads)
    result.allow = sum(1 for c in scenario.cells if c.expect == "allow")
    result.deny = len(scenario.cells) - result.allow
    result.referenced = referenced
    if copied:
        result.copied, result.copied_count = copy_path, len(copied)
    return result
