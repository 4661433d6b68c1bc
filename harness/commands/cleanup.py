"""`netpol-harness cleanup`: delete what earlier runs left behind, and nothing else.

Only objects labelled ``app.kubernetes.io/managed-by=netpol-harness`` are ever
touched: the namespaces runs created (with everything in them), and the
NetworkPolicies, pods and Services a run created in namespaces it did not
create (they carry the same labels). ``--run ID`` narrows to one run (label
``netpol-harness.dev/run``); ``--older-than 2h`` to namespaces whose creation
annotation (``netpol-harness.dev/created``; else ``metadata.creationTimestamp``)
is older than that. ``--dry-run`` only lists.

Exit codes: 0 done (or nothing to do), 1 something could not be deleted,
2 bad arguments or the cluster could not be read.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from harness.commands.arguments import add_cluster_options
from harness.errors import ConfigError
from harness.errors import HarnessError
from harness.live.api import CleanupApi
from harness.live.api import ObjectRef
from harness.model import CREATED_ANNOTATION
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL

#: Kinds a run may create inside namespaces it did not create (deleted one by one).
LOOSE_KINDS: tuple[tuple[str, str], ...] = (
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "Pod"),
    ("v1", "Service"),
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?[smhd])+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


@dataclass(frozen=True)
class Leftover:
    api_version: str
    kind: str
    name: str
    namespace: str | None
    run: str
    created: datetime | None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        when = self.created.strftime("%Y-%m-%dT%H:%M:%SZ") if self.created else "unknown"
        return f"{self.kind.lower()} {where}{self.name} (run {self.run or '?'}, created {when})"


def parse_age(text: str) -> float:
    """Seconds from "90s", "30m", "2h", "1d", "1h30m"; ConfigError otherwise."""
    value = text.strip().lower()
    if not _DURATION.match(value):
        raise ConfigError(
            f"--older-than {text!r} is not a duration (fix: e.g. 30m, 2h, 1d or 1h30m)"
        )
    return sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))


def _timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _leftover(obj: Mapping[str, Any], created_from_annotation: bool) -> Leftover:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    created = None
    if created_from_annotation:
        created = _timestamp((meta.get("annotations") or {}).get(CREATED_ANNOTATION))
    created = created or _timestamp(meta.get("creationTimestamp"))
    return Leftover(
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(meta.get("name", "")),
        meta.get("namespace"),
        str(labels.get(RUN_LABEL, "")),
        created,
    )


def selector(run: str | None) -> str:
    base = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
    return f"{base},{RUN_LABEL}={run}" if run else base


def find(
    cluster: CleanupApi,
    *,
    run: str | None = None,
    older_than: float | None = None,
    now: datetime | None = None,
) -> list[Leftover]:
    """Harness-labelled objects to delete: namespaces first, then loose objects elsewhere."""
    now = now or datetime.now(UTC)
    labels = selector(run)

    def old_enough(item: Leftover) -> bool:
        if older_than is None:
            return True
        if item.created is None:
            return False  # unknown age: never delete on an age filter
        return (now - item.created).total_seconds() >= older_than

    namespaces = [
        _leftover(ns, True) for ns in cluster.list_objects("v1", "Namespace", label_selector=labels)
    ]
    chosen = [ns for ns in namespaces if old_enough(ns)]
    # Every harness namespace (chosen or not) takes its content with it, or keeps it.
    harness_namespaces = {ns.name for ns in namespaces}
    loose: list[Leftover] = []
    for api_version, kind in LOOSE_KINDS:
        for obj in cluster.list_objects(api_version, kind, label_selector=labels):
            item = _leftover(obj, False)
            if item.namespace in harness_namespaces:
                continue
            if old_enough(item):
                loose.append(item)
    return sorted(chosen, key=lambda i: i.name) + sorted(
        loose, key=lambda i: (i.kind, i.namespace or "", i.name)
    )


def delete(cluster: CleanupApi, items: Iterable[Leftover]) -> list[str]:
    """Delete ``items``; returns the problems (empty when every delete was accepted)."""

    problems = []
    for item in items:
        try:
            cluster.delete(ObjectRef(item.api_version, item.kind, item.name, item.namespace))
        except HarnessError as exc:
            problems.append(f"{item}: {exc}")
    return problems


# ------------------------------------------------------------------ command


def configure(parser: argparse.ArgumentParser) -> None:
    add_cluster_options(parser)
    parser.add_argument("--run", metavar="ID", help="only the objects of this run id")
    parser.add_argument(
        "--older-than",
        metavar="DURATION",
        help="only what was created more than DURATION ago (30m, 2h, 1d)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")


def run(args: argparse.Namespace) -> int:
    older = parse_age(args.older_than) if args.older_than else None
    if args.run is not None and not re.fullmatch(r"[a-z0-9]{1,63}", args.run):
        raise ConfigError(f"--run {args.run!r} is not a run id (fix: e.g. --run 3k9x0q2a)")
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=args.kubeconfig, context=args.context)
    items = find(cluster, run=args.run, older_than=older)
    return report(items, cluster, dry_run=args.dry_run)


def report(
    items: Sequence[Leftover], cluster: CleanupApi, *, dry_run: bool, out: Any = None
) -> int:
    out = out or sys.stdout
    if not items:
        print("nothing to clean up: no object labelled " + selector(None) + " matches", file=out)
        return 0
    verb = "would delete" if dry_run else "deleting"
    for item in items:
        print(f"{verb} {item}", file=out)
    if dry_run:
        print(f"dry run: {len(items)} objects, nothing deleted", file=out)
        return 0
    problems = delete(cluster, items)
    for line in problems:
        print(f"could not delete {line}", file=sys.stderr)
    print(
        f"deleted {len(items) - len(problems)} of {len(items)} objects "
        "(namespaces finish terminating in the background)",
        file=out,
    )
    return 1 if problems else 0
