"""The e2e-kind workflow: structure checks always, actionlint when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from tests.infra._repo import KIND_CONFIG
from tests.infra._repo import ROOT
from tests.infra._repo import WORKFLOWS
from tests.infra._repo import load_all

WORKFLOW = WORKFLOWS / "e2e-kind.yml"
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def _workflow() -> dict[str, Any]:
    (doc,) = load_all(WORKFLOW)
    assert isinstance(doc, dict)
    return doc


def _triggers(doc: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads a bare `on` key as the boolean True.
    triggers = doc.get("on", doc.get(True))
    assert isinstance(triggers, dict)
    return triggers


def _steps() -> list[dict[str, Any]]:
    jobs = _workflow()["jobs"]
    assert list(jobs) == ["e2e-kind"]
    steps = jobs["e2e-kind"]["steps"]
    assert isinstance(steps, list)
    return steps


def _step(fragment: str) -> tuple[int, dict[str, Any]]:
    for i, step in enumerate(_steps()):
        if fragment in step.get("run", "") or fragment in step.get("uses", ""):
            return i, step
    raise AssertionError(f"no step runs or uses {fragment!r}")


def test_triggers_on_the_paths_that_change_verdicts() -> None:
    triggers = _triggers(_workflow())
    for event in ("pull_request", "push"):
        paths = triggers[event]["paths"]
        for path in ("manifests/**", "scenarios/**", "harness/**"):
            assert path in paths, f"{event} does not trigger on {path}"


def test_every_action_is_pinned_at_least_by_major_version() -> None:
    uses = [s["uses"] for s in _steps() if "uses" in s]
    assert uses
    for ref in uses:
        assert PINNED_ACTION.match(ref), f"{ref} is not pinned (owner/name@vN or a commit SHA)"


def test_steps_in_order() -> None:
    order = [
        _step("actions/checkout@")[0],
        _step("actions/setup-python@")[0],
        _step("sha256sum --check")[0],
        # the harness first: kind-up asks `netpol-harness images` what to preload
        _step("pip install -e .")[0],
        _step("scripts/kind-up")[0],
        _step("netpol-harness preflight")[0],
        _step("pytest scenarios/")[0],
        _step("actions/upload-artifact@")[0],
        _step("scripts/kind-down")[0],
    ]
    assert order == sorted(order)
    assert _step("scripts/kind-down")[0] == len(_steps()) - 1


def test_python_is_3_11() -> None:
    _, step = _step("actions/setup-python@")
    assert str(step["with"]["python-version"]) == "3.11"


def test_kind_is_pinned_and_verified() -> None:
    env = _workflow()["env"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", env["KIND_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", env["KIND_SHA256"])
    _, step = _step("sha256sum --check")
    assert "${KIND_VERSION}" in step["run"]
    assert "${KIND_SHA256}" in step["run"]
    # kind-config.yaml's node image is documented as built for this kind release
    assert f"kind {env['KIND_VERSION']}" in KIND_CONFIG.read_text()


def test_pytest_command() -> None:
    _, step = _step("pytest scenarios/")
    command = " ".join(step["run"].split()).replace("\\ ", "")
    for part in (
        "-n auto",
        '--netpol-context "kind-${KIND_CLUSTER_NAME}"',
        "--netpol-junit reports/junit.xml",
        "--netpol-report-json reports/summary.json",
    ):
        assert part in command
    assert _workflow()["env"]["KIND_CLUSTER_NAME"] == "netpol"


def test_reports_are_uploaded_even_when_tests_fail() -> None:
    _, step = _step("actions/upload-artifact@")
    assert step["if"] == "always()"
    assert step["with"]["path"].rstrip("/") == "reports"


def test_junit_report_is_published_optionally() -> None:
    _, step = _step("action-junit-report@")
    assert step["if"] == "always()"
    assert step["with"]["report_paths"] == "reports/junit.xml"
    assert step["continue-on-error"] is True
    assert _workflow()["jobs"]["e2e-kind"]["permissions"]["checks"] == "write"


def test_cluster_state_is_dumped_on_failure() -> None:
    steps = [s for s in _steps() if s.get("if") == "failure()"]
    assert len(steps) == 1
    run = steps[0]["run"]
    assert "get all,networkpolicies -A -o wide" in run
    assert "-l app.kubernetes.io/managed-by=netpol-harness" in run
    assert "describe pods" in run
    assert "-l k8s-app=calico-node" in run
    assert "--tail=" in run


def test_kind_up_runs_non_strict_until_a_checksum_is_pinned() -> None:
    # Strict with an empty pin would fail every run; with a pin, strict is the goal.
    _, step = _step("scripts/kind-up")
    assert step["run"].strip() == "scripts/kind-up"
    pin = (ROOT / "scripts" / "calico.sha256").read_text()
    (checksum,) = re.findall(r'(?m)^CALICO_SHA256="([^"]*)"$', pin)
    assert step["env"]["CALICO_STRICT"] == ("1" if checksum else "0")


def test_the_external_host_is_in_the_failure_dump() -> None:
    (dump,) = [s for s in _steps() if s.get("if") == "failure()"]
    assert 'docker logs --tail 50 "${KIND_CLUSTER_NAME}-external"' in dump["run"]


def test_cluster_is_deleted_always() -> None:
    _, step = _step("scripts/kind-down")
    assert step["if"] == "always()"


def test_token_permissions_are_minimal() -> None:
    doc = _workflow()
    assert doc["permissions"] == {"contents": "read"}
    assert doc["jobs"]["e2e-kind"]["permissions"] == {"contents": "read", "checks": "write"}


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint not installed")
def test_actionlint() -> None:
    result = subprocess.run(
        ["actionlint", str(WORKFLOW.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pod_cidr_given_to_the_run_is_kind_configs_pod_subnet() -> None:
    # ${clusterPodCIDR} in manifests resolves to --netpol-pod-cidr: it must be the
    # network kind (and kind-up's Calico pool) gives the pods.
    (config,) = load_all(KIND_CONFIG)
    subnet = config["networking"]["podSubnet"]
    run = next(s["run"] for s in _steps() if s.get("name") == "Run the scenarios")
    makefile = (ROOT / "Makefile").read_text()
    e2e = makefile.split("\ne2e-kind:", 1)[1].split("\n\n", 1)[0]
    for where, text in (("workflow", run), ("Makefile e2e-kind", e2e)):
        found = re.findall(r"--netpol-pod-cidr (\S+)", text)
        assert found == [subnet], f"{where}: {found} != [{subnet!r}]"
