"""Collection and running: a ``*.netpol.yaml`` file, one test item per matrix cell.

``ScenarioFile`` loads and validates a scenario (a ScenarioError shows as one
``path:line: message (fix: ...)`` line); ``CellItem`` is one cell, named like
``web->api:8080/TCP[allow]``. Running a cell: ``--netpol-static`` asks
:mod:`harness.policy.static`; otherwise the live session gives a Verdict, and a
Verdict with status ERROR is an ERROR of the item (never a FAIL).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import plan as planning
from harness.errors import ConfigError
from harness.errors import HarnessError
from harness.errors import NotFound
from harness.errors import ScenarioError
from harness.model import Cell
from harness.model import Outcome
from harness.model import Plan
from harness.model import Scenario
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict
from harness.options import NetpolOptions
from harness.plugin.gate import live_session
from harness.plugin.gate import skip
from harness.plugin.options import cluster_configured
from harness.plugin.options import options_of
from harness.policy import static
from harness.policy.model import extended_kinds
from harness.scenario.loader import load

#: Said when a live run has no cluster to run against (a usage error unless opted out).
NO_CLUSTER = (
    "netpol: no cluster configured: point at one with --netpol-kubeconfig PATH (or "
    "--netpol-context NAME, or KUBECONFIG), run `make demo` for the local sandbox, or "
    "use --netpol-static to check the policies without a cluster "
    "(--netpol-allow-no-cluster skips the cells instead, for IDE discovery)"
)
STATIC_RUN_ID = "static"
#: --netpol-static: scenario name -> (its plan, the predicted verdicts by cell key).
STATIC_KEY = pytest.StashKey[dict[str, tuple[Plan, dict[str, Verdict]]]]()


def skip_reason(scenario: Scenario, options: NetpolOptions) -> str:
    """Why this run skips the scenario's cells ("" when it runs them).

    One rule for the cells and for the scenarios a process prefetches: a skipped
    scenario is never deployed.
    """
    if scenario.in_place and not options.in_place:
        return (
            "in-place scenario (existing pods, selector:): run it with --netpol-in-place "
            "against the cluster that runs them (docs/staging.md)"
        )
    if options.static:
        return ""
    docs = [*scenario.manifests, *(doc for step in scenario.steps for doc in step.apply)]
    unserved = [k for k in extended_kinds(doc.body for doc in docs) if not _served(options, k)]
    if unserved:
        return (
            f"applies {', '.join(unserved)}, which the cluster does not serve (the sandbox "
            "serves them; on kind, scripts/kind-up installs Calico with its "
            "projectcalico.org/v3 CRDs): check it with --netpol-static (docs/calico.md)"
        )
    return ""


#: (kubeconfig, context, "apiVersion kind") -> whether the cluster serves it.
_SERVED: dict[tuple[str, str, str], bool] = {}
#: (kubeconfig, context) -> the client asked (one a process: discovery is cached in it).
_CLUSTERS: dict[tuple[str, str], Any] = {}


def _served(options: NetpolOptions, kind: str) -> bool:
    """Whether the live cluster serves ``kind`` ("apiVersion Kind"), asked once a process.

    A Calico or cluster-wide policy kind runs live where the cluster serves it (the
    sandbox; kind with Calico's v3 CRDs); where it does not (e.g. Calico 3.32 and the
    v1alpha1 AdminNetworkPolicy), its scenarios are skipped. A cluster that cannot be
    asked counts as serving it: the run then says why it failed.
    """
    key = (options.kubeconfig or "", options.context or "", kind)
    if key not in _SERVED:
        if not cluster_configured(options):
            return False
        from harness.live.cluster import Cluster

        api_version, _, name = kind.partition(" ")
        cluster = _CLUSTERS.get(key[:2])
        if cluster is None:
            try:
                cluster = Cluster(kubeconfig=options.kubeconfig, context=options.context)
            except HarnessError:
                return True  # the live run reports the kubeconfig problem itself
            _CLUSTERS[key[:2]] = cluster
        try:
            cluster.kind_of(api_version, name)
            _SERVED[key] = True
        except (ConfigError, NotFound):  # discovery: the group, version or kind is not served
            _SERVED[key] = False
        except HarnessError:
            _SERVED[key] = True
    return _SERVED[key]


def record_static(config: pytest.Config, plan: Plan, verdict: Verdict) -> None:
    store = config.stash.setdefault(STATIC_KEY, {})
    store.setdefault(plan.scenario.name, (plan, {}))[1][verdict.probe.cell.key] = verdict


def static_results(config: pytest.Config) -> list[ScenarioResult]:
    """The static verdicts of this process as results, for the reports.

    In the order a live run probes them (a multi-step scenario: step by step).
    """
    results = []
    for plan, verdicts in config.stash.get(STATIC_KEY, {}).values():
        order = [p.cell.key for _, state in plan.stages() for p in state.probes]
        results.append(ScenarioResult(plan, tuple(verdicts[k] for k in order if k in verdicts)))
    return results


STATIC_CREATED = "1970-01-01T00:00:00Z"
#: scenario name -> the file that uses it (names must be unique in a run).
NAMES_KEY = pytest.StashKey[dict[str, str]]()


def _shown(config: pytest.Config, path: Path) -> str:
    for base in (config.invocation_params.dir, config.rootpath):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


class ScenarioFile(pytest.File):
    """One ``*.netpol.yaml`` file."""

    scenario: Scenario | None = None
    _plan: Plan | None = None

    def collect(self) -> Iterator[pytest.Item]:
        shown = _shown(self.config, self.path)
        scenario = load(self.path, shown=shown)
        names = self.config.stash.get(NAMES_KEY, {})
        if names.get(scenario.name, shown) != shown:
            raise ScenarioError(
                shown,
                _name_line(self.path, scenario.name),
                f"scenario name {scenario.name!r} is also used by {names[scenario.name]}",
                "scenario names must be unique: rename one",
            )
        names[scenario.name] = shown
        if options_of(self.config).in_place and not scenario.in_place:
            first = scenario.workloads[0].source if scenario.workloads else None
            raise ScenarioError(
                shown,
                first.line if first else None,
                f"scenario {scenario.name!r} deploys probe workloads (labels:), but "
                "--netpol-in-place creates and applies nothing",
                "run it without --netpol-in-place, or pick existing pods with selector: "
                "in existing namespaces (docs/staging.md)",
            )
        self.scenario = scenario
        for cell in scenario.cells:
            name = f"{cell.key}[{cell.expect}]"
            # The nodeid is given as a string: pytest 9 parses the trailing "[...]" as the
            # item's params (as for parametrized tests); derived from the name instead it
            # would not match the ids --lf/--ff read back from the cache.
            item: CellItem = CellItem.from_parent(
                self, name=name, nodeid=f"{self.nodeid}::{name}", scenario=scenario, cell=cell
            )
            item.add_marker(pytest.mark.xdist_group(scenario.name))
            yield item

    def static_plan(self) -> Plan:
        if self._plan is None:
            assert self.scenario is not None
            options = options_of(self.config)
            self._plan = planning.build(
                self.scenario, STATIC_RUN_ID, images=options.images, created=STATIC_CREATED
            )
        return self._plan

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, HarnessError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


_NEAR_MISS = re.compile(r"\.netpol[._-]?(ya?ml)([._~-].*)?$|\.netpol\.?$", re.IGNORECASE)


def near_miss(file_path: Path) -> str | None:
    """A warning for a file named almost like a scenario (``x.netpol.yml``), else None.

    Only ``*.netpol.yaml`` files are collected; a near miss would be skipped without a
    word, and its cells never run.
    """
    name = file_path.name
    if name.endswith(".netpol.yaml"):
        return None
    m = _NEAR_MISS.search(name)
    if m is None:
        return None
    stem = name[: m.start()]
    return (
        f"{file_path}: not collected: only *.netpol.yaml files are scenario files "
        f"(fix: rename it to {stem}.netpol.yaml if it is a scenario)"
    )


def warn_near_miss(file_path: Path, parent: pytest.Collector) -> None:
    """Say so at collection when a file looks like a scenario but is not named like one."""
    text = near_miss(file_path)
    if text is not None:
        parent.warn(pytest.PytestCollectionWarning(text))


def _name_line(path: Path, name: str) -> int | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    pattern = re.compile(rf"\bname:\s*['\"]?{re.escape(name)}(?![-a-z0-9])")
    return next((i + 1 for i, text in enumerate(lines) if pattern.search(text)), None)


# ---------------------------------------------------------------- running


class CellFailed(AssertionError):
    """The network disagreed with the expected allow/deny."""


class CellInfraError(HarnessError):
    """No verdict could be reached (exec broke, the cluster failed): an ERROR, not a FAIL."""


class CellItem(pytest.Item):
    """One expected-allow or expected-deny cell."""

    def __init__(self, *, scenario: Scenario, cell: Cell, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.cell = cell
        self.verdict: Verdict | None = None
        self.user_properties.append(("scenario", scenario.name))
        self.user_properties.append(("expect", cell.expect))
        self.user_properties.append(("cell", cell.key))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.cell.where.line - 1 if self.cell.where else None
        return self.path, line, f"{self.scenario.name}::{self.name}"

    def rerun_command(self) -> str:
        """The pytest command, from the directory pytest was started in, that reruns this cell.

        It carries the cluster selection and mode of this run, so it works when copied.
        """
        options = options_of(self.config)
        parts = ["pytest"]
        if options.static:
            parts.append("--netpol-static")
        else:
            if options.kubeconfig:
                parts.append(f"--netpol-kubeconfig {shlex.quote(options.kubeconfig)}")
            if options.context:
                parts.append(f"--netpol-context {shlex.quote(options.context)}")
            if options.in_place:
                parts.append("--netpol-in-place")
        parts.append(shlex.quote(f"{_shown(self.config, self.path)}::{self.name}"))
        return " ".join(parts)

    def setup(self) -> None:
        options = options_of(self.config)
        reason = skip_reason(self.scenario, options)
        if reason:
            skip(reason)
        if options.static:
            return
        if not cluster_configured(options):
            if options.allow_no_cluster:
                skip(f"{NO_CLUSTER} (skipped: --netpol-allow-no-cluster)")
            pytest.exit(NO_CLUSTER, returncode=pytest.ExitCode.USAGE_ERROR)
        session = live_session(self.config, options)
        verdict = session.verdict_for(self.scenario, self.cell)
        self.verdict = verdict
        if verdict.status is Status.ERROR:
            raise CellInfraError(
                f"{self.cell.key}: no verdict (infrastructure): "
                f"{verdict.detail or verdict.observed}" + f"\nrerun: {self.rerun_command()}"
            )

    def runtest(self) -> None:
        options = options_of(self.config)
        if options.static:
            self._run_static()
            return
        verdict = self.verdict
        assert verdict is not None
        if verdict.status is Status.FAIL:
            raise CellFailed(self._describe_failure(verdict))

    def _run_static(self) -> None:
        parent = self.parent
        assert isinstance(parent, ScenarioFile)
        plan = parent.static_plan()
        probe = next(p for p in plan.probes if p.cell == self.cell)
        # check_cell(plan, probe) -> (does the expectation hold?, explanation)
        holds, explanation = static.check_cell(plan, probe)
        allowed = holds == (self.cell.expect == "allow")
        self.verdict = Verdict(
            probe,
            Status.PASS if holds else Status.FAIL,
            Outcome.CONNECTED if allowed else Outcome.DROPPED,
            tries=0,
            seconds=0.0,
            detail="predicted by the policy engine (--netpol-static)",
            explanation=explanation,
        )
        record_static(self.config, plan, self.verdict)
        if not holds:
            raise CellFailed(
                f"{self.cell.key}: expected {self.cell.expect}, the policies predict otherwise\n"
                f"{explanation}\n"
                f"rerun: {self.rerun_command()}"
            )

    def _describe_failure(self, verdict: Verdict) -> str:
        lines = [
            f"{self.cell.key}: expected {self.cell.expect}, observed {verdict.observed}"
            + (f" ({verdict.detail})" if verdict.detail else ""),
            f"tries: {verdict.tries} in {verdict.seconds:.1f}s",
        ]
        if verdict.explanation:
            lines.append(f"explanation: {verdict.explanation}")
        if verdict.rerun:
            lines.append(f"probe: {verdict.rerun}")
        lines.append(f"rerun: {self.rerun_command()}")
        return "\n".join(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CellFailed | HarnessError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)
