"""Bring a sandbox up for a test module and ALWAYS down (helpers for the command tests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    return {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def _run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``argv`` in a subprocess in ``cwd``, output captured, loopback without proxy."""
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env(), cwd=cwd, check=False
    )


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``netpol-harness ARGS`` in a subprocess (the real entry point)."""
    return _run([sys.executable, "-m", "harness.cli", *args], ROOT, timeout)


def plugin_argv(*args: str) -> list[str]:
    """``python -m pytest`` (this interpreter, no cache provider), then ``args``."""
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]


def run_plugin(*args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run pytest with the plugin in a subprocess in ``cwd`` (output captured)."""
    return _run(plugin_argv(*args), cwd, timeout)


def sandbox(state: Path, *flags: str) -> Iterator[str]:
    """Bring a sandbox up in ``state`` and ALWAYS down; yields its kubeconfig path."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("the sandbox needs root, iproute2 and nftables")
    try:
        up = cli("sandbox", "up", "--state-dir", str(state), "--timeout", "90", *flags)
        if up.returncode != 0:
            pytest.fail(f"sandbox up failed: {up.stdout}\n{up.stderr}")
        yield str(state / "kubeconfig")
    finally:
        cli("sandbox", "down", "--state-dir", str(state))


def server_of(kubeconfig: str) -> str:
    info = json.loads((Path(kubeconfig).parent / "sandbox.json").read_text())
    return str(info["server"])
