"""`netpol-harness sandbox demo`: up, pytest, down, and how to keep a sandbox for reruns."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.live import sbx


@pytest.mark.sandbox
def test_demo_runs_pytest_then_says_how_to_keep_the_sandbox(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("the sandbox needs root and nftables")
    state = tmp_path / "demo"
    result = sbx.cli(
        "sandbox", "demo", "--state-dir", str(state), "--",
        "--co", "-q", str(sbx.ROOT / "scenarios" / "app-policies.netpol.yaml"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "app-policies.netpol.yaml::" in result.stdout  # pytest ran against it
    assert f"netpol-harness sandbox up --state-dir {state}" in result.stdout
    assert "--netpol-keep" in result.stdout
    assert not (state / "sandbox.pid").exists()  # and it is down again
