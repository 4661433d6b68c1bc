"""Scenario files (``*.netpol.yaml``): schema, loading, validation, cell expansion.

``load(path)`` returns a :class:`harness.model.Scenario` whose cells are the
expanded, deduplicated matrix sorted by ``Cell.key``, or raises one
:class:`~harness.errors.ScenarioError` naming the file, the line and the fix.
The format is documented for users in docs/scenarios.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import cast

from harness.scenario import k8svalidate as k8s
from harness.errors import ScenarioError
from harness.model import DNS_TARGET
from harness.model import MANAGED_BY_LABEL
from harness.model import Cell
from harness.model import External
from harness.model import ManifestDoc
from harness.model import Namespace
from harness.model import Port
from harness.model import Protocol
from harness.model import Role
from harness.model import Scenario
from harness.model import Settings
from harness.model import Source
from harness.model import Target
from harness.model import TargetKind
from harness.model import Workload
from harness.scenario.yamlload import YList
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import load_all
from harness.scenario.yamlload import load_one
from harness.scenario.yamlload import read_bytes
from harness.scenario.yamlload import to_plain

API_VERSION = "netpol-harness.dev/v1alpha1"
KIND = "Scenario"
SUFFIX = ".netpol.yaml"
#: Scenario and created-namespace names leave room for the run suffix.
MAX_NAME = 40
MAX_CONNECT_TIMEOUT = 60.0
MAX_CONVERGENCE = 3600.0
PROTOCOLS: tuple[str, ...] = ("TCP", "UDP", "SCTP")
RESERVED_NAMES = (DNS_TARGET, "svc", "*")
RESERVED_LABEL_PREFIX = "netpol-harness.dev/"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

_TOP_KEYS = (
    "apiVersion",
    "kind",
    "metadata",
    "settings",
    "namespaces",
    "workloads",
    "manifests",
    "externals",
    "expect",
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_SHORT_PORT = re.compile(r"^(\d+)(?:/([A-Za-z]+))?$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like "500ms", "2s", "1.5", "1m"; ValueError if not."""
    if k8s.is_int(value) or isinstance(value, float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        number = float(m.group(1))
        seconds = {"ms": number / 1000, "m": number * 60}.get(m.group(2) or "s", number)
    else:
        raise ValueError(f"{value!r} is not a duration")
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise ValueError(f"{value!r} is not a duration")
    return seconds


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding pyproject.toml or .git, else start."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / "pyproject.toml").exists() or (directory / ".git").exists():
            return directory
    return start


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the current directory when it is below it (for messages)."""
    text = os.fspath(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:  # pragma: no cover - other drive on Windows
        return text
    return text if rel.startswith("..") else rel


def load(path: str | os.PathLike[str], *, shown: str | None = None) -> Scenario:
    """Load and validate one scenario file."""
    real = Path(path)
    name = shown if shown is not None else shown_path(path)
    data = read_bytes(real, name)
    return loads(data, name, base_dir=real.resolve().parent)


def loads(data: bytes | str, path: str, *, base_dir: Path | None = None) -> Scenario:
    """Load and validate a scenario from its text; ``path`` names it in errors."""
    directory = base_dir if base_dir is not None else Path(path).resolve().parent
    doc = load_one(data, path)
    return _Loader(path, directory).scenario(doc)


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


class _Loader:
    def __init__(self, path: str, base_dir: Path) -> None:
        self.path = path
        self.base_dir = base_dir
        self.namespaces: dict[str, Namespace] = {}
        self.workloads: dict[str, Workload] = {}
        self.externals: dict[str, External] = {}

    # ------------------------------------------------------------ helpers

    def fail(self, line: int | None, message: str, fix: str = "") -> ScenarioError:
        return ScenarioError(self.path, line, message, fix)

    def keys(self, obj: YMap, known: Iterable[str], what: str) -> None:
        known = list(known)
        for key in obj:
            if key not in known:
                raise self.fail(
                    obj.key_line(key),
                    f"unknown key {key!r} in {what}",
                    k8s.did_you_mean(str(key), known, "known keys"),
                )

    def mapping(self, value: Any, line: int, what: str) -> YMap:
        if not isinstance(value, YMap):
            raise self.fail(line, f"{what} must be a mapping, got {k8s.type_name(value)}")
        return value

    def listing(self, value: Any, line: int, what: str, *, nonempty: bool = False) -> YList:
        if not isinstance(value, YList):
            raise self.fail(line, f"{what} must be a list, got {k8s.type_name(value)}")
        if nonempty and not value:
            raise self.fail(line, f"{what} must not be empty")
        return value

    def required(self, obj: YMap, key: str, what: str, example: str = "...") -> Any:
        if obj.get(key) is None:
            if key in obj:
                raise self.fail(
                    obj.key_line(key), f"{what}: {key!r} has no value", f"{key}: {example}"
                )
            raise self.fail(obj.line, f"{what} is missing {key!r}", f"add {key}: {example}")
        return obj[key]

    def string(self, obj: YMap, key: str, what: str) -> str:
        value = obj[key]
        if not isinstance(value, str):
            fix = "quote it" if isinstance(value, int | float | bool) else ""
            raise self.fail(
                obj.value_line(key),
                f"{what}.{key} must be a string, got {k8s.type_name(value)}",
                fix,
            )
        return value

    def protocol(self, value: Any, line: int, what: str) -> Protocol:
        if value not in PROTOCOLS:
            upper = str(value).upper()
            fix = f"write {upper!r} (upper case)" if upper in PROTOCOLS else "use TCP, UDP or SCTP"
            raise self.fail(line, f"{what} {value!r} is not a protocol", fix)
        return cast(Protocol, value)

    def port_number(self, value: Any, line: int, what: str) -> int:
        if not k8s.is_int(value):
            raise self.fail(line, f"{what} must be a port number, got {k8s.type_name(value)}")
        if not 1 <= value <= 65535:
            raise self.fail(
                line, f"{what} {value} is out of range", "use a port between 1 and 65535"
            )
        return int(value)

    def labels(self, value: Any, line: int, what: str, *, reserved: bool = True) -> dict[str, str]:
        labels = self.mapping(value, line, what)
        for key, val in labels.items():
            problem = k8s.label_key_problem(key)
            if problem:
                raise self.fail(labels.key_line(key), f"{what}: {problem}")
            if reserved and (key == MANAGED_BY_LABEL or str(key).startswith(RESERVED_LABEL_PREFIX)):
                raise self.fail(
                    labels.key_line(key),
                    f"{what}: label {key!r} is set by the harness",
                    "remove it: the harness labels everything it creates",
                )
            problem = k8s.label_value_problem(val)
            if problem:
                fix = f"quote it: {key}: {str(val).lower()!r}" if not isinstance(val, str) else ""
                raise self.fail(labels.value_line(key), f"{what}: {problem}", fix)
        return {str(k): str(v) for k, v in labels.items()}

    # ------------------------------------------------------------ the document

    def scenario(self, doc: Any) -> Scenario:
        if doc is None:
            raise self.fail(1, "the scenario file is empty", "see docs/scenarios.md for the format")
        doc = self.mapping(doc, 1, "a scenario")
        self.keys(doc, _TOP_KEYS, "the scenario")
        for key, want in (("apiVersion", API_VERSION), ("kind", KIND)):
            value = self.required(doc, key, "the scenario", want)
            if value != want:
                raise self.fail(
                    doc.value_line(key), f"{key} must be {want!r}, not {value!r}", f"{key}: {want}"
                )
        name, description = self.metadata(doc)
        settings = self.settings(doc)
        self.namespace_list(doc)
        self.workload_list(doc)
        self.in_place_rules(doc)
        self.external_list(doc)
        manifests = self.manifest_list(doc)
        cells = self.expect(doc)
        return Scenario(
            name=name,
            path=self.path,
            namespaces=tuple(self.namespaces.values()),
            workloads=tuple(self.workloads.values()),
            externals=tuple(self.externals.values()),
            manifests=manifests,
            cells=cells,
            settings=settings,
            description=description,
        )

    def metadata(self, doc: YMap) -> tuple[str, str]:
        meta = self.mapping(
            self.required(doc, "metadata", "the scenario", "{name: my-scenario}"),
            doc.value_line("metadata"),
            "metadata",
        )
        self.keys(meta, ("name", "description"), "metadata")
        self.required(meta, "name", "metadata", "my-scenario")
        name = self.string(meta, "name", "metadata")
        problem = k8s.dns1123_label_problem(name, MAX_NAME)
        if problem:
            raise self.fail(
                meta.value_line("name"), f"scenario name {name!r} {problem}", "e.g. three-tier"
            )
        description = ""
        if meta.get("description") is not None:
            description = self.string(meta, "description", "metadata")
        return name, description

    def settings(self, doc: YMap) -> Settings:
        if doc.get("settings") is None:
            return Settings()
        settings = self.mapping(doc["settings"], doc.value_line("settings"), "settings")
        self.keys(settings, ("connectTimeout", "convergence"), "settings")
        values = {"connectTimeout": 1.0, "convergence": 30.0}
        limits = {"connectTimeout": MAX_CONNECT_TIMEOUT, "convergence": MAX_CONVERGENCE}
        for key in values:
            if settings.get(key) is None:
                continue
            line = settings.value_line(key)
            try:
                seconds = parse_duration(settings[key])
            except ValueError:
                raise self.fail(
                    line,
                    f"settings.{key} {settings[key]!r} is not a duration",
                    'use seconds (2) or a string like "500ms", "2s", "1m"',
                ) from None
            if key == "connectTimeout" and seconds <= 0:
                raise self.fail(line, "settings.connectTimeout must be more than 0", "e.g. 1s")
            if seconds > limits[key]:
                raise self.fail(
                    line, f"settings.{key} must be at most {limits[key]:g}s", f"e.g. {key}: 30s"
                )
            values[key] = seconds
        return Settings(
            connect_timeout=values["connectTimeout"], convergence_budget=values["convergence"]
        )

    def namespace_list(self, doc: YMap) -> None:
        items = self.listing(
            self.required(doc, "namespaces", "the scenario", "[{name: app}]"),
            doc.value_line("namespaces"),
            "namespaces",
            nonempty=True,
        )
        for i, item in enumerate(items):
            line = items.item_line(i)
            ns = self.mapping(item, line, f"namespaces[{i}]")
            self.keys(ns, ("name", "labels", "existing"), "a namespace")
            self.required(ns, "name", f"namespaces[{i}]", "app")
            name = self.string(ns, "name", "namespace")
            existing = ns.get("existing", False)
            if not isinstance(existing, bool):
                raise self.fail(
                    ns.value_line("existing"), "namespace.existing must be true or false"
                )
            problem = k8s.dns1123_label_problem(name, 63 if existing else MAX_NAME)
            if problem:
                raise self.fail(ns.value_line("name"), f"namespace name {name!r} {problem}")
            if name in self.namespaces:
                first = self.namespaces[name].source
                raise self.fail(
                    ns.value_line("name"),
                    f"namespace {name!r} is declared twice "
                    f"(first at line {first.line if first else '?'})",
                    "remove one of them",
                )
            labels: dict[str, str] = {}
            if ns.get("labels") is not None:
                labels = self.labels(
                    ns["labels"], ns.value_line("labels"), f"namespace {name!r} labels"
                )
                if NAMESPACE_NAME_LABEL in labels:
                    raise self.fail(
                        ns["labels"].key_line(NAMESPACE_NAME_LABEL),
                        f"label {NAMESPACE_NAME_LABEL} is set by the API server",
                        "remove it: every namespace has it, with its (mapped) name",
                    )
            self.namespaces[name] = Namespace(name, labels, existing, Source(self.path, line))

    def workload_list(self, doc: YMap) -> None:
        items = self.listing(
            self.required(doc, "workloads", "the scenario", "[{name: web, ...}]"),
            doc.value_line("workloads"),
            "workloads",
            nonempty=True,
        )
        for i, item in enumerate(items):
            line = items.item_line(i)
            w = self.mapping(item, line, f"workloads[{i}]")
            self.keys(
                w,
                ("name", "namespace", "labels", "selector", "service", "role", "ports"),
                "a workload",
            )
            self.required(w, "name", f"workloads[{i}]", "web")
            name = self.string(w, "name", "workload")
            problem = k8s.dns1035_label_problem(name)
            if problem:
                raise self.fail(w.value_line("name"), f"workload name {name!r} {problem}")
            if name in RESERVED_NAMES:
                raise self.fail(
                    w.value_line("name"), f"workload name {name!r} is reserved", "rename it"
                )
            if name in self.workloads:
                first = self.workloads[name].source
                raise self.fail(
                    w.value_line("name"),
                    f"workload {name!r} is declared twice "
                    f"(first at line {first.line if first else '?'})",
                    "workload names must be unique in a scenario",
                )
            what = f"workload {name!r}"
            self.required(w, "namespace", what, "app")
            namespace = self.string(w, "namespace", what)
            if namespace not in self.namespaces:
                raise self.fail(
                    w.value_line("namespace"),
                    f"{what}: namespace {namespace!r} is not declared",
                    k8s.did_you_mean(namespace, self.namespaces, "declared namespaces"),
                )
            selector, service = self.in_place_workload(w, what, namespace)
            if selector:
                labels = dict(selector)
            else:
                if self.namespaces[namespace].existing:
                    raise self.fail(
                        w.value_line("namespace"),
                        f"{what}: namespace {namespace!r} is existing and can hold no probe "
                        "workloads",
                        "put the workload in a namespace the scenario creates, or pick existing "
                        "pods with selector: {app: ...} (in place, docs/staging.md)",
                    )
                labels = self.labels(
                    self.required(w, "labels", what, "{app: " + name + "}"),
                    w.value_line("labels"),
                    f"{what} labels",
                )
                if not labels:
                    raise self.fail(
                        w.value_line("labels"),
                        f"{what}: labels must not be empty",
                        "e.g. labels: {app: " + name + "}",
                    )
            ports = self.ports(w, what)
            role = w.get("role")
            if role is None:
                role = "both" if ports else "client"
            elif role not in ("client", "server", "both"):
                raise self.fail(
                    w.value_line("role"),
                    f"{what}: role {role!r} is not known",
                    k8s.did_you_mean(str(role), ("client", "server", "both"), "roles"),
                )
            if role in ("server", "both") and not ports:
                raise self.fail(
                    w.value_line("role") if "role" in w else w.line,
                    f"{what}: role {role} needs ports to serve",
                    "add ports: [80] or set role: client",
                )
            if role == "client" and ports:
                raise self.fail(
                    w.value_line("role"),
                    f"{what}: a client serves no ports, but ports are given",
                    "set role: both, or remove ports",
                )
            self.mode_matches(name, bool(selector), line)
            self.workloads[name] = Workload(
                name,
                namespace,
                labels,
                ports,
                cast(Role, role),
                Source(self.path, line),
                selector=selector,
                service=service,
            )

    # ------------------------------------------------------------ in place

    def in_place_workload(
        self, w: YMap, what: str, namespace: str
    ) -> tuple[dict[str, str], str | None]:
        """(selector, service) of an in-place workload; ({}, None) for a probe workload."""
        if w.get("selector") is None:
            if "selector" in w:
                raise self.fail(
                    w.value_line("selector"),
                    f"{what}: selector has no value",
                    "selector: {app: web} (the labels of the existing pods)",
                )
            if w.get("service") is not None:
                raise self.fail(
                    w.value_line("service"),
                    f"{what}: service names the real Service of an existing workload "
                    "(selector:); a probe workload gets a Service named after it",
                    "remove service:",
                )
            return {}, None
        if "labels" in w:
            raise self.fail(
                w.key_line("labels"),
                f"{what}: give labels (a probe pod the harness deploys) or selector "
                "(existing pods, in place), not both",
                "keep selector: for existing pods, or labels: for a probe pod",
            )
        if not self.namespaces[namespace].existing:
            ns = self.namespaces[namespace]
            raise self.fail(
                w.value_line("namespace"),
                f"{what}: selector picks existing pods, but namespace {namespace!r} "
                f"(line {ns.source.line if ns.source else '?'}) is created by the scenario",
                f"mark namespace {namespace!r} existing: true (an in-place run creates nothing)",
            )
        selector = self.labels(
            w["selector"], w.value_line("selector"), f"{what} selector", reserved=False
        )
        if not selector:
            raise self.fail(
                w.value_line("selector"),
                f"{what}: selector must not be empty (it would pick every pod)",
                "e.g. selector: {app: web}",
            )
        service: str | None = None
        if w.get("service") is not None:
            service = self.string(w, "service", what)
            problem = k8s.dns1035_label_problem(service)
            if problem:
                raise self.fail(
                    w.value_line("service"), f"{what}: Service name {service!r} {problem}"
                )
        return selector, service

    def mode_matches(self, name: str, in_place: bool, line: int) -> None:
        """A scenario is either hermetic (labels:) or in place (selector:), never both."""
        for other in self.workloads.values():
            if other.in_place != in_place:
                kinds = {True: "picks existing pods (selector:)", False: "is a probe pod (labels:)"}
                raise self.fail(
                    line,
                    f"workload {name!r} {kinds[in_place]} but workload {other.name!r} "
                    f"(line {other.source.line if other.source else '?'}) {kinds[other.in_place]}: "
                    "a scenario is either hermetic or in place",
                    "split them into two scenario files",
                )

    def in_place_rules(self, doc: YMap) -> None:
        """An in-place scenario creates nothing and applies nothing."""
        if not any(w.in_place for w in self.workloads.values()):
            return
        for ns in self.namespaces.values():
            if not ns.existing:
                raise self.fail(
                    ns.source.line if ns.source else None,
                    f"namespace {ns.name!r} would be created, but this scenario probes existing "
                    "workloads (selector:) and an in-place run creates nothing",
                    "mark it existing: true, or remove it",
                )
        if doc.get("manifests"):
            raise self.fail(
                doc.key_line("manifests"),
                "an in-place scenario applies nothing: it probes the cluster's live policies, "
                "so manifests: cannot be used",
                "remove manifests:; to test these manifests, write a hermetic scenario "
                "(labels: workloads in created namespaces)",
            )

    def ports(self, w: YMap, what: str) -> tuple[Port, ...]:
        if w.get("ports") is None:
            return ()
        items = self.listing(w["ports"], w.value_line("ports"), f"{what} ports")
        ports: list[Port] = []
        seen: dict[tuple[int, str], int] = {}
        names: dict[str, int] = {}
        for i, item in enumerate(items):
            line = items.item_line(i)
            name: str | None = None
            if k8s.is_int(item):
                number = self.port_number(item, line, f"{what}: port")
                protocol: Protocol = "TCP"
            elif isinstance(item, str):
                m = _SHORT_PORT.match(item.strip())
                if not m:
                    raise self.fail(
                        line,
                        f"{what}: port {item!r} is not PORT or PORT/PROTOCOL",
                        'e.g. 80, "53/UDP", or {port: 8080, name: http}',
                    )
                number = self.port_number(int(m.group(1)), line, f"{what}: port")
                protocol = self.protocol(m.group(2) or "TCP", line, f"{what}: protocol")
            elif isinstance(item, YMap):
                self.keys(item, ("port", "protocol", "name"), "a port")
                number = self.port_number(
                    self.required(item, "port", f"{what} port", "8080"),
                    item.value_line("port"),
                    f"{what}: port",
                )
                protocol = self.protocol(
                    item.get("protocol", "TCP"), item.value_line("protocol"), f"{what}: protocol"
                )
                if item.get("name") is not None:
                    name = self.string(item, "name", "port")
                    problem = k8s.port_name_problem(name)
                    if problem:
                        raise self.fail(
                            item.value_line("name"), f"{what}: port name {name!r} {problem}"
                        )
                    if name in names:
                        raise self.fail(
                            item.value_line("name"),
                            f"{what}: port name {name!r} is used twice "
                            f"(first at line {names[name]})",
                            "port names must be unique in a workload",
                        )
                    names[name] = item.value_line("name")
            else:
                raise self.fail(
                    line,
                    f"{what}: a port must be a number, a string or a mapping, "
                    f"got {k8s.type_name(item)}",
                )
            if (number, protocol) in seen:
                raise self.fail(
                    line,
                    f"{what}: port {number}/{protocol} is declared twice "
                    f"(first at line {seen[(number, protocol)]})",
                    "remove one of them",
                )
            seen[(number, protocol)] = line
            ports.append(Port(number, protocol, name))
        return tuple(ports)

    def external_list(self, doc: YMap) -> None:
        if doc.get("externals") is None:
            return
        items = self.listing(doc["externals"], doc.value_line("externals"), "externals")
        for i, item in enumerate(items):
            line = items.item_line(i)
            e = self.mapping(item, line, f"externals[{i}]")
            self.keys(e, ("name", "address", "port", "protocol"), "an external")
            self.required(e, "name", f"externals[{i}]", "payments-api")
            name = self.string(e, "name", "external")
            problem = k8s.dns1123_label_problem(name)
            if problem:
                raise self.fail(e.value_line("name"), f"external name {name!r} {problem}")
            if name in RESERVED_NAMES or name in self.workloads or name in self.externals:
                raise self.fail(
                    e.value_line("name"),
                    f"external name {name!r} is already used "
                    "by a workload, an external or the harness",
                    "give the external a distinct name",
                )
            what = f"external {name!r}"
            address = self.required(e, "address", what, "198.51.100.10")
            if not isinstance(address, str) or not _is_ip(address):
                raise self.fail(
                    e.value_line("address"),
                    f"{what}: address {address!r} is not an IP address",
                    "use an IPv4 or IPv6 address such as 198.51.100.10",
                )
            port = self.port_number(
                self.required(e, "port", what, "443"), e.value_line("port"), f"{what}: port"
            )
            protocol = self.protocol(
                e.get("protocol", "TCP"), e.value_line("protocol"), f"{what}: protocol"
            )
            if protocol == "SCTP":
                raise self.fail(
                    e.value_line("protocol"), "SCTP probes are not supported yet", "use TCP or UDP"
                )
            self.externals[name] = External(name, address, port, protocol, Source(self.path, line))

    # ------------------------------------------------------------ manifests

    def manifest_list(self, doc: YMap) -> tuple[ManifestDoc, ...]:
        if doc.get("manifests") is None:
            return ()
        items = self.listing(doc["manifests"], doc.value_line("manifests"), "manifests")
        root = find_root(self.base_dir)
        out: list[ManifestDoc] = []
        for i, item in enumerate(items):
            line = items.item_line(i)
            if not isinstance(item, str) or not item.strip():
                raise self.fail(
                    line, f"manifests[{i}] must be a file path, got {k8s.type_name(item)}"
                )
            candidate = Path(item) if os.path.isabs(item) else self.base_dir / item
            resolved = candidate.resolve()
            if not resolved.is_relative_to(root):
                raise self.fail(
                    line,
                    f"manifest path {item!r} leaves the project root {root}",
                    "keep manifests inside the directory that holds pyproject.toml or .git",
                )
            if not resolved.is_file():
                fix = ""
                if resolved.parent.is_dir():
                    fix = k8s.did_you_mean(
                        resolved.name,
                        sorted(p.name for p in resolved.parent.iterdir()),
                        "files there",
                    )
                what = "is a directory" if resolved.is_dir() else "does not exist"
                raise self.fail(
                    line,
                    f"manifest {item!r} {what}",
                    fix or "check the path (relative to this file)",
                )
            shown = os.path.normpath(os.path.join(os.path.dirname(self.path), item))
            data = read_bytes(resolved, shown, line=line, owner=self.path)
            docs = load_all(data, shown)
            if not docs:
                raise self.fail(
                    line, f"manifest {item!r} holds no objects", "remove it or add objects"
                )
            for body in docs:
                out.append(self.manifest_doc(body, shown))
        return tuple(out)

    def manifest_doc(self, body: Any, shown: str) -> ManifestDoc:
        line = getattr(body, "line", 1)
        k8s.validate(body, shown, line)
        assert isinstance(body, YMap)
        kind = body["kind"]
        meta = body["metadata"]
        name = meta["name"]
        if kind == "Namespace":
            raise ScenarioError(
                shown,
                line,
                "Namespace objects are created by the harness",
                "declare the namespace under namespaces: in the scenario instead",
            )
        plain = to_plain(body)
        if kind not in k8s.CLUSTER_SCOPED_KINDS:
            namespace = meta.get("namespace")
            if namespace is None:
                created = [n.name for n in self.namespaces.values() if not n.existing]
                if len(created) != 1:
                    raise ScenarioError(
                        shown,
                        line,
                        f"{kind} {name!r} has no metadata.namespace and the scenario "
                        f"creates {len(created)} namespaces",
                        f"set metadata.namespace to one of: {', '.join(self.namespaces)}",
                    )
                plain["metadata"]["namespace"] = created[0]
            elif namespace not in self.namespaces:
                raise ScenarioError(
                    shown,
                    meta.value_line("namespace"),
                    f"namespace {namespace!r} of {kind} {name!r} "
                    f"is not declared in the scenario {self.path}",
                    k8s.did_you_mean(namespace, self.namespaces, "declared namespaces"),
                )
        return ManifestDoc(plain, Source(shown, line))

    # ------------------------------------------------------------ expectations

    def expect(self, doc: YMap) -> tuple[Cell, ...]:
        expect = self.mapping(
            self.required(doc, "expect", "the scenario", "{default: deny, allow: [...]}"),
            doc.value_line("expect"),
            "expect",
        )
        self.keys(expect, ("default", "allow", "deny"), "expect")
        entries: list[_Entry] = []
        for verdict in ("allow", "deny"):
            if expect.get(verdict) is None:
                continue
            items = self.listing(expect[verdict], expect.value_line(verdict), f"expect.{verdict}")
            for i, item in enumerate(items):
                entries.append(self.entry(item, items.item_line(i), verdict))
        # key -> (level, expect, line, cell)
        chosen: dict[str, tuple[int, str, int, Cell, int]] = {}
        for index, entry in enumerate(entries):
            level = 1 if entry.wildcard else 2
            for cell in self.expand(entry):
                previous = chosen.get(cell.key)
                if previous is None or previous[0] < level:
                    chosen[cell.key] = (level, entry.expect, entry.line, cell, index)
                    continue
                if previous[0] > level:
                    continue
                if previous[1] != entry.expect:
                    raise self.fail(
                        entry.line,
                        f"cell {cell.key} is {entry.expect} here "
                        f"but {previous[1]} at line {previous[2]}",
                        "remove one, or make one more specific "
                        "(an entry without '*' wins over a wildcard)",
                    )
                if level == 2 and previous[4] != index:
                    raise self.fail(
                        entry.line,
                        f"cell {cell.key} is listed twice (also at line {previous[2]})",
                        "remove one of them",
                    )
        if expect.get("default") is not None:
            default = expect["default"]
            line = expect.value_line("default")
            if default not in ("allow", "deny"):
                raise self.fail(
                    line,
                    f"expect.default must be allow or deny, not {default!r}",
                    k8s.did_you_mean(str(default), ("allow", "deny"), "values"),
                )
            for cell in self.default_cells(default, line):
                chosen.setdefault(cell.key, (0, default, line, cell, -1))
        if not chosen:
            raise self.fail(
                doc.key_line("expect"),
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
                f"got {k8s.type_name(item)}",
            )
        self.keys(item, ("from", "to", "port", "protocol", "via"), "a cell")
        source = self.required(item, "from", "the cell", "web")
        target = self.required(item, "to", "the cell", "api")
        for key, value in (("from", source), ("to", target)):
            if not isinstance(value, str):
                raise self.fail(
                    item.value_line(key),
                    f"cell.{key} must be a name, got {k8s.type_name(value)}",
                    "quote it",
                )
        via = item.get("via", "pod")
        if via not in ("pod", "service"):
            raise self.fail(
                item.value_line("via"), f"cell.via {via!r} is not known", "use pod or service"
            )
        if target.startswith("svc:"):
            target, via = target[4:], "service"
        port = item.get("port")
        if port is not None and not (k8s.is_int(port) or isinstance(port, str)):
            raise self.fail(
                item.value_line("port"),
                f"cell.port must be a number or a port name, got {k8s.type_name(port)}",
            )
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        protocol = item.get("protocol")
        if protocol is not None:
            protocol = self.protocol(protocol, item.value_line("protocol"), "cell.protocol")
        text = f"{source} -> {'svc:' if via == 'service' else ''}{target}"
        return _Entry(verdict, line, source.strip(), target.strip(), port, protocol, via, text)

    def compact(self, text: str, line: int, verdict: str) -> _Entry:
        grammar = "write cells as 'SOURCE -> TARGET[:PORT][/PROTO]', e.g. 'web -> api:8080/TCP'"
        parts = text.split("->")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise self.fail(line, f"cell {text!r} is not SOURCE -> TARGET", grammar)
        source, target = parts[0].strip(), parts[1].strip()
        if any(c.isspace() for c in source + target):
            raise self.fail(line, f"cell {text!r} has spaces inside a name", grammar)
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
                raise self.fail(line, f"cell {text!r} has a bad port {port_text!r}", grammar)
            port = int(port_text) if port_text.isdigit() else port_text
        if not target:
            raise self.fail(line, f"cell {text!r} has no target", grammar)
        return _Entry(verdict, line, source, target, port, protocol, via, text)

    def client(self, name: str, line: int) -> Workload:
        if name in self.workloads:
            w = self.workloads[name]
            if not w.is_client:
                raise self.fail(
                    line,
                    f"workload {name!r} is a server only and cannot be a source",
                    f"set role: both on workload {name!r}",
                )
            return w
        if name in self.externals or name == DNS_TARGET:
            raise self.fail(line, f"{name!r} cannot be a source: sources are client workloads")
        raise self.fail(
            line,
            f"source {name!r} is not a workload",
            k8s.did_you_mean(name, self.workloads, "workloads"),
        )

    def expand(self, entry: _Entry) -> list[Cell]:
        line = entry.line
        where = Source(self.path, line)
        if entry.source == "*":
            sources = [w for w in self.workloads.values() if w.is_client]
        else:
            sources = [self.client(entry.source, line)]
        port_given = entry.port is not None and entry.port != "*"
        cells: dict[str, Cell] = {}

        def add(source: str, target: Target, port: int, protocol: Protocol) -> None:
            cell = Cell(source, target, port, protocol, cast(Any, entry.expect), "explicit", where)
            cells[cell.key] = cell

        if entry.target in (DNS_TARGET, *self.externals) and entry.target not in self.workloads:
            if entry.via == "service":
                raise self.fail(
                    line, f"{entry.target!r} has no Service", "remove svc: / via: service"
                )
            if entry.target == DNS_TARGET:
                kind, number, proto = TargetKind.DNS, 53, "UDP"
            else:
                ext = self.externals[entry.target]
                kind, number, proto = TargetKind.EXTERNAL, ext.port, ext.protocol
            if port_given and entry.port != number:
                raise self.fail(
                    line,
                    f"{entry.target!r} is probed on port {number}, not {entry.port}",
                    f"write {entry.source} -> {entry.target} (the port is implied)",
                )
            if entry.protocol is not None and entry.protocol != proto:
                raise self.fail(
                    line,
                    f"{entry.target!r} is probed over {proto}, not {entry.protocol}",
                    f"use /{proto} or omit it",
                )
            for w in sources:
                add(w.name, Target(kind, entry.target), number, cast(Protocol, proto))
            return list(cells.values())

        kind = TargetKind.SERVICE if entry.via == "service" else TargetKind.POD
        if entry.target == "*":
            servers = [w for w in self.workloads.values() if w.is_server]
            strict = False
        else:
            servers = [self.server(entry.target, line)]
            strict = True
        for server in servers:
            if kind is TargetKind.SERVICE and server.in_place and server.service is None:
                if strict:
                    raise self.fail(
                        line,
                        f"{server.name!r} is an existing workload: a svc: cell needs the name of "
                        "its real Service",
                        f"add service: <Service name> to workload {server.name!r}",
                    )
                continue
            ports = self.select_ports(server, entry, strict)
            for w in sources:
                if w.name == server.name:
                    if strict and entry.source != "*":
                        raise self.fail(
                            line,
                            f"workload {w.name!r} cannot probe itself",
                            "pick another source or target",
                        )
                    continue
                for p in ports:
                    add(w.name, Target(kind, server.name), p.number, p.protocol)
        if not cells:
            raise self.fail(
                line, f"cell {entry.text!r} matches no cells", "check the names and ports"
            )
        return list(cells.values())

    def server(self, name: str, line: int) -> Workload:
        if name not in self.workloads:
            raise self.fail(
                line,
                f"target {name!r} is not a workload, an external or 'dns'",
                k8s.did_you_mean(name, [*self.workloads, *self.externals, DNS_TARGET], "targets"),
            )
        w = self.workloads[name]
        if not w.is_server:
            raise self.fail(
                line,
                f"target {name!r} serves nothing (role {w.role})",
                f"declare ports on workload {name!r} (role: both or server)",
            )
        return w

    def select_ports(self, w: Workload, entry: _Entry, strict: bool) -> list[Port]:
        line = entry.line
        served = ", ".join(
            f"{p.number}/{p.protocol}" + (f" ({p.name})" if p.name else "") for p in w.ports
        )
        port = entry.port
        if port is None or port == "*":
            ports = [p for p in w.ports if p.protocol != "SCTP"]
            if entry.protocol == "SCTP" and strict:
                raise self.fail(
                    line, "SCTP probes are not supported yet", "probe a TCP or UDP port"
                )
        elif isinstance(port, int):
            ports = [p for p in w.ports if p.number == port]
            if not ports and strict:
                raise self.fail(
                    line, f"{w.name!r} does not serve port {port}", f"it serves: {served}"
                )
        else:
            ports = [p for p in w.ports if p.name == port]
            if not ports and strict:
                names = [p.name for p in w.ports if p.name]
                fix = (
                    k8s.did_you_mean(port, names, "its port names")
                    if names
                    else f"it has no named ports; it serves: {served}"
                )
                raise self.fail(line, f"{w.name!r} has no port named {port!r}", fix)
        if entry.protocol is not None:
            matching = [p for p in ports if p.protocol == entry.protocol]
            if ports and not matching and strict:
                declared = "/".join(sorted({p.protocol for p in ports}))
                raise self.fail(
                    line,
                    f"protocol mismatch: {w.name!r} serves port {ports[0].number} "
                    f"over {declared}, not {entry.protocol}",
                    f"write /{declared} or omit the protocol",
                )
            ports = matching
        if port is not None and port != "*" and any(p.protocol == "SCTP" for p in ports):
            if strict:
                raise self.fail(
                    line,
                    "SCTP probes are not supported yet",
                    "SCTP ports can be declared, not probed",
                )
            ports = [p for p in ports if p.protocol != "SCTP"]
        if not ports and strict:
            raise self.fail(
                line, f"{w.name!r} serves no TCP or UDP port to probe", f"it serves: {served}"
            )
        return ports

    def default_cells(self, default: str, line: int) -> list[Cell]:
        where = Source(self.path, line)
        cells = []
        for client in self.workloads.values():
            if not client.is_client:
                continue
            for server in self.workloads.values():
                if not server.is_server or server.name == client.name:
                    continue
                for p in server.ports:
                    if p.protocol == "SCTP":
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


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
