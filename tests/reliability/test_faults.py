"""Faults of the cluster never become verdicts: a fast subset of bench/fault_campaign.py.

Each test brings up its own sandbox with fault knobs, runs a real scenario through pytest
as CI does (subprocess, JUnit + JSON), and checks every cell: PASS (the ground truth of
every scenario in scenarios/) or ERROR naming its cause, never FAIL; nothing left behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.images import DEFAULT_IMAGES
from tests.reliability import kit

pytestmark = pytest.mark.sandbox

SCENARIO = "default-deny-ingress.netpol.yaml"  # 3 pods, 9 cells: pod, Service and DNS targets


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if not kit.can_run_sandbox():
        pytest.skip("the sandbox needs root, iproute2 and nftables")


def _run(tmp_path: Path, *flags: str, extra: tuple[str, ...] = ()) -> Iterator[kit.PytestRun]:
    with kit.sandbox(tmp_path / "sbx", *flags) as kubeconfig:
        run = kit.run_pytest(kubeconfig, [SCENARIO], tmp_path / "out", *extra)
        assert kit.leftovers(kubeconfig) == []
        yield run


def test_flaky_exec_and_lost_statuses_give_passes_or_errors_never_fails(tmp_path: Path) -> None:
    flags = ("--exec-upgrade-failure", "0.1", "--exec-lost-status", "0.05", "--seed", "5")
    for run in _run(tmp_path, *flags):
        results = kit.cells(run.report)
        assert len(results) == 9
        statuses = {r.status for r in results.values()}
        assert statuses <= {"pass", "error"}, run.stdout[-2000:]
        for r in results.values():
            if r.status == "error":
                assert re.search(r"exec|lost exit status|handshake", r.detail), r.detail


def test_an_image_that_never_pulls_is_an_error_naming_the_image(tmp_path: Path) -> None:
    image = DEFAULT_IMAGES.server
    with kit.sandbox(tmp_path / "sbx", "--never-pull", image) as kubeconfig:
        # With the preflight (the default): one clear message, no cell run, non-zero exit.
        first = kit.run_pytest(kubeconfig, [SCENARIO], tmp_path / "pre")
        assert first.returncode != 0
        said = first.stdout + first.stderr
        assert "ErrImagePull" in said and image.split("@")[0] in said, said[-2000:]
        assert "Traceback" not in said
        # Without it: every cell is an ERROR naming the pull error; the JUnit file is written.
        run = kit.run_pytest(kubeconfig, [SCENARIO], tmp_path / "out", "--netpol-no-preflight")
        assert run.returncode != 0
        results = kit.cells(run.report)
        assert len(results) == 9
        for r in results.values():
            assert r.status == "error", r
            assert "ErrImagePull" in r.detail or "ImagePullBackOff" in r.detail, r.detail
            assert image.split("@")[0] in r.detail, r.detail
        junit = run.junit.read_text()
        assert 'errors="10"' in junit, junit[:500]  # 9 cells + the setup case
        assert re.search(r'failures="0"', junit), junit[:500]
        assert "ErrImagePull" in junit
        assert kit.leftovers(kubeconfig) == []


def test_a_server_that_crashes_mid_run_gives_errors_not_fails(tmp_path: Path) -> None:
    flags = ("--crash-after", "1", "--crash-pod", "other-*/outside")
    for run in _run(tmp_path, *flags, extra=("--netpol-convergence", "5s")):
        results = kit.cells(run.report)
        assert len(results) == 9
        assert {r.status for r in results.values()} <= {"pass", "error"}
        # the allow cells into the crashed pod cannot be verdicts
        broken = [r for r in results.values() if r.status == "error"]
        assert broken, "the crash hit nothing: raise --crash-after's precision"
        for r in broken:
            assert "CrashLoopBackOff" in r.detail or "before any policy" in r.detail, r.detail
