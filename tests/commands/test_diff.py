"""`netpol-harness diff`: exactly the cells a policy change flips, in every format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.commands.kit import api_from_web
from tests.commands.kit import db_from
from tests.commands.kit import dump_pods
from tests.commands.kit import from_namespace
from tests.commands.kit import write
from tests.policy.builders import labels
from tests.policy.builders import policy

#: The change every test makes: db now admits web instead of api; ops may reach api.
CHANGED = [
    ("ops/toolbox", "shop/api-0", 8080, "TCP", "opened"),
    ("shop/api-0", "shop/db-0", 5432, "TCP", "closed"),
    ("shop/web", "shop/db-0", 5432, "TCP", "opened"),
]


@pytest.fixture
def change(tmp_path: Path) -> dict[str, Path]:
    before = tmp_path / "before"
    after = tmp_path / "after"
    write(before / "api.yaml", api_from_web())
    write(before / "db.yaml", db_from("api"))
    write(after / "api.yaml", api_from_web())
    write(after / "db.yaml", db_from("web"))  # the same policy, edited
    write(after / "ops.yaml", from_namespace("ops-to-api", "api", "ops"))
    pods = write(tmp_path / "cluster.yaml", *dump_pods())
    return {"before": before, "after": after, "pods": pods}


def diff(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["diff", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _cells(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (c["source"], c["destination"], c["port"], c["protocol"], c["change"])
        for c in document["changes"]
    ]


def test_json_lists_exactly_the_changed_cells_with_the_deciding_rules(
    capsys: pytest.CaptureFixture[str], change: dict[str, Path]
) -> None:
    code, out, _ = diff(
        capsys, change["before"], change["after"], "--pods", change["pods"], "--format", "json"
    )
    assert code == 1
    document = json.loads(out)
    assert _cells(document) == CHANGED
    # 4 pods (the two web replicas are one workload); 3 destinations x 3 other sources
    assert (document["pods_compared"], document["cells_compared"]) == (4, 9)
    assert (document["changed"], document["opened"], document["closed"]) == (3, 2, 1)
    toolbox, api, web = document["changes"]
    # opened: denied before (api isolated, no rule matched), allowed after by the new policy
    assert toolbox["before"]["allowed"] is False
    assert toolbox["before"]["decision"]["ingress"]["selected_by"] == ["shop/api-from-web"]
    assert toolbox["before"]["decision"]["ingress"]["match"] is None
    match = toolbox["after"]["decision"]["ingress"]["match"]
    assert (match["policy"], match["direction"], match["rule"], match["peer"]) == (
        "shop/ops-to-api",
        "ingress",
        0,
        0,
    )
    # closed: allowed before by db-from-api ingress[0] from[0]; after, no rule matches
    match = api["before"]["decision"]["ingress"]["match"]
    assert (match["policy"], match["rule"], match["peer"], match["port"]) == (
        "shop/db-from-api",
        0,
        0,
        0,
    )
    assert api["after"]["decision"]["ingress"]["match"] is None
    assert "blocked by: ingress" in api["after"]["explanation"]
    assert web["after"]["explanation"].startswith("ALLOWED: shop/web -> shop/db-0 port 5432/TCP")


def test_text_names_each_cell_and_the_sides_that_changed(
    capsys: pytest.CaptureFixture[str], change: dict[str, Path]
) -> None:
    code, out, err = diff(capsys, change["before"], change["after"], "--pods", change["pods"])
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "netpol-harness diff: 3 cells change: 2 opened, 1 closed (9 cells compared over 4 pods)"
    )
    heads = [ln for ln in lines if " -> " in ln and not ln.startswith(" ")]
    assert heads == [
        "ops/toolbox -> shop/api-0:8080/TCP: denied -> ALLOWED",
        "shop/api-0 -> shop/db-0:5432/TCP: allowed -> DENIED",
        "shop/web -> shop/db-0:5432/TCP: denied -> ALLOWED",
    ]
    at = lines.index("shop/api-0 -> shop/db-0:5432/TCP: allowed -> DENIED")
    # only the ingress side changed: egress (never isolated) is not repeated
    assert lines[at + 1].startswith("  before  ingress allows: shop/db-0 is isolated for ingress")
    assert "allowed by shop/db-from-api ingress[0]" in lines[at + 1]
    assert lines[at + 2].startswith("  after   ingress denies: shop/db-0 is isolated for ingress")
    assert not lines[at + 3].startswith("  ")
    # the dump's Service-free objects, nothing left out silently but the noted ones
    assert "Traceback" not in err


def test_markdown_is_a_pull_request_comment(
    capsys: pytest.CaptureFixture[str], change: dict[str, Path]
) -> None:
    code, out, _ = diff(
        capsys,
        change["before"],
        change["after"],
        "--pods",
        change["pods"],
        "--format",
        "markdown",
    )
    assert code == 1
    assert out.startswith("### netpol-harness diff: 3 cells change: 2 opened, 1 closed")
    rows = [ln for ln in out.splitlines() if ln.startswith("| `")]
    assert [row.split(" | ")[:5] for row in rows] == [
        ["| `ops/toolbox`", "`shop/api-0`", "8080/TCP", "denied", "**allowed**"],
        ["| `shop/api-0`", "`shop/db-0`", "5432/TCP", "allowed", "**denied**"],
        ["| `shop/web`", "`shop/db-0`", "5432/TCP", "denied", "**allowed**"],
    ]
    assert "allowed by shop/ops-to-api ingress[0]" in rows[0]
    assert "<details>" in out and out.rstrip().endswith("</details>")


def test_no_change_exits_0(capsys: pytest.CaptureFixture[str], change: dict[str, Path]) -> None:
    code, out, _ = diff(capsys, change["before"], change["before"], "--pods", change["pods"])
    assert code == 0
    assert out.splitlines()[0] == (
        "netpol-harness diff: no cell changes (9 cells compared over 4 pods)"
    )
    code, out, _ = diff(
        capsys, change["before"], change["before"], "--pods", change["pods"], "--format", "json"
    )
    assert code == 0 and json.loads(out)["changes"] == []


def test_port_option_compares_that_port_on_every_destination(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, change: dict[str, Path]
) -> None:
    # AFTER isolates web for ingress and admits only api, on 9090 (which web does not declare)
    after = write(
        tmp_path / "metrics.yaml",
        policy(
            "shop",
            "web-metrics",
            {
                "podSelector": labels(app="web"),
                "ingress": [
                    {"from": [{"podSelector": labels(app="api")}], "ports": [{"port": 9090}]}
                ],
            },
        ),
    )
    before = write(tmp_path / "none.yaml", api_from_web())
    after_all = write(tmp_path / "after-all.yaml", api_from_web(), *_load(after))
    code, out, _ = diff(capsys, before, after_all, "--pods", change["pods"], "--format", "json")
    assert code == 1
    assert _cells(json.loads(out)) == [
        ("ops/toolbox", "shop/web", 80, "TCP", "closed"),
        ("shop/api-0", "shop/web", 80, "TCP", "closed"),
        ("shop/db-0", "shop/web", 80, "TCP", "closed"),
    ]
    code, out, _ = diff(
        capsys,
        before,
        after_all,
        "--pods",
        change["pods"],
        "--port",
        "9090",
        "--port",
        "53/udp",
        "--format",
        "json",
    )
    document = json.loads(out)
    # 9090: only api may still reach web; 53/UDP: web is isolated and no rule allows it
    assert _cells(document) == [
        ("ops/toolbox", "shop/web", 53, "UDP", "closed"),
        ("ops/toolbox", "shop/web", 9090, "TCP", "closed"),
        ("shop/api-0", "shop/web", 53, "UDP", "closed"),
        ("shop/db-0", "shop/web", 53, "UDP", "closed"),
        ("shop/db-0", "shop/web", 9090, "TCP", "closed"),
    ]
    assert document["cells_compared"] == 2 * 4 * 3  # two ports, 4 destinations x 3 sources


def _load(path: Path) -> list[dict[str, Any]]:
    import yaml

    return list(yaml.safe_load_all(path.read_text()))


WORKLOADS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
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
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: agent, ports: [{containerPort: 9100}]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec:
  template:
    metadata: {labels: {app: migrate}}
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: migrate}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


def test_workload_manifests_are_pods_from_their_templates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pods = tmp_path / "deploy.yaml"
    pods.write_text(WORKLOADS)
    before = write(tmp_path / "before.yaml", db_from("migrate", name="db"))
    after = write(tmp_path / "after.yaml", db_from("migrate", "agent", name="db"))
    code, out, err = diff(capsys, before, after, "--pods", pods, "--format", "json")
    assert code == 1, err
    document = json.loads(out)
    assert _cells(document) == [("shop/agent", "shop/db", 5432, "TCP", "opened")]
    # web, db, agent and migrate: 3 destinations (migrate serves nothing) x 3 sources
    assert (document["pods_compared"], document["cells_compared"]) == (4, 9)
    assert "left out 1 objects that do not change which pod may reach which: Service" in err


def test_a_scenario_gives_its_workloads_and_the_cluster_dns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = tmp_path / "shop.netpol.yaml"
    scenario.write_text(
        "apiVersion: netpol-harness.dev/v1alpha1\nkind: Scenario\nmetadata: {name: shop}\n"
        "namespaces: [{name: shop, labels: {team: shop}}]\n"
        "workloads:\n"
        "  - {name: web, namespace: shop, labels: {app: web}, ports: [80]}\n"
        "  - {name: api, namespace: shop, labels: {app: api}, ports: [8080]}\n"
        "expect: {default: deny}\n"
    )
    before = write(tmp_path / "before.yaml", api_from_web())
    egress = policy(
        "shop",
        "api-egress",
        {"podSelector": labels(app="api"), "policyTypes": ["Egress"], "egress": []},
    )
    after = write(tmp_path / "after.yaml", api_from_web(), egress)
    code, out, err = diff(capsys, before, after, "--pods", scenario, "--format", "json")
    assert code == 1, err
    # the namespaces keep the scenario's names (no run suffix): the policies name them so
    assert _cells(json.loads(out)) == [
        ("shop/api", "kube-system/coredns", 53, "TCP", "closed"),
        ("shop/api", "kube-system/coredns", 53, "UDP", "closed"),
        ("shop/api", "shop/web", 80, "TCP", "closed"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "diff needs --pods FILE"),
        (["--pods", "{tmp}/missing.yaml"], "missing.yaml: no such file"),
        (["--pods", "{pods}", "--port", "0"], "port 0 is outside 1-65535"),
        (["--pods", "{pods}", "--port", "80/ICMP"], "unknown protocol 'ICMP'"),
    ],
)
def test_usage_and_input_errors_exit_2(
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Path],
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    argv = [a.format(tmp=tmp_path, pods=change["pods"]) for a in args]
    code, _, err = diff(capsys, change["before"], change["after"], *argv)
    assert code == 2
    assert message in err


def test_a_kind_the_engine_cannot_model_is_refused_with_its_line(
    capsys: pytest.CaptureFixture[str], change: dict[str, Path], tmp_path: Path
) -> None:
    cilium = tmp_path / "after" / "cilium.yaml"
    cilium.write_text(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
        "metadata: {name: x, namespace: shop}\nspec: {}\n"
    )
    code, _, err = diff(capsys, change["before"], change["after"], "--pods", change["pods"])
    assert code == 2
    assert f"{cilium}:2: CiliumNetworkPolicy shop/x: cilium.io/v2 CiliumNetworkPolicy" in err


def test_pods_and_workloads_in_the_manifests_are_left_out_by_name(
    capsys: pytest.CaptureFixture[str], change: dict[str, Path]
) -> None:
    (change["after"] / "deploy.yaml").write_text(WORKLOADS)
    code, out, err = diff(capsys, change["before"], change["after"], "--pods", change["pods"])
    assert code == 1 and "3 cells change" in out
    assert "AFTER: left out 5 object(s) that are not policies or namespaces" in err


def test_the_console_script_exits_1_on_changes(change: dict[str, Path]) -> None:
    script = Path(sys.executable).parent / "netpol-harness"
    argv = [str(script), "diff", str(change["before"]), str(change["after"])]
    proc = subprocess.run(
        [*argv, "--pods", str(change["pods"]), "--format", "markdown"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert sum(1 for ln in proc.stdout.splitlines() if ln.startswith("| `")) == 3
