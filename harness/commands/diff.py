"""`netpol-harness diff BEFORE AFTER --pods FILE`: the cells a policy change flips.

``netpol-harness diff --live AFTER``: BEFORE is what the cluster holds now (its
NetworkPolicies and Namespaces, read through the API), and so are the pods unless
``--pods`` names others: "what would this pull request change on staging?".

BEFORE and AFTER are manifests (a file or a directory of them): their policies, and
the Namespaces they label. Both are evaluated over the same pods (``--pods``: a
scenario file, a ``kubectl get ns,pods -A -o yaml`` dump, or workload manifests), on
the ports each destination declares (or ``--port``). Every cell whose verdict changes
is printed with the engine's decision on each side: the policy and rule that allowed
it, or the policies that isolated the pod with no rule matching.

Exit status: 0 no cell changes, 1 some do, 2 a usage or input error. ``--format
markdown`` is a pull-request comment; ``--format json`` carries the engine's decisions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TextIO

from harness.commands.arguments import add_format_option
from harness.commands.arguments import add_list_option
from harness.commands.arguments import add_live_options
from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.policy.diff import CellChange
    from harness.policy.diff import DiffResult
    from harness.policy.diff import PortSpec
    from harness.policy.explain import Decision
    from harness.policy.explain import SideVerdict

#: Cells a Markdown comment lists (GitHub caps a comment at 65,536 characters).
MARKDOWN_CELLS = 100


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sides",
        nargs="+",
        metavar="BEFORE AFTER",
        help="manifests before and after (a file or directory each); with --live, only AFTER",
    )
    add_live_options(
        parser,
        "BEFORE is the live cluster's NetworkPolicies and Namespaces, and its pods are the "
        "pods (unless --pods is given); needs read access to namespaces, pods and "
        "networkpolicies cluster-wide",
    )
    add_list_option(
        parser,
        "--pods",
        "FILE",
        "the pods both sides are evaluated over: a scenario file, a `kubectl get "
        "ns,pods -A -o yaml` dump, or workload manifests (Deployments, StatefulSets, "
        "DaemonSets, Jobs); repeatable",
    )
    add_list_option(
        parser,
        "--port",
        "PORT[/PROTO]",
        "compare this port on every destination (repeatable; default: the ports each "
        "destination declares)",
    )
    add_format_option(
        parser,
        ("text", "json", "markdown"),
        "text (default), json, or markdown (a pull-request comment)",
    )


def parse_ports(values: Sequence[str]) -> list[PortSpec]:
    """``--port`` values: ``8080``, ``53/UDP``, ``http`` (a port name, TCP)."""
    from harness.policy.engine import normalize_protocol
    from harness.policy.engine import parse_port

    out: list[PortSpec] = []
    for value in values:
        port, _, proto = value.partition("/")
        spec = (parse_port(port.strip()), normalize_protocol(proto.strip() or "TCP"))
        if spec not in out:
            out.append(spec)
    return out


def run(args: argparse.Namespace) -> int:
    from harness.commands import inputs
    from harness.policy.diff import changes
    from harness.policy.engine import ClusterModel

    out: TextIO = sys.stdout
    want = 1 if args.live else 2
    if len(args.sides) != want:
        usage = "diff --live AFTER" if args.live else "diff BEFORE AFTER"
        raise ConfigError(
            f"{usage} takes {want} path{'s' if want > 1 else ''}, got {len(args.sides)} "
            "(fix: BEFORE and AFTER manifests, or --live and the AFTER manifests)"
        )
    if (args.kubeconfig or args.context) and not args.live:
        raise ConfigError("--kubeconfig and --context are for --live (fix: add --live)")
    if not args.pods and not args.live:
        raise ConfigError(
            "diff needs --pods FILE: the pods both sides are evaluated over (fix: a scenario "
            "file, `kubectl get ns,pods -A -o yaml` output, or workload manifests)"
        )
    with tempfile.TemporaryDirectory(prefix="netpol-diff-") as tmp:
        if args.live:
            from harness.commands.clusterdump import dump_cluster

            path, server = dump_cluster(args.kubeconfig, args.context, Path(tmp))
            live = str(path)
            args.before, args.after = f"the live cluster ({server})", args.sides[0]
            before = inputs.load_manifests(live, "the live cluster")
            pods = inputs.load_pods(args.pods or [live], "--pods" if args.pods else "live pods")
        else:
            args.before, args.after = args.sides
            before = inputs.load_manifests(args.before, "BEFORE")
            pods = inputs.load_pods(args.pods)
        after = inputs.load_manifests(args.after, "AFTER")
    ports = parse_ports(args.port)
    notes = pods.notes + before.notes + after.notes
    if pods.policies:
        notes.append(
            f"--pods: left out {len(pods.policies)} policies (the policies come from BEFORE "
            f"and AFTER): {inputs.shown_list([e.ident for e in pods.policies])}"
        )
    for note in notes:
        print(f"netpol-harness: note: {note}", file=sys.stderr)
    base = pods.objects()
    result = changes(
        ClusterModel.from_objects([*base, *before.namespaces, *before.policies]),
        ClusterModel.from_objects([*base, *after.namespaces, *after.policies]),
        ports,
    )
    shown_pods = ", ".join(args.pods) if args.pods else "the live cluster's pods"
    what = {"before": args.before, "after": args.after, "pods": shown_pods}
    if args.format == "json":
        out.write(render_json(result, what))
    elif args.format == "markdown":
        out.write(render_markdown(result, what))
    else:
        out.write(render_text(result, what))
    return 1 if result.changes else 0


# ---------------------------------------------------------------- output


def _verdict(decision: Decision) -> str:
    return "allowed" if decision.allowed else "denied"


def _sides(change: CellChange) -> list[tuple[SideVerdict, SideVerdict]]:
    """The sides (egress, ingress) whose verdict or reason changed; both if none did."""
    pairs = [
        (change.before.egress, change.after.egress),
        (change.before.ingress, change.after.ingress),
    ]
    moved = [(b, a) for b, a in pairs if (b.allowed, b.reason) != (a.allowed, a.reason)]
    return moved or pairs


def _side_text(side: SideVerdict) -> str:
    return f"{side.direction} {'allows' if side.allowed else 'denies'}: {side.reason}"


def _why(decision: Decision, side: SideVerdict) -> str:
    text = _side_text(side)
    if decision.note:
        text += f" (note: {decision.note})"
    return text


def _headline(result: DiffResult) -> str:
    if not result.changes:
        return f"no cell changes ({result.compared} cells compared over {result.pods} pods)"
    count = len(result.changes)
    return (
        f"{count} cell{'s' if count != 1 else ''} change{'s' if count == 1 else ''}: "
        f"{result.opened} opened, {result.closed} closed ({result.compared} cells compared "
        f"over {result.pods} pods)"
    )


def render_text(result: DiffResult, what: dict[str, str]) -> str:
    lines = [
        f"netpol-harness diff: {_headline(result)}",
        f"before: {what['before']}  after: {what['after']}  pods: {what['pods']}",
    ]
    for change in result.changes:
        lines += [
            "",
            f"{change.key}: {_verdict(change.before)} -> {_verdict(change.after).upper()}",
        ]
        for was, now in _sides(change):
            lines.append(f"  before  {_why(change.before, was)}")
            lines.append(f"  after   {_why(change.after, now)}")
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _decision_json(decision: Decision) -> dict[str, Any]:
    body = _jsonable(dataclasses.asdict(decision))
    assert isinstance(body, dict)
    return {"allowed": decision.allowed, "explanation": decision.explain(), "decision": body}


def render_json(result: DiffResult, what: dict[str, str]) -> str:
    document = {
        **what,
        "pods_compared": result.pods,
        "cells_compared": result.compared,
        "changed": len(result.changes),
        "opened": result.opened,
        "closed": result.closed,
        "changes": [
            {
                "source": c.source,
                "destination": c.destination,
                "port": c.port,
                "protocol": c.protocol,
                "change": c.direction,
                "before": _decision_json(c.before),
                "after": _decision_json(c.after),
            }
            for c in result.changes
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _md_code(text: object) -> str:
    from harness.report.markdown import code

    return code(text) or "``"


def render_markdown(result: DiffResult, what: dict[str, str]) -> str:
    """A pull-request comment: the headline, a table of the changed cells, the details."""
    from harness.report.markdown import cell

    lines = [
        f"### netpol-harness diff: {cell(_headline(result))}",
        "",
        f"Before {_md_code(what['before'])}, after {_md_code(what['after'])}, "
        f"pods from {_md_code(what['pods'])}.",
    ]
    if not result.changes:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        "| source | destination | port | before | after | decided after by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    shown = result.changes[:MARKDOWN_CELLS]
    for c in shown:
        after_side = _sides(c)[-1][1]
        lines.append(
            f"| {_md_code(c.source)} | {_md_code(c.destination)} | {cell(c.port)}/{c.protocol} | "
            f"{_verdict(c.before)} | **{_verdict(c.after)}** | {cell(_side_text(after_side))} |"
        )
    if len(result.changes) > MARKDOWN_CELLS:
        rest = len(result.changes) - MARKDOWN_CELLS
        lines += ["", f"… and {rest} more (`--format json` lists every cell)"]
    lines += ["", "<details><summary>The engine's decisions, before and after</summary>", ""]
    for c in shown:
        lines += [
            f"**{cell(c.key)}**",
            "",
            "```",
            "before: " + c.before.explain().replace("```", "'''"),
            "after:  " + c.after.explain().replace("```", "'''"),
            "```",
            "",
        ]
    lines.append("</details>")
    return "\n".join(lines) + "\n"
