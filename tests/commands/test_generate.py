"""`netpol-harness generate`: a scenario of today's predicted behaviour that passes as written.

Every generated file is run back through ``pytest --netpol-static`` (pytester), and a
change to the referenced policies fails exactly the cells ``netpol-harness diff`` names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main
from tests.commands.kit import api_from_web
from tests.commands.kit import db_from
from tests.commands.kit import dump_pods
from tests.commands.kit import write
from tests.policy.builders import labels
from tests.policy.builders import pod
from tests.policy.builders import policy

#: What the policies of the dump predict (api only from web, db only from api).
DUMP_ALLOW = [
    "api-0 -> db-0:5432/TCP",
    "api-0 -> dns",
    "api-0 -> web:80/TCP",
    "db-0 -> dns",
    "db-0 -> web:80/TCP",
    "toolbox -> dns",
    "toolbox -> web:80/TCP",
    "web -> api-0:8080/TCP",
    "web -> dns",
]
DUMP_DENY = [
    "db-0 -> api-0:8080/TCP",
    "toolbox -> api-0:8080/TCP",
    "toolbox -> db-0:5432/TCP",
    "web -> db-0:5432/TCP",
]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(pytester.path))
    monkeypatch.chdir(pytester.path)
    pytester.makeini("[pytest]\n")
    (pytester.path / "pyproject.toml").write_text("")  # the project root (manifest paths)
    return pytester


def generate(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()  # what an in-process pytest run printed before
    code = main(["generate", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def static(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(
        "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning", *args
    )


def scenario_of(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def test_from_a_dump_the_scenario_passes_static_as_written(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = write(project.path / "cluster.yaml", *dump_pods(), api_from_web(), db_from("api"))
    code, out, err = generate(capsys, "--objects", dump, "-o", "checks/shop.netpol.yaml")
    assert code == 0, err
    assert out.splitlines()[0] == (
        "wrote checks/shop.netpol.yaml: scenario 'shop', 4 workloads, 13 cells (9 allow, 4 deny)"
    )
    doc = scenario_of(project.path / "checks" / "shop.netpol.yaml")
    assert doc["namespaces"] == [{"name": "shop", "labels": {"team": "shop"}}, {"name": "ops"}]
    assert [(w["name"], w["namespace"], w["labels"], w.get("ports")) for w in doc["workloads"]] == [
        ("web", "shop", {"app": "web"}, [80]),  # two replicas, pod-template-hash left out
        ("api-0", "shop", {"app": "api"}, [{"port": 8080, "protocol": "TCP", "name": "http"}]),
        ("db-0", "shop", {"app": "db"}, [5432]),
        ("toolbox", "ops", {"app": "toolbox"}, None),
    ]
    # the dump holds pods too: its policies are copied beside the scenario
    assert doc["manifests"] == ["shop.policies.yaml"]
    copied = list(yaml.safe_load_all((project.path / "checks" / "shop.policies.yaml").read_text()))
    assert [p["metadata"] for p in copied] == [
        {"name": "api-from-web", "namespace": "shop"},
        {"name": "db-from-api", "namespace": "shop"},
    ]
    assert doc["expect"] == {"default": "deny", "allow": DUMP_ALLOW}
    result = static(project, "--netpol-static", "checks")
    result.assert_outcomes(passed=13)


def test_explicit_lists_every_cell(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = write(project.path / "cluster.yaml", *dump_pods(), api_from_web(), db_from("api"))
    code, _, err = generate(
        capsys, "--objects", dump, "-o", "shop.netpol.yaml", "--expect", "explicit", "--no-dns"
    )
    assert code == 0, err
    expect = scenario_of(project.path / "shop.netpol.yaml")["expect"]
    assert expect == {
        "allow": [c for c in DUMP_ALLOW if "dns" not in c],
        "deny": DUMP_DENY,
    }
    static(project, "--netpol-static", "shop.netpol.yaml").assert_outcomes(passed=9)


APPS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 80, name: http}]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres, ports: [{containerPort: 5432}]}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: shop}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: backup}}
        spec:
          restartPolicy: Never
          containers: [{name: backup, image: backup}]
"""


def test_policy_files_are_referenced_and_a_change_fails_exactly_the_cells_diff_names(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy = project.path / "deploy"
    deploy.mkdir()
    (deploy / "apps.yaml").write_text(APPS)
    policies = write(deploy / "policies.yaml", db_from("backup", name="db"))
    code, out, err = generate(capsys, "--objects", deploy, "-o", "checks/shop.netpol.yaml")
    assert code == 0, err
    assert "policies referenced where they are: ../deploy/policies.yaml" in out
    doc = scenario_of(project.path / "checks" / "shop.netpol.yaml")
    assert doc["manifests"] == ["../deploy/policies.yaml"]
    assert not (project.path / "checks" / "shop.policies.yaml").exists()
    assert [w["name"] for w in doc["workloads"]] == ["web", "db", "backup"]
    assert doc["expect"]["allow"] == [
        "backup -> db:5432/TCP",
        "backup -> dns",
        "backup -> web:80/TCP",
        "db -> dns",
        "db -> web:80/TCP",
        "web -> dns",
    ]
    static(project, "--netpol-static", "checks").assert_outcomes(passed=7)

    # the change, reviewed with diff, then proven by the committed scenario
    before = write(project.path / "before" / "policies.yaml", db_from("backup", name="db"))
    isolate_web = policy(
        "shop",
        "web",
        {
            "podSelector": labels(app="web"),
            "ingress": [{"from": [{"podSelector": labels(app="db")}]}],
        },
    )
    write(policies, db_from("backup", "web", name="db"), isolate_web)
    code, out, _ = generate_diff(capsys, before, policies, deploy / "apps.yaml")
    assert code == 1
    diffed = sorted(
        f"{c['source'].split('/')[1]}->{c['destination'].split('/')[1]}:{c['port']}/{c['protocol']}"
        for c in json.loads(out)["changes"]
    )
    assert diffed == ["backup->web:80/TCP", "web->db:5432/TCP"]
    result = static(project, "--netpol-static", "checks")
    result.assert_outcomes(passed=5, failed=2)
    failed = sorted(
        line.split("::", 1)[1].split(" ")[0].rsplit("[", 1)[0]
        for line in result.outlines
        if line.startswith("FAILED ")
    )
    assert failed == diffed


def generate_diff(
    capsys: pytest.CaptureFixture[str], before: Path, after: Path, pods: Path
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["diff", str(before), str(after), "--pods", str(pods), "--format", "json"])
    out, err = capsys.readouterr()
    return code, out, err


def _system_pods() -> list[dict[str, Any]]:
    coredns = pod(
        "kube-system",
        "coredns-7db6d8ff4d-abcde",
        {"k8s-app": "kube-dns", "pod-template-hash": "7db6d8ff4d"},
        "10.1.0.2",
        (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")),
    )
    proxy = pod("kube-system", "kube-proxy-xyz", {"k8s-app": "kube-proxy"}, "172.18.0.2")
    proxy["spec"]["hostNetwork"] = True
    return [coredns, proxy]


def test_in_place_picks_the_existing_pods_and_predicts_from_the_objects(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    deny_egress = policy(
        "ops",
        "no-egress",
        {"podSelector": {}, "policyTypes": ["Egress"], "egress": []},
    )
    dump = write(
        project.path / "cluster.yaml",
        *dump_pods(),
        *_system_pods(),
        api_from_web(),
        db_from("api"),
        deny_egress,
    )
    code, out, err = generate(
        capsys, "--objects", dump, "-o", "shop.netpol.yaml", "--in-place", "--expect", "explicit"
    )
    assert code == 0, err
    assert "check it: pytest --netpol-in-place shop.netpol.yaml" in out
    assert "left out 1 hostNetwork pods" in err and "kube-system/kube-proxy-xyz" in err
    assert "left out 1 workload(s) of kube-node-lease, kube-public, kube-system" in err
    doc = scenario_of(project.path / "shop.netpol.yaml")
    assert doc["namespaces"] == [
        {"name": "shop", "labels": {"team": "shop"}, "existing": True},
        {"name": "ops", "existing": True},
    ]
    assert doc["workloads"][0] == {
        "name": "web",
        "namespace": "shop",
        "selector": {"app": "web"},
        "ports": [80],
    }
    assert "manifests" not in doc
    # the live policies decide: ops may not leave its namespace, even for DNS
    assert doc["expect"]["deny"] == [
        *DUMP_DENY[:2],
        "toolbox -> db-0:5432/TCP",
        "toolbox -> dns",
        "toolbox -> web:80/TCP",
        "web -> db-0:5432/TCP",
    ]
    assert "toolbox -> web:80/TCP" not in doc["expect"]["allow"]
    collected = static(project, "--collect-only", "-q", "shop.netpol.yaml")
    assert collected.ret == 0
    assert sum(1 for ln in collected.outlines if "::" in ln) == 13
    static(project, "--netpol-static", "shop.netpol.yaml").assert_outcomes(skipped=13)


def test_a_cell_the_probe_pods_cannot_reproduce_is_named(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    by_address = policy(
        "shop",
        "db-from-toolbox-ip",
        {
            "podSelector": labels(app="db"),
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.1.0.40/32"}}]}],  # toolbox's IP
        },
    )
    dump = write(project.path / "cluster.yaml", *dump_pods(), by_address)
    code, _, err = generate(capsys, "--objects", dump, "-o", "shop.netpol.yaml")
    assert code == 0
    assert "1 cell(s) are predicted otherwise for the real pods" in err
    assert "toolbox->db-0:5432/TCP" in err
    # the file follows what --netpol-static will see (probe pods have other addresses)
    assert "toolbox -> db-0:5432/TCP" not in scenario_of(project.path / "shop.netpol.yaml")[
        "expect"
    ].get("allow", [])
    static(project, "--netpol-static", "shop.netpol.yaml").assert_outcomes(passed=13)


def test_namespace_restricts_the_workloads(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = write(project.path / "cluster.yaml", *dump_pods(), api_from_web())
    code, _, err = generate(capsys, "--objects", dump, "-o", "s.netpol.yaml", "--namespace", "shop")
    assert code == 0, err
    doc = scenario_of(project.path / "s.netpol.yaml")
    assert [w["name"] for w in doc["workloads"]] == ["web", "api-0", "db-0"]
    assert [n["name"] for n in doc["namespaces"]] == ["shop"]
    code, _, err = generate(
        capsys, "--objects", dump, "-o", "t.netpol.yaml", "--namespace", "shopp"
    )
    assert code == 2
    assert "--namespace shopp: no pods in that namespace (fix: one of ops, shop)" in err


def test_refusals(project: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    dump = write(project.path / "cluster.yaml", *dump_pods())
    assert generate(capsys, "--objects", dump, "-o", "s.netpol.yaml")[0] == 0
    code, _, err = generate(capsys, "--objects", dump, "-o", "s.netpol.yaml")
    assert code == 2 and "--output s.netpol.yaml exists (fix: --force" in err
    assert generate(capsys, "--objects", dump, "-o", "s.netpol.yaml", "--force")[0] == 0
    code, _, err = generate(capsys, "--objects", dump, "-o", "s.yaml")
    assert code == 2 and "scenario files are named NAME.netpol.yaml" in err
    code, _, err = generate(capsys, "--objects", "s.netpol.yaml", "-o", "t.netpol.yaml")
    assert code == 2 and "a scenario file, not objects" in err
    code, _, err = generate(capsys, "-o", "t.netpol.yaml")
    assert code == 2 and "generate needs --objects FILE" in err
    code, _, err = generate(capsys, "--objects", dump, "-o", "Bad_Name.netpol.yaml")
    assert code == 2 and "scenario name 'Bad_Name'" in err
    assert not (project.path / "t.netpol.yaml").exists()
