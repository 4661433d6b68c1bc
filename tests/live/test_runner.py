"""harness.live.runner against a scripted fake cluster."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness import plan as planning
from harness.errors import ExecError
from harness.errors import PodNotReady
from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings
from harness.model import Outcome
from harness.model import Plan
from harness.model import Settings
from harness.model import Status
from tests.live.factory import make_plan
from tests.live.fakes import CONNECTED
from tests.live.fakes import DROPPED
from tests.live.fakes import REFUSED
from tests.live.fakes import FakeClock
from tests.live.fakes import FakeCluster
from tests.live.fakes import Probed

POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny-db", "namespace": "ns-r1"},
    "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]},
}

CELLS: list[tuple[str, str, int, Any]] = [
    ("web", "api", 80, "allow"),
    ("web", "db", 5432, "deny"),
    ("api", "db", 5432, "deny"),
]


def _runner(cluster: FakeCluster, clock: FakeClock, **kw: Any) -> Runner:
    settings = RunSettings(concurrency=4, round_interval=1.0, **kw)
    return Runner(cluster, settings, recorder=Recorder(), clock=clock, sleep=clock.sleep)


def _by_cell(result: Any) -> dict[str, Any]:
    return {v.probe.cell.key: v for v in result.verdicts}


def test_all_pass_in_one_round_with_one_exec_per_source_pod() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if p.port == 5432 else CONNECTED

    cluster = FakeCluster(network=net)
    clock = FakeClock()
    plan = make_plan(CELLS, policies=[POLICY])
    result = _runner(cluster, clock, confirm="none").run(plan)
    assert result.setup_error == ""
    verdicts = _by_cell(result)
    assert {k: v.status for k, v in verdicts.items()} == {
        "web->api:80/TCP": Status.PASS,
        "web->db:5432/TCP": Status.PASS,
        "api->db:5432/TCP": Status.PASS,
    }
    assert all(v.tries == 1 for v in verdicts.values())
    probe_execs = [k for k, phase in cluster.execs if phase == "probe"]
    assert sorted(probe_execs) == ["ns-r1/api", "ns-r1/web"]  # one exec per source pod
    # Everything was deployed and recorded, policies after the pods.
    kinds = [o["kind"] for o in cluster.created]
    assert kinds.index("NetworkPolicy") > max(i for i, k in enumerate(kinds) if k == "Pod")
    applied = next(o for o in cluster.created if o["kind"] == "NetworkPolicy")
    assert applied["metadata"]["labels"]["netpol-harness.dev/run"] == "r1"


def test_policy_programming_delay_converges_with_tries_3() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        if p.port == 5432 and rnd >= 3:
            return DROPPED
        return CONNECTED  # the deny is not programmed for the first two rounds

    cluster = FakeCluster(network=net)
    clock = FakeClock()
    result = _runner(cluster, clock, confirm="none").run(make_plan(CELLS, policies=[POLICY]))
    verdicts = _by_cell(result)
    deny = verdicts["web->db:5432/TCP"]
    assert deny.status is Status.PASS
    assert deny.tries == 3
    assert deny.seconds == 2.0  # two 1 s pauses after the policies were applied
    assert "connected -> connected -> dropped" in deny.detail
    assert verdicts["web->api:80/TCP"].tries == 1  # agreeing cells are not re-probed


def test_wrong_allow_hidden_by_programming_delay_is_caught_by_confirmation() -> None:
    # The policy denies web->api too, but it is not programmed in round 1: the allow
    # expectation "agrees" by accident. The confirming pass must catch it.
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        if p.port == 5432:
            return DROPPED if rnd >= 2 else CONNECTED
        return CONNECTED if rnd == 1 else DROPPED

    plan = make_plan(
        CELLS, policies=[POLICY], settings=Settings(connect_timeout=1, convergence_budget=5)
    )
    result = _runner(FakeCluster(network=net), FakeClock()).run(plan)
    allow = _by_cell(result)["web->api:80/TCP"]
    assert allow.status is Status.FAIL
    assert allow.observed is Outcome.DROPPED
    assert "changed after agreeing" in allow.detail
    assert "connected -> dropped" in allow.detail


def test_confirm_changed_only_skips_cells_that_never_changed() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if (p.port == 5432 and rnd >= 2) else CONNECTED

    cluster = FakeCluster(network=net)
    result = _runner(cluster, FakeClock(), confirm="changed").run(
        make_plan(CELLS, policies=[POLICY])
    )
    assert _by_cell(result)["web->api:80/TCP"].tries == 1
    assert _by_cell(result)["web->db:5432/TCP"].tries == 3


def test_converged_cells_get_one_confirming_pass() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if (p.port == 5432 and rnd >= 2) else CONNECTED

    cluster = FakeCluster(network=net)
    result = _runner(cluster, FakeClock(), confirm="all").run(make_plan(CELLS, policies=[POLICY]))
    deny = _by_cell(result)["web->db:5432/TCP"]
    assert deny.status is Status.PASS
    assert deny.tries == 3  # 2 to converge + 1 confirmation
    assert deny.seconds == 1.0  # when it agreed, not when it was confirmed


def test_flapping_cell_fails_on_confirmation() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        if p.port == 5432:
            return DROPPED if rnd == 2 else CONNECTED
        return CONNECTED

    cluster = FakeCluster(network=net)
    result = _runner(cluster, FakeClock(), confirm="all").run(make_plan(CELLS, policies=[POLICY]))
    deny = _by_cell(result)["web->db:5432/TCP"]
    assert deny.status is Status.FAIL
    assert deny.observed is Outcome.CONNECTED
    assert "changed after agreeing: dropped" in deny.detail


def test_never_converging_cell_fails_after_the_budget() -> None:
    cluster = FakeCluster()  # everything connects: the deny never takes effect
    clock = FakeClock()
    plan = make_plan(
        CELLS,
        policies=[POLICY],
        settings=Settings(connect_timeout=1.0, convergence_budget=5.0),
    )
    result = _runner(cluster, clock).run(plan)
    deny = _by_cell(result)["web->db:5432/TCP"]
    assert deny.status is Status.FAIL
    assert deny.observed is Outcome.CONNECTED
    assert deny.tries == 6  # at 0,1,2,3,4,5 s
    assert deny.seconds >= 5.0
    assert "expected the traffic to be dropped" in deny.detail
    assert deny.rerun.startswith("kubectl exec -n ns-r1 web -c client -- curl")
    assert "10.0.0." in deny.rerun


def test_refused_on_a_deny_cell_is_a_fail() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return REFUSED if p.port == 5432 else CONNECTED

    plan = make_plan(
        CELLS, policies=[POLICY], settings=Settings(connect_timeout=1, convergence_budget=0)
    )
    result = _runner(FakeCluster(network=net), FakeClock()).run(plan)
    deny = _by_cell(result)["api->db:5432/TCP"]
    assert deny.status is Status.FAIL
    assert deny.observed is Outcome.REFUSED


def test_exec_failures_are_retried_then_error_never_fail() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if p.port == 5432 else CONNECTED

    boom = ExecError("exec in ns-r1/web: handshake failed (HTTP 500)", status=500, retryable=True)
    # web's datapath exec is #1; its probe execs are #2.. : all of them break.
    faults = {("ns-r1/web", n): boom for n in range(2, 20)}
    cluster = FakeCluster(network=net, exec_faults=faults)
    clock = FakeClock()
    result = _runner(cluster, clock, max_infra_retries=3, confirm="none").run(
        make_plan(CELLS, policies=[POLICY])
    )
    verdicts = _by_cell(result)
    for key in ("web->api:80/TCP", "web->db:5432/TCP"):
        assert verdicts[key].status is Status.ERROR
        assert verdicts[key].observed is Outcome.ERROR
        assert verdicts[key].tries == 4  # 1 + 3 retries
        assert "handshake failed" in verdicts[key].detail
    assert verdicts["api->db:5432/TCP"].status is Status.PASS
    # Backoff grows between broken rounds.
    assert clock.sleeps == [1.0, 1.0, 2.0]


def test_one_broken_exec_then_recovery_passes() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if p.port == 5432 else CONNECTED

    faults = {("ns-r1/web", 2): ExecError("stream broke", retryable=True)}
    cluster = FakeCluster(network=net, exec_faults=faults)
    result = _runner(cluster, FakeClock(), confirm="none").run(make_plan(CELLS, policies=[POLICY]))
    verdicts = _by_cell(result)
    assert verdicts["web->db:5432/TCP"].status is Status.PASS
    assert verdicts["web->db:5432/TCP"].tries == 2


def test_lost_lines_are_retried_only_for_the_missing_probe() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if p.port == 5432 else CONNECTED

    # web's first probe exec (#2) loses probe index 1 (web->db, sorted by id).
    cluster = FakeCluster(network=net, lost_lines={("ns-r1/web", 2): {1}}, garbage="motd!")
    result = _runner(cluster, FakeClock(), confirm="none").run(make_plan(CELLS, policies=[POLICY]))
    verdicts = _by_cell(result)
    assert verdicts["web->db:5432/TCP"].status is Status.PASS
    assert verdicts["web->db:5432/TCP"].tries == 2
    assert verdicts["web->api:80/TCP"].tries == 1


def test_lines_lost_every_time_end_as_error() -> None:
    lost = {("ns-r1/web", n): {0, 1} for n in range(2, 20)}
    cluster = FakeCluster(lost_lines=lost)
    result = _runner(cluster, FakeClock(), max_infra_retries=2).run(make_plan(CELLS))
    verdict = _by_cell(result)["web->api:80/TCP"]
    assert verdict.status is Status.ERROR
    assert verdict.tries == 3
    assert "no result line" in verdict.detail


def test_datapath_broken_is_a_setup_error_before_policies() -> None:
    cluster = FakeCluster(datapath=lambda p, r: DROPPED)
    clock = FakeClock()
    plan = make_plan(CELLS, policies=[POLICY])
    result = _runner(cluster, clock, datapath_timeout=3.0).run(plan)
    assert "not answering before any policy was applied" in result.setup_error
    assert "ns-r1/web -> pod api:80/TCP (dropped" in result.setup_error
    assert not cluster.policies_applied
    assert all(v.status is Status.ERROR for v in result.verdicts)
    assert len(result.verdicts) == len(plan.probes)


def test_pod_not_ready_is_a_setup_error_with_the_reason() -> None:
    err = PodNotReady("pods not Ready after 5s:\n  ns-r1/web: phase Pending\n    ImagePullBackOff")
    cluster = FakeCluster(not_ready=err)
    recorder = Recorder()
    runner = Runner(cluster, RunSettings(), recorder=recorder, clock=FakeClock())
    result = runner.run(make_plan(CELLS))
    assert "ImagePullBackOff" in result.setup_error
    # What was created before the failure is recorded for cleanup.
    assert {c.kind for c in recorder.snapshot()} == {"Namespace", "Pod", "Service"}


def test_admission_rejection_is_a_setup_error() -> None:
    cluster = FakeCluster(fail_create_kind="Pod")
    result = _runner(cluster, FakeClock()).run(make_plan(CELLS))
    assert "PodSecurity" in result.setup_error


def test_every_verdict_gets_an_explanation() -> None:
    cluster = FakeCluster()
    plan = make_plan(
        CELLS, policies=[POLICY], settings=Settings(connect_timeout=1, convergence_budget=0)
    )
    result = _runner(cluster, FakeClock()).run(plan)
    deny = _by_cell(result)["web->db:5432/TCP"]
    assert deny.status is Status.FAIL
    assert "policy engine (live objects) denies it" in deny.explanation, deny.explanation
    assert "deny-db" in deny.explanation
    allow = _by_cell(result)["web->api:80/TCP"]
    assert allow.status is Status.PASS
    assert "policy engine (live objects) allows it" in allow.explanation, allow.explanation


def _only_dns_plan() -> Plan:
    from harness.model import Cell
    from harness.model import Probe
    from harness.model import ProbeKind
    from harness.model import Target
    from harness.model import TargetKind

    plan = make_plan([("web", "api", 80, "allow")])
    cell = Cell("web", Target(TargetKind.DNS, "dns"), 53, "UDP", "allow")
    dns_probe = Probe(
        id=cell.test_id("demo"),
        cell=cell,
        kind=ProbeKind.DNS,
        source_pod=plan.probes[0].source_pod,
        port=53,
        protocol="UDP",
        host="kube-dns.kube-system.svc.cluster.local.",
    )
    scenario = replace(plan.scenario, workloads=(plan.scenario.workloads[1],))
    only_dns = replace(plan, scenario=scenario, probes=(dns_probe,))
    return replace(only_dns, datapath=planning.datapath_probes(only_dns))


def test_a_dns_only_scenario_proves_dns_before_the_policies() -> None:
    plan = _only_dns_plan()
    assert [p.id for p in plan.datapath] == ["datapath::web->dns:53/UDP"]
    cluster = FakeCluster()
    result = _runner(cluster, FakeClock(), confirm="none").run(plan)
    assert result.setup_error == ""
    assert len(cluster.execs) == 2  # the DNS lookup before the (no) policies, then its cell
    assert result.verdicts[0].status is Status.PASS


def test_a_target_silent_before_the_policies_is_an_error_never_a_deny() -> None:
    plan = _only_dns_plan()
    deny = replace(plan.probes[0], cell=replace(plan.probes[0].cell, expect="deny"))
    plan = replace(plan, probes=(deny,), datapath=planning.datapath_probes(plan))
    cluster = FakeCluster(datapath=lambda p, r: DROPPED)  # DNS does not answer at all
    result = _runner(cluster, FakeClock(), datapath_timeout=2.0).run(plan)
    assert "ns-r1/web -> dns dns:53/UDP (dropped" in result.setup_error
    assert not cluster.policies_applied
    assert [v.status for v in result.verdicts] == [Status.ERROR]  # not a pass of the deny


def test_big_batches_are_split_to_fit_the_exec_url() -> None:
    from harness.probes import script_size

    cells: list[tuple[str, str, int, Any]] = [("web", f"s{i}", 80, "allow") for i in range(12)]
    cluster = FakeCluster()
    plan = make_plan(cells)
    one = script_size([])  # the prelude alone
    settings_limit = one + 6 * 60  # room for about 6 probe lines
    runner = _runner(cluster, FakeClock(), confirm="none", max_script_chars=settings_limit)
    result = runner.run(plan)
    assert all(v.status is Status.PASS for v in result.verdicts)
    probe_execs = [k for k, phase in cluster.execs if phase == "datapath" and k == "ns-r1/web"]
    # 1 data-path exec + the 12 probes split over at least 2 execs
    assert len(probe_execs) >= 3


def test_slow_first_round_still_gets_a_second_try() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if (p.port == 5432 and rnd >= 2) else CONNECTED

    clock = FakeClock()
    cluster = FakeCluster(network=net, clock=clock, exec_seconds=3.0)
    plan = make_plan(
        CELLS, policies=[POLICY], settings=Settings(connect_timeout=1, convergence_budget=5)
    )
    result = _runner(cluster, clock, confirm="none").run(plan)
    deny = _by_cell(result)["web->db:5432/TCP"]
    # Round 1 took 6 s (two execs of 3 s): past the budget, but it STARTED inside it.
    assert deny.status is Status.PASS
    assert deny.tries == 2


def test_confirmation_exec_failures_are_retried() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if p.port == 5432 else CONNECTED

    # web: exec 1 = data path, 2 = first round, 3 = confirmation (breaks), 4 = retry.
    faults = {("ns-r1/web", 3): ExecError("handshake failed (HTTP 429)", retryable=True)}
    cluster = FakeCluster(network=net, exec_faults=faults)
    result = _runner(cluster, FakeClock()).run(make_plan(CELLS, policies=[POLICY]))
    verdict = _by_cell(result)["web->api:80/TCP"]
    assert verdict.status is Status.PASS
    assert verdict.tries == 2  # the first round and the (retried) confirmation
    assert "confirmation probe failed" not in verdict.detail
    assert [k for k, _ in cluster.execs].count("ns-r1/web") == 4


def test_allow_mode_confirms_allow_cells_in_the_same_round_as_reprobes() -> None:
    # Round 1: the deny is not programmed yet (connects), the allow agrees.
    # Round 2 re-probes the deny AND confirms the allow: one exec per pod.
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if (p.port == 5432 and rnd >= 2) else CONNECTED

    cluster = FakeCluster(network=net)
    clock = FakeClock()
    # settle=0: a confirmation counts at once (the merging is what is tested here)
    result = _runner(cluster, clock, settle=0.0, confirm="allow").run(
        make_plan(CELLS, policies=[POLICY])
    )
    verdicts = _by_cell(result)
    allow, deny = verdicts["web->api:80/TCP"], verdicts["web->db:5432/TCP"]
    assert allow.status is Status.PASS and allow.tries == 2  # 1 + its confirmation
    assert deny.status is Status.PASS and deny.tries == 2  # a drop is not re-confirmed
    probe_execs = [k for k, phase in cluster.execs if phase == "probe"]
    assert probe_execs.count("ns-r1/web") == 2  # round 2 carried both cells
    assert clock.sleeps == [1.0]  # one round interval, no separate confirming pass


def test_the_default_confirms_every_passing_cell() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if (p.port == 5432 and rnd >= 2) else CONNECTED

    result = _runner(FakeCluster(network=net), FakeClock(), settle=0.0).run(
        make_plan(CELLS, policies=[POLICY])
    )
    deny = _by_cell(result)["web->db:5432/TCP"]
    assert deny.status is Status.PASS
    assert deny.tries == 3  # connected, dropped, and the drop confirmed


def test_no_sleep_when_the_round_outlasted_the_interval() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if (p.port == 5432 and rnd >= 2) else CONNECTED

    clock = FakeClock()
    cluster = FakeCluster(network=net, clock=clock, exec_seconds=0.6)
    result = _runner(cluster, clock, settle=0.0).run(make_plan(CELLS, policies=[POLICY]))
    assert all(v.status is Status.PASS for v in result.verdicts)
    # Round 1 = 2 execs of 0.6 s (the fake clock adds them up): 1.2 s > the 1 s interval.
    assert clock.sleeps == []


def test_confirm_none_and_changed_modes() -> None:
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        return DROPPED if (p.port == 5432 and rnd >= 2) else CONNECTED

    none = _by_cell(
        _runner(FakeCluster(network=net), FakeClock(), confirm="none").run(
            make_plan(CELLS, policies=[POLICY])
        )
    )
    assert none["web->api:80/TCP"].tries == 1
    changed = _by_cell(
        _runner(FakeCluster(network=net), FakeClock(), confirm="changed").run(
            make_plan(CELLS, policies=[POLICY])
        )
    )
    assert changed["web->api:80/TCP"].tries == 1
    assert changed["web->db:5432/TCP"].tries == 3  # converged, then confirmed once


def test_cell_flapping_after_confirmation_is_not_confirmed_twice() -> None:
    # allow cell: connected, then dropped on confirmation (a late policy), then
    # connects again: it re-converges but is never confirmed a second time.
    def net(p: Probed, rnd: int) -> tuple[int, str]:
        if p.port == 80:
            return DROPPED if rnd == 2 else CONNECTED
        return DROPPED

    cluster = FakeCluster(network=net)
    result = _runner(cluster, FakeClock()).run(make_plan(CELLS, policies=[POLICY]))
    allow = _by_cell(result)["web->api:80/TCP"]
    assert allow.status is Status.PASS
    assert allow.tries == 3
    assert "changed after agreeing: connected" in allow.detail


def test_service_and_dns_names_follow_the_cluster_domain() -> None:
    # A cluster whose domain is not cluster.local: the names come from the pods' resolv.conf.
    plan = _only_dns_plan()
    cluster = FakeCluster(cluster_domain="corp.example")
    seen: list[str] = []

    def net(p: Probed, rnd: int) -> tuple[int, str]:
        seen.append(p.address)
        return CONNECTED

    cluster.network = cluster.datapath = net
    result = _runner(cluster, FakeClock(), confirm="none").run(plan)
    assert result.setup_error == ""
    assert cluster.resolv_reads == 1
    assert set(seen) == {"kube-dns.kube-system.svc.corp.example."}
    assert result.verdicts[0].probe.host == "kube-dns.kube-system.svc.corp.example."


def test_cluster_domain_of_a_resolv_conf() -> None:
    text = "search shop.svc.k8s.local svc.k8s.local k8s.local\nnameserver 10.0.0.10\n"
    assert planning.cluster_domain_of(text) == "k8s.local"
    assert planning.cluster_domain_of("nameserver 10.0.0.10\n") is None


def test_a_node_local_dns_cache_is_named_in_dns_explanations() -> None:
    plan = _only_dns_plan()

    class Cache(FakeCluster):
        def exec(self, namespace: str, pod: str, command: Any, **kw: Any) -> Any:
            out = super().exec(namespace, pod, command, **kw)
            if list(command) == ["cat", "/etc/resolv.conf"]:
                return type(out)(out.stdout.replace("10.96.0.10", "169.254.20.10"), "", 0)
            return out

        def snapshot(self, namespaces: Any, extended: Any = ()) -> list[dict[str, Any]]:
            dns = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "coredns-1",
                    "namespace": "kube-system",
                    "labels": {"k8s-app": "kube-dns"},
                },
                "status": {"podIP": "10.0.9.9"},
            }
            return [*super().snapshot(namespaces), dns]

    result = _runner(Cache(), FakeClock(), confirm="none").run(plan)
    text = result.verdicts[0].explanation
    assert "169.254.20.10, a node-local DNS cache" in text, text
