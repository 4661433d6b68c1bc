"""The ``steps:`` section of a scenario: a change, then what must flow, step by step.

A step deletes objects of earlier manifests, applies manifests (new objects, or new
versions of applied ones), and sets or removes labels of workloads and created
namespaces; then its cells are probed. Its cells are a whole matrix (``expect:``, as
at the top level), the previous step's cells with some changed (``changes:``), or,
with neither, the previous step's cells again. Every cell of a step carries the
step's name (``Cell.step``), so each is its own test item. :class:`StepSection` is a
part of the scenario loader (:mod:`harness.scenario.loader`); the user's format is
docs/scenarios.md ("Steps").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from typing import Literal

from harness.model import MANAGED_BY_LABEL
from harness.model import Cell
from harness.model import External
from harness.model import LabelChange
from harness.model import ManifestDoc
from harness.model import Namespace
from harness.model import Source
from harness.model import Step
from harness.model import Workload
from harness.model import object_identity as identity
from harness.scenario.cells import Cells
from harness.scenario.checker import RESERVED_LABEL_PREFIX
from harness.scenario.checker import did_you_mean
from harness.scenario.checker import dns1123_label_problem
from harness.scenario.checker import label_key_problem
from harness.scenario.manifests import ManifestSection
from harness.scenario.yamlload import YList
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo

#: The most steps one scenario may have.
MAX_STEPS = 50
STEP_KEYS = ("name", "description", "apply", "delete", "label", "expect", "changes")
_LABEL_KEYS = ("workload", "namespace", "set", "remove")
#: Step names that would read as something else in a test id.
_RESERVED = ("datapath",)

Identity = tuple[str, str, str, str]


class StepSection(ManifestSection):
    """Reads ``steps:``; needs the loader's namespaces, workloads and externals."""

    namespaces: dict[str, Namespace]
    workloads: dict[str, Workload]
    externals: dict[str, External]

    def step_list(
        self, doc: YMap, manifests: tuple[ManifestDoc, ...], cells: tuple[Cell, ...]
    ) -> tuple[tuple[Step, ...], tuple[Cell, ...]]:
        """(the steps, every step's cells) after the top level's ``manifests`` and ``cells``."""
        items = self.listing(doc["steps"], doc.value_line("steps"), "steps", nonempty=True)
        if len(items) > MAX_STEPS:
            raise self.fail(
                items.line,
                f"steps has {len(items)} entries, more than the limit of {MAX_STEPS}",
                "split the scenario into smaller ones",
            )
        applied: dict[Identity, ManifestDoc] = {identity(m.body): m for m in manifests}
        previous = {c.key: c for c in cells}
        names: dict[str, int] = {}
        steps: list[Step] = []
        out: list[Cell] = []
        for i, item in enumerate(items):
            line = items.item_line(i)
            what = f"steps[{i}]"
            entry = self.mapping(item, line, what)
            with self.collecting():
                self.keys(entry, STEP_KEYS, "a step")
            name = self.step_name(entry, what, names)
            names[name] = line
            what = f"step {echo(name)}"
            delete: tuple[ManifestDoc, ...] = ()
            apply: tuple[ManifestDoc, ...] = ()
            labels: tuple[LabelChange, ...] = ()
            with self.collecting():
                delete = self.manifest_list(entry, "delete", f"{what} delete")
                self.deletable(delete, applied, what, entry.value_line("delete") if delete else 0)
            with self.collecting():
                apply = self.manifest_list(entry, "apply", f"{what} apply")
            with self.collecting():
                labels = self.label_changes(entry, what)
            step_cells: dict[str, Cell] = {}
            with self.collecting():
                step_cells = self.step_cells(entry, i, what, previous)
            self.raise_collected()
            for m in delete:
                applied.pop(identity(m.body), None)
            for m in apply:
                applied[identity(m.body)] = m
            description = str(entry.get("description") or "")
            steps.append(Step(name, apply, delete, labels, description, Source(self.path, line)))
            out += [replace(step_cells[k], step=name) for k in sorted(step_cells)]
            previous = step_cells
        return tuple(steps), tuple(out)

    def step_name(self, entry: YMap, what: str, names: Mapping[str, int]) -> str:
        self.required(entry, "name", what, "allow-dns")
        name = self.string(entry, "name", "step")
        problem = dns1123_label_problem(name, 40)
        if problem:
            raise self.fail(entry.value_line("name"), f"step name {echo(name)} {problem}")
        if name in _RESERVED:
            raise self.fail(
                entry.value_line("name"), f"step name {echo(name)} is reserved", "rename it"
            )
        if name in names:
            raise self.declared_twice(
                entry.value_line("name"),
                f"step {echo(name)}",
                names[name],
                "step names must be unique in a scenario",
            )
        return name

    def deletable(
        self,
        delete: tuple[ManifestDoc, ...],
        applied: Mapping[Identity, ManifestDoc],
        what: str,
        line: int,
    ) -> None:
        """Every object a step deletes must have been applied before it (and not deleted)."""
        for m in delete:
            if identity(m.body) in applied:
                continue
            meta = m.body.get("metadata") or {}
            shown = (
                f"{meta.get('namespace')}/{meta.get('name')}"
                if meta.get("namespace")
                else meta.get("name")
            )
            raise self.fail(
                line,
                f"{what} deletes {m.body.get('kind')} {echo(shown)} ({m.source}), which no "
                "earlier step or the top-level manifests apply",
                "apply it first, or remove the file from delete:",
            )

    def label_changes(self, entry: YMap, what: str) -> tuple[LabelChange, ...]:
        if entry.get("label") is None:
            return ()
        items = self.listing(entry["label"], entry.value_line("label"), f"{what} label")
        out: list[LabelChange] = []
        for j, item in enumerate(items):
            line = items.item_line(j)
            where = f"{what} label[{j}]"
            with self.collecting():
                change = self.mapping(item, line, where)
                self.keys(change, _LABEL_KEYS, "a label change")
                target, name = self.label_target(change, where)
                labels: dict[str, str] = {}
                if change.get("set") is not None:
                    labels = self.labels(change["set"], change.value_line("set"), f"{where} set")
                remove = self.removed_keys(change, where)
                both = sorted(set(labels) & set(remove))
                if both:
                    raise self.fail(
                        line, f"{where} both sets and removes {echo(both[0])}", "keep one of them"
                    )
                if not labels and not remove:
                    raise self.fail(
                        line, f"{where} changes nothing", "add set: {...} or remove: [...]"
                    )
                out.append(LabelChange(target, name, labels, remove, Source(self.path, line)))
        return tuple(out)

    def label_target(
        self, change: YMap, where: str
    ) -> tuple[Literal["workload", "namespace"], str]:
        given = [k for k in ("workload", "namespace") if k in change]
        if len(given) != 1:
            raise self.fail(
                change.line,
                f"{where} needs exactly one of workload: or namespace:",
                "e.g. {workload: api, set: {tier: backend}}",
            )
        target: Literal["workload", "namespace"] = (
            "workload" if given[0] == "workload" else "namespace"
        )
        name = self.string(change, target, where)
        known: Mapping[str, Any] = self.workloads if target == "workload" else self.namespaces
        if name not in known:
            raise self.fail(
                change.value_line(target),
                f"{where}: {target} {echo(name)} is not declared",
                did_you_mean(name, known, f"declared {target}s"),
            )
        if target == "namespace" and self.namespaces[name].existing:
            raise self.fail(
                change.value_line(target),
                f"{where}: namespace {echo(name)} is existing; the harness changes only the "
                "namespaces it creates",
                "relabel a namespace the scenario creates",
            )
        return target, name

    def removed_keys(self, change: YMap, where: str) -> tuple[str, ...]:
        if change.get("remove") is None:
            return ()
        keys: YList = self.listing(change["remove"], change.value_line("remove"), f"{where} remove")
        out: list[str] = []
        for k, key in enumerate(keys):
            problem = label_key_problem(key)
            if not problem and (
                key == MANAGED_BY_LABEL or str(key).startswith(RESERVED_LABEL_PREFIX)
            ):
                problem = "is set by the harness"
            if problem:
                raise self.fail(
                    keys.item_line(k),
                    f"{where} remove: label key {echo(key)} {problem}",
                    "remove only labels the scenario gave",
                )
            out.append(str(key))
        return tuple(out)

    def step_cells(
        self, entry: YMap, i: int, what: str, previous: Mapping[str, Cell]
    ) -> dict[str, Cell]:
        """The step's cells by key (without the step name): whole, changed, or as before."""
        if "expect" in entry and "changes" in entry:
            raise self.fail(
                entry.key_line("changes"),
                f"{what} has both expect: and changes:",
                "give the whole matrix (expect:) or what differs from the step before (changes:)",
            )
        cells = Cells(self.path, self.workloads, self.externals)
        if "expect" in entry:
            return {c.key: c for c in cells.expect(entry, "expect", what, f"{what} expect")}
        if not previous:
            raise self.fail(
                entry.line,
                f"{what} has no expect:, and nothing comes before it to keep or change",
                "give this step a whole matrix: expect: {default: deny, allow: [...]}",
            )
        if "changes" not in entry:
            return dict(previous)
        changed = {c.key: c for c in cells.expect(entry, "changes", what, f"{what} changes")}
        if not changed:
            raise self.fail(
                entry.value_line("changes"),
                f"{what} changes: lists no cell",
                "list the cells that differ, or leave changes: out to keep the step before",
            )
        same = [k for k, c in changed.items() if k in previous and previous[k].expect == c.expect]
        if same:
            first = changed[same[0]]
            raise self.fail(
                first.where.line if first.where else entry.line,
                f"{what} changes {same[0]} to {first.expect}, which it already is",
                "remove it from changes: (only what differs from the step before)",
            )
        return {**previous, **changed}
