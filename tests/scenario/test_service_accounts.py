"""serviceAccount: on a probe workload: the account its pod runs as, created by the run.

Calico selects pods by their ServiceAccount (serviceAccountSelector, serviceAccounts in
rules, the projectcalico.org/serviceaccount pod label), so a scenario must be able to
say which account a probe pod runs as and what labels that account has.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import plan as planning
from harness.errors import ScenarioError
from harness.policy import static
from harness.policy.engine import ClusterModel
from tests.scenario.util import load_text
from tests.scenario.util import marked_line
from tests.scenario.util import project
from tests.scenario.util import scenario_text

WORKLOADS = """\
workloads:
  - name: web
    namespace: front
    labels: {app: web}
    ports: [80]
    serviceAccount: {name: web-runner, labels: {team: shop}}
  - name: api
    namespace: back
    labels: {app: api}
    ports: [8080]
    serviceAccount: api-runner
  - name: db
    namespace: back
    labels: {app: db}
    ports: [5432]
    serviceAccount: api-runner
  - name: job
    namespace: back
    labels: {app: job}
"""


def test_workloads_name_their_account_and_its_labels(tmp_path: Path) -> None:
    scenario = load_text(project(tmp_path), scenario_text(workloads=WORKLOADS))
    web, api, db, job = (scenario.workload(n) for n in ("web", "api", "db", "job"))
    assert (web.service_account, dict(web.service_account_labels)) == (
        "web-runner",
        {"team": "shop"},
    )
    assert (api.service_account, dict(api.service_account_labels)) == ("api-runner", {})
    assert db.service_account == "api-runner"
    assert job.service_account is None


def test_labels_given_on_one_workload_hold_for_every_pod_of_the_account(tmp_path: Path) -> None:
    text = WORKLOADS.replace(
        "    ports: [5432]\n    serviceAccount: api-runner",
        "    ports: [5432]\n    serviceAccount: {name: api-runner, labels: {group: backend}}",
    )
    scenario = load_text(project(tmp_path), scenario_text(workloads=text))
    assert dict(scenario.workload("api").service_account_labels) == {"group": "backend"}
    assert dict(scenario.workload("db").service_account_labels) == {"group": "backend"}


def test_the_plan_creates_each_account_once_and_the_pods_run_as_it(tmp_path: Path) -> None:
    scenario = load_text(project(tmp_path), scenario_text(workloads=WORKLOADS))
    plan = planning.build(scenario, "r1", created="2026-12-01T00:00:00Z")
    accounts = {
        (a["metadata"]["namespace"], a["metadata"]["name"]): a for a in plan.service_accounts
    }
    assert sorted(accounts) == [("back-r1", "api-runner"), ("front-r1", "web-runner")]
    web_sa = accounts[("front-r1", "web-runner")]
    assert web_sa["metadata"]["labels"]["team"] == "shop"
    assert web_sa["automountServiceAccountToken"] is False
    by_name = {p["metadata"]["name"]: p["spec"] for p in plan.pods}
    assert by_name["web"]["serviceAccountName"] == "web-runner"
    assert by_name["db"]["serviceAccountName"] == "api-runner"
    assert "serviceAccountName" not in by_name["job"]
    assert by_name["web"]["automountServiceAccountToken"] is False  # still no token


def test_the_engine_sees_the_accounts_labels_from_the_plan(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "manifests" / "sa.yaml").write_text(
        "apiVersion: projectcalico.org/v3\n"
        "kind: GlobalNetworkPolicy\n"
        "metadata: {name: shop-only}\n"
        "spec:\n"
        "  serviceAccountSelector: team == 'shop'\n"
        "  types: [Ingress]\n"
        "  ingress: [{action: Deny}]\n"
    )
    scenario = load_text(
        root, scenario_text(workloads=WORKLOADS, manifests="manifests: [../manifests/sa.yaml]\n")
    )
    plan = planning.build(scenario, "r1", created="2026-12-01T00:00:00Z")
    model = ClusterModel.from_objects(static.plan_objects(plan))
    assert not model.decide("back-r1/api", "front-r1/web", 80, "TCP").allowed  # team=shop
    assert model.decide(
        "front-r1/web", "back-r1/api", 8080, "TCP"
    ).allowed  # api-runner: unlabelled


def _error_at_mark(tmp_path: Path, text: str) -> ScenarioError:
    """The one error loading ``text`` gives, checked to be at the ``#!`` line."""
    with pytest.raises(ScenarioError) as info:
        load_text(project(tmp_path), text)
    assert info.value.line == marked_line(text), str(info.value)
    return info.value


CASES: list[tuple[str, str, str, str]] = [
    (
        "not-a-name",
        "    serviceAccount: Web_Runner  #!\n",
        "serviceAccount name 'Web_Runner' must be a DNS-1123 subdomain",
        "",
    ),
    (
        "wrong-type",
        "    serviceAccount: [a, b]  #!\n",
        "serviceAccount must be a name or {name: ..., labels: {...}}",
        "serviceAccount: web",
    ),
    (
        "unknown-key",
        "    serviceAccount: {name: a, label: {x: y}}  #!\n",
        "label",
        "labels",
    ),
    (
        "missing-name",
        "    serviceAccount: {labels: {x: y}}  #!\n",
        "name",
        "",
    ),
    (
        "bad-label",
        "    serviceAccount: {name: a, labels: {'x y': z}}  #!\n",
        "x y",
        "",
    ),
    (
        "default-relabelled",
        "    serviceAccount: {name: default, labels: {x: y}}  #!\n",
        "default ServiceAccount is not relabelled",
        "name another account",
    ),
]


@pytest.mark.parametrize(
    ("snippet", "message", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_service_account_errors_name_the_line_and_the_fix(
    tmp_path: Path, snippet: str, message: str, fix: str
) -> None:
    workloads = (
        "workloads:\n"
        "  - name: web\n"
        "    namespace: front\n"
        "    labels: {app: web}\n"
        "    ports: [80]\n" + snippet + "  - name: api\n"
        "    namespace: back\n"
        "    labels: {app: api}\n"
        "    ports: [8080]\n"
    )
    text = scenario_text(workloads=workloads)
    err = _error_at_mark(tmp_path, text)
    assert message in str(err), str(err)
    assert fix in err.fix, str(err)


def test_two_workloads_giving_one_account_different_labels_is_an_error(tmp_path: Path) -> None:
    workloads = (
        "workloads:\n"
        "  - name: web\n"
        "    namespace: back\n"
        "    labels: {app: web}\n"
        "    ports: [80]\n"
        "    serviceAccount: {name: a, labels: {x: '1'}}\n"
        "  - name: api\n"
        "    namespace: back\n"
        "    labels: {app: api}\n"
        "    ports: [8080]\n"
        "    serviceAccount: {name: a, labels: {x: '2'}}  #!\n"
    )
    text = scenario_text(workloads=workloads)
    err = _error_at_mark(tmp_path, text)
    assert "with other labels" in str(err)
    assert f"first at line {marked_line(text) - 5}" in str(err)  # web's account


def test_existing_pods_keep_their_own_account(tmp_path: Path) -> None:
    text = (
        "apiVersion: netpol-harness.dev/v1alpha1\nkind: Scenario\nmetadata: {name: s}\n"
        "namespaces: [{name: shop, existing: true}]\n"
        "workloads:\n"
        "  - name: web\n"
        "    namespace: shop\n"
        "    selector: {app: web}\n"
        "    ports: [80]\n"
        "    serviceAccount: web  #!\n"
        "expect: {default: allow}\n"
    )
    err = _error_at_mark(tmp_path, text)
    assert "run as their own ServiceAccount" in str(err)
    assert "remove serviceAccount" in err.fix
