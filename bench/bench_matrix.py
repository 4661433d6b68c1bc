"""Live matrix benchmark: the harness vs one exec per cell (e2e style) vs kubectl per cell.

One command (root; brings up its own sandbox with exec latency 100 ms and always brings
it down):

    .venv/bin/python bench/bench_matrix.py [--sizes 100,1000,5000] [--sample 200] [--quick]

For each size N it generates (in a temp dir) a scenario of C clients x S servers x 2 TCP
ports = N cells, a default-deny-ingress policy and one allow policy letting every client
reach the servers labelled ``open: "yes"`` (the first half), so half of the cells are
expected deny; connect timeout 1 s. Then, in the same run:

(a) ``harness``: the product: :class:`harness.runner.Runner` with the settings the pytest
    plugin uses (deploy, Ready, data-path proof, apply, probe, converge, confirm, cleanup);
    ``harness settle=0`` is the same with ``RunSettings(settle=0)`` (allow cells are
    confirmed as soon as a round allows, not only from 5 s after the apply on);
(b) ``e2e-3workers``: the upstream e2e suite's strategy: a ThreadPool(3) calling the cluster
    facade's ``exec`` once per cell (one curl each);
(c) ``kubectl-seq``: one ``kubectl exec ... -- curl`` subprocess per cell, in sequence, as
    the guide's test script does.

(b) and (c) run on a sample of ``--sample`` cells (half allow, half deny) of an already
deployed copy of the scenario with the policies applied, and are EXTRAPOLATED linearly to
N cells (marked ``~`` and ``(extrapolated from K cells)``). ``matrix s`` is policies
applied -> last verdict; ``run s`` adds deploy/Ready/data path and cleanup. The table is
printed and, with ``--write``, written to bench/results/matrix.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings
from harness.model import Plan
from harness.model import Probe
from harness.probes import curl_argv

ROOT = Path(__file__).resolve().parent.parent
PORTS = (8080, 8081)
CONNECT_TIMEOUT = 1.0

POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: bench}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-open, namespace: bench}
spec:
  podSelector: {matchLabels: {open: "yes"}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}]}]
"""

#: cells -> (clients, servers); cells = clients * servers * len(PORTS)
SHAPES = {100: (5, 10), 1000: (25, 20), 5000: (50, 50)}


def shape(cells: int) -> tuple[int, int]:
    if cells in SHAPES:
        return SHAPES[cells]
    servers = max(2, round((cells / len(PORTS)) ** 0.5))
    servers += servers % 2
    clients = max(1, round(cells / len(PORTS) / servers))
    return clients, servers


def scenario_text(clients: int, servers: int) -> str:
    lines = [
        "apiVersion: netpol-harness.dev/v1alpha1",
        "kind: Scenario",
        "metadata: {name: bench}",
        f"settings: {{connectTimeout: {CONNECT_TIMEOUT:g}s, convergence: 10s}}",
        "namespaces: [{name: bench}]",
        "workloads:",
    ]
    for i in range(clients):
        lines.append(
            f"  - {{name: c{i}, namespace: bench, role: client, "
            f"labels: {{app: c{i}, role: client}}}}"
        )
    port_list = ", ".join(str(p) for p in PORTS)
    for i in range(servers):
        open_ = "yes" if i < servers // 2 else "no"
        lines.append(
            f"  - {{name: s{i}, namespace: bench, role: server, "
            f'labels: {{app: s{i}, open: "{open_}"}}, ports: [{port_list}]}}'
        )
    lines += ["manifests: [policies.yaml]", "expect:", "  default: deny", "  allow:"]
    lines += [f'    - "* -> s{i}"' for i in range(servers // 2)]
    return "\n".join(lines) + "\n"


def write_scenario(work: Path, cells: int) -> Path:
    clients, servers = shape(cells)
    (work / "policies.yaml").write_text(POLICIES)
    path = work / f"bench{cells}.netpol.yaml"
    path.write_text(scenario_text(clients, servers))
    return path


class TimedRunner(Runner):
    """Records when the policies were applied (the matrix phase starts there)."""

    applied_at = 0.0
    probed_at = 0.0

    def _apply_policies(self, plan: Plan) -> None:
        super()._apply_policies(plan)
        self.applied_at = time.monotonic()


@dataclass
class Row:
    cells: int
    mode: str
    matrix_s: float
    run_s: float
    measured: int  # cells actually probed
    wrong: int  # cells whose observation disagreed with the expectation (measured ones)
    note: str = ""

    @property
    def extrapolated(self) -> bool:
        return self.measured < self.cells


def _plan(path: Path, run_id: str) -> Plan:
    from harness.plan import build
    from harness.scenario.loader import load

    return build(load(path), run_id, created="2026-01-01T00:00:00Z")


def run_harness(
    kubeconfig: str, path: Path, cells: int, run_id: str, settings: RunSettings, mode: str
) -> Row:
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=kubeconfig)
    plan = _plan(path, run_id)
    assert len(plan.probes) == cells, (len(plan.probes), cells)
    runner = TimedRunner(cluster, settings, recorder=Recorder())
    start = time.monotonic()
    try:
        result = runner.run(plan)
        probed = time.monotonic()
    finally:
        cluster.delete_run(run_id, timeout=300)
    end = time.monotonic()
    if result.setup_error:
        raise SystemExit(f"setup failed: {result.setup_error}")
    wrong = sum(1 for v in result.verdicts if v.status.value != "pass")
    return Row(cells, mode, probed - runner.applied_at, end - start, cells, wrong)


def _sample(probes: Sequence[Probe], size: int) -> list[Probe]:
    if size >= len(probes):
        return list(probes)
    rng = random.Random(1)
    allow = [p for p in probes if p.cell.expect == "allow"]
    deny = [p for p in probes if p.cell.expect == "deny"]
    half = size // 2
    return rng.sample(allow, min(half, len(allow))) + rng.sample(deny, size - half)


def _cell_ok(probe: Probe, code: int) -> bool:
    return code == 0 if probe.cell.expect == "allow" else code == 28


def run_baselines(
    kubeconfig: str, path: Path, cells: int, run_id: str, sample: int, modes: set[str]
) -> list[Row]:
    """Deploy once (as the harness does), then (b) and (c) on a sample of cells."""
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=kubeconfig)
    plan = _plan(path, run_id)
    runner = TimedRunner(cluster, RunSettings(), recorder=Recorder())
    start = time.monotonic()
    rows: list[Row] = []
    try:
        runner._deploy(plan)
        ips = runner._wait_ready(plan)
        runner._prove_datapath(plan, ips)
        runner._apply_policies(plan)
        setup = time.monotonic() - start
        time.sleep(1.0)  # let the policies be programmed (not counted: in their favour)
        probes = _sample(plan.probes, sample)

        def argv(p: Probe) -> list[str]:
            return curl_argv(ips[str(p.target_pod)], p.port, CONNECT_TIMEOUT)

        if "b" in modes:

            def one(p: Probe) -> bool:
                try:
                    out = cluster.exec(
                        p.source_pod.namespace, p.source_pod.name, argv(p), container="client"
                    )
                except Exception:
                    return False
                return _cell_ok(p, out.exit_code)

            t0 = time.monotonic()
            with ThreadPoolExecutor(max_workers=3) as pool:
                oks = list(pool.map(one, probes))
            took = time.monotonic() - t0
            rows.append(_extrapolated(cells, "e2e-3workers", took, setup, probes, oks))
        if "c" in modes:
            kubectl = shutil.which("kubectl")
            if kubectl is None:
                print("kubectl not found: skipping (c)", file=sys.stderr)
            else:
                env = {**os.environ, "KUBECONFIG": kubeconfig, "NO_PROXY": "127.0.0.1"}
                oks = []
                t0 = time.monotonic()
                for p in probes:
                    done = subprocess.run(
                        [
                            kubectl,
                            "exec",
                            "-n",
                            p.source_pod.namespace,
                            p.source_pod.name,
                            "-c",
                            "client",
                            "--",
                            *argv(p),
                        ],
                        capture_output=True,
                        env=env,
                        check=False,
                        timeout=60,
                    )
                    oks.append(_cell_ok(p, done.returncode))
                took = time.monotonic() - t0
                rows.append(_extrapolated(cells, "kubectl-seq", took, setup, probes, oks))
    finally:
        t0 = time.monotonic()
        cluster.delete_run(run_id, timeout=300)
        cleanup = time.monotonic() - t0
    for row in rows:
        row.run_s += cleanup
    return rows


def _extrapolated(
    cells: int, mode: str, took: float, setup: float, probes: Sequence[Probe], oks: list[bool]
) -> Row:
    matrix = took * cells / len(probes)
    note = f"extrapolated from {len(probes)} cells" if len(probes) < cells else ""
    return Row(cells, mode, matrix, setup + matrix, len(probes), oks.count(False), note)


def _fmt(value: float, approx: bool) -> str:
    text = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return ("~" if approx else "") + text


def table(rows: Sequence[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| cells | mode | matrix s | run s | measured cells | wrong | matrix ratio vs harness |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    harness = {r.cells: r for r in rows if r.mode == "harness"}
    for r in rows:
        base = harness.get(r.cells)
        ratio = ""
        if base and r is not base:
            value = r.matrix_s / base.matrix_s
            ratio = f"{value:,.2f}x" if value < 10 else f"{value:,.0f}x"
        measured = f"{r.measured:,}" + (f" ({r.note})" if r.note else "")
        lines.append(
            f"| {r.cells:,} | {r.mode} | {_fmt(r.matrix_s, r.extrapolated)} | "
            f"{_fmt(r.run_s, r.extrapolated)} | {measured} | {r.wrong} | {ratio} |"
        )
    lines.append("")
    lines.append(
        "`~` = extrapolated linearly from the sampled cells (half allow, half deny) to all cells."
    )
    goal = 3 * CONNECT_TIMEOUT
    for base in rows:
        if not base.mode.startswith("harness"):
            continue
        cells, name = base.cells, f"({base.mode})"
        if cells == 1000:
            verdict = "met" if base.matrix_s <= goal else "NOT met"
            lines.append(
                f"Goal 1,000-cell matrix phase <= {goal:g} s (3x the deny timeout) {name}: "
                f"{base.matrix_s:.2f} s, {verdict}."
            )
        for r in rows:
            if r.cells == cells and r.mode == "e2e-3workers":
                ratio = r.matrix_s / base.matrix_s
                goal_text = f" (goal >= 50x: {'met' if ratio >= 50 else 'NOT met'})"
                lines.append(
                    f"{cells:,} cells: a/b speed-up {ratio:,.0f}x {name}"
                    + (goal_text if cells == 1000 else "")
                )
            if r.cells == cells and r.mode == "kubectl-seq":
                lines.append(
                    f"{cells:,} cells: a/c speed-up {r.matrix_s / base.matrix_s:,.0f}x {name}"
                )
    return "\n".join(lines) + "\n"


def sandbox(action: str, state: Path, *extra: str) -> None:
    cli = [sys.executable, "-m", "harness.cli", "sandbox", action, "--state-dir", str(state)]
    subprocess.run([*cli, *extra], check=action == "up", timeout=300, cwd=ROOT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="matrix sizes (cells)")
    parser.add_argument("--sample", type=int, default=200, help="cells probed for (b) and (c)")
    parser.add_argument("--quick", action="store_true", help="sizes 100,1000 and a 60-cell sample")
    parser.add_argument(
        "--modes",
        default="asbc",
        help="a: harness as built, s: harness with settle=0, b, c (default asbc)",
    )
    parser.add_argument("--exec-latency", type=float, default=0.1)
    parser.add_argument("--kubeconfig", default=None, help="use this cluster (no sandbox)")
    parser.add_argument("--write", action="store_true", help="write bench/results/matrix.md")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    sample = args.sample
    if args.quick:
        sizes, sample = [s for s in sizes if s <= 1000] or [100], min(sample, 60)
    modes = set(args.modes)
    rows: list[Row] = []
    total_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="netpol-bench-") as tmp:
        work = Path(tmp)
        state = work / "sandbox"
        kubeconfig = args.kubeconfig
        try:
            if kubeconfig is None:
                sandbox("up", state, "--exec-latency", f"{args.exec_latency:g}")
                kubeconfig = str(state / "kubeconfig")
            for n, cells in enumerate(sizes):
                path = write_scenario(work, cells)
                if "a" in modes:
                    # The settings the pytest plugin uses (LiveSession's defaults).
                    rows.append(
                        run_harness(
                            kubeconfig, path, cells, f"bencha{n:02d}", RunSettings(), "harness"
                        )
                    )
                    print(_progress(rows[-1]), flush=True)
                if "s" in modes:
                    rows.append(
                        run_harness(
                            kubeconfig,
                            path,
                            cells,
                            f"benchs{n:02d}",
                            RunSettings(settle=0.0),
                            "harness settle=0",
                        )
                    )
                    print(_progress(rows[-1]), flush=True)
                if modes & {"b", "c"}:
                    got = run_baselines(kubeconfig, path, cells, f"benchb{n:02d}", sample, modes)
                    for row in got:
                        print(_progress(row), flush=True)
                    rows += got
        finally:
            if args.kubeconfig is None:
                sandbox("down", state)
    header = (
        f"Sandbox exec latency {args.exec_latency * 1000:g} ms, connect (deny) timeout "
        f"{CONNECT_TIMEOUT:g} s, {os.cpu_count()} vCPU; bench wall time "
        f"{time.monotonic() - total_start:.0f} s."
    )
    text = table(rows, header)
    print(text)
    if args.write:
        out = ROOT / "bench" / "results" / "matrix.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("# Live matrix benchmark\n\n" + text)
        print(f"wrote {out}")
    return 0


def _progress(row: Row) -> str:
    extra: dict[str, Any] = {"wrong": row.wrong}
    if row.note:
        extra["note"] = row.note
    return f"{row.cells} cells {row.mode}: matrix {row.matrix_s:.2f}s run {row.run_s:.2f}s {extra}"


if __name__ == "__main__":
    sys.exit(main())
