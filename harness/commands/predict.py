"""`netpol-harness predict`: the truth table the policies imply, without a cluster.

Reads Namespace, Pod and NetworkPolicy objects (what
``kubectl get ns,pods,networkpolicies -A -o yaml`` prints), or workload manifests
(Deployments, StatefulSets, DaemonSets, Jobs, CronJobs: the pod each template makes,
no running pods needed), and prints, for one port, which pod may reach which;
``--explain`` says why for one cell; ``--scenario`` checks a scenario's expectations
against the policies it applies.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from collections.abc import Container
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TextIO

from harness.commands.arguments import add_format_option
from harness.commands.arguments import add_objects_option
from harness.errors import ConfigError
from harness.errors import HarnessError
from harness.errors import ScenarioError

if TYPE_CHECKING:
    from harness.policy.engine import ClusterModel
    from harness.policy.model import Namespace
    from harness.policy.model import NetworkPolicy
    from harness.policy.model import Pod
    from harness.policy.tiers import Extended

FIX_OBJECTS = "fix: pass a file written by `kubectl get ns,pods,networkpolicies -A -o yaml`"


def configure(parser: argparse.ArgumentParser) -> None:
    add_objects_option(
        parser,
        "YAML/JSON file of Namespaces, Pods and NetworkPolicies (multi-document or a"
        " kind: List, as kubectl prints), or workload manifests (Deployments, StatefulSets,"
        " DaemonSets, Jobs: the pod of each template); repeat for several files",
    )
    parser.add_argument("--port", help="destination port: a number or a container port name")
    parser.add_argument(
        "--protocol",
        default="TCP",
        type=str.upper,
        choices=("TCP", "UDP", "SCTP"),
        help="protocol (default: TCP)",
    )
    add_format_option(parser, ("table", "json"), "output format of the matrix")
    parser.add_argument(
        "--explain",
        nargs=2,
        metavar=("SRC", "DST"),
        help="explain one cell instead: SRC and DST are namespace/pod or an IP address",
    )
    parser.add_argument(
        "--scenario",
        metavar="FILE",
        help="statically check a scenario: does every expected cell follow from its policies?",
    )


def run(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    if args.scenario:
        return _run_scenario(args.scenario, out)
    if not args.objects:
        raise ConfigError("predict needs --objects FILE (or --scenario FILE); " + FIX_OBJECTS)
    if args.port is None:
        raise ConfigError("predict needs --port PORT (a number or a container port name)")

    from harness.policy.engine import parse_port

    port = parse_port(str(args.port))
    notes: list[str] = []
    cluster = load_cluster(args.objects, notes)
    if notes:
        shown = ", ".join(notes[:5]) + (f" and {len(notes) - 5} more" if len(notes) > 5 else "")
        print(
            f"netpol-harness: note: ignored {len(notes)} object(s) that do not change which pod "
            f"may reach which: {shown}",
            file=sys.stderr,
        )
    if args.explain:
        src, dst = args.explain
        out.write(cluster.decide(src, dst, port, args.protocol).explain() + "\n")
        return 0
    matrix = cluster.matrix(port, args.protocol)
    if args.format == "json":
        out.write(render_json(matrix, port, args.protocol))
    else:
        out.write(render_table(matrix, f"{port}/{args.protocol}"))
    return 0


# ---------------------------------------------------------------- input

#: ``--objects`` files are kubectl dumps: bigger than scenario files, still bounded.
MAX_OBJECTS_BYTES = 16 * 1024 * 1024
MAX_OBJECTS = 50_000


def _documents(path: str, data: bytes) -> list[Any]:
    """The documents of an objects file through the hardened loader (YAML or JSON)."""
    from harness.scenario.yamlload import load_all

    try:
        return load_all(data, path, max_bytes=MAX_OBJECTS_BYTES)
    except ScenarioError as exc:
        head = data.lstrip()[:1]
        if head in (b"{", b"[") and b"\t" in data and "invalid YAML" in exc.message:
            # JSON may indent with tabs, YAML may not; outside JSON strings a tab is only
            # white space (inside them it must be escaped), so a space reads the same.
            return load_all(data.replace(b"\t", b" "), path, max_bytes=MAX_OBJECTS_BYTES)
        raise


def _objects(path: str, docs: list[Any]) -> Iterator[tuple[int, Any]]:
    """(line, object) of every document, ``kind: List`` items expanded with their lines."""
    from harness.scenario.yamlload import YList
    from harness.scenario.yamlload import YMap

    for doc in docs:
        line = getattr(doc, "line", 1)
        if isinstance(doc, YMap) and str(doc.get("kind", "")).endswith("List") and ("items" in doc):
            items = doc["items"]
            if items is None:
                continue
            if not isinstance(items, YList):
                raise ScenarioError(
                    path,
                    doc.value_line("items"),
                    "`items` of a kind: List must be a list",
                    FIX_OBJECTS.removeprefix("fix: "),
                )
            for i, item in enumerate(items):
                yield items.item_line(i), item
        else:
            yield line, doc


def load_objects(path: str) -> list[tuple[int, Any]]:
    """Every object of a YAML or JSON file with its line number; errors name the file."""
    from harness.scenario.yamlload import escape
    from harness.scenario.yamlload import read_bytes
    from harness.scenario.yamlload import stat_problem

    shown = escape(path)
    problem = stat_problem(Path(path))
    if problem == "does not exist":
        raise ConfigError(f"{shown}: no such file ({FIX_OBJECTS})")
    if problem:
        raise ConfigError(f"{shown}: {problem} ({FIX_OBJECTS})")
    data = read_bytes(Path(path), path, max_bytes=MAX_OBJECTS_BYTES)
    objects = list(_objects(path, _documents(path, data)))
    if not objects:
        raise ConfigError(f"{shown}: the file holds no objects ({FIX_OBJECTS})")
    if len(objects) > MAX_OBJECTS:
        raise ConfigError(
            f"{shown}: more than {MAX_OBJECTS} objects (fix: predict one namespace at a time)"
        )
    return objects


def each_object(
    paths: Sequence[str],
    errors: list[ScenarioError],
    set_aside: Callable[[str, list[tuple[int, Any]]], bool] | None = None,
) -> Iterator[tuple[str, int, Any]]:
    """``(path, line, object)`` of every object of the files, Calico selectors checked too.

    A file that cannot be read adds its problems to ``errors`` (as the caller adds those
    of the objects); a file stops being read at :data:`~harness.scenario.checker.MAX_ERRORS`
    problems. A file ``set_aside(path, objects)`` claims is not read further.
    """
    from harness.policy.selectors import problem as selector_problem
    from harness.scenario import k8svalidate
    from harness.scenario.checker import MAX_ERRORS
    from harness.scenario.checker import all_errors

    k8svalidate.register_selector_check(selector_problem)
    for path in paths:
        try:
            objects = load_objects(path)
        except ScenarioError as exc:
            errors += all_errors(exc)
            continue
        if set_aside is not None and set_aside(path, objects):
            continue
        for line, obj in objects:
            if len(errors) >= MAX_ERRORS:
                break
            yield path, line, obj


def identity(obj: Any) -> str:
    """``Kind namespace/name`` (or ``Kind name``) for messages; ``object`` for a non-mapping."""
    from harness.scenario.yamlload import escape

    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    kind = escape(str(obj.get("kind") or "object"))[:60] if isinstance(obj, Mapping) else "object"
    name = escape(str(meta.get("name") or "?"))[:80]
    namespace = meta.get("namespace")
    return f"{kind} {escape(str(namespace))[:63]}/{name}" if namespace else f"{kind} {name}"


def validated(
    path: str, line: int, obj: Any, *, give: str, refused: Container[str] = ("policy", "unknown")
) -> tuple[str, str]:
    """``obj`` validated as the API server would: its identity and what the engine does with it.

    The action is :func:`harness.policy.model.classify`'s; an action in ``refused`` is an
    error that says why, and so is an object that is not a mapping (``give`` says what to
    pass instead). Problems name ``path`` and the line of the offending field.
    """
    from harness.policy.model import classify
    from harness.scenario import k8svalidate
    from harness.scenario.checker import all_errors
    from harness.scenario.checker import combine
    from harness.scenario.checker import type_name
    from harness.scenario.yamlload import YMap

    if not isinstance(obj, YMap):
        raise ScenarioError(
            path, line, f"expected a Kubernetes object (a mapping), got {type_name(obj)}", give
        )
    ident = identity(obj)
    try:
        k8svalidate.validate(obj, path, line)
    except ScenarioError as exc:
        raise combine(
            [ScenarioError(e.path, e.line, f"{ident}: {e.message}", e.fix) for e in all_errors(exc)]
        ) from None
    action, why = classify(obj.get("apiVersion"), obj.get("kind"))
    if action in refused:
        text, _, fix = why.partition(" (fix: ")
        raise ScenarioError(path, obj.value_line("kind"), f"{ident}: {text}", fix.removesuffix(")"))
    return ident, action


def given_once(
    seen: dict[tuple[str, ...], str], key: tuple[str, ...], path: str, line: int, ident: str
) -> None:
    """Refuse an object whose ``key`` is in ``seen`` (where it was first); else note it."""
    if key in seen:
        raise ScenarioError(
            path,
            line,
            f"{ident} is given twice (first at {seen[key]})",
            "keep one of them: a prediction needs one version of each object",
        )
    seen[key] = f"{path}:{line}"


def _checked(path: str, line: int, obj: Any, notes: list[str], ips: Iterator[str]) -> Any:
    """``obj`` validated as the API server would, refused when predictions cannot model it.

    Returns the plain object to use, or None for an object that cannot change traffic
    (noted in ``notes``). A workload (Deployment, StatefulSet, DaemonSet, Job, ...)
    stands for the Pod its template makes, with a synthetic IP from ``ips``: no
    running pods are needed.
    """
    from harness.policy import workloads
    from harness.scenario.yamlload import YMap
    from harness.scenario.yamlload import to_plain

    give = "give Namespace, Pod, NetworkPolicy or workload objects, or a kind: List"
    ident, action = validated(path, line, obj, give=give)
    if action == "ignore":
        notes.append(ident)
        return None
    spec = obj.get("spec")
    if action == "workload":
        template = spec.get("template") if isinstance(spec, YMap) else None
        if obj["kind"] == "CronJob" and isinstance(spec, YMap):
            job = spec.get("jobTemplate")
            job_spec = job.get("spec") if isinstance(job, YMap) else None
            template = job_spec.get("template") if isinstance(job_spec, YMap) else None
        if not isinstance(template, YMap):
            raise ScenarioError(
                path,
                obj.value_line("kind"),
                f"{ident}: no pod template (spec.template), so no pod to predict for",
                "give the whole manifest, as `kubectl apply` would take it",
            )
        spec = template.get("spec")
    if isinstance(spec, YMap) and spec.get("hostNetwork") is True:
        raise ScenarioError(
            path,
            spec.key_line("hostNetwork"),
            f"{ident}: a hostNetwork pod is not supported yet (NetworkPolicies do not apply "
            "to it and it shares its node's address)",
            "leave it out of the objects",
        )
    if action == "workload":
        pod = workloads.template_pod(to_plain(obj))
        pod["status"] = {"podIP": next(ips)}
        return pod
    return to_plain(obj)


def load_cluster(paths: Sequence[str], notes: list[str] | None = None) -> ClusterModel:
    """A :class:`harness.policy.engine.ClusterModel` from object files.

    Every object is validated first; all problems found (up to a cap) are reported
    together, each as ``file:line: ...`` of the offending field.
    """
    from harness.commands.inputs import synthetic_ips
    from harness.policy.engine import ClusterModel
    from harness.policy.engine import parse_objects
    from harness.scenario import k8svalidate
    from harness.scenario.checker import all_errors
    from harness.scenario.checker import combine

    notes = [] if notes is None else notes
    ips = synthetic_ips(set())  # for the pods that workloads' templates make
    namespaces: list[Namespace] = []
    pods: list[Pod] = []
    policies: list[NetworkPolicy] = []
    extended: list[Extended] = []
    errors: list[ScenarioError] = []
    seen: dict[tuple[str, ...], str] = {}
    for path, line, obj in each_object(paths, errors):
        try:
            plain = _checked(path, line, obj, notes, ips)
            if plain is None:
                continue
            meta = plain["metadata"]
            group = str(plain.get("apiVersion", "")).rpartition("/")[0]
            namespace = meta.get("namespace") or (
                "" if plain["kind"] in k8svalidate.CLUSTER_SCOPED_KINDS else "default"
            )
            key = (f"{plain['kind']}.{group}", str(namespace), meta["name"])
            given_once(seen, key, path, line, identity(obj))
            ns, po, pol, ext = parse_objects([plain])
        except ScenarioError as exc:
            errors += all_errors(exc)
            continue
        except HarnessError as exc:
            errors.append(ScenarioError(path, line, str(exc)))
            continue
        namespaces += ns
        pods += po
        policies += pol
        extended += ext
    if errors:
        raise _predict_wording(combine(errors))
    if not pods:
        raise ConfigError(
            f"{', '.join(paths)}: no Pod objects, so there is no truth table to print "
            f"({FIX_OBJECTS})"
        )
    try:
        return ClusterModel(namespaces, pods, policies, extended)
    except ConfigError as exc:  # cross-object problems (a policy in a missing tier)
        raise ConfigError(f"{', '.join(paths)}: {exc}") from None


def _predict_wording(error: ScenarioError) -> ScenarioError:
    """The loader's "invalid YAML" reads "not valid YAML/JSON" here (both are accepted)."""
    from harness.scenario.checker import all_errors
    from harness.scenario.checker import combine

    return combine(
        [
            ScenarioError(
                e.path, e.line, e.message.replace("invalid YAML", "not valid YAML/JSON"), e.fix
            )
            for e in all_errors(error)
        ]
    )


# ---------------------------------------------------------------- output


def render_json(matrix: Mapping[str, Mapping[str, bool]], port: int | str, protocol: str) -> str:
    """``{"port", "protocol", "matrix": {src: {dst: bool}}}``, one source per line."""
    head = json.dumps({"port": port, "protocol": protocol})[:-1]
    rows = ",\n".join(f"    {json.dumps(src)}: {json.dumps(matrix[src])}" for src in sorted(matrix))
    body = f"\n{rows}\n  " if rows else ""
    return f'{head}, "matrix": {{{body}}}}}\n'


def render_table(matrix: Mapping[str, Mapping[str, bool]], what: str) -> str:
    """A reachability truth table: rows are sources, numbered columns are destinations.

    Laid out by the plugin's table renderer (:func:`harness.report.tables.render_grids`):
    at most 100 columns, the numbered columns named in the legend below the grid.
    """
    from harness.report.tables import Mark
    from harness.report.tables import render_grids

    names = sorted(matrix)
    title = (
        f"Predicted reachability on {what}: rows sources, columns destinations"
        " ('.' allowed, 'X' denied)"
    )
    if not names:
        return title + "\n(no pods)\n"
    cells: dict[tuple[str, str], Mark] = {}
    allowed = 0
    for src in names:
        row = matrix[src]
        for dst in names:
            ok = bool(row.get(dst, False))
            allowed += ok
            cells[(src, dst)] = Mark("." if ok else "X")
    lines = [title, *render_grids(names, names, [("", cells)])]
    total = len(names) * len(names)
    lines.append(f"{allowed} of {total} cells allowed, {total - allowed} denied")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- scenario check


def _run_scenario(path: str, out: TextIO) -> int:
    # harness.scenario.loader and harness.plan come from other stages: import them lazily.
    try:
        scenario_module = importlib.import_module("harness.scenario.loader")
        plan_module = importlib.import_module("harness.plan")
    except ImportError:
        raise ConfigError(
            f"{path}: predict --scenario is not available yet: harness.scenario/harness.plan"
            " are missing from this installation (fix: use --objects with the policies)"
        ) from None
    load = getattr(scenario_module, "load", None)
    build = getattr(plan_module, "build", None)
    if load is None or build is None:
        raise ConfigError(
            f"{path}: predict --scenario is not available yet: harness.scenario.load or"
            " harness.plan.build is missing (fix: use --objects with the policies)"
        )
    from harness.policy.static import check_plan

    # A fixed run id: the plan is only looked at, never applied.
    plan = build(load(path), "predict", created="1970-01-01T00:00:00Z")
    results = check_plan(plan)
    wrong = 0
    for probe, holds, why in results:
        wrong += not holds
        mark = "ok  " if holds else "DIFF"
        out.write(f"{mark} {probe.id}\n")
        if not holds:
            out.write("".join(f"     {line}\n" for line in why.splitlines()))
    out.write(
        f"{len(results) - wrong} of {len(results)} expectations follow from the policies"
        f"{'' if not wrong else f'; {wrong} ' + ('does' if wrong == 1 else 'do') + ' not'}\n"
    )
    return 1 if wrong else 0
