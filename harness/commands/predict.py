"""`netpol-harness predict`: the truth table the policies imply, without a cluster.

Reads Namespace, Pod and NetworkPolicy objects (what
``kubectl get ns,pods,networkpolicies -A -o yaml`` prints) and prints, for one
port, which pod may reach which; ``--explain`` says why for one cell;
``--scenario`` checks a scenario's expectations against the policies it applies.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TextIO

import yaml

from harness.errors import ConfigError
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.policy.engine import ClusterModel
    from harness.policy.model import Namespace
    from harness.policy.model import NetworkPolicy
    from harness.policy.model import Pod

FIX_OBJECTS = "fix: pass a file written by `kubectl get ns,pods,networkpolicies -A -o yaml`"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--objects",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML/JSON file of Namespaces, Pods and NetworkPolicies (multi-document or a"
        " kind: List, as kubectl prints); repeat for several files",
    )
    parser.add_argument("--port", help="destination port: a number or a container port name")
    parser.add_argument(
        "--protocol",
        default="TCP",
        type=str.upper,
        choices=("TCP", "UDP", "SCTP"),
        help="protocol (default: TCP)",
    )
    parser.add_argument(
        "--format", default="table", choices=("table", "json"), help="output format of the matrix"
    )
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
    cluster = load_cluster(args.objects)
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


def _documents(path: str, text: str) -> Iterator[tuple[int, Any]]:
    """(line, object) for every document of a YAML stream, ``kind: List`` items expanded."""
    # libyaml's loader when present: a 1,000-pod kubectl dump parses ~10x faster.
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # an empty document
                continue
            data = loader.construct_document(node)
            line = node.start_mark.line + 1
            if isinstance(data, Mapping) and str(data.get("kind", "")).endswith("List"):
                item_nodes: list[yaml.Node] = []
                if isinstance(node, yaml.MappingNode):
                    for key, value in node.value:
                        if key.value == "items" and isinstance(value, yaml.SequenceNode):
                            item_nodes = list(value.value)
                items = data.get("items") or []
                if not isinstance(items, list):
                    raise ConfigError(f"{path}:{line}: `items` of a kind: List must be a list")
                for i, item in enumerate(items):
                    at = item_nodes[i].start_mark.line + 1 if i < len(item_nodes) else line
                    yield at, item
            else:
                yield line, data
    finally:
        loader.dispose()


def load_objects(path: str) -> list[tuple[int, Any]]:
    """Every object of a YAML or JSON file with its line number; errors name the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file ({FIX_OBJECTS})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc} ({FIX_OBJECTS})") from None
    try:
        return list(_documents(path, text))
    except yaml.YAMLError as exc:
        # JSON is YAML, except for a few corners (tabs): try JSON before giving up.
        if text.lstrip().startswith(("{", "[")):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                pass
            else:
                docs = data if isinstance(data, list) else [data]
                return [(1, d) for d in docs]
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML/JSON: {problem} ({FIX_OBJECTS})") from None


def load_cluster(paths: Sequence[str]) -> ClusterModel:
    """A :class:`harness.policy.engine.ClusterModel` from object files."""
    from harness.policy.engine import ClusterModel
    from harness.policy.engine import parse_objects

    namespaces: list[Namespace] = []
    pods: list[Pod] = []
    policies: list[NetworkPolicy] = []
    for path in paths:
        for line, obj in load_objects(path):
            try:
                ns, po, pol = parse_objects([obj])
            except HarnessError as exc:
                raise ConfigError(f"{path}:{line}: {exc}") from None
            namespaces += ns
            pods += po
            policies += pol
    return ClusterModel(namespaces, pods, policies)


# ---------------------------------------------------------------- output


def render_json(matrix: Mapping[str, Mapping[str, bool]], port: int | str, protocol: str) -> str:
    """``{"port", "protocol", "matrix": {src: {dst: bool}}}``, one source per line."""
    head = json.dumps({"port": port, "protocol": protocol})[:-1]
    rows = ",\n".join(f"    {json.dumps(src)}: {json.dumps(matrix[src])}" for src in sorted(matrix))
    body = f"\n{rows}\n  " if rows else ""
    return f'{head}, "matrix": {{{body}}}}}\n'


def render_table(matrix: Mapping[str, Mapping[str, bool]], what: str) -> str:
    """A reachability truth table: rows are sources, numbered columns are destinations."""
    names = sorted(matrix)
    lines = [
        f"Predicted reachability on {what}: rows = sources, columns = destinations"
        " ('.' allowed, 'X' denied)",
    ]
    if not names:
        return lines[0] + "\n(no pods)\n"
    width = len(str(len(names) - 1))
    lines += [f"  {i:>{width}}  {name}" for i, name in enumerate(names)]
    left = max(len(n) for n in names)
    lines.append("")
    lines.append(" " * left + "  " + " ".join(f"{i:>{width}}" for i in range(len(names))))
    allowed = 0
    for src in names:
        row = matrix[src]
        cells = []
        for dst in names:
            ok = row.get(dst, False)
            allowed += ok
            cells.append(f"{'.' if ok else 'X':>{width}}")
        lines.append(f"{src:<{left}}  " + " ".join(cells))
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
