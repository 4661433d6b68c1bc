"""The daemon through the CLI: `netpol-harness sandbox up/status/down` (FakeNode node), and
`demo` running pytest against it; nothing may be left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netpol_sandbox.cli import running_pid

FAKE = "tests.sandbox.fakenode:FakeNode"
ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    return subprocess.run(
        check=False,
        args=[sys.executable, "-m", "harness.cli", "sandbox", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    pid = running_pid(state)
    if pid is not None:  # a failed test must not leave the daemon behind
        cli("down", "--state-dir", str(state))


def test_up_status_down_leaves_nothing(state_dir: Path) -> None:
    up = cli("up", "--state-dir", str(state_dir), "--node", FAKE, "--pod-start-delay", "0.01")
    assert up.returncode == 0, up.stderr
    kubeconfig = Path(up.stdout.strip())
    assert kubeconfig == state_dir.resolve() / "kubeconfig"
    assert "server: http://127.0.0.1:" in kubeconfig.read_text()
    pid = running_pid(state_dir)
    assert pid is not None
    info = json.loads((state_dir / "sandbox.json").read_text())
    assert info["ready"] is True and len(info["id"]) == 6
    assert info["faults"]["pod_start_delay"] == 0.01

    status = cli("status", "--state-dir", str(state_dir))
    assert status.returncode == 0, status.stderr
    assert "sandbox: running" in status.stdout
    assert "pods: 1" in status.stdout  # the DNS pod

    again = cli("up", "--state-dir", str(state_dir), "--node", FAKE)
    assert again.returncode == 0
    assert running_pid(state_dir) == pid  # idempotent: the same daemon

    down = cli("down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert f"stopped the sandbox daemon (pid {pid})" in down.stdout
    assert not Path(f"/proc/{pid}").exists()
    assert running_pid(state_dir) is None
    assert "stopping" in (state_dir / "sandbox.log").read_text()

    after = cli("status", "--state-dir", str(state_dir))
    assert after.returncode == 1
    assert "not running" in after.stdout


def test_demo_runs_pytest_and_returns_its_code(state_dir: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe_test.py"
    probe.write_text(
        "def test_kubeconfig(request):\n"
        "    path = request.config.getoption('--netpol-kubeconfig')\n"
        "    assert open(path).read().startswith('apiVersion')\n"
        "    raise SystemExit(5)\n"
    )
    conftest = tmp_path / "conftest.py"
    conftest.write_text(
        "def pytest_addoption(parser):\n"
        "    try:\n"
        "        parser.addoption('--netpol-kubeconfig')\n"
        "    except ValueError:\n"
        "        pass\n"
    )
    demo = cli(
        "demo",
        "--state-dir",
        str(state_dir),
        "--node",
        FAKE,
        "--",
        str(probe),
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
    )
    assert "sandbox up:" in demo.stdout
    assert "stopped the sandbox daemon" in demo.stdout
    assert demo.returncode != 0  # pytest's own code, not 0
    assert running_pid(state_dir) is None


def test_up_reports_a_failing_node(state_dir: Path) -> None:
    up = cli(
        "up",
        "--state-dir",
        str(state_dir),
        "--node",
        "tests.sandbox.fakenode:NoSuchNode",
        "--timeout",
        "20",
    )
    assert up.returncode == 2
    assert "the sandbox daemon exited with code 1" in up.stderr
    assert "NoSuchNode" in up.stderr
    assert running_pid(state_dir) is None
