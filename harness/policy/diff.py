"""The cells whose verdict changes between two sets of policies over the same pods. Pure.

A cell is (source pod, destination pod, port, protocol). :func:`changes` compares two
:class:`~harness.policy.engine.ClusterModel` built from the same pods (the policies,
and possibly namespace labels, differ) and returns every cell whose verdict differs,
with the engine's :class:`~harness.policy.explain.Decision` before and after: which
policy and rule allowed it, or which policies isolated the pod without a matching rule.

The cells are, per destination, the ports it declares (containerPorts), or the ports
asked for on every destination; a pod to itself is left out (as in a scenario's
``default``). Whole rows of the engine's matrix are compared first, so only changed
cells are decided one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import ConfigError
from harness.model import L4Protocol
from harness.policy.engine import ClusterModel
from harness.policy.engine import MatrixBits
from harness.policy.explain import Decision

PortSpec = tuple[int | str, L4Protocol]


@dataclass(frozen=True)
class CellChange:
    """One cell whose verdict differs, with the engine's decision on each side."""

    source: str  # namespace/pod
    destination: str  # namespace/pod
    port: int | str  # as asked: a number, or a port name
    protocol: L4Protocol
    before: Decision
    after: Decision

    @property
    def key(self) -> str:
        return f"{self.source} -> {self.destination}:{self.port}/{self.protocol}"

    @property
    def direction(self) -> str:
        """ "opened" (denied before, allowed after) or "closed"."""
        return "opened" if self.after.allowed else "closed"


@dataclass(frozen=True)
class DiffResult:
    changes: tuple[CellChange, ...]  # sorted by source, destination, port, protocol
    compared: int  # cells compared
    pods: int

    @property
    def opened(self) -> int:
        return sum(1 for c in self.changes if c.after.allowed)

    @property
    def closed(self) -> int:
        return len(self.changes) - self.opened


def _port_sort(port: int | str) -> tuple[int, int, str]:
    return (0, port, "") if isinstance(port, int) else (1, 0, port)


def declared_ports(cluster: ClusterModel) -> dict[PortSpec, set[str]]:
    """(number, protocol) -> the pods that declare it as a containerPort."""
    out: dict[PortSpec, set[str]] = {}
    for pod in cluster.pods:
        for cp in pod.ports:
            out.setdefault((cp.number, cp.protocol), set()).add(pod.ref)
    return out


def _in_order(bits: MatrixBits, index: dict[str, int]) -> list[int]:
    """The matrix rows, rows and bits in the order of ``index`` (name -> position)."""
    names = list(index)
    if list(bits.names) == names:
        return list(bits.rows)
    rows = [0] * len(names)
    for s, name in enumerate(bits.names):
        raw, row = bits.rows[s], 0
        for d, other in enumerate(bits.names):
            if raw >> d & 1:
                row |= 1 << index[other]
        rows[index[name]] = row
    return rows


def changes(
    before: ClusterModel,
    after: ClusterModel,
    ports: Sequence[PortSpec] = (),
) -> DiffResult:
    """Every cell whose verdict differs from ``before`` to ``after``.

    ``ports``: the (port, protocol) pairs to compare on every destination; empty: each
    destination's declared container ports. Both models must hold the same pods.
    """
    names = [p.ref for p in before.pods]
    if sorted(names) != sorted(p.ref for p in after.pods):
        raise ConfigError("both sides of a diff must hold the same pods")
    index = {name: i for i, name in enumerate(names)}
    everyone = (1 << len(names)) - 1
    asked: dict[PortSpec, int] = {}
    if ports:
        for spec in ports:
            asked[spec] = everyone
    else:
        for spec, refs in declared_ports(before).items():
            mask = 0
            for ref in refs:
                mask |= 1 << index[ref]
            asked[spec] = mask
    found: list[CellChange] = []
    compared = 0
    for (port, protocol), destinations in asked.items():
        rows_before = _in_order(before.matrix_bits(port, protocol), index)
        rows_after = _in_order(after.matrix_bits(port, protocol), index)
        for s, src in enumerate(names):
            others = destinations & ~(1 << s)
            compared += others.bit_count()
            differ = (rows_before[s] ^ rows_after[s]) & others
            while differ:
                low = differ & -differ
                differ ^= low
                dst = names[low.bit_length() - 1]
                was = before.decide(src, dst, port, protocol)
                now = after.decide(src, dst, port, protocol)
                if was.allowed != now.allowed:
                    found.append(CellChange(src, dst, port, protocol, was, now))
    found.sort(key=lambda c: (c.source, c.destination, _port_sort(c.port), c.protocol))
    return DiffResult(tuple(found), compared, len(names))
