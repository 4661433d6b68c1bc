"""The ``expect:`` section of a scenario: cell syntax, wildcards, specificity, defaults.

A cell is written compactly (``'web -> svc:api:8080/TCP'``) or as a mapping
(``{from: web, to: api, port: 8080, protocol: TCP, via: service}``); ``*`` stands
for every client (source), every server (target) or every probed port. An entry
without ``*`` wins over a wildcard that covers the same cell; two entries of the
same specificity must agree. ``expect.default`` fills every remaining
client -> server port with allow or deny. :meth:`Cells.expect` returns the matrix
sorted by ``Cell.key``; the user's format is docs/scenarios.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import cast

from harness.errors import ScenarioError
from harness.model import DNS_PORT
from harness.model import DNS_PROTOCOL
from harness.model import DNS_TARGET
from harness.model import PROBED_PROTOCOLS
from harness.model import Cell
from harness.model import External
from harness.model import L4Protocol
from harness.model import Port
from harness.model import Source
from harness.model import Target
from harness.model import TargetKind
from harness.model import Workload
from harness.scenario.checker import ScenarioChecker
from harness.scenario.checker import did_you_mean
from harness.scenario.checker import is_int
from harness.scenario.checker import type_name
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo

#: The most cells one scenario may have, and the most an expect: section may expand to
#: before overlaps are resolved (each cell is a test and a probe: more is a mistake).
MAX_CELLS = 20_000
MAX_EXPANDED = 200_000
MAX_ENTRIES = 5_000


def _unquote(token: str) -> str:
    """A name written with its quotes inside a cell string (``web -> "*"``) is the name."""
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1].strip()
    return token


@dataclass
class _Entry:
    """One allow/deny entry, before expansion."""

    expect: str
    line: int
    source: str
    target: str
    port: int | str | None
    protocol: str | None
    via: str
    text: str

    @property
    def wildcard(self) -> bool:
        return "*" in (self.source, self.target, self.port)


class Cells(ScenarioChecker):
    """The cells of one scenario's ``expect:``, given its workloads and externals."""

    def __init__(
        self, path: str, workloads: Mapping[str, Workload], externals: Mapping[str, External]
    ) -> None:
        super().__init__(path)
        self.workloads = workloads
        self.externals = externals

    def expect(
        self, doc: YMap, key: str = "expect", owner: str = "the scenario", name: str = ""
    ) -> tuple[Cell, ...]:
        """The cells of ``doc[key]`` (``expect``, or a step's ``expect`` / ``changes``).

        ``name`` is the section as messages call it (``steps[1].changes``); a
        ``changes`` section has no ``default`` and may stay empty.
        """
        name = name or key
        changes = key == "changes"
        expect = self.mapping(
            self.required(
                doc, key, owner, "{allow: [...]}" if changes else "{default: deny, allow: [...]}"
            ),
            doc.value_line(key),
            name,
        )
        self.keys(expect, ("allow", "deny") if changes else ("default", "allow", "deny"), name)
        entries: list[_Entry] = []
        for verdict in ("allow", "deny"):
            if expect.get(verdict) is None:
                continue
            items = self.listing(expect[verdict], expect.value_line(verdict), f"{name}.{verdict}")
            if len(entries) + len(items) > MAX_ENTRIES:
                raise self.fail(
                    items.line,
                    f"{name} lists more than {MAX_ENTRIES} entries",
                    "use wildcards or expect.default, or split the scenario",
                )
            for i, item in enumerate(items):
                with self.collecting():
                    entries.append(self.entry(item, items.item_line(i), verdict))
        self.raise_collected()
        expanded = 0
        # key -> (level, expect, line, cell)
        chosen: dict[str, tuple[int, str, int, Cell, int]] = {}
        for index, entry in enumerate(entries):
            level = 1 if entry.wildcard else 2
            expansion: list[Cell] = []
            with self.collecting():
                try:
                    expansion = self.expand(entry, MAX_EXPANDED - expanded)
                except ScenarioError:
                    expanded = MAX_EXPANDED  # over budget: expand nothing more
                    raise
            if expanded >= MAX_EXPANDED:
                break
            expanded += len(expansion)
            for cell in expansion:
                previous = chosen.get(cell.key)
                if previous is None or previous[0] < level:
                    chosen[cell.key] = (level, entry.expect, entry.line, cell, index)
                    continue
                if previous[0] > level:
                    continue
                if previous[1] != entry.expect:
                    self.raise_collected()
                    raise self.fail(
                        entry.line,
                        f"cell {cell.key} is {entry.expect} here "
                        f"but {previous[1]} at line {previous[2]}",
                        "remove one, or make one more specific "
                        "(an entry without '*' wins over a wildcard)",
                    )
                if level == 2 and previous[4] != index:
                    self.raise_collected()
                    raise self.fail(
                        entry.line,
                        f"cell {cell.key} is listed twice (also at line {previous[2]})",
                        "remove one of them",
                    )
        self.raise_collected()
        if expect.get("default") is not None:
            default = expect["default"]
            line = expect.value_line("default")
            if default not in ("allow", "deny"):
                raise self.fail(
                    line,
                    f"{name}.default must be allow or deny, not {echo(default)}",
                    did_you_mean(str(default), ("allow", "deny"), "values"),
                )
            for cell in self.default_cells(default, line):
                chosen.setdefault(cell.key, (0, default, line, cell, -1))
        if len(chosen) > MAX_CELLS:
            raise self.fail(
                doc.key_line(key),
                f"the matrix has {len(chosen)} cells, more than the limit of {MAX_CELLS}",
                "split the scenario, or list cells instead of expect.default",
            )
        if not chosen and not changes:
            raise self.fail(
                doc.key_line(key),
                "the matrix has no cells",
                "add cells under expect.allow / expect.deny, or set expect.default",
            )
        return tuple(chosen[key][3] for key in sorted(chosen))

    def entry(self, item: Any, line: int, verdict: str) -> _Entry:
        if isinstance(item, str):
            return self.compact(item, line, verdict)
        if not isinstance(item, YMap):
            raise self.fail(
                line,
                "a cell must be a string like 'web -> api:8080' or a mapping, "
                f"got {type_name(item)}",
                "quote it: - 'web -> api:8080'",
            )
        self.keys(item, ("from", "to", "port", "protocol", "via"), "a cell")
        source = self.required(item, "from", "the cell", "web")
        target = self.required(item, "to", "the cell", "api")
        for key, value in (("from", source), ("to", target)):
            if not isinstance(value, str):
                raise self.fail(
                    item.value_line(key),
                    f"cell.{key} must be a name, got {type_name(value)}",
                    "quote it",
                )
        via = item.get("via", "pod")
        if via not in ("pod", "service"):
            raise self.fail(
                item.value_line("via"), f"cell.via {echo(via)} is not known", "use pod or service"
            )
        if target.startswith("svc:"):
            target, via = target[4:], "service"
        port = item.get("port")
        if port is not None and not (is_int(port) or isinstance(port, str)):
            raise self.fail(
                item.value_line("port"),
                f"cell.port must be a number or a port name, got {type_name(port)}",
            )
        if isinstance(port, str) and port.isascii() and port.isdigit():
            port = self.cell_port(port, item.value_line("port"))
        protocol = item.get("protocol")
        if protocol is not None:
            protocol = self.protocol(protocol, item.value_line("protocol"), "cell.protocol")
        text = f"{source} -> {'svc:' if via == 'service' else ''}{target}"
        return _Entry(verdict, line, source.strip(), target.strip(), port, protocol, via, text)

    def compact(self, text: str, line: int, verdict: str) -> _Entry:
        grammar = "write cells as 'SOURCE -> TARGET[:PORT][/PROTO]', e.g. 'web -> api:8080/TCP'"
        parts = text.split("->")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise self.fail(line, f"cell {echo(text)} is not SOURCE -> TARGET", grammar)
        source, target = _unquote(parts[0].strip()), _unquote(parts[1].strip())
        if any(c.isspace() for c in source + target):
            raise self.fail(line, f"cell {echo(text)} has spaces inside a name", grammar)
        protocol: str | None = None
        if "/" in target:
            target, protocol = target.rsplit("/", 1)
            protocol = self.protocol(protocol, line, "cell protocol")
        via = "pod"
        if target.startswith("svc:"):
            via, target = "service", target[4:]
        port: int | str | None = None
        if ":" in target:
            target, port_text = target.split(":", 1)
            if not port_text or ":" in port_text:
                raise self.fail(
                    line, f"cell {echo(text)} has a bad port {echo(port_text)}", grammar
                )
            port = (
                self.cell_port(port_text, line)
                if port_text.isascii() and port_text.isdigit()
                else port_text
            )
        if not target:
            raise self.fail(line, f"cell {echo(text)} has no target", grammar)
        return _Entry(verdict, line, source, target, port, protocol, via, text)

    def cell_port(self, text: str, line: int) -> int:
        if len(text) > 5 or not 1 <= int(text) <= 65535:
            raise self.fail(line, f"port {echo(text)} is out of range", "use 1-65535")
        return int(text)

    def client(self, name: str, line: int) -> Workload:
        if name in self.workloads:
            w = self.workloads[name]
            if not w.is_client:
                raise self.fail(
                    line,
                    f"workload {echo(name)} is a server only and cannot be a source",
                    f"set role: both on workload {echo(name)}",
                )
            return w
        if name in self.externals or name == DNS_TARGET:
            raise self.fail(
                line,
                f"{echo(name)} cannot be a source: sources are client workloads",
                did_you_mean(name, self.workloads, "workloads"),
            )
        raise self.fail(
            line,
            f"source {echo(name)} is not a workload",
            did_you_mean(name, self.workloads, "workloads"),
        )

    def expand(self, entry: _Entry, budget: int = MAX_EXPANDED) -> list[Cell]:
        line = entry.line
        budget = max(budget, 0)
        where = Source(self.path, line)
        if entry.source == "*":
            sources = [w for w in self.workloads.values() if w.is_client]
        else:
            sources = [self.client(entry.source, line)]
        port_given = entry.port is not None and entry.port != "*"
        cells: dict[str, Cell] = {}

        def add(source: str, target: Target, port: int, protocol: L4Protocol) -> None:
            if len(cells) >= budget:
                raise self.fail(
                    line,
                    f"the expect entries expand to more than {MAX_EXPANDED} cells here",
                    "split the scenario into smaller ones",
                )
            cell = Cell(source, target, port, protocol, cast(Any, entry.expect), "explicit", where)
            cells[cell.key] = cell

        if entry.target in (DNS_TARGET, *self.externals) and entry.target not in self.workloads:
            if entry.via == "service":
                raise self.fail(
                    line, f"{echo(entry.target)} has no Service", "remove svc: / via: service"
                )
            if entry.target == DNS_TARGET:
                kind, number, proto = TargetKind.DNS, DNS_PORT, DNS_PROTOCOL
            else:
                ext = self.externals[entry.target]
                kind, number, proto = TargetKind.EXTERNAL, ext.port, ext.protocol
            if port_given and entry.port != number:
                raise self.fail(
                    line,
                    f"{echo(entry.target)} is probed on port {number}, not {entry.port}",
                    f"write {entry.source} -> {entry.target} (the port is implied)",
                )
            if entry.protocol is not None and entry.protocol != proto:
                raise self.fail(
                    line,
                    f"{echo(entry.target)} is probed over {proto}, not {entry.protocol}",
                    f"use /{proto} or omit it",
                )
            for w in sources:
                add(w.name, Target(kind, entry.target), number, proto)
            return list(cells.values())

        kind = TargetKind.SERVICE if entry.via == "service" else TargetKind.POD
        if entry.target == "*":
            servers = [w for w in self.workloads.values() if w.is_server]
            strict = False
        else:
            servers = [self.server(entry.target, line)]
            strict = True
        chosen: list[tuple[Workload, list[Port]]] = []
        for server in servers:
            if kind is TargetKind.SERVICE and server.in_place and server.service is None:
                if strict:
                    raise self.fail(
                        line,
                        f"{echo(server.name)} is an existing workload: a svc: cell needs the name "
                        "of its real Service",
                        f"add service: <Service name> to workload {echo(server.name)}",
                    )
                continue
            chosen.append((server, self.select_ports(server, entry, strict)))
        # Counted before any cell is made: a wildcard over many workloads is refused at
        # once, not after building the budget's worth of cells.
        names = [w.name for w in sources]
        total = sum(len(ports) * (len(names) - names.count(t.name)) for t, ports in chosen)
        if total > budget:
            raise self.fail(
                line,
                f"the expect entries expand to more than {MAX_EXPANDED} cells here",
                "split the scenario into smaller ones",
            )
        for server, ports in chosen:
            for w in sources:
                if w.name == server.name:
                    if strict and entry.source != "*":
                        raise self.fail(
                            line,
                            f"workload {echo(w.name)} cannot probe itself",
                            "pick another source or target",
                        )
                    continue
                for p in ports:
                    add(w.name, Target(kind, server.name), p.number, p.protocol)
        if not cells:
            raise self.fail(
                line, f"cell {echo(entry.text)} matches no cells", "check the names and ports"
            )
        return list(cells.values())

    def server(self, name: str, line: int) -> Workload:
        if name not in self.workloads:
            raise self.fail(
                line,
                f"target {echo(name)} is not a workload, an external or 'dns'",
                did_you_mean(name, [*self.workloads, *self.externals, DNS_TARGET], "targets"),
            )
        w = self.workloads[name]
        if not w.is_server:
            raise self.fail(
                line,
                f"target {echo(name)} serves nothing (role {w.role})",
                f"declare ports on workload {echo(name)} (role: both or server)",
            )
        return w

    def select_ports(self, w: Workload, entry: _Entry, strict: bool) -> list[Port]:
        line = entry.line
        served = ", ".join(
            f"{p.number}/{p.protocol}" + (f" ({p.name})" if p.name else "") for p in w.ports
        )
        port = entry.port
        if port is None or port == "*":
            ports = [p for p in w.ports if p.protocol in PROBED_PROTOCOLS]
            if entry.protocol is not None and entry.protocol not in PROBED_PROTOCOLS and strict:
                raise self.fail(
                    line,
                    f"{entry.protocol} probes are not supported yet",
                    "probe a TCP or UDP port",
                )
        elif isinstance(port, int):
            ports = [p for p in w.ports if p.number == port]
            if not ports and strict:
                raise self.fail(
                    line, f"{echo(w.name)} does not serve port {port}", f"it serves: {served}"
                )
        else:
            ports = [p for p in w.ports if p.name == port]
            if not ports and strict:
                names = [p.name for p in w.ports if p.name]
                fix = (
                    did_you_mean(port, names, "its port names")
                    if names
                    else f"it has no named ports; it serves: {served}"
                )
                raise self.fail(line, f"{echo(w.name)} has no port named {echo(port)}", fix)
        if entry.protocol is not None:
            matching = [p for p in ports if p.protocol == entry.protocol]
            if ports and not matching and strict:
                declared = "/".join(sorted({p.protocol for p in ports}))
                raise self.fail(
                    line,
                    f"protocol mismatch: {echo(w.name)} serves port {ports[0].number} "
                    f"over {declared}, not {entry.protocol}",
                    f"write /{declared} or omit the protocol",
                )
            ports = matching
        unprobed = "/".join(sorted({p.protocol for p in ports} - PROBED_PROTOCOLS))
        if port is not None and port != "*" and unprobed:
            if strict:
                raise self.fail(
                    line,
                    f"{unprobed} probes are not supported yet",
                    f"{unprobed} ports can be declared, not probed",
                )
            ports = [p for p in ports if p.protocol in PROBED_PROTOCOLS]
        if not ports and strict:
            raise self.fail(
                line, f"{echo(w.name)} serves no TCP or UDP port to probe", f"it serves: {served}"
            )
        return ports

    def default_cells(self, default: str, line: int) -> list[Cell]:
        where = Source(self.path, line)
        clients = sum(1 for w in self.workloads.values() if w.is_client)
        ports = sum(
            len([p for p in w.ports if p.protocol in PROBED_PROTOCOLS])
            for w in self.workloads.values()
            if w.is_server
        )
        if clients * ports > MAX_CELLS * 2:
            raise self.fail(
                line,
                f"expect.default would make about {clients * ports} cells "
                f"({clients} clients x {ports} served ports), more than the limit of {MAX_CELLS}",
                "split the scenario, or list the cells that matter",
            )
        cells = []
        for client in self.workloads.values():
            if not client.is_client:
                continue
            for server in self.workloads.values():
                if not server.is_server or server.name == client.name:
                    continue
                for p in server.ports:
                    if p.protocol not in PROBED_PROTOCOLS:
                        continue
                    cells.append(
                        Cell(
                            client.name,
                            Target(TargetKind.POD, server.name),
                            p.number,
                            p.protocol,
                            cast(Any, default),
                            "default",
                            where,
                        )
                    )
        return cells
