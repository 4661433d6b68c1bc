"""Matrix benchmark: wall time of a live run vs matrix size, batched vs one exec per probe.

Run as root (starts its own sandbox unless --kubeconfig is given):

    .venv/bin/python bench/bench_matrix.py [--clients 4] [--servers 4] [--ports 2]
        [--kubeconfig PATH]

It writes a scenario with ``clients`` client workloads and ``servers`` server
workloads serving ``ports`` TCP ports each, a default-deny-ingress policy plus one
allow policy (every client may reach server s0), then runs it twice through
harness.runner: batched (one exec per source pod per round: the product) and
unbatched (one exec per probe, what most peers do). It prints, per mode, the
setup time, the probing time (policies applied -> last verdict), the number of
exec calls and the ratio unbatched/batched of the probing time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.model import Observation
from harness.model import Plan
from harness.model import Probe
from harness.runner import Recorder
from harness.runner import Runner
from harness.runner import RunSettings

POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: bench}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-s0, namespace: bench}
spec:
  podSelector: {matchLabels: {app: s0}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}]}]
"""


def scenario_text(clients: int, servers: int, ports: int) -> str:
    lines = [
        "apiVersion: netpol-harness.dev/v1alpha1",
        "kind: Scenario",
        "metadata: {name: bench}",
        "settings: {connectTimeout: 1s, convergence: 5s}",
        "namespaces: [{name: bench}]",
        "workloads:",
    ]
    for i in range(clients):
        lines.append(
            f"  - {{name: c{i}, namespace: bench, role: client, "
            f"labels: {{app: c{i}, role: client}}}}"
        )
    port_list = ", ".join(str(8080 + p) for p in range(ports))
    for i in range(servers):
        lines.append(
            f"  - {{name: s{i}, namespace: bench, labels: {{app: s{i}}}, role: server, "
            f"ports: [{port_list}]}}"
        )
    lines += ["manifests: [policies.yaml]", "expect:", "  default: deny", "  allow:"]
    lines.append('    - "* -> s0"')
    return "\n".join(lines) + "\n"


class CountingRunner(Runner):
    """Counts exec calls; ``per_probe`` makes one exec per probe (the peers' way)."""

    per_probe = False
    execs = 0
    applied_at = 0.0

    def _apply_policies(self, plan: Plan) -> None:
        super()._apply_policies(plan)
        self.applied_at = time.monotonic()

    def _round(
        self, plan: Plan, probes: Sequence[Probe], ips: Mapping[str, str]
    ) -> tuple[dict[str, Observation], bool]:
        if not self.per_probe:
            self.execs += len({p.source_pod for p in probes})
            return super()._round(plan, probes, ips)
        self.execs += len(probes)
        from concurrent.futures import ThreadPoolExecutor

        calls, results = self._calls(plan, probes, ips)
        failed = False
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            for observations, broke in pool.map(
                lambda c: self._batch(c.probe.source_pod, [c]), calls
            ):
                failed = failed or broke
                for obs in observations:
                    results[obs.probe_id] = obs
        return results, failed


def run_once(kubeconfig: str, path: Path, per_probe: bool, run_id: str) -> dict[str, Any]:
    from harness.cluster import Cluster
    from harness.plan import build
    from harness.scenario import load

    cluster = Cluster(kubeconfig=kubeconfig)
    plan = build(load(path), run_id, created="2026-01-01T00:00:00Z")
    runner = CountingRunner(cluster, RunSettings(), recorder=Recorder())
    runner.per_probe = per_probe
    start = time.monotonic()
    try:
        result = runner.run(plan)
        end = time.monotonic()
    finally:
        cluster.delete_run(run_id, timeout=120)
    if result.setup_error:
        raise SystemExit(f"setup failed: {result.setup_error}")
    statuses: dict[str, int] = {}
    for v in result.verdicts:
        statuses[v.status.value] = statuses.get(v.status.value, 0) + 1
    return {
        "cells": len(result.verdicts),
        "setup_s": runner.applied_at - start,
        "probe_s": end - runner.applied_at,
        "execs": runner.execs,
        "statuses": statuses,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--ports", type=int, default=2)
    parser.add_argument("--kubeconfig", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="netpol-bench-") as tmp:
        work = Path(tmp)
        (work / "policies.yaml").write_text(POLICIES)
        path = work / "bench.netpol.yaml"
        path.write_text(scenario_text(args.clients, args.servers, args.ports))
        kubeconfig = args.kubeconfig
        state = work / "sandbox"
        cli = [sys.executable, "-m", "harness.cli", "sandbox"]
        if kubeconfig is None:
            subprocess.run([*cli, "up", "--state-dir", str(state)], check=True, timeout=150)
            kubeconfig = str(state / "kubeconfig")
        try:
            rows = [
                ("batched", run_once(kubeconfig, path, False, "benchb")),
                ("per-probe", run_once(kubeconfig, path, True, "benchp")),
            ]
        finally:
            if args.kubeconfig is None:
                subprocess.run([*cli, "down", "--state-dir", str(state)], check=False, timeout=150)
    print(f"{'mode':<10} {'cells':>6} {'setup s':>8} {'probe s':>8} {'execs':>6}  statuses")
    for name, row in rows:
        print(
            f"{name:<10} {row['cells']:>6} {row['setup_s']:>8.2f} {row['probe_s']:>8.2f} "
            f"{row['execs']:>6}  {row['statuses']}"
        )
    batched, single = rows[0][1], rows[1][1]
    print(f"probe time ratio per-probe/batched: {single['probe_s'] / batched['probe_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
