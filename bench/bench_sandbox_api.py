"""Sandbox scale through the real API path: 200 pods created with the official client.

One command (root; brings up its own sandbox and always brings it down):

    .venv/bin/python bench/bench_sandbox_api.py [--pods 200] [--servers 50] [--workers 16]

It runs ``netpol-harness sandbox up`` (default faults: 0.5 s pod start delay), builds the
probe pods the harness itself deploys (``--servers`` nginx server pods with a TCP
readiness probe, the rest curl client pods) with :func:`harness.plan.build`, creates them
with the official ``kubernetes`` client (``CoreV1Api.create_namespaced_pod`` from a thread
pool), polls ``list_namespaced_pod`` until every pod is Ready, deletes the namespace and
waits until it is gone. Prints the time of each step; goal (issue 4): 200 pods up and
Ready in under 30 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client  # bench code: the official client on purpose
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "scale"


def scenario_text(pods: int, servers: int) -> str:
    lines = [
        "apiVersion: netpol-harness.dev/v1alpha1",
        "kind: Scenario",
        "metadata: {name: scale}",
        f"namespaces: [{{name: {NAMESPACE}}}]",
        "workloads:",
    ]
    for i in range(servers):
        lines.append(
            f"  - {{name: s{i}, namespace: {NAMESPACE}, role: server, "
            f"labels: {{app: s{i}}}, ports: [8080]}}"
        )
    for i in range(pods - servers):
        lines.append(
            f"  - {{name: c{i}, namespace: {NAMESPACE}, role: client, labels: {{app: c{i}}}}}"
        )
    lines += ["expect:", "  default: allow"]
    return "\n".join(lines) + "\n"


def pod_bodies(work: Path, pods: int, servers: int) -> tuple[str, list[dict[str, Any]]]:
    from harness.plan import build
    from harness.scenario.loader import load

    path = work / "scale.netpol.yaml"
    path.write_text(scenario_text(pods, servers))
    plan = build(load(path), "scale001", created="2026-01-01T00:00:00Z")
    namespace = str(plan.namespaces[0]["metadata"]["name"])
    return namespace, [dict(p) for p in plan.pods]


def ready(pod: Any) -> bool:
    for cond in (pod.status.conditions if pod.status else None) or []:
        if cond.type == "Ready":
            return bool(cond.status == "True")
    return False


def run(kubeconfig: str, work: Path, pods: int, servers: int, workers: int) -> dict[str, float]:
    cfg = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
    cfg.proxy = None
    cfg.connection_pool_maxsize = workers * 2
    api = k8s_client.CoreV1Api(k8s_client.ApiClient(configuration=cfg))
    namespace, bodies = pod_bodies(work, pods, servers)
    times: dict[str, float] = {}
    t0 = time.monotonic()
    api.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda b: api.create_namespaced_pod(namespace, b), bodies))
        times["create"] = time.monotonic() - t0
        deadline = t0 + 300
        count = 0
        while time.monotonic() < deadline:
            listed = api.list_namespaced_pod(namespace).items
            count = sum(1 for p in listed if ready(p))
            if count >= len(bodies):
                break
            time.sleep(0.2)
        times["ready"] = time.monotonic() - t0
        times["ready_pods"] = float(count)
    finally:
        t1 = time.monotonic()
        api.delete_namespace(namespace)
        while time.monotonic() - t1 < 300:
            try:
                api.read_namespace(namespace)
            except ApiException as exc:
                if exc.status == 404:
                    break
                raise
            time.sleep(0.2)
        times["delete"] = time.monotonic() - t1
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=16, help="concurrent create calls")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="netpol-scale-") as tmp:
        work = Path(tmp)
        state = work / "sandbox"
        cli = [sys.executable, "-m", "harness.cli", "sandbox"]
        t0 = time.monotonic()
        try:
            subprocess.run(
                [*cli, "up", "--state-dir", str(state)], check=True, timeout=300, cwd=ROOT
            )
            up = time.monotonic() - t0
            times = run(str(state / "kubeconfig"), work, args.pods, args.servers, args.workers)
        finally:
            t1 = time.monotonic()
            subprocess.run(
                [*cli, "down", "--state-dir", str(state)], check=False, timeout=300, cwd=ROOT
            )
            down = time.monotonic() - t1
    ok = times["ready_pods"] >= args.pods
    print(f"sandbox up: {up:.1f} s")
    print(f"create {args.pods} pods ({args.servers} nginx) via CoreV1Api: {times['create']:.1f} s")
    print(
        f"all {int(times['ready_pods'])}/{args.pods} Ready after {times['ready']:.1f} s "
        f"(goal < 30 s: {'met' if ok and times['ready'] < 30 else 'NOT met'})"
    )
    print(f"namespace deleted after {times['delete']:.1f} s; sandbox down {down:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
