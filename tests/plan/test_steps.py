"""Steps as whole states (harness.plan.steps), their changes, and the engine on each state."""

from __future__ import annotations

from pathlib import Path

from harness import plan as planning
from harness.model import Plan
from harness.model import Scenario
from harness.model import object_identity
from harness.policy import static
from tests.scenario.util import load_text
from tests.scenario.util import project
from tests.scenario.util import scenario_text

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-api, namespace: back}
spec: {podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress]}
"""
FROM_WEB = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]}]
"""
STEPS = """\
steps:
  - name: deny
    apply: [../manifests/deny-api.yaml]
    changes: {deny: [web -> api:8080]}
  - name: from-web
    apply: [../manifests/api-from-web.yaml]
    changes: {allow: [web -> api:8080]}
  - name: relabel
    label:
      - {workload: web, set: {app: other, extra: x}}
      - {namespace: front, remove: [tier]}
    changes: {deny: [web -> api:8080]}
  - name: undo
    delete: [../manifests/deny-api.yaml, ../manifests/api-from-web.yaml]
    changes: {allow: [web -> api:8080]}
"""
EXPECT = "expect:\n  allow: [web -> api:8080, job -> db:5432]\n"


def _scenario(tmp_path: Path, steps: str = STEPS) -> Scenario:
    root = project(tmp_path)
    (root / "manifests" / "deny-api.yaml").write_text(POLICY)
    (root / "manifests" / "api-from-web.yaml").write_text(FROM_WEB)
    return load_text(root, scenario_text(expect=EXPECT) + steps)


def _plan(scenario: Scenario) -> Plan:
    return planning.build(scenario, "r1", created="2026-12-01T00:00:00Z")


def _labels(bodies: object, name: str) -> dict[str, str]:
    for body in bodies:  # type: ignore[attr-defined]
        if body["metadata"]["name"] == name:
            return dict(body["metadata"]["labels"])
    raise AssertionError(name)


def test_each_step_is_the_whole_state_after_it(tmp_path: Path) -> None:
    plan = _plan(_scenario(tmp_path))
    names = [[m.body["metadata"]["name"] for m in s.manifests] for s in plan.steps]
    assert names == [["deny-api"], ["deny-api", "api-from-web"], ["deny-api", "api-from-web"], []]
    # Mapped to the run's namespaces and labelled as the top-level manifests are.
    assert {m.body["metadata"]["namespace"] for m in plan.steps[1].manifests} == {"back-r1"}
    relabel = plan.steps[2]
    web = _labels(relabel.pods, "web")
    assert web["app"] == "other" and web["extra"] == "x"
    assert web["netpol-harness.dev/run"] == "r1"  # the harness's labels stay
    assert "tier" not in _labels(relabel.namespaces, "front-r1")
    assert _labels(plan.steps[1].pods, "web")["app"] == "web"  # earlier states untouched
    # Every probe of the plan belongs to the top level or exactly one step.
    stepped = [p.id for s in plan.steps for p in s.probes]
    top = [p.id for p in plan.probes if not p.cell.step]
    assert sorted(stepped + top) == sorted(p.id for p in plan.probes)
    assert all("::deny::" in p.id for p in plan.steps[0].probes)


def test_transitions_name_exactly_what_changes(tmp_path: Path) -> None:
    plan = _plan(_scenario(tmp_path))
    states = [s for _, s in plan.stages()]
    assert len(states) == 5  # the top-level cells, then four steps
    first = planning.transition(states[0], states[1])
    assert [m.body["metadata"]["name"] for m in first.apply] == ["deny-api"]
    assert not first.delete and not first.relabel
    relabel = planning.transition(states[2], states[3])
    assert not relabel.apply and not relabel.delete
    patches = {object_identity(b)[1:]: dict(p) for b, p in relabel.relabel}
    assert patches == {
        ("Namespace", "", "front-r1"): {"tier": None},
        ("Pod", "front-r1", "web"): {"app": "other", "extra": "x"},
    }
    undo = planning.transition(states[3], states[4])
    assert sorted(m.body["metadata"]["name"] for m in undo.delete) == ["api-from-web", "deny-api"]
    assert not undo.relabel  # labels are not put back by a delete
    assert planning.transition(states[4], states[4]).empty


def test_a_new_version_of_an_applied_object_is_an_apply(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "manifests" / "deny-api.yaml").write_text(POLICY)
    (root / "manifests" / "v2.yaml").write_text(POLICY.replace("[Ingress]", "[Ingress, Egress]"))
    steps = (
        "steps:\n  - name: v1\n    apply: [../manifests/deny-api.yaml]\n"
        "  - name: v2\n    apply: [../manifests/v2.yaml]\n"
    )
    plan = _plan(load_text(root, scenario_text(expect=EXPECT) + steps))
    _, v1, v2 = (s for _, s in plan.stages())
    change = planning.transition(v1, v2)
    assert [m.body["spec"]["policyTypes"] for m in change.apply] == [["Ingress", "Egress"]]
    assert not change.delete


def test_the_engine_predicts_each_step_on_its_own_state(tmp_path: Path) -> None:
    plan = _plan(_scenario(tmp_path))
    results = {p.id: holds for p, holds, _ in static.check_plan(plan)}
    assert len(results) == len(plan.probes) and all(results.values()), results
    # The same expectation in the wrong step fails: deny where from-web allows.
    wrong = (
        "steps:\n  - name: from-web\n"
        "    apply: [../manifests/deny-api.yaml, ../manifests/api-from-web.yaml]\n"
        "    changes: {deny: [web -> api:8080]}\n"
    )
    plan = _plan(_scenario(tmp_path / "wrong", wrong))
    failing = sorted(p.id for p, holds, _ in static.check_plan(plan) if not holds)
    assert failing == ["demo::from-web::web->api:8080/TCP[deny]"]
    probe = next(p for p in plan.probes if p.id == failing[0])
    holds, why = static.check_cell(plan, probe)
    assert not holds and "api-from-web" in why


def test_selection_drops_label_changes_of_workloads_not_deployed(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path)
    keep = {c.key for c in scenario.cells if c.source == "job"}
    plan = _plan(scenario.restricted_to(keep))
    assert {p["metadata"]["name"] for p in plan.pods} == {"job", "db"}
    assert all({p["metadata"]["name"] for p in s.pods} == {"job", "db"} for s in plan.steps)


def test_the_cluster_domain_reaches_every_step(tmp_path: Path) -> None:
    root = project(tmp_path)
    steps = "steps:\n  - name: a\n    expect: {allow: [web -> svc:api:8080]}\n"
    plan = _plan(load_text(root, scenario_text(expect=EXPECT) + steps))
    moved = planning.with_cluster_domain(plan, "corp.example")
    hosts = [p.host for s in moved.steps for p in s.probes]
    assert hosts == ["api.back-r1.svc.corp.example."]
