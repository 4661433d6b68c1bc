"""`netpol-harness predict`: the corpus of known-truth cases, output formats and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from tests.policy.builders import ns
from tests.policy.builders import pod
from tests.policy.builders import policy

CASES = Path(__file__).parent / "cases"


def _expectations() -> list[tuple[Path, Path]]:
    found = []
    for case in sorted(p for p in CASES.iterdir() if p.is_dir()):
        objects = next(iter(sorted(case.glob("objects.*"))))
        found += [(objects, expected) for expected in sorted(case.glob("expected-*.json"))]
    return found


EXPECTATIONS = _expectations()


def predict(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["predict", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_corpus_is_big_enough() -> None:
    assert len({objects for objects, _ in EXPECTATIONS}) >= 12


@pytest.mark.parametrize(
    ("objects", "expected"),
    EXPECTATIONS,
    ids=[f"{o.parent.name}:{e.stem}" for o, e in EXPECTATIONS],
)
def test_corpus_case(capsys: pytest.CaptureFixture[str], objects: Path, expected: Path) -> None:
    want = json.loads(expected.read_text())
    code, out, err = predict(
        capsys,
        "--objects",
        str(objects),
        "--port",
        str(want["port"]),
        "--protocol",
        want["protocol"],
        "--format",
        "json",
    )
    assert code == 0, err
    got = json.loads(out)
    assert got["port"] == want["port"]
    assert got["protocol"] == want["protocol"]
    wrong = [
        f"{src} -> {dst}: predicted {got['matrix'][src][dst]}, expected {ok}"
        for src, row in want["matrix"].items()
        for dst, ok in row.items()
        if got["matrix"].get(src, {}).get(dst) is not ok
    ]
    assert not wrong, "\n".join(wrong)
    assert got["matrix"].keys() == want["matrix"].keys()


def test_console_script_runs_a_case() -> None:
    """The installed entry point, as CI and the hidden corpus call it."""
    objects, expected = EXPECTATIONS[0]
    want = json.loads(expected.read_text())
    script = Path(sys.executable).parent / "netpol-harness"
    proc = subprocess.run(
        [
            str(script),
            *("predict", "--objects", str(objects), "--port", str(want["port"])),
            *("--protocol", want["protocol"], "--format", "json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["matrix"] == want["matrix"]


@pytest.fixture
def objects_file(tmp_path: Path) -> Path:
    objs = [
        ns("x"),
        pod("x", "a", {"app": "a"}, "10.0.0.1", (("http", 8080, "TCP"),)),
        pod("x", "b", {"app": "b"}, "10.0.0.2"),
        policy(
            "x",
            "web",
            {
                "podSelector": {"matchLabels": {"app": "a"}},
                "ingress": [
                    {
                        "ports": [{"port": "http"}],
                        "from": [{"podSelector": {"matchLabels": {"app": "b"}}}],
                    }
                ],
            },
        ),
    ]
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    return path


def test_table_format(capsys: pytest.CaptureFixture[str], objects_file: Path) -> None:
    code, out, _ = predict(capsys, "--objects", str(objects_file), "--port", "8080")
    assert code == 0
    lines = out.splitlines()
    assert "8080/TCP" in lines[0] and "'.' allowed" in lines[0]
    assert "  0  x/a" in lines and "  1  x/b" in lines  # column legend
    # rows are sources; x/a accepts only x/b on its named port 8080.
    assert "x/a  X ." in lines
    assert "x/b  . ." in lines
    assert lines[-1] == "3 of 4 cells allowed, 1 denied"


def test_json_by_port_name(capsys: pytest.CaptureFixture[str], objects_file: Path) -> None:
    code, out, _ = predict(
        capsys, "--objects", str(objects_file), "--port", "http", "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["port"] == "http" and doc["protocol"] == "TCP"
    # x/b serves no port named http: no cell towards it can connect.
    assert doc["matrix"] == {
        "x/a": {"x/a": False, "x/b": False},
        "x/b": {"x/a": True, "x/b": False},
    }


def test_protocol_is_case_insensitive(
    capsys: pytest.CaptureFixture[str], objects_file: Path
) -> None:
    code, out, _ = predict(
        capsys,
        "--objects",
        str(objects_file),
        "--port",
        "8080",
        "--protocol",
        "udp",
        "--format",
        "json",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["protocol"] == "UDP"
    assert doc["matrix"]["x/b"]["x/a"] is False  # the rule's named port is TCP


def test_explain(capsys: pytest.CaptureFixture[str], objects_file: Path) -> None:
    code, out, _ = predict(
        capsys, "--objects", str(objects_file), "--port", "8080", "--explain", "x/b", "x/a"
    )
    assert code == 0
    assert out.startswith("ALLOWED: x/b -> x/a port 8080/TCP")
    assert "x/web ingress[0]" in out and "from[0]" in out and "ports[0] http/TCP" in out
    code, out, _ = predict(
        capsys, "--objects", str(objects_file), "--port", "8080", "--explain", "x/a", "x/a"
    )
    assert out.startswith("DENIED")
    assert "isolated for ingress by x/web" in out


def test_explain_external_source(capsys: pytest.CaptureFixture[str], objects_file: Path) -> None:
    code, out, _ = predict(
        capsys, "--objects", str(objects_file), "--port", "80", "--explain", "192.0.2.1", "x/b"
    )
    assert code == 0
    assert out.startswith("ALLOWED: 192.0.2.1 -> x/b")
    assert "outside the cluster" in out


def test_kind_list_and_several_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    first = tmp_path / "pods.yaml"
    first.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    ns("x"),
                    pod("x", "a", {"app": "a"}, "10.0.0.1"),
                    pod("y", "b", {}, "10.0.1.1"),
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {"name": "s", "namespace": "x"},
                    },
                ],
            }
        )
    )
    second = tmp_path / "policies.json"
    second.write_text(
        json.dumps(
            {"kind": "NetworkPolicyList", "items": [policy("x", "deny", {"podSelector": {}})]}
        )
    )
    code, out, _ = predict(
        capsys,
        "--objects",
        str(first),
        "--objects",
        str(second),
        "--port",
        "80",
        "--format",
        "json",
    )
    assert code == 0
    assert json.loads(out)["matrix"] == {
        "x/a": {"x/a": False, "y/b": True},
        "y/b": {"x/a": False, "y/b": True},
    }


def test_json_with_tabs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "objects.json"
    path.write_text(json.dumps({"kind": "List", "items": [pod("x", "a")]}, indent="\t"))
    code, out, _ = predict(capsys, "--objects", str(path), "--port", "80", "--format", "json")
    assert code == 0
    assert json.loads(out)["matrix"] == {"x/a": {"x/a": True}}


# ---------------------------------------------------------------- errors


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = predict(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    err = _error(capsys, "--objects", str(missing), "--port", "80")
    assert str(missing) in err and "no such file" in err and "kubectl get" in err


def test_bad_yaml_names_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("kind: Pod\nmetadata:\n  name: [unclosed\n")
    err = _error(capsys, "--objects", str(path), "--port", "80")
    assert f"{path}:" in err and "not valid YAML" in err


def test_bad_object_names_file_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "objs.yaml"
    bad = policy(
        "x",
        "p",
        {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]},
    )
    path.write_text(yaml.safe_dump_all([pod("x", "a"), bad]))
    err = _error(capsys, "--objects", str(path), "--port", "80")
    # The line of the offending field (the cidr), not of the object's first line.
    line = next(i + 1 for i, text in enumerate(path.read_text().splitlines()) if "cidr:" in text)
    assert f"{path}:{line}:" in err
    assert "NetworkPolicy x/p" in err and "spec.ingress[0].from[0].ipBlock.cidr" in err


def test_not_an_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- strings\n")
    err = _error(capsys, "--objects", str(path), "--port", "80")
    assert str(path) in err and "kind: List" in err


def test_unknown_pod_in_explain(capsys: pytest.CaptureFixture[str], objects_file: Path) -> None:
    err = _error(
        capsys, "--objects", str(objects_file), "--port", "80", "--explain", "x/zzz", "x/a"
    )
    assert "unknown pod 'x/zzz'" in err and "fix:" in err


def test_missing_port(capsys: pytest.CaptureFixture[str], objects_file: Path) -> None:
    err = _error(capsys, "--objects", str(objects_file))
    assert "--port" in err


def test_bad_port(capsys: pytest.CaptureFixture[str], objects_file: Path) -> None:
    err = _error(capsys, "--objects", str(objects_file), "--port", "70000")
    assert "outside 1-65535" in err


def test_missing_objects(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "--port", "80")
    assert "--objects" in err


# ---------------------------------------------------------------- scenario


SCENARIO = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata:
  name: tiny
namespaces:
  - name: shop
workloads:
  - name: web
    namespace: shop
    labels: {app: web}
    ports: [80]
  - name: api
    namespace: shop
    labels: {app: api}
    ports: [80]
manifests:
  - policies.yaml
expect:
  allow:
    - web -> api:80
  deny:
    - api -> web:80
"""

POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: web}}}]
"""


def test_scenario_static_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("harness.scenario.loader")
    pytest.importorskip("harness.plan")
    (tmp_path / "policies.yaml").write_text(POLICIES)
    path = tmp_path / "tiny.netpol.yaml"
    path.write_text(SCENARIO)
    code, out, err = predict(capsys, "--scenario", str(path))
    # web is not isolated, so "api -> web:80 deny" does not follow from the policies.
    assert code == 1, err
    assert "ok   tiny::web->api:80/TCP[allow]" in out
    assert "DIFF tiny::api->web:80/TCP[deny]" in out
    assert "policies predict allow, scenario expects deny" in out
    assert out.splitlines()[-1] == "1 of 2 expectations follow from the policies; 1 does not"


WORKLOADS = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: report}}
        spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-nobody, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress]}
"""


def test_predict_reads_workload_manifests_without_running_pods(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    objects = tmp_path / "app.yaml"
    objects.write_text(WORKLOADS)
    code, out, err = predict(capsys, "--objects", str(objects), "--port", "80", "--format", "json")
    assert code == 0, err
    matrix = json.loads(out)["matrix"]
    # The pods the templates make: web (isolated by the policy) and the CronJob's pod.
    assert matrix["shop/report"]["shop/web"] is False
    assert matrix["shop/web"]["shop/report"] is True
    code, out, err = predict(
        capsys, "--objects", str(objects), "--port", "80", "--explain", "shop/report", "shop/web"
    )
    assert "web-from-nobody" in out
