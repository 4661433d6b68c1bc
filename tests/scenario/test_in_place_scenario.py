"""In-place scenarios (selector: workloads in existing namespaces): validation and planning."""

# ruff: noqa: E501  (the case table keeps one YAML snippet per line)
from __future__ import annotations

from pathlib import Path

import pytest

from harness import plan as planning
from harness.errors import ScenarioError
from harness.model import PodRef
from harness.model import ProbeKind
from harness.model import Scenario
from tests.scenario.util import load_text
from tests.scenario.util import marked_line
from tests.scenario.util import project

HEAD = "apiVersion: netpol-harness.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: live\n"
NAMESPACES = "namespaces:\n  - {name: shop, existing: true}\n  - {name: ops, existing: true}\n"
WORKLOADS = """\
workloads:
  - name: web
    namespace: shop
    selector: {app: web}
    ports: [8080]
  - name: api
    namespace: shop
    selector: {app: api, app.kubernetes.io/managed-by: Helm}
    service: api-svc
    ports: [8080, "53/UDP"]
  - name: db
    namespace: shop
    selector: {app: db}
    role: server
    ports: [5432]
  - name: tools
    namespace: ops
    selector: {app: tools}
"""
EXPECT = """\
externals:
  - {name: pay, address: 198.51.100.10, port: 443}
expect:
  allow:
    - web -> api:8080
    - web -> svc:api-svc:8080
    - api -> db:5432
    - tools -> dns
    - tools -> pay
  deny:
    - tools -> api:53/UDP
    - web -> db
"""
GOOD = HEAD + NAMESPACES + WORKLOADS + EXPECT


def _good(tmp_path: Path) -> Scenario:
    return load_text(project(tmp_path), GOOD.replace("svc:api-svc", "svc:api"))


def test_selector_workloads_make_an_in_place_scenario(tmp_path: Path) -> None:
    scenario = _good(tmp_path)
    assert scenario.in_place
    api = scenario.workload("api")
    assert api.in_place and api.service == "api-svc"
    # the selector may use labels the harness would reserve on its own pods (Helm's managed-by)
    assert api.selector == {"app": "api", "app.kubernetes.io/managed-by": "Helm"}
    assert api.labels == api.selector
    assert scenario.workload("db").role == "server"
    assert scenario.workload("tools").role == "client"
    keys = [c.key for c in scenario.cells]
    assert "web->svc:api:8080/TCP" in keys and "web->db:5432/TCP" in keys


def _case(workloads: str = WORKLOADS, namespaces: str = NAMESPACES, extra: str = "") -> str:
    return HEAD + namespaces + workloads + extra + EXPECT.replace("svc:api-svc", "svc:api")


# (id, scenario text with one #! line, message part, fix part)
CASES: list[tuple[str, str, str, str]] = [
    (
        "selector-and-labels",
        _case(
            WORKLOADS.replace(
                "    selector: {app: web}\n",
                "    selector: {app: web}\n    labels: {app: web}  #!\n",
            )
        ),
        "give labels (a probe pod the harness deploys) or selector",
        "keep selector:",
    ),
    (
        "selector-in-created-namespace",
        _case(
            namespaces="namespaces:\n  - {name: shop}\n  - {name: ops, existing: true}\n",
            workloads=WORKLOADS.replace(
                "    namespace: shop\n    selector: {app: web}",
                "    namespace: shop  #!\n    selector: {app: web}",
            ),
        ),
        "selector picks existing pods, but namespace 'shop'",
        "existing: true",
    ),
    (
        "empty-selector",
        _case(WORKLOADS.replace("selector: {app: tools}", "selector: {}  #!")),
        "selector must not be empty",
        "selector: {app: web}",
    ),
    (
        "bad-selector-key",
        _case(WORKLOADS.replace("selector: {app: tools}", "selector:\n      bad key: x  #!")),
        "tools' selector",
        "",
    ),
    (
        "service-on-probe-workload",
        HEAD
        + "namespaces:\n  - {name: shop}\nworkloads:\n  - name: web\n    namespace: shop\n    labels: {app: web}\n    service: web  #!\nexpect:\n  allow: [web -> dns]\n",
        "service names the real Service of an existing workload",
        "remove service:",
    ),
    (
        "bad-service-name",
        _case(WORKLOADS.replace("service: api-svc", "service: Api_Svc  #!")),
        "Service name 'Api_Svc'",
        "",
    ),
    (
        "mixed-modes",
        HEAD
        + "namespaces:\n  - {name: shop, existing: true}\n  - {name: probe}\nworkloads:\n  - {name: web, namespace: shop, selector: {app: web}}\n  - name: x  #!\n    namespace: probe\n    labels: {app: x}\n    ports: [80]\nexpect:\n  allow: [web -> x:80]\n",
        "a scenario is either hermetic or in place",
        "split them into two scenario files",
    ),
    (
        "created-namespace-in-in-place-scenario",
        _case(namespaces=NAMESPACES + "  - name: scratch  #!\n"),
        "namespace 'scratch' would be created",
        "existing: true",
    ),
    (
        "manifests-in-place",
        _case(extra="manifests:  #!\n  - policy.yaml\n"),
        "an in-place scenario applies nothing",
        "remove manifests:",
    ),
    (
        "svc-cell-without-service",
        HEAD + NAMESPACES + WORKLOADS + "expect:\n  allow:\n    - web -> svc:db:5432  #!\n",
        "'db' is an existing workload: a svc: cell needs the name of its real Service",
        "add service: <Service name> to workload 'db'",
    ),
    (
        "labels-in-existing-namespace-points-to-selector",
        HEAD
        + "namespaces:\n  - {name: shop, existing: true}\nworkloads:\n  - name: web\n    namespace: shop  #!\n    labels: {app: web}\nexpect:\n  allow: [web -> dns]\n",
        "existing and can hold no probe workloads",
        "selector: {app: ...}",
    ),
]


@pytest.mark.parametrize(("case", "text", "message", "fix"), CASES, ids=[c[0] for c in CASES])
def test_invalid_in_place_scenario(
    tmp_path: Path, case: str, text: str, message: str, fix: str
) -> None:
    root = project(tmp_path)
    (root / "scenarios" / "policy.yaml").write_text("kind: NetworkPolicy\n")
    with pytest.raises(ScenarioError) as info:
        load_text(root, text)
    err = info.value
    assert message in err.message, str(err)
    assert fix in err.fix, str(err)
    assert err.line == marked_line(text), str(err)
    assert str(err).startswith(f"{err.path}:{err.line}: ")


def test_empty_manifests_list_is_fine_in_place(tmp_path: Path) -> None:
    scenario = load_text(project(tmp_path), _case(extra="manifests: []\n"))
    assert scenario.in_place and scenario.manifests == ()


# ---------------------------------------------------------------- planning


def test_build_in_place_plans_probes_only(tmp_path: Path) -> None:
    scenario = _good(tmp_path)
    sources = {
        "web": PodRef("shop", "web-5d8f-abc"),
        "api": PodRef("shop", "api-0"),
        "tools": PodRef("ops", "netpol-probe-run1-tools"),
    }
    targets = {"api": PodRef("shop", "api-0"), "db": PodRef("shop", "db-1")}
    plan = planning.build_in_place(scenario, "run1", sources=sources, targets=targets)
    assert plan.namespaces == () and plan.pods == () and plan.services == ()
    assert plan.manifests == ()
    assert dict(plan.namespace_map) == {"shop": "shop", "ops": "ops"}
    probes = {p.cell.key: p for p in plan.probes}
    assert [p.id for p in plan.probes] == sorted(p.id for p in plan.probes)
    pod = probes["web->api:8080/TCP"]
    assert pod.kind is ProbeKind.TCP  # a real port, not the harness's HTTP probe server
    assert (pod.source_pod, pod.target_pod, pod.host) == (sources["web"], targets["api"], None)
    svc = probes["web->svc:api:8080/TCP"]
    assert svc.host == "api-svc.shop.svc.cluster.local."  # the real Service name
    assert svc.target_pod == targets["api"]  # kept for explanations
    assert probes["tools->api:53/UDP"].kind is ProbeKind.UDP
    assert probes["tools->api:53/UDP"].source_pod == sources["tools"]
    assert probes["tools->dns:53/UDP"].kind is ProbeKind.DNS
    assert probes["tools->pay:443/TCP"].host == "198.51.100.10"
    assert probes["api->db:5432/TCP"].target_pod == targets["db"]


def test_build_in_place_without_pods_uses_placeholders(tmp_path: Path) -> None:
    plan = planning.build_in_place(_good(tmp_path), "run1")
    probe = next(p for p in plan.probes if p.cell.key == "api->db:5432/TCP")
    assert probe.source_pod == PodRef("shop", "api")
    assert probe.target_pod == PodRef("shop", "db")
    assert len(plan.probes) == len(plan.scenario.cells)


def test_build_in_place_refuses_hermetic_scenarios_and_bad_run_ids(tmp_path: Path) -> None:
    scenario = _good(tmp_path)
    with pytest.raises(ValueError, match="run id"):
        planning.build_in_place(scenario, "Bad-Id")
    hermetic = load_text(
        project(tmp_path / "h"),
        HEAD
        + "namespaces:\n  - {name: shop}\nworkloads:\n  - {name: web, namespace: shop, labels: {app: web}}\nexpect:\n  allow: [web -> dns]\n",
    )
    with pytest.raises(ValueError, match="no in-place"):
        planning.build_in_place(hermetic, "run1")


def test_ephemeral_container_is_restricted_and_bounded() -> None:
    container = planning.ephemeral_container("abc123")
    assert container["name"] == "netpol-probe-abc123"
    assert container["command"] == ["sleep", str(planning.EPHEMERAL_LIFETIME)]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == planning.PROBE_UID
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # the API forbids these on ephemeral containers
    assert not {"ports", "resources", "readinessProbe", "livenessProbe"} & set(container)


def test_fallback_pod_copies_labels_but_not_controller_hashes() -> None:
    source = {
        "metadata": {
            "name": "web-5d8f-abc",
            "namespace": "shop",
            "labels": {
                "app": "web",
                "pod-template-hash": "5d8f",
                "app.kubernetes.io/managed-by": "Helm",
            },
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d8f"}],
        }
    }
    pod = planning.fallback_pod(source, "run1", "live", "web")
    meta = pod["metadata"]
    assert meta["namespace"] == "shop" and meta["name"] == "netpol-probe-run1-web"
    assert meta["labels"]["app"] == "web"
    assert "pod-template-hash" not in meta["labels"]  # the ReplicaSet must not adopt it
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"  # kept: policies may use it
    assert meta["labels"]["netpol-harness.dev/run"] == "run1"
    assert "ownerReferences" not in meta
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["activeDeadlineSeconds"] == planning.EPHEMERAL_LIFETIME
    assert pod["spec"]["containers"][0]["name"] == "client"


# ---------------------------------------------------------------- the plugin (pytester)

HERMETIC = (
    HEAD.replace("name: live", "name: probe")
    + "namespaces:\n  - {name: shop}\nworkloads:\n  - name: web\n    namespace: shop\n"
    "    labels: {app: web}\nexpect:\n  allow: [web -> dns]\n"
)


@pytest.fixture
def plugin_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(pytester.path))  # no ~/.kube/config
    (pytester.path / "live.netpol.yaml").write_text(GOOD.replace("svc:api-svc", "svc:api"))
    (pytester.path / "probe.netpol.yaml").write_text(HERMETIC)
    pytester.makeini("[pytest]\n")
    return pytester


def test_in_place_cells_are_skipped_without_the_flag(plugin_project: pytest.Pytester) -> None:
    result = plugin_project.runpytest("-rs", "live.netpol.yaml", "--netpol-static")
    result.assert_outcomes(skipped=7)
    result.stdout.fnmatch_lines(["*in-place scenario*run it with --netpol-in-place*"])


def test_a_hermetic_scenario_is_a_collection_error_in_place(
    plugin_project: pytest.Pytester,
) -> None:
    result = plugin_project.runpytest("--netpol-in-place", "--collect-only", "-q", ".")
    assert result.ret != 0
    text = result.stdout.str()
    # the line of its first workload
    assert "probe.netpol.yaml:8: scenario 'probe' deploys probe workloads (labels:)" in text
    assert "fix: run it without --netpol-in-place" in text
    assert "live.netpol.yaml::web->api:8080/TCP[allow]" in text  # the in-place file collects
