"""Sandbox node benchmark: start a Node, run 200 pods (50 nginx), time until all are ready.

Run as root: `.venv/bin/python bench/bench_sandbox.py [--pods 200] [--nginx 50]`.
Prints the time to start the node, to create the pods, until all are ready, to apply a
policy set over all of them, a spot check (allowed 0 / denied 28), and the teardown.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from netpol_sandbox import netns as nsx
from netpol_sandbox.node import Node
from netpol_sandbox.node import NodeConfig


def make_pod(i: int, nginx: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "curlimages/curl:8.11.1"}
    if nginx:
        container = {
            "name": "main",
            "image": "nginx:1.27",
            "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 8081}],
        }
    return {
        "metadata": {"namespace": f"ns{i % 10}", "name": f"pod{i}", "labels": {"app": f"a{i % 5}"}},
        "spec": {"containers": [container]},
    }


async def bench(pods: int, nginx: int, state_dir: Path) -> int:
    sid = secrets.token_hex(3)
    node = Node(NodeConfig(state_dir, sid, "10.249.0.0/16", "10.96.249.0/24"))
    t0 = time.perf_counter()
    await node.start()
    t_start = time.perf_counter() - t0
    try:
        bodies = [make_pod(i, i < nginx) for i in range(pods)]
        t1 = time.perf_counter()
        ips = await asyncio.gather(*(node.run_pod(b) for b in bodies))
        t_created = time.perf_counter() - t1
        pending = list(bodies)
        while pending:
            ready = await asyncio.gather(*(node.container_ready(b) for b in pending))
            pending = [b for b, ok in zip(pending, ready, strict=True) if not ok]
            if pending:
                await asyncio.sleep(0.02)
        t_ready = time.perf_counter() - t1
        for b, ip in zip(bodies, ips, strict=True):
            b["status"] = {"podIP": ip}
        namespaces = [{"metadata": {"name": f"ns{i}"}} for i in range(10)]
        policies = [
            {
                "metadata": {"namespace": f"ns{i}", "name": "allow-a0"},
                "spec": {
                    "podSelector": {},
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {},
                                    "podSelector": {"matchLabels": {"app": "a0"}},
                                }
                            ],
                            "ports": [{"port": "http"}],
                        }
                    ],
                },
            }
            for i in range(10)
        ]
        t2 = time.perf_counter()
        await node.sync_network(namespaces, bodies, [], policies)
        t_sync = time.perf_counter() - t2
        allowed_src = next(b for b in bodies[nginx:] if b["metadata"]["labels"]["app"] == "a0")
        denied_src = next(b for b in bodies[nginx:] if b["metadata"]["labels"]["app"] == "a1")

        async def curl(src: dict[str, Any], url: str) -> int:
            m = src["metadata"]
            proc = await node.exec(
                m["namespace"], m["name"], None, ["curl", "-so/dev/null", "-m1", url]
            )
            await proc.communicate()
            return proc.returncode if proc.returncode is not None else -1

        times = []
        m = denied_src["metadata"]
        for _ in range(30):
            t = time.perf_counter()
            proc = await node.exec(m["namespace"], m["name"], None, ["true"])
            await proc.wait()
            times.append(time.perf_counter() - t)
        times.sort()
        allowed = await curl(allowed_src, f"http://{ips[0]}:8080/")
        denied = await curl(denied_src, f"http://{ips[0]}:8080/")
        print(f"pods: {pods} ({nginx} nginx) on 1 bridge, sandbox {sid}")
        print(f"node start (netns x3, bridge, nft, dnsmasq, external nginx): {t_start:.2f} s")
        print(f"run_pod x{pods} (netns, veth, addresses, nginx spawned):    {t_created:.2f} s")
        print(f"all {pods} pods ready (nginx listening):                     {t_ready:.2f} s")
        print(f"sync_network (10 policies over {pods} pods, nft + conntrack):  {t_sync:.3f} s")
        print(f"spot check: allowed curl rc={allowed} (want 0), denied rc={denied} (want 28)")
        print(f"exec `true` in a pod, 30 sequential: median {times[15] * 1000:.1f} ms")
        ok = allowed == 0 and denied == 28
    finally:
        t3 = time.perf_counter()
        await node.stop()
        took = time.perf_counter() - t3
        print(f"teardown (kill processes, delete {pods + 3} netns):         {took:.2f} s")
        left = nsx.list_netns(nsx.prefix_of(sid))
        print(f"left behind: {left or 'nothing'}")
    return 0 if ok and not left else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--nginx", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nph-bench-") as tmp:
        return asyncio.run(bench(args.pods, args.nginx, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
