"""Interrupt campaign: does SIGINT/SIGTERM at any moment leave anything behind?

Run as root: `.venv/bin/python bench/interrupt_campaign.py [--runs 20] [--seed 1]`.

One sandbox; a fault-free run of the scenario measures its length, then each run starts
`pytest scenarios/<scenario> --netpol-kubeconfig K` (as CI does), waits a random delay
between 0.2 s and that length, notes the step the run is at (from what exists in the
cluster), sends SIGINT or SIGTERM, waits for the exit and lists what carries the label
app.kubernetes.io/managed-by=netpol-harness (bounded wait for namespace termination).
A last run SIGKILLs one pytest-xdist worker of a `-n 2` run over two scenarios; then
`netpol-harness cleanup` must remove what that worker left. Writes the table to
bench/results/interrupt-campaign.md; exit code 1 if anything leaked.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability import kit

SCENARIO = "default-deny-ingress.netpol.yaml"
PAIR = ["default-deny-ingress.netpol.yaml", "dns.netpol.yaml"]


@dataclass(frozen=True)
class Shot:
    signal: str
    delay: float
    moment: str
    exit_code: int
    exit_seconds: float
    leaked: list[str]
    after_cleanup: list[str] | None = None


def interrupt(
    kubeconfig: Path, out: Path, sig: signal.Signals, delay: float, baseline: float
) -> Shot:
    argv, _, _ = kit.pytest_argv(kubeconfig, [SCENARIO], out)
    proc = subprocess.Popen(
        argv, env=kit.env(), cwd=kit.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(delay)
        step = kit.moment(kubeconfig) if proc.poll() is None else "already finished"
        if step.startswith("start-up") and delay > baseline / 2:
            step = "reporting (namespaces already deleted)"
        proc.send_signal(sig)
        sent = time.monotonic()
        code = proc.wait(timeout=300)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Shot(sig.name, delay, step, code, took, kit.leftovers(kubeconfig, wait=60))


def kill_worker(kubeconfig: Path, out: Path) -> Shot:
    """SIGKILL one xdist worker once its scenario's pods exist; then `netpol-harness cleanup`."""
    argv, _, _ = kit.pytest_argv(kubeconfig, PAIR, out, "-n", "2")
    proc = subprocess.Popen(
        argv, env=kit.env(), cwd=kit.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    start = time.monotonic()
    step = "no worker found"
    try:
        while proc.poll() is None and time.monotonic() - start < 120:
            step = kit.moment(kubeconfig)
            workers = kit.children(proc.pid)
            if step in ("namespaces / pod start", "pods ready / data path proof") and workers:
                os.kill(workers[0], signal.SIGKILL)
                break
            time.sleep(0.2)
        delay = time.monotonic() - start
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    leaked = kit.leftovers(kubeconfig, wait=10)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "cleanup", "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=300,
        env=kit.env(),
        cwd=kit.REPO,
        check=False,
    )
    if done.returncode != 0:
        print(f"cleanup exit {done.returncode}: {done.stdout}{done.stderr}", file=sys.stderr)
    after = kit.leftovers(kubeconfig, wait=60)
    return Shot("SIGKILL worker", delay, step, code, 0.0, leaked, after)


def table(shots: list[Shot], baseline: float, total: float) -> str:
    signals = [s for s in shots if s.after_cleanup is None]
    leaks = sum(1 for s in signals if s.leaked)
    lines = [
        "# Interrupt campaign",
        "",
        f"Scenario {SCENARIO.removesuffix('.netpol.yaml')} (fault-free run: {baseline:.1f} s); "
        f"{len(signals)} interrupted runs, {leaks} with leftovers; total {total:.0f} s.",
        "Command: `.venv/bin/python bench/interrupt_campaign.py`",
        "",
        "| # | signal | after | step at the signal | exit code | exit took | left behind |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(shots, 1):
        left = ", ".join(s.leaked[:3]) + (" ..." if len(s.leaked) > 3 else "") or "nothing"
        if s.after_cleanup is not None:
            after = ", ".join(s.after_cleanup[:3]) or "nothing"
            left = f"{len(s.leaked)} objects; after `netpol-harness cleanup`: {after}"
        lines.append(
            f"| {i} | {s.signal} | {s.delay:.1f} s | {s.moment} | {s.exit_code} "
            f"| {s.exit_seconds:.1f} s | {left} |"
        )
    by_step: dict[str, int] = {}
    for s in signals:
        by_step[s.moment] = by_step.get(s.moment, 0) + 1
    lines += ["", "Runs per step: " + ", ".join(f"{k} {v}" for k, v in sorted(by_step.items()))]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-worker", action="store_true", help="skip the killed-worker run")
    parser.add_argument(
        "--out", type=Path, default=kit.REPO / "bench" / "results" / "interrupt-campaign.md"
    )
    args = parser.parse_args()
    if not kit.can_run_sandbox():
        print("the sandbox needs root, iproute2 and nftables", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    start = time.monotonic()
    shots: list[Shot] = []
    with tempfile.TemporaryDirectory(prefix="netpol-intr-") as tmp:
        root = Path(tmp)
        with kit.sandbox(root / "sbx") as kubeconfig:
            first = kit.run_pytest(kubeconfig, [SCENARIO], root / "baseline")
            baseline = first.seconds
            print(f"baseline run: {baseline:.1f} s, exit {first.returncode}", file=sys.stderr)
            for i in range(args.runs):
                sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
                delay = rng.uniform(0.2, baseline)
                shot = interrupt(kubeconfig, root / f"run{i}", sig, delay, baseline)
                shots.append(shot)
                print(
                    f"{i + 1:2d} {shot.signal} at {delay:.1f}s ({shot.moment}): exit "
                    f"{shot.exit_code} in {shot.exit_seconds:.1f}s, left {len(shot.leaked)}",
                    file=sys.stderr,
                    flush=True,
                )
            if not args.no_worker:
                shot = kill_worker(kubeconfig, root / "xdist")
                shots.append(shot)
                print(f"worker: {shot}", file=sys.stderr)
    text = table(shots, baseline, time.monotonic() - start)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    bad = any(s.leaked for s in shots if s.after_cleanup is None)
    bad = bad or any(s.after_cleanup for s in shots if s.after_cleanup is not None)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
