"""harness.live.LiveSession with a fake cluster (real scenario loading and planning)."""

from __future__ import annotations

import io
import os
import signal
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from harness.live.runner import RunSettings
from harness.model import Scenario
from harness.model import Status
from harness.options import NetpolOptions
from tests.live.fakes import CONNECTED
from tests.live.fakes import DROPPED
from tests.live.fakes import FakeCluster
from tests.live.fakes import Probed

SCENARIO = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata:
  name: {name}
settings:
  connectTimeout: 1s
  convergence: 3s
namespaces:
  - name: shop
workloads:
  - name: web
    namespace: shop
    labels: {{app: web}}
    role: client
  - name: db
    namespace: shop
    labels: {{app: db}}
    ports: [5432]
manifests:
  - policy.yaml
expect:
  allow:
    - web -> db:5432
"""

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-from-web
  namespace: shop
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
"""


def _scenario(tmp_path: Path, name: str = "tiny") -> Scenario:
    from harness.scenario.loader import load

    (tmp_path / "policy.yaml").write_text(POLICY)
    path = tmp_path / f"{name}.netpol.yaml"
    path.write_text(SCENARIO.format(name=name))
    return load(path)


def _session(cluster: FakeCluster, **kw: Any) -> Any:
    from harness.live.session import LiveSession

    settings = RunSettings(round_interval=0.0, datapath_timeout=0.0, settle=0.0, settle_floor=0.0)
    return LiveSession(
        NetpolOptions(**kw),
        cluster_factory=lambda: cluster,
        settings=settings,
        testrun_uid="uid1",
        worker_id="gw0",
        install_signal_handler=False,
        out=io.StringIO(),
    )


def test_first_cell_runs_the_scenario_once_and_caches(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)
    cluster = FakeCluster()
    session = _session(cluster)
    try:
        cell = scenario.cells[0]
        verdict = session.verdict_for(scenario, cell)
        assert verdict.status is Status.PASS
        assert verdict.probe.cell == cell
        execs = len(cluster.execs)
        assert session.verdict_for(scenario, cell) is verdict
        assert len(cluster.execs) == execs  # cached, not probed again
        assert [r.plan.scenario.name for r in session.results()] == ["tiny"]
        run_id = session.results()[0].plan.run_id
        ns = next(o for o in cluster.created if o["kind"] == "Namespace")
        assert ns["metadata"]["name"] == f"shop-{run_id}"
    finally:
        session.close()
    assert cluster.deleted_runs == [run_id]


def test_scenarios_get_distinct_run_ids(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _scenario(tmp_path / "a", "alpha")
    b = _scenario(tmp_path / "b", "beta")
    session = _session(FakeCluster())
    try:
        assert session.run_id_for(a) != session.run_id_for(b)
        assert session.run_id_for(a) == session.run_id_for(a)
    finally:
        session.close()


def test_keep_prints_the_delete_command_and_deletes_nothing(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)
    cluster = FakeCluster()
    out = io.StringIO()
    from harness.live.session import LiveSession

    session = LiveSession(
        NetpolOptions(keep=True),
        cluster_factory=lambda: cluster,
        settings=RunSettings(round_interval=0.0, settle=0.0, settle_floor=0.0),
        install_signal_handler=False,
        out=out,
    )
    session.verdict_for(scenario, scenario.cells[0])
    session.close()
    run_id = session.results()[0].plan.run_id
    assert cluster.deleted_runs == []
    assert f"kubectl delete namespace -l netpol-harness.dev/run={run_id}" in out.getvalue()


def test_wrong_expectation_fails_with_explanation(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)

    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if p.port == 5432 else CONNECTED

    session = _session(FakeCluster(network=net))
    try:
        verdict = session.verdict_for(scenario, scenario.cells[0])
    finally:
        session.close()
    assert verdict.status is Status.FAIL
    assert verdict.tries >= 2  # re-probed within the 3 s convergence budget
    assert "allows it" in verdict.explanation  # the engine disagrees with the network
    assert verdict.rerun.startswith("kubectl exec -n shop-")


def test_failure_in_setup_still_cleans_up(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)
    cluster = FakeCluster(fail_create_kind="Pod")
    session = _session(cluster)
    verdict = session.verdict_for(scenario, scenario.cells[0])
    session.close()
    assert verdict.status is Status.ERROR
    assert "PodSecurity" in verdict.detail
    assert len(cluster.deleted_runs) == 1


def test_sigterm_becomes_keyboard_interrupt_and_is_restored() -> None:
    from harness.live.session import LiveSession

    before = signal.getsignal(signal.SIGTERM)
    session = LiveSession(cluster_factory=FakeCluster, out=io.StringIO())
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this at once
    finally:
        session.close()
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_session_takes_its_settings_from_the_options_object() -> None:
    from harness.live.session import LiveSession

    options = NetpolOptions(
        kubeconfig="/tmp/kc",
        keep=True,
        concurrency=4,
        connect_timeout=0.5,
        convergence=10.0,
        client_image="registry.local/curl:1",
    )
    base = RunSettings(round_interval=0.25, connect_timeout=3.0, convergence=99.0)
    session = LiveSession(options, settings=base, testrun_uid="abc", install_signal_handler=False)
    try:
        assert session.options is options
        assert session.keep is True
        assert session.settings.concurrency == 4
        assert session.settings.connect_timeout == 0.5
        assert session.settings.convergence == 10.0
        assert session.settings.round_interval == 0.25  # the base settings are kept
        assert session.images.client == "registry.local/curl:1"
        assert session.testrun_uid == "abc"
    finally:
        session.close()
    unset = LiveSession(NetpolOptions(), settings=base, install_signal_handler=False)
    try:
        assert unset.settings.connect_timeout == 3.0  # None in the options keeps the base
        assert unset.settings.convergence == 99.0
    finally:
        unset.close()


def test_objects_in_existing_namespaces_are_deleted_one_by_one(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(
        POLICY
        + "---\n"
        + POLICY.replace(
            "name: db-from-web\n  namespace: shop", "name: dns-guard\n  namespace: kube-system"
        )
    )
    text = SCENARIO.format(name="existing").replace(
        "  - name: shop\n", "  - name: shop\n  - name: kube-system\n    existing: true\n"
    )
    path = tmp_path / "existing.netpol.yaml"
    path.write_text(text)
    from harness.scenario.loader import load

    scenario = load(path)
    cluster = FakeCluster()
    session = _session(cluster)
    session.verdict_for(scenario, scenario.cells[0])
    session.close()
    deleted = [(r.kind, r.namespace, r.name) for r in cluster.deleted]
    assert deleted == [("NetworkPolicy", "kube-system", "dns-guard")]
    assert len(cluster.deleted_runs) == 1


@dataclass
class _TimedCluster(FakeCluster):
    """Exec calls take real time; each scenario's (first start, last end) is recorded."""

    spans: dict[str, list[float]] = field(default_factory=dict)

    def exec(self, namespace: str, pod: str, command: Any, **kw: Any) -> Any:
        scenario = namespace.split("-")[0]
        start = time.monotonic()
        time.sleep(0.15)
        with self._lock:
            span = self.spans.setdefault(scenario, [start, start])
            span[1] = max(span[1], time.monotonic())
        return super().exec(namespace, pod, command, **kw)


def _three(tmp_path: Path) -> list[Scenario]:
    out = []
    for name in ("alpha", "beta", "gamma"):
        (tmp_path / name).mkdir()
        text = SCENARIO.format(name=name).replace("name: shop", f"name: {name}")
        text = text.replace("namespace: shop", f"namespace: {name}")
        (tmp_path / name / "policy.yaml").write_text(POLICY.replace("shop", name))
        path = tmp_path / name / f"{name}.netpol.yaml"
        path.write_text(text)
        from harness.scenario.loader import load

        out.append(load(path))
    return out


@pytest.mark.parametrize(("parallel", "overlap"), [(3, True), (1, False)])
def test_prefetched_scenarios_run_at_the_same_time(
    tmp_path: Path, parallel: int, overlap: bool
) -> None:
    from harness.live.session import LiveSession

    scenarios = _three(tmp_path)
    cluster = _TimedCluster()
    session = LiveSession(
        NetpolOptions(parallel_scenarios=parallel),
        cluster_factory=lambda: cluster,
        settings=RunSettings(round_interval=0.0, datapath_timeout=0.0, confirm="none"),
        install_signal_handler=False,
        out=io.StringIO(),
    )
    try:
        session.prefetch(scenarios)
        for scenario in scenarios:
            assert session.verdict_for(scenario, scenario.cells[0]).status is Status.PASS
    finally:
        session.close()
    spans = [cluster.spans[s.name] for s in scenarios]
    together = max(start for start, _ in spans) < min(end for _, end in spans)
    assert together is overlap, spans


def test_a_multi_step_scenario_starts_first(tmp_path: Path) -> None:
    # One at a time, handed over as alpha, beta, gamma: beta has a step (it converges
    # twice, one after the other), so it starts first; the others keep their order.
    from harness.live.session import LiveSession
    from harness.scenario.loader import load

    alpha, beta, gamma = _three(tmp_path)
    path = Path(beta.path)
    path.write_text(path.read_text() + "steps:\n  - name: again\n")
    beta = load(path)
    assert len(beta.steps) == 1
    cluster = _TimedCluster()
    session = LiveSession(
        NetpolOptions(parallel_scenarios=1),
        cluster_factory=lambda: cluster,
        settings=RunSettings(round_interval=0.0, datapath_timeout=0.0, confirm="none"),
        install_signal_handler=False,
        out=io.StringIO(),
    )
    try:
        session.prefetch([alpha, beta, gamma])
        for scenario in (alpha, beta, gamma):
            assert session.verdict_for(scenario, scenario.cells[0]).status is Status.PASS
    finally:
        session.close()
    started = sorted(cluster.spans, key=lambda name: cluster.spans[name][0])
    assert started == ["beta", "alpha", "gamma"], cluster.spans


def test_progress_names_each_phase_and_the_end(tmp_path: Path) -> None:
    from harness.live.session import LiveSession

    scenario = _scenario(tmp_path)
    lines: list[str] = []
    session = LiveSession(
        NetpolOptions(),
        cluster_factory=FakeCluster,
        settings=RunSettings(
            round_interval=0.0, datapath_timeout=0.0, settle=0.0, settle_floor=0.0
        ),
        install_signal_handler=False,
        out=io.StringIO(),
        progress=lines.append,
    )
    try:
        session.run_scenario(scenario)
    finally:
        session.close()
    text = "\n".join(lines)
    for phase in ("deploying", "pods ready", "data path proven", "policies applied", "done in"):
        assert f"tiny: {phase}" in text or phase in text, text
    assert lines[-1].startswith("tiny: done in ")
