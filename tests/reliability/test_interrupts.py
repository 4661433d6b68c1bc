"""SIGINT/SIGTERM at any moment of a run, or a killed xdist worker, leave nothing behind.

A fast subset of bench/interrupt_campaign.py: pytest runs a real scenario as CI does
(a subprocess) and is interrupted at spread moments (start-up, preflight canary, pod start,
policies applied / probing, cleanup); afterwards nothing labelled
app.kubernetes.io/managed-by=netpol-harness remains (bounded wait for namespace deletion).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.live.signals import interrupt_on_sigterm
from harness.live.signals import shield_sigterm
from tests.reliability import kit

SCENARIO = "default-deny-ingress.netpol.yaml"
PAIR = ["default-deny-ingress.netpol.yaml", "dns.netpol.yaml"]


def test_sigterm_becomes_keyboard_interrupt_until_undone() -> None:
    undo = interrupt_on_sigterm()
    try:
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs here
    finally:
        undo()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_during_cleanup_is_noted_not_raised() -> None:
    out = io.StringIO()
    undo = interrupt_on_sigterm()
    try:
        unshield = shield_sigterm(out)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        unshield()
        assert "finishing the cleanup first" in out.getvalue()
        with pytest.raises(KeyboardInterrupt):  # the shield is gone again
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        undo()


@pytest.mark.sandbox
@pytest.mark.parametrize(
    ("sig", "delay"),
    [
        (signal.SIGTERM, 0.3),
        (signal.SIGINT, 2.0),
        (signal.SIGTERM, 4.5),
        (signal.SIGINT, 6.5),
        (signal.SIGTERM, 8.0),
        (signal.SIGINT, 9.5),
    ],
    ids=lambda v: v.name if isinstance(v, signal.Signals) else f"{v}s",
)
def test_a_signal_at_any_moment_leaves_nothing_behind(
    sandbox_kubeconfig: Path, tmp_path: Path, sig: signal.Signals, delay: float
) -> None:
    argv, _, _ = kit.pytest_argv(sandbox_kubeconfig, [SCENARIO], tmp_path)
    proc = subprocess.Popen(
        argv, env=kit.env(), cwd=kit.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(delay)
        step = kit.moment(sandbox_kubeconfig)
        proc.send_signal(sig)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert kit.leftovers(sandbox_kubeconfig, wait=60) == [], f"interrupted at {step}"


@pytest.mark.sandbox
def test_a_killed_xdist_worker_is_cleaned_up_by_the_cleanup_command(
    sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    argv, _, _ = kit.pytest_argv(sandbox_kubeconfig, PAIR, tmp_path, "-n", "2")
    proc = subprocess.Popen(
        argv, env=kit.env(), cwd=kit.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    killed = False
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not killed:
            step = kit.moment(sandbox_kubeconfig)
            workers = kit.children(proc.pid)
            if step in ("namespaces / pod start", "pods ready / data path proof") and workers:
                os.kill(workers[0], signal.SIGKILL)
                killed = True
            time.sleep(0.1)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert killed, "never saw a scenario's namespaces while the run lasted"
    text = out.decode(errors="replace")
    summary = text.strip().splitlines()[-1]
    assert proc.returncode != 0, summary
    # the cell the dead worker was running has no verdict: an error, never a failure
    assert " error" in summary and "failed" not in summary, text[-3000:]
    assert "no verdict (infrastructure: the worker process died" in text
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cleanup", "--kubeconfig", str(sandbox_kubeconfig)],
        capture_output=True,
        text=True,
        timeout=300,
        env=kit.env(),
        cwd=kit.REPO,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert kit.leftovers(sandbox_kubeconfig, wait=60) == []
