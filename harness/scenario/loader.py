"""Scenario files (``*.netpol.yaml``): the document, its loading and validation.

``load(path)`` returns a :class:`harness.model.Scenario` whose cells are the
expanded, deduplicated matrix sorted by ``Cell.key``, or raises one
:class:`~harness.errors.ScenarioError` naming the file, the line and the fix.
This module checks the document (top keys, metadata, settings, namespaces,
workloads, externals; the manifests are :mod:`harness.scenario.manifests`); the
``expect:`` section is :mod:`harness.scenario.cells`, the shared field checks
:mod:`harness.scenario.checker`.
The format is documented for users in docs/scenarios.md.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from typing import cast

from harness.model import DNS_TARGET
from harness.model import PROBED_PROTOCOLS
from harness.model import PROTOCOLS
from harness.model import Cell
from harness.model import External
from harness.model import ManifestDoc
from harness.model import Namespace
from harness.model import Role
from harness.model import Scenario
from harness.model import Settings
from harness.model import Source
from harness.model import Step
from harness.model import Workload
from harness.scenario.accounts import Accounts
from harness.scenario.accounts import service_account
from harness.scenario.cells import Cells
from harness.scenario.checker import RESERVED_LABEL_PREFIX
from harness.scenario.checker import did_you_mean
from harness.scenario.checker import dns1035_label_problem
from harness.scenario.checker import dns1123_label_problem
from harness.scenario.checker import is_int
from harness.scenario.checker import line_of
from harness.scenario.manifests import MAX_MANIFEST_BYTES
from harness.scenario.manifests import MAX_MANIFEST_FILES
from harness.scenario.manifests import MAX_MANIFEST_OBJECTS
from harness.scenario.manifests import find_root
from harness.scenario.steps import StepSection
from harness.scenario.yamlload import YList
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo
from harness.scenario.yamlload import load_one
from harness.scenario.yamlload import read_bytes

__all__ = [
    "API_VERSION",
    "KIND",
    "MAX_MANIFEST_BYTES",
    "MAX_MANIFEST_FILES",
    "MAX_MANIFEST_OBJECTS",
    "MAX_NAME",
    "PROTOCOLS",
    "RESERVED_LABEL_PREFIX",
    "SUFFIX",
    "find_root",
    "load",
    "loads",
    "parse_duration",
    "shown_path",
]

API_VERSION = "netpol-harness.dev/v1alpha1"
KIND = "Scenario"
SUFFIX = ".netpol.yaml"
#: Scenario and created-namespace names leave room for the run suffix.
MAX_NAME = 40
MAX_CONNECT_TIMEOUT = 60.0
MAX_CONVERGENCE = 3600.0
RESERVED_NAMES = (DNS_TARGET, "svc", "*")
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
    "steps",
)
#: Bounds on what one scenario may declare (a scenario this big is a mistake or an attack).
_MAX_ENTRIES = {
    "namespaces": 100,
    "workloads": 1000,
    "externals": 200,
    "manifests": MAX_MANIFEST_FILES,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like "500ms", "2s", "1.5", "1m"; ValueError if not."""
    if is_int(value) or isinstance(value, float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        number = float(m.group(1))
        seconds = {"ms": number / 1000, "m": number * 60}.get(m.group(2) or "s", number)
    else:
        raise ValueError(f"{echo(value)} is not a duration")
    if seconds != seconds or seconds < 0:  # NaN or negative
        raise ValueError(f"{echo(value)} is not a duration")
    return seconds


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


class _Loader(StepSection):
    def __init__(self, path: str, base_dir: Path) -> None:
        super().__init__(path)
        self.base_dir = base_dir
        self.namespaces: dict[str, Namespace] = {}
        self.workloads: dict[str, Workload] = {}
        self.accounts: Accounts = {}  # the workloads' ServiceAccounts and their labels
        self.externals: dict[str, External] = {}
        self.namespaces_ok = True

    def section(self, doc: YMap, key: str, example: str) -> YList:
        """The required, non-empty list ``key`` of the scenario."""
        value = self.required(doc, key, "the scenario", example)
        return self.listing(value, doc.value_line(key), key, nonempty=True)

    def named_entries(
        self, items: YList, section: str, noun: str, known: tuple[str, ...], example: str
    ) -> Iterator[tuple[int, YMap, str]]:
        """(line, mapping, name) of each entry of a list of named mappings (``section``)."""
        article = "an" if noun[0] in "aeiou" else "a"
        limit = _MAX_ENTRIES.get(section)
        if limit is not None and len(items) > limit:
            raise self.fail(
                items.line,
                f"{section} has {len(items)} entries, more than the limit of {limit}",
                "split the scenario into smaller ones",
            )
        for i, item in enumerate(items):
            line = items.item_line(i)
            with self.collecting():
                entry = self.mapping(item, line, f"{section}[{i}]")
                with self.collecting():
                    self.keys(entry, known, f"{article} {noun}")
                self.required(entry, "name", f"{section}[{i}]", example)
                name = self.string(entry, "name", noun)
                yield line, entry, name

    # ------------------------------------------------------------ the document

    def scenario(self, doc: Any) -> Scenario:
        if doc is None:
            raise self.fail(1, "the scenario file is empty", "see docs/scenarios.md for the format")
        doc = self.mapping(doc, 1, "a scenario")
        # Independent sections are all checked; every problem found is reported.
        with self.collecting():
            self.keys(doc, _TOP_KEYS, "the scenario")
        for key, want in (("apiVersion", API_VERSION), ("kind", KIND)):
            with self.collecting():
                value = self.required(doc, key, "the scenario", want)
                if value != want:
                    raise self.fail(
                        doc.value_line(key),
                        f"{key} must be {echo(want)}, not {echo(value)}",
                        f"{key}: {want}",
                    )
        name, description = "", ""
        with self.collecting():
            name, description = self.metadata(doc)
        settings = Settings()
        with self.collecting():
            settings = self.settings(doc)
        before = len(self.errors)
        with self.collecting():
            self.namespace_list(doc)
        self.namespaces_ok = len(self.errors) == before
        before = len(self.errors)
        with self.collecting():
            self.workload_list(doc)
        with self.collecting():
            self.in_place_rules(doc)
        with self.collecting():
            self.external_list(doc)
        targets_ok = len(self.errors) == before and self.namespaces_ok
        manifests: tuple[ManifestDoc, ...] = ()
        if self.namespaces_ok:
            with self.collecting():
                manifests = self.manifest_list(doc)
        cells: tuple[Cell, ...] = ()
        steps: tuple[Step, ...] = ()
        if targets_ok and ("expect" in doc or "steps" not in doc):
            with self.collecting():
                cells = Cells(self.path, self.workloads, self.externals).expect(doc)
        if targets_ok and "steps" in doc:
            self.raise_collected()
            if any(w.in_place for w in self.workloads.values()):
                raise self.fail(
                    doc.key_line("steps"),
                    "an in-place scenario cannot have steps (it changes nothing in the cluster)",
                    "remove steps:, or probe workloads the harness deploys",
                )
            with self.collecting():
                steps, stepped = self.step_list(doc, manifests, cells)
                cells = (*cells, *stepped)  # in the order they are probed
        self.raise_collected()
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
            steps=steps,
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
        problem = dns1123_label_problem(name, MAX_NAME)
        if problem:
            raise self.fail(
                meta.value_line("name"), f"scenario name {echo(name)} {problem}", "e.g. three-tier"
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
                    f"settings.{key} {echo(settings[key])} is not a duration",
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
        items = self.section(doc, "namespaces", "[{name: app}]")
        known = ("name", "labels", "existing")
        for line, ns, name in self.named_entries(items, "namespaces", "namespace", known, "app"):
            with self.collecting():
                existing = ns.get("existing", False)
                if not isinstance(existing, bool):
                    raise self.fail(
                        ns.value_line("existing"),
                        "namespace.existing must be true or false",
                        "existing: true",
                    )
                problem = dns1123_label_problem(name, 63 if existing else MAX_NAME)
                if problem:
                    raise self.fail(ns.value_line("name"), f"namespace name {echo(name)} {problem}")
                if name in self.namespaces:
                    raise self.declared_twice(
                        ns.value_line("name"),
                        f"namespace {echo(name)}",
                        line_of(self.namespaces[name].source),
                        "remove one of them",
                    )
                labels: dict[str, str] = {}
                if ns.get("labels") is not None:
                    labels = self.labels(
                        ns["labels"], ns.value_line("labels"), f"namespace {echo(name)} labels"
                    )
                    if NAMESPACE_NAME_LABEL in labels:
                        raise self.fail(
                            ns["labels"].key_line(NAMESPACE_NAME_LABEL),
                            f"label {NAMESPACE_NAME_LABEL} is set by the API server",
                            "remove it: every namespace has it, with its (mapped) name",
                        )
                self.namespaces[name] = Namespace(name, labels, existing, Source(self.path, line))

    def workload_list(self, doc: YMap) -> None:
        items = self.section(doc, "workloads", "[{name: web, ...}]")
        known = (
            "name",
            "namespace",
            "labels",
            "selector",
            "service",
            "role",
            "ports",
            "serviceAccount",
        )
        for line, w, name in self.named_entries(items, "workloads", "workload", known, "web"):
            with self.collecting():
                problem = dns1035_label_problem(name)
                if problem:
                    raise self.fail(w.value_line("name"), f"workload name {echo(name)} {problem}")
                if name in RESERVED_NAMES:
                    raise self.fail(
                        w.value_line("name"), f"workload name {echo(name)} is reserved", "rename it"
                    )
                if name in self.workloads:
                    raise self.declared_twice(
                        w.value_line("name"),
                        f"workload {echo(name)}",
                        line_of(self.workloads[name].source),
                        "workload names must be unique in a scenario",
                    )
                what = f"workload {echo(name)}"
                self.required(w, "namespace", what, "app")
                namespace = self.string(w, "namespace", what)
                if namespace not in self.namespaces and not self.namespaces_ok:
                    continue  # its namespace entry is broken: already reported
                if namespace not in self.namespaces:
                    raise self.fail(
                        w.value_line("namespace"),
                        f"{what}: namespace {echo(namespace)} is not declared",
                        did_you_mean(namespace, self.namespaces, "declared namespaces"),
                    )
                selector, service = self.in_place_workload(w, what, namespace)
                if selector:
                    labels = dict(selector)
                else:
                    if self.namespaces[namespace].existing:
                        raise self.fail(
                            w.value_line("namespace"),
                            f"{what}: namespace {echo(namespace)} is existing and can hold no "
                            "probe workloads",
                            "put the workload in a namespace the scenario creates, or pick "
                            "existing pods with selector: {app: ...} (in place, docs/staging.md)",
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
                        f"{what}: role {echo(role)} is not known",
                        did_you_mean(str(role), ("client", "server", "both"), "roles"),
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
                account = service_account(self, self.accounts, w, what, namespace, selector)
                self.workloads[name] = Workload(
                    name,
                    namespace,
                    labels,
                    ports,
                    cast(Role, role),
                    Source(self.path, line),
                    selector=selector,
                    service=service,
                    service_account=account,
                )
        for name, wl in self.workloads.items():  # an account's labels, given on any workload
            if wl.service_account is not None:
                labels = self.accounts[(wl.namespace, wl.service_account)][0]
                self.workloads[name] = replace(wl, service_account_labels=labels)

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
                f"{what}: selector picks existing pods, but namespace {echo(namespace)} "
                f"(line {line_of(ns.source)}) is created by the scenario",
                f"mark namespace {echo(namespace)} existing: true "
                "(an in-place run creates nothing)",
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
            problem = dns1035_label_problem(service)
            if problem:
                raise self.fail(
                    w.value_line("service"), f"{what}: Service name {echo(service)} {problem}"
                )
        return selector, service

    def mode_matches(self, name: str, in_place: bool, line: int) -> None:
        """A scenario is either hermetic (labels:) or in place (selector:), never both."""
        for other in self.workloads.values():
            if other.in_place != in_place:
                kinds = {True: "picks existing pods (selector:)", False: "is a probe pod (labels:)"}
                raise self.fail(
                    line,
                    f"workload {echo(name)} {kinds[in_place]} but workload {echo(other.name)} "
                    f"(line {line_of(other.source)}) {kinds[other.in_place]}: "
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
                    f"namespace {echo(ns.name)} would be created, but this scenario probes "
                    "existing workloads (selector:) and an in-place run creates nothing",
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

    def external_list(self, doc: YMap) -> None:
        if doc.get("externals") is None:
            return
        items = self.listing(doc["externals"], doc.value_line("externals"), "externals")
        known = ("name", "address", "port", "protocol")
        entries = self.named_entries(items, "externals", "external", known, "payments-api")
        for line, e, name in entries:
            with self.collecting():
                problem = dns1123_label_problem(name)
                if problem:
                    raise self.fail(e.value_line("name"), f"external name {echo(name)} {problem}")
                if name in RESERVED_NAMES or name in self.workloads or name in self.externals:
                    raise self.fail(
                        e.value_line("name"),
                        f"external name {echo(name)} is already used "
                        "by a workload, an external or the harness",
                        "give the external a distinct name",
                    )
                what = f"external {echo(name)}"
                address = self.required(e, "address", what, "198.51.100.10")
                if not isinstance(address, str) or not _is_ip(address):
                    raise self.fail(
                        e.value_line("address"),
                        f"{what}: address {echo(address)} is not an IP address",
                        "use an IPv4 or IPv6 address such as 198.51.100.10",
                    )
                problem = _external_problem(address)
                if problem:
                    raise self.fail(
                        e.value_line("address"),
                        f"{what}: address {echo(address)} is {problem}, not outside the cluster",
                        "use the address of a host outside the cluster (in examples: "
                        "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)",
                    )
                port = self.port_number(
                    self.required(e, "port", what, "443"), e.value_line("port"), f"{what}: port"
                )
                protocol = self.protocol(
                    e.get("protocol", "TCP"), e.value_line("protocol"), f"{what}: protocol"
                )
                if protocol not in PROBED_PROTOCOLS:
                    raise self.fail(
                        e.value_line("protocol"),
                        f"{protocol} probes are not supported yet",
                        "use TCP or UDP",
                    )
                self.externals[name] = External(
                    name, address, port, protocol, Source(self.path, line)
                )


def _external_problem(text: str) -> str:
    """Why an address cannot be a target outside the cluster ('' when it can)."""
    addr = ipaddress.ip_address(text)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return "a loopback address (it would reach the probe pod itself)"
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_link_local:
        return "a link-local address (node-local, e.g. cloud metadata)"
    if addr.is_multicast:
        return "a multicast address"
    if isinstance(addr, ipaddress.IPv4Address) and addr == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    return ""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
