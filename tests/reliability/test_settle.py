"""A slow CNI must not turn a wrong allow into a PASS (the fault campaign's second finding).

An allow-only scenario whose policy actually denies the cell: until the CNI programs
the policy (3 s here) the probe connects. The first round and an immediate confirmation
both connect, so the runner used to PASS it; a confirmation now counts only once
``settle`` seconds have passed since the apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings
from harness.model import Status
from tests.live.factory import make_plan
from tests.live.fakes import CONNECTED
from tests.live.fakes import DROPPED
from tests.live.fakes import FakeClock
from tests.live.fakes import FakeCluster
from tests.live.fakes import Probed

POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny-db", "namespace": "ns-r1"},
    "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]},
}
CELLS: list[tuple[str, str, int, Any]] = [("web", "db", 5432, "allow")]  # wrong: denied


def run(programming_delay: float, **settings: Any) -> Any:
    clock = FakeClock()
    applied: list[float] = []

    def network(p: Probed, round_no: int) -> tuple[int, str]:
        if not applied:
            applied.append(clock.now)
        programmed = clock.now - applied[0] >= programming_delay
        return DROPPED if programmed else CONNECTED

    cluster = FakeCluster(network=network, clock=clock, exec_seconds=0.05)
    runner = Runner(
        cluster,
        RunSettings(**{"concurrency": 4, "round_interval": 1.0, "convergence": 30.0, **settings}),
        recorder=Recorder(),
        clock=clock,
        sleep=clock.sleep,
    )
    return runner.run(make_plan(CELLS, policies=[POLICY])).verdicts[0]


def test_a_wrong_allow_hidden_by_a_3s_programming_delay_fails() -> None:
    verdict = run(3.0)
    assert verdict.status is Status.FAIL
    assert "changed after agreeing" in verdict.detail


def test_without_settling_the_same_cell_passed() -> None:
    # The bug this guards against: confirmation right after the first round.
    assert run(3.0, settle=0.0).status is Status.PASS


def test_settle_is_capped_by_the_convergence_budget() -> None:
    # A 2 s budget: the confirmation counts from 2 s on (a 3 s delay then hides it).
    assert run(3.0, convergence=2.0).status is Status.PASS
    assert run(1.5, convergence=2.0).status is Status.FAIL


def run_pair(programming_delay: float, web_allowed: bool, **settings: Any) -> tuple[Any, float]:
    """web -> db expected allow, other -> db expected deny; the policy lands after a delay.

    Returns web's verdict and the fake clock's time when the run ended.
    """
    clock = FakeClock()
    applied: list[float] = []

    def network(p: Probed, round_no: int) -> tuple[int, str]:
        if not applied:
            applied.append(clock.now)
        programmed = clock.now - applied[0] >= programming_delay
        if not programmed:
            return CONNECTED
        allowed = web_allowed and p.pod.endswith("/web")
        return CONNECTED if allowed else DROPPED

    cluster = FakeCluster(network=network, clock=clock, exec_seconds=0.05)
    runner = Runner(
        cluster,
        RunSettings(**{"concurrency": 4, "round_interval": 1.0, "convergence": 30.0, **settings}),
        recorder=Recorder(),
        clock=clock,
        sleep=clock.sleep,
    )
    cells: list[tuple[str, str, int, Any]] = [
        ("other", "db", 5432, "deny"),
        ("web", "db", 5432, "allow"),
    ]
    result = runner.run(make_plan(cells, policies=[POLICY]))
    web = next(v for v in result.verdicts if v.probe.cell.source == "web")
    return web, clock.now


def test_settling_ends_early_once_every_deny_cell_dropped() -> None:
    # The policy lands at 0.5 s: the deny cell drops in round 2, so confirmations count
    # one round interval later instead of after the whole 5 s settle (default).
    verdict, end = run_pair(0.5, web_allowed=True)
    assert verdict.status is Status.PASS
    assert end < 5.0  # without the cut the confirmation would wait for settle (5 s)


def test_early_settling_still_catches_a_wrong_allow() -> None:
    # web -> db is wrongly expected allow; the policy lands after 3 s. The deny cell
    # proves the landing; web's confirmation taken after it sees the drop.
    verdict, _ = run_pair(3.0, web_allowed=False)
    assert verdict.status is Status.FAIL
    assert "changed after agreeing" in verdict.detail


def run_per_target(connects: Callable[[str, float], bool]) -> Any:
    """other -> api expected deny, web -> db expected allow, on a network where a probe to
    ``target`` ``t`` s after the first probe connects when ``connects(target, t)``.

    Returns web's verdict.
    """
    clock = FakeClock()
    applied: list[float] = []

    def network(p: Probed, round_no: int) -> tuple[int, str]:
        if not applied:
            applied.append(clock.now)
        target = cluster.pod_at(p.address).split("/")[-1]
        return CONNECTED if connects(target, clock.now - applied[0]) else DROPPED

    cluster = FakeCluster(network=network, clock=clock, exec_seconds=0.05)
    runner = Runner(
        cluster,
        RunSettings(concurrency=4, round_interval=1.0, convergence=30.0),
        recorder=Recorder(),
        clock=clock,
        sleep=clock.sleep,
    )
    cells: list[tuple[str, str, int, Any]] = [
        ("other", "api", 80, "deny"),
        ("web", "db", 5432, "allow"),
    ]
    result = runner.run(make_plan(cells, policies=[POLICY]))
    return next(v for v in result.verdicts if v.probe.cell.source == "web")


def test_per_pod_programming_lag_does_not_pass_a_wrong_allow() -> None:
    # Calico programs each node in its own time: api's rules land at 0.5 s, db's at 2.5 s.
    # The deny cell (other -> api) drops in round 2; a settle cut to "that round + one
    # interval" (~2 s) confirmed web -> db while db's rules were still missing.
    # web -> db is wrongly expected allow: db is isolated once its rules land.
    lands = {"api": 0.5, "db": 2.5}
    web = run_per_target(lambda target, t: t < lands.get(target, 0.0))
    assert web.status is Status.FAIL
    assert web.flipped
    assert "changed after agreeing" in web.detail


def test_a_default_deny_landing_before_its_exception_is_not_a_flip() -> None:
    # Policies land one by one: web's default deny at 0.5 s, the exception that lets
    # web -> db through only at 1.5 s. In between web -> db is dropped. That passing
    # state is the landing, not the network changing its answer: the allow cell is
    # confirmed once the policies had time to land (after the deny cell dropped in
    # round 2 at 1 s: 2 * 1 + 1 = 3 s), so it is neither probed in between nor flipped.
    db_probes: list[float] = []

    def connects(target: str, t: float) -> bool:
        if target == "db":
            db_probes.append(round(t, 2))
            return t < 0.5 or t >= 1.5
        return t < 0.5  # other -> api: the default deny, landed at 0.5 s

    web = run_per_target(connects)
    assert web.status is Status.PASS
    assert not web.flipped, web.detail
    assert len(db_probes) == 2, db_probes  # the first round and the confirmation
    assert db_probes[1] >= 3.0, db_probes
