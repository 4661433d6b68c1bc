"""Which scenarios a process runs, and running them together.

Selection cuts work: after pytest's own selection (``-k``, node ids, ``--lf``,
``--deselect``...), each scenario is restricted to the cells still selected, so a run
deploys only the pods those cells need and probes nothing else.

Whole-run concurrency: a process hands every scenario it will run to the live session
at its first live cell, and the session deploys and probes them concurrently (bounded
by ``--netpol-parallel-scenarios``) while pytest reports the items in order. Under
pytest-xdist (``-n``, the default ``--dist load``) the plugin's scheduler sends each
worker all its scenarios at once; which worker owns which scenario is decided by
:func:`assign` from the collection alone, so the controller and every worker compute
the same answer without talking to each other. Other tests are scheduled as with
``--dist loadscope``.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import pytest

from harness.model import Scenario
from harness.scenario.loader import SUFFIX

#: The scenarios this process will run, in item order (restricted to the selected cells).
PREFETCH_KEY = pytest.StashKey[list[Scenario]]()
#: workerinput key: the controller's --dist (a worker's own option says "no").
DIST_WORKERINPUT = "netpol_dist"


def scope_of(nodeid: str) -> str:
    """A scenario's cells form one unit (its file); any other test is its own unit."""
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(SUFFIX) else nodeid


def assign(sizes: Mapping[str, int], workers: Sequence[str]) -> dict[str, str]:
    """Scenario unit -> worker: the largest first, each to the least loaded worker.

    Deterministic (ties by unit name, then worker order), so that every process that
    sees the same collection and the same worker ids gets the same assignment.
    """
    if not workers:
        return {}
    load = dict.fromkeys(workers, 0)
    owner: dict[str, str] = {}
    for unit in sorted(sizes, key=lambda u: (-sizes[u], u)):
        worker = min(workers, key=lambda w: (load[w], workers.index(w)))
        owner[unit] = worker
        load[worker] += sizes[unit]
    return owner


def worker_ids(count: int) -> list[str]:
    """pytest-xdist's worker ids for ``count`` workers, in the order :func:`assign` uses."""
    return sorted(f"gw{i}" for i in range(count))


def select(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    """After pytest's selection: restrict each scenario to its selected cells; remember ours."""
    from harness.plugin.items import CellItem
    from harness.plugin.items import skip_reason
    from harness.plugin.options import options_of

    cells: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    for item in items:
        if isinstance(item, CellItem):
            cells.setdefault(item.scenario.name, set()).add(item.cell.key)
            unit = scope_of(item.nodeid)
            sizes[unit] = sizes.get(unit, 0) + 1
    restricted: dict[str, Scenario] = {}
    order: list[Scenario] = []
    for item in items:
        if not isinstance(item, CellItem):
            continue
        name = item.scenario.name
        if name not in restricted:
            restricted[name] = item.scenario.restricted_to(cells[name])
            order.append(restricted[name])
        item.scenario = restricted[name]
    mine = _own_units(config, sizes)
    if mine is None:
        config.stash[PREFETCH_KEY] = []  # not ours to plan: each scenario runs when reached
        return
    by_unit = {scope_of(i.nodeid): i.scenario for i in items if isinstance(i, CellItem)}
    options = options_of(config)
    config.stash[PREFETCH_KEY] = [
        s for s in order if any(by_unit[u] is s for u in mine) and not skip_reason(s, options)
    ]


def _own_units(config: pytest.Config, sizes: Mapping[str, int]) -> set[str] | None:
    """The scenario units this process runs; None when another scheduler decides."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is None:
        return set(sizes)  # no xdist: every selected scenario is ours
    if workerinput.get(DIST_WORKERINPUT) != "load":
        return None
    count = int(workerinput.get("workercount", 0) or 0)
    me = str(workerinput.get("workerid", ""))
    owner = assign(sizes, worker_ids(count))
    return {unit for unit, worker in owner.items() if worker == me}


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The xdist scheduler for ``--dist load``: all of a worker's scenarios at once."""
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ScenarioScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

        def schedule(self) -> None:
            started: list[str] | None = getattr(self, "collection", None)
            if started is not None or not self.collection_is_completed:
                super().schedule()
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            collection = list(next(iter(self.registered_collections.values())))
            units: dict[str, dict[str, bool]] = {}
            for nodeid in collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            sizes = {u: len(ids) for u, ids in units.items() if u.endswith(SUFFIX)}
            nodes = {node.gateway.id: node for node in self.nodes}
            owner = assign(sizes, worker_ids(len(nodes)))
            if not sizes or set(owner.values()) - set(nodes):
                super().schedule()  # unexpected worker ids: plain loadscope
                return
            self.collection = collection
            for unit, worker in owner.items():
                node = nodes[worker]
                work = units.pop(unit)
                self.assigned_work[node][unit] = work
                index = self.registered_collections[node]
                node.send_runtest_some([index.index(nodeid) for nodeid in work])
            for unit, work in units.items():
                self.workqueue[unit] = work
            for node in self.nodes:
                self._reschedule(node)

    return ScenarioScheduling(config, log)
