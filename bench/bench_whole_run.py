"""Whole-run concurrency: the guide's scenarios on the sandbox, one at a time vs together.

Brings a sandbox up with its realistic defaults (pod start 1-2 s, per-pod policy lag
0-1 s, delayed ServiceAccounts, TLS) plus ``--exec-latency`` (default 100 ms), then runs
``pytest -n WORKERS scenarios/`` twice in the same process, alternating, ``--rounds``
times: (a) ``--netpol-parallel-scenarios 1`` (each process runs one scenario at a time,
how the harness ran before) and (b) the default (every scenario of a process at once).
Each run writes its JSON summary; the table gives the run's wall time, its slowest
scenario, the sum of all scenario times, and the a/b ratio.

    .venv/bin/python bench/bench_whole_run.py [--rounds 2] [--workers 2] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The guide's 16 scenarios (scenarios/README.md); later ones (multi-step, Calico) are
#: left out so runs stay comparable with earlier measurements.
GUIDE = (
    "default-deny-ingress", "default-deny-egress", "default-deny-all", "dns", "dns-by-ip",
    "app-policies", "api-to-database", "api-egress", "namespace-isolation", "prometheus",
    "external-ingress", "payment-egress", "three-tier", "internal-lb",
    "health-checks-endport", "same-app",
)  # fmt: skip


@dataclass(frozen=True)
class Run:
    mode: str
    wall: float
    span: float  # first scenario start to last scenario end (the probing phase, about)
    slowest: float
    total: float
    cells: int
    failed: int
    flipped: int


def _env() -> dict[str, str]:
    return {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def sandbox(action: str, state: Path, *extra: str) -> None:
    cli = [sys.executable, "-m", "harness.cli", "sandbox", action, "--state-dir", str(state)]
    subprocess.run([*cli, *extra], check=action == "up", timeout=300, cwd=ROOT, env=_env())


def run_once(mode: str, kubeconfig: str, workers: int, out: Path) -> Run:
    summary = out / f"{mode}-{time.monotonic_ns()}.json"
    argv = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", str(workers),
        f"--netpol-kubeconfig={kubeconfig}", f"--netpol-report-json={summary}",
        "--netpol-tables=none", *(str(ROOT / "scenarios" / f"{n}.netpol.yaml") for n in GUIDE),
    ]  # fmt: skip
    if mode == "one-at-a-time":
        argv.insert(-len(GUIDE), "--netpol-parallel-scenarios=1")
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=_env(), check=False)
    wall = time.monotonic() - start
    doc = json.loads(summary.read_text()) if summary.exists() else {"scenarios": []}
    scenarios = doc["scenarios"]
    cells = [c for s in scenarios for c in s.get("cells", [])]
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], file=sys.stderr)
    return Run(
        mode,
        wall,
        _span(scenarios),
        max((float(s.get("seconds", 0.0)) for s in scenarios), default=0.0),
        sum(float(s.get("seconds", 0.0)) for s in scenarios),
        len(cells),
        sum(1 for c in cells if c.get("status") != "pass"),
        sum(1 for c in cells if c.get("flipped")),
    )


def _span(scenarios: Sequence[dict[str, object]]) -> float:
    """From the first scenario's start to the last one's end (``started`` is whole seconds)."""
    from datetime import datetime

    ends: list[float] = []
    starts: list[float] = []
    for s in scenarios:
        when = str(s.get("started") or "")
        if not when:
            continue
        start = datetime.strptime(when, "%Y-%m-%dT%H:%M:%S%z").timestamp()
        starts.append(start)
        ends.append(start + float(str(s.get("seconds") or 0.0)))
    return max(ends) - min(starts) if starts else 0.0


def table(runs: Sequence[Run]) -> str:
    lines = [
        "| mode | wall s (median) | probing span s | slowest scenario s | sum of scenario s "
        "| cells | not passed | flipped |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode in ("one-at-a-time", "together"):
        rows = [r for r in runs if r.mode == mode]
        if not rows:
            continue
        med = statistics.median
        lines.append(
            f"| {mode} | {med(r.wall for r in rows):.1f} | {med(r.span for r in rows):.1f} | "
            f"{med(r.slowest for r in rows):.1f} | "
            f"{med(r.total for r in rows):.1f} | {rows[0].cells} | "
            f"{max(r.failed for r in rows)} | {max(r.flipped for r in rows)} |"
        )
    a = [r.wall for r in runs if r.mode == "one-at-a-time"]
    b = [r.wall for r in runs if r.mode == "together"]
    if a and b:
        ratios = [x / y for x, y in zip(a, b, strict=False)]
        lines.append("")
        lines.append(
            "one-at-a-time / together, pair by pair: "
            + ", ".join(f"{r:.2f}x" for r in ratios)
            + f" (median {statistics.median(ratios):.2f}x)"
        )
        alone = [r.span for r in runs if r.mode == "one-at-a-time"]
        spans = [r.span for r in runs if r.mode == "together"]
        span_ratios = [x / y for x, y in zip(alone, spans, strict=False) if y]
        if span_ratios:
            lines.append(
                "one-at-a-time / together, probing span, pair by pair: "
                + ", ".join(f"{r:.2f}x" for r in span_ratios)
                + f" (median {statistics.median(span_ratios):.2f}x)"
            )
        together = [r for r in runs if r.mode == "together"]
        within = statistics.median(r.wall / r.slowest for r in together if r.slowest)
        lines.append(f"together: wall time / slowest scenario = {within:.2f} (median)")
        span = statistics.median(r.span / r.slowest for r in together if r.slowest)
        lines.append(f"together: probing span / slowest scenario = {span:.2f} (median)")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--exec-latency", type=float, default=0.1)
    parser.add_argument("--write", action="store_true", help="write bench/results/whole-run.md")
    args = parser.parse_args(argv)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="netpol-whole-") as tmp:
        state = Path(tmp) / "sandbox"
        try:
            sandbox("up", state, "--exec-latency", f"{args.exec_latency:g}")
            kubeconfig = str(state / "kubeconfig")
            for _ in range(args.rounds):
                for mode in ("one-at-a-time", "together"):
                    runs.append(run_once(mode, kubeconfig, args.workers, Path(tmp)))
                    print(runs[-1], flush=True)
        finally:
            sandbox("down", state)
    text = table(runs)
    print(text)
    if args.write:
        header = (
            "# Whole-run concurrency on the sandbox\n\n"
            f"`.venv/bin/python bench/bench_whole_run.py --rounds {args.rounds} "
            f"--workers {args.workers} --write` (2 vCPU; sandbox defaults: pod start 1-2 s, "
            f"policy lag 0-1 s per pod, exec latency {args.exec_latency:g} s).\n\n"
        )
        (ROOT / "bench" / "results" / "whole-run.md").write_text(header + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
