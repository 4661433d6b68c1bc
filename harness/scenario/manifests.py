"""The ``manifests:`` section of a scenario: the files it applies, read and validated.

Each listed file must stay inside the project root (:func:`find_root`), exist, and fit
the size limits; every object in it is validated as the API server would
(:mod:`harness.scenario.k8svalidate`), must be namespaced in a declared namespace, and
must not be defined twice. :class:`ManifestSection` is a part of the scenario loader
(:mod:`harness.scenario.loader`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness import placeholders
from harness.errors import ScenarioError
from harness.model import ManifestDoc
from harness.model import Namespace
from harness.model import Source
from harness.model import Workload
from harness.model import object_identity as identity
from harness.scenario import k8svalidate
from harness.scenario.checker import ScenarioChecker
from harness.scenario.checker import did_you_mean
from harness.scenario.checker import type_name
from harness.scenario.yamlload import YList
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo
from harness.scenario.yamlload import escape
from harness.scenario.yamlload import load_all
from harness.scenario.yamlload import read_bytes
from harness.scenario.yamlload import stat_problem
from harness.scenario.yamlload import to_plain

#: Bounds on what one scenario may apply (a scenario this big is a mistake or an attack).
MAX_MANIFEST_FILES = 100
MAX_MANIFEST_OBJECTS = 2000
MAX_MANIFEST_BYTES = 8 * 1024 * 1024


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding pyproject.toml or .git, else start."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / "pyproject.toml").exists() or (directory / ".git").exists():
            return directory
    return start


class ManifestSection(ScenarioChecker):
    """The scenario loader's manifests: section (its namespaces are read first)."""

    base_dir: Path
    namespaces: dict[str, Namespace]
    workloads: dict[str, Workload]

    def manifest_list(
        self, doc: YMap, key: str = "manifests", name: str = ""
    ) -> tuple[ManifestDoc, ...]:
        """The objects of the files listed in ``doc[key]`` (``manifests``, a step's
        ``apply`` or ``delete``; ``name`` is the list as messages call it)."""
        name = name or key
        if doc.get(key) is None:
            return ()
        items = self.listing(doc[key], doc.value_line(key), name)
        limit = MAX_MANIFEST_FILES
        if len(items) > limit:
            raise self.fail(
                items.line,
                f"{name} lists {len(items)} files, more than the limit of {limit}",
                "merge them into fewer files, or split the scenario",
            )
        root = find_root(self.base_dir)
        out: list[ManifestDoc] = []
        files: dict[Path, int] = {}  # resolved file -> line of its first listing
        objects: dict[tuple[str, str, str, str], Source] = {}  # identity -> where
        total = 0
        for i, item in enumerate(items):
            line = items.item_line(i)
            with self.collecting():
                resolved, shown = self.manifest_path(item, f"{name}[{i}]", line, root)
                if resolved in files:
                    raise self.fail(
                        line,
                        f"manifest {echo(item)} is listed twice (first at line {files[resolved]})",
                        "remove one of them (it would be applied twice)",
                    )
                files[resolved] = line
                data = read_bytes(resolved, shown, line=line, owner=self.path)
                total += len(data)
                if total > MAX_MANIFEST_BYTES:
                    raise self.fail(
                        line,
                        f"the manifests of this scenario are larger than "
                        f"{MAX_MANIFEST_BYTES // (1024 * 1024)} MiB together",
                        "apply fewer or smaller manifests",
                    )
                docs = load_all(data, shown)
                if not docs:
                    raise self.fail(
                        line, f"manifest {echo(item)} holds no objects", "remove it or add objects"
                    )
                if len(out) + len(docs) > MAX_MANIFEST_OBJECTS:
                    raise self.fail(
                        line,
                        f"the manifests hold more than {MAX_MANIFEST_OBJECTS} objects",
                        "apply fewer objects, or split the scenario",
                    )
                checker = ScenarioChecker(shown)
                for body in docs:
                    with checker.collecting():
                        manifest = self.manifest_doc(body, shown)
                        self.check_unique(manifest, objects)
                        out.append(manifest)
                checker.raise_collected()
        return tuple(out)

    def manifest_path(self, item: Any, entry: str, line: int, root: Path) -> tuple[Path, str]:
        """The resolved file of list entry ``entry`` (``manifests[2]``), its name for messages."""
        if not isinstance(item, str) or not item.strip():
            raise self.fail(
                line,
                f"{entry} must be a file path, got {type_name(item)}",
                "e.g. - ../manifests/policies.yaml",
            )
        if "\x00" in item:
            raise self.fail(line, f"manifest path {echo(item)} holds a NUL character")
        candidate = Path(item) if os.path.isabs(item) else self.base_dir / item
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):  # a symbolic link loop (RuntimeError before 3.13)
            raise self.fail(
                line, f"manifest {echo(item)} is a symbolic link loop", "point it at a real file"
            ) from None
        if not resolved.is_relative_to(root):
            raise self.fail(
                line,
                f"manifest path {echo(item)} leaves the project root {escape(str(root))}",
                "keep manifests inside the directory that holds pyproject.toml or .git",
            )
        problem = stat_problem(resolved)
        if problem:
            fix = ""
            if problem == "does not exist" and resolved.parent.is_dir():
                try:
                    names = sorted(p.name for p in resolved.parent.iterdir())
                except OSError:
                    names = []
                fix = did_you_mean(resolved.name, names, "files there")
            raise self.fail(
                line,
                f"manifest {echo(item)} {problem}",
                fix or "check the path (relative to this file)",
            )
        shown = os.path.normpath(os.path.join(os.path.dirname(self.path), item))
        return resolved, shown

    @staticmethod
    def check_unique(manifest: ManifestDoc, seen: dict[tuple[str, str, str, str], Source]) -> None:
        """Two objects with the same group, kind, namespace and name: the second would win."""
        key = identity(manifest.body)
        where = manifest.source
        first = seen.get(key)
        if first is not None:
            assert where is not None
            ns = f"{key[2]}/" if key[2] else ""
            raise ScenarioError(
                where.path,
                where.line,
                f"{escape(key[1])} {echo(ns + key[3])} is defined twice "
                f"(first at {first.path}:{first.line}); applied in order, the second would "
                "silently replace the first",
                "keep one definition, or rename one of them",
            )
        if where is not None:
            seen[key] = where

    def manifest_doc(self, body: Any, shown: str) -> ManifestDoc:
        line = getattr(body, "line", 1)
        # Run-time values (${podIP:web}, ...) are checked, then validated as stand-ins.
        written = self.stand_ins(body, shown)
        k8svalidate.validate(body, shown, line)
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
        if kind not in k8svalidate.CLUSTER_SCOPED_KINDS:
            namespace = meta.get("namespace")
            if namespace is None:
                created = [n.name for n in self.namespaces.values() if not n.existing]
                if len(created) != 1:
                    raise ScenarioError(
                        shown,
                        line,
                        f"{kind} {echo(name)} has no metadata.namespace and the scenario "
                        f"creates {len(created)} namespaces",
                        f"set metadata.namespace to one of: {', '.join(self.namespaces)}",
                    )
                plain["metadata"]["namespace"] = created[0]
            elif namespace not in self.namespaces:
                raise ScenarioError(
                    shown,
                    meta.value_line("namespace"),
                    f"namespace {echo(namespace)} of {kind} {echo(name)} "
                    f"is not declared in the scenario {self.path}",
                    did_you_mean(namespace, self.namespaces, "declared namespaces"),
                )
        for path, text in written:
            _put(plain, path, text)
        return ManifestDoc(plain, Source(shown, line))

    def stand_ins(self, body: Any, shown: str) -> list[tuple[tuple[Any, ...], str]]:
        """Check every placeholder in ``body``'s string values and put a stand-in value
        in its place (in ``body``, for validation); (path, text as written) of each."""
        facts = placeholders.stand_in(list(self.workloads), list(self.namespaces))
        written: list[tuple[tuple[Any, ...], str]] = []
        checker = ScenarioChecker(shown)

        def visit(node: Any, path: tuple[Any, ...]) -> None:
            items = node.items() if isinstance(node, YMap) else enumerate(node)
            for key, value in list(items):
                where = (*path, key)
                if isinstance(value, YMap | YList):
                    visit(value, where)
                    continue
                if not isinstance(value, str) or "${" not in value:
                    continue
                at = node.value_line(key) if isinstance(node, YMap) else node.item_line(key)
                with checker.collecting():
                    self.placeholder_value(value, where, at, shown)
                    node[key] = placeholders.substitute(
                        value, lambda p: placeholders.value(p, facts)
                    )
                    written.append((where, value))

        if isinstance(body, YMap):
            visit(body, ())
        checker.raise_collected()
        return written

    def placeholder_value(self, text: str, path: tuple[Any, ...], line: int, shown: str) -> None:
        for p in placeholders.found(text):
            if path in _FIXED_FIELDS:
                raise ScenarioError(
                    shown,
                    line,
                    f"{'.'.join(map(str, path))} cannot hold a placeholder ({p.text}): the "
                    "object's identity must be known before the run",
                    "write the name itself (namespaces are mapped to the run's by the harness)",
                )
            why = placeholders.problem(p, list(self.workloads), list(self.namespaces))
            if why:
                raise ScenarioError(shown, line, why, "see docs/scenarios.md, Run-time values")


#: Fields that name the object: no run-time values there.
_FIXED_FIELDS = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}


def _put(plain: Any, path: tuple[Any, ...], value: str) -> None:
    node = plain
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
