"""The preflight: pure parts with a fake, then the real checks against sandboxes.

Sandbox tests: a normal sandbox passes; ``--no-enforce`` fails the enforcement
check (CLI and the pytest plugin, which stops with one message); an image that
never pulls is named; RBAC tokens with exactly HERMETIC_RULES pass and with one
rule removed fail naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ClusterError
from harness.live.preflight import Preflight
from harness.live.preflight import PreflightSettings
from harness.live.preflight import missing_permission
from harness.live.preflight import pull_failure
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.rbac import HERMETIC_RULES
from harness.rbac import Permission
from tests.live import sbx

# ---------------------------------------------------------------- pure / fake


@dataclass
class FakeApi:
    """Just enough of the facade for the API and RBAC checks."""

    denied: set[tuple[str, str, str]] = field(default_factory=set)
    down: bool = False
    asked: list[tuple[str, str, str]] = field(default_factory=list)
    server: str = "https://10.0.0.1:6443"

    def version(self, timeout: float = 10.0) -> dict[str, Any]:
        if self.down:
            raise ClusterError(f"GET {self.server}/version: ConnectionRefusedError")
        return {"gitVersion": "v1.32.0"}

    def can_i(
        self, verb: str, group: str, resource: str, *, subresource: str = "", namespace: str = ""
    ) -> tuple[bool, str]:
        key = (verb, group, f"{resource}/{subresource}" if subresource else resource)
        self.asked.append(key)
        return key not in self.denied, ""

    def create(self, body: Mapping[str, Any], *, run_id: str | None = None) -> dict[str, Any]:
        raise AssertionError("the fake has no canary")

    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        raise AssertionError("the fake has no canary")

    def exec(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the fake has no canary")

    def delete_run(self, run_id: str, timeout: float = 0) -> list[str]:
        return []


def test_rbac_asks_every_hermetic_permission_and_names_the_missing_one() -> None:
    api = FakeApi(denied={("get", "", "pods/exec")})
    report = Preflight(api, PreflightSettings(canary=False)).run()
    assert api.asked == [p.key for p in HERMETIC_RULES]
    rbac = next(r for r in report.results if r.name == "rbac")
    assert rbac.status == "fail"
    assert rbac.message == (
        "missing permission: cannot get pods/exec (group '') in any namespace (cluster-wide); "
        "see manifests/rbac/hermetic.yaml"
    )
    assert [r.status for r in report.results] == ["ok", "fail", "skip", "skip", "skip"]
    assert not report.ok


@dataclass
class InterruptedApi(FakeApi):
    """Ctrl-C arrives while the canary pods are being created."""

    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def create(self, body: Mapping[str, Any], *, run_id: str | None = None) -> dict[str, Any]:
        self.created.append(f"{body['kind']} {body['metadata']['name']}")
        if body["kind"] == "Pod":
            raise KeyboardInterrupt
        return dict(body)

    def delete_run(self, run_id: str, timeout: float = 0) -> list[str]:
        self.deleted.append(run_id)
        return []


def test_ctrl_c_during_the_canary_still_deletes_its_namespace() -> None:
    api = InterruptedApi()
    preflight = Preflight(api, PreflightSettings(), run_id="pfabc123")
    with pytest.raises(KeyboardInterrupt):
        preflight.run()
    assert api.created[0] == "Namespace netpol-preflight-pfabc123"
    assert api.deleted == ["pfabc123"]


def test_unreachable_api_names_the_server_and_skips_the_rest() -> None:
    report = Preflight(FakeApi(down=True), PreflightSettings()).run()
    api = report.results[0]
    assert api.status == "fail"
    assert "https://10.0.0.1:6443" in api.message
    assert "fix:" in api.message
    assert [r.status for r in report.results[1:]] == ["skip"] * 4
    assert "api: cannot reach the API server at https://10.0.0.1:6443" in report.summary()


def test_missing_permission_in_place_points_at_its_manifest() -> None:
    p = Permission("patch", "", "pods", "ephemeralcontainers")
    text = missing_permission(p, "in-place", "staging")
    assert text == (
        "missing permission: cannot patch pods/ephemeralcontainers (group '') in namespace "
        "staging; see manifests/rbac/in-place.yaml"
    )


def test_pull_failure_names_the_image_of_the_waiting_container() -> None:
    pods = [
        {
            "spec": {"containers": [{"name": "client", "image": "reg.example/curl:9"}]},
            "status": {
                "containerStatuses": [
                    {
                        "name": "client",
                        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "x"}},
                    }
                ]
            },
        }
    ]
    assert pull_failure(pods) == "image reg.example/curl:9 cannot be pulled (ImagePullBackOff): x"
    assert pull_failure([{"status": {"containerStatuses": [{"state": {"running": {}}}]}}]) == ""


def _pulling(reason: str, message: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "client"},
        "spec": {"containers": [{"name": "client", "image": "reg.example/curl:9"}]},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "client", "state": {"waiting": {"reason": reason, "message": message}}}
            ],
        },
    }


@pytest.mark.parametrize(
    ("message", "permanent"),
    [
        ('failed to resolve reference "reg.example/curl:9": reg.example/curl:9: not found', True),
        ("rpc error: code = NotFound desc = manifest unknown", True),
        ("pull access denied, repository does not exist or may require authorization", True),
        ("failed to authorize: 401 Unauthorized", True),
        ("dial tcp 10.0.0.1:443: i/o timeout", False),
        ("toomanyrequests: You have reached your pull rate limit", False),
        ("net/http: TLS handshake timeout", False),
    ],
)
def test_pull_failures_are_told_transient_from_permanent(message: str, permanent: bool) -> None:
    pods = [_pulling("ErrImagePull", message)]
    assert pull_failure(pods) != ""
    assert bool(pull_failure(pods, permanent_only=True)) is permanent


@dataclass
class PullingApi(FakeApi):
    """A canary whose client pod keeps failing to pull, transiently or not."""

    message: str = ""
    created: list[str] = field(default_factory=list)

    def create(self, body: Mapping[str, Any], *, run_id: str | None = None) -> dict[str, Any]:
        self.created.append(str(body.get("kind")))
        return dict(body)

    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        return [_pulling("ErrImagePull", self.message)]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("message", "fails_at_once"),
    [("manifest unknown", True), ("dial tcp 10.0.0.1:443: i/o timeout", False)],
)
def test_the_canary_waits_out_transient_pulls_only(message: str, fails_at_once: bool) -> None:
    clock = _Clock()
    api = PullingApi(message=message)
    settings = PreflightSettings(ready_timeout=30.0)
    report = Preflight(api, settings, clock=clock, sleep=clock.sleep).run()
    images = next(r for r in report.results if r.name == "images")
    assert images.status == "fail"
    assert "reg.example/curl:9 cannot be pulled" in images.message
    assert (clock.now < 5.0) is fails_at_once  # a missing image is said at once
    if not fails_at_once:
        assert "still after 30s of retries" in images.message


def test_in_place_preflight_runs_no_canary() -> None:
    api = PullingApi(message="x")
    report = Preflight(api, PreflightSettings(mode="in-place")).run()
    assert api.created == []  # the in-place role may not create anything
    skipped = {r.name: r for r in report.results if r.status == "skip"}
    assert set(skipped) == {"images", "dns", "enforcement"}
    assert "in place creates nothing" in skipped["images"].message


# ---------------------------------------------------------------- sandbox


def _leftovers(kubeconfig: str) -> list[str]:
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=kubeconfig)
    return [
        str(ns["metadata"]["name"])
        for ns in cluster.list_namespaces(f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
        if not ns["metadata"].get("deletionTimestamp")
    ]


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from sbx.sandbox(tmp_path_factory.mktemp("pf-normal"))


@pytest.fixture(scope="module")
def unenforced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from sbx.sandbox(tmp_path_factory.mktemp("pf-noenf"), "--no-enforce")


@pytest.mark.sandbox
def test_normal_sandbox_passes_every_check_and_leaves_nothing(normal: str) -> None:
    result = sbx.cli("preflight", "--kubeconfig", normal)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    for name in ("api", "rbac", "images", "dns", "enforcement"):
        assert any(line.startswith(f"ok   {name}") for line in lines), result.stdout
    assert "dropped the canary probe" in result.stdout
    assert _leftovers(normal) == []


@pytest.mark.sandbox
def test_image_that_never_pulls_is_named(normal: str) -> None:
    result = sbx.cli("preflight", "--kubeconfig", normal, "--client-image", "nosuch/image:1")
    assert result.returncode == 1
    assert "FAIL images      image nosuch/image:1 cannot be pulled (ErrImagePull)" in result.stdout
    assert "skip dns" in result.stdout
    assert _leftovers(normal) == []


@pytest.mark.sandbox
def test_plugin_stops_on_a_bad_image_with_one_message(normal: str, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    junit = tmp_path / "junit.xml"
    result = _pytest_run(
        normal, "--netpol-client-image", "nosuch/image:1", f"--netpol-junit={junit}"
    )
    out = result.stdout + result.stderr
    assert result.returncode == 4, out
    assert out.count("image nosuch/image:1 cannot be pulled") == 1, out
    assert "--netpol-no-preflight" in out
    # The JUnit file still exists and says why nothing ran.
    root = ET.parse(junit).getroot()
    assert root.get("errors") == "1"  # an infrastructure cause: <error>, never a <failure>
    error = root.find("testsuite/testcase/error")
    assert error is not None
    assert "nosuch/image:1" in (error.get("message", "") + (error.text or ""))


@pytest.mark.sandbox
def test_unenforcing_cni_fails_the_enforcement_check(unenforced: str) -> None:
    result = sbx.cli("preflight", "--kubeconfig", unenforced, "--convergence", "3")
    assert result.returncode == 1
    assert "FAIL enforcement the cluster does not enforce NetworkPolicy" in result.stdout
    assert "every deny cell would fail for the wrong reason" in result.stdout
    assert "the canary probe connected" in result.stdout
    assert "ok   images" in result.stdout and "ok   dns" in result.stdout
    assert _leftovers(unenforced) == []


def _pytest_run(kubeconfig: str, *extra: str) -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "scenarios/dns.netpol.yaml",
            "--netpol-kubeconfig",
            kubeconfig,
            "--netpol-convergence",
            "3s",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=sbx.env(),
        cwd=sbx.ROOT,
        check=False,
    )


@pytest.mark.sandbox
def test_pytest_stops_with_one_enforcement_message(unenforced: str) -> None:
    result = _pytest_run(unenforced)
    out = result.stdout + result.stderr
    assert result.returncode == 4, out
    assert out.count("the cluster does not enforce NetworkPolicy") == 1, out
    assert "passed" not in result.stdout and "failed" not in result.stdout
    assert "--netpol-no-preflight" in out
    skipped = _pytest_run(unenforced, "--netpol-no-preflight", "-q")
    assert "does not enforce" not in skipped.stdout + skipped.stderr
    assert "failed" in skipped.stdout  # without the preflight, the deny cells fail one by one


# ---------------------------------------------------------------- RBAC mode


def _rules(permissions: list[Permission]) -> list[dict[str, Any]]:
    return [
        {"verbs": [p.verb], "apiGroups": [p.group], "resources": [p.rbac_resource]}
        for p in permissions
    ]


@pytest.fixture(scope="module")
def rbac_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("pf-rbac")
    removed = next(p for p in HERMETIC_RULES if p.key == ("create", "", "pods"))
    rbac = {
        "tokens": {
            "full-token": {
                "user": "system:serviceaccount:netpol-harness-system:netpol-harness",
                "rules": _rules(list(HERMETIC_RULES)),
            },
            "partial-token": {
                "user": "system:serviceaccount:ci:partial",
                "rules": _rules([p for p in HERMETIC_RULES if p is not removed]),
            },
        }
    }
    rbac_file = base / "rbac.json"
    rbac_file.write_text(json.dumps(rbac))
    for kubeconfig in sbx.sandbox(base / "state", "--rbac", str(rbac_file)):
        yield kubeconfig, base


def _token_kubeconfig(kubeconfig: str, base: Path, token: str) -> str:
    from netpol_sandbox import kubeconfig as kc

    path = base / f"{token}.kubeconfig"
    kc.with_token(Path(kubeconfig), path, token, token)  # same server and CA
    return str(path)


@pytest.mark.sandbox
def test_exactly_the_hermetic_rules_are_enough(rbac_sandbox: tuple[str, Path]) -> None:
    kubeconfig, base = rbac_sandbox
    full = _token_kubeconfig(kubeconfig, base, "full-token")
    result = sbx.cli("preflight", "--kubeconfig", full)
    # The whole preflight (canary included) runs with nothing but the documented rules.
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"all {len(HERMETIC_RULES)} permissions of the hermetic role granted" in result.stdout


@pytest.mark.sandbox
def test_a_removed_rule_is_named(rbac_sandbox: tuple[str, Path]) -> None:
    kubeconfig, base = rbac_sandbox
    partial = _token_kubeconfig(kubeconfig, base, "partial-token")
    result = sbx.cli("preflight", "--kubeconfig", partial)
    assert result.returncode == 1
    assert (
        "FAIL rbac        missing permission: cannot create pods (group '') in any namespace "
        "(cluster-wide); see manifests/rbac/hermetic.yaml"
    ) in result.stdout
    assert "cannot create pods/exec" not in result.stdout  # only the removed one
    assert "skip images" in result.stdout


# ---------------------------------------------------------------- plugin hook (no sandbox)

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
    role: client
expect:
  allow:
    - web -> dns
"""

DEAD_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: sekret-token-value}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


@pytest.fixture
def dead(pytester: pytest.Pytester) -> str:
    pytester.makefile(".netpol.yaml", tiny=SCENARIO)
    path = pytester.path / "kubeconfig"
    path.write_text(DEAD_KUBECONFIG)
    return str(path)


def test_plugin_preflight_stops_a_live_run_once_without_the_token(
    pytester: pytest.Pytester, dead: str
) -> None:
    result = pytester.runpytest_subprocess("--netpol-kubeconfig", dead, "-n", "2")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert out.count("cannot reach the API server at http://127.0.0.1:1") == 1, out
    assert "sekret" not in out
    assert "bringing up nodes" not in out  # stopped before the xdist workers started


@pytest.mark.parametrize("flag", ["--collect-only", "--netpol-static", "--netpol-no-preflight"])
def test_no_preflight_when_not_a_live_run_or_skipped(
    pytester: pytest.Pytester, dead: str, flag: str
) -> None:
    result = pytester.runpytest_subprocess("--netpol-kubeconfig", dead, flag)
    out = result.stdout.str() + result.stderr.str()
    assert "cannot reach the API server" not in out
    assert "preflight of" not in out and "netpol preflight:" not in out
