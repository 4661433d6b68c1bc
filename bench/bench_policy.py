"""Benchmark of the policy engine: full matrices vs per-cell decisions.

Run: .venv/bin/python bench/bench_policy.py [--quick]

Generates synthetic clusters (pods spread over namespaces, labels from small
vocabularies, named container ports, a mix of policy shapes: default deny,
pod/namespace selectors, both, matchExpressions, ipBlocks, named ports, port
ranges, egress), then times:

- parse: ClusterModel.from_objects on the dicts;
- matrix: ClusterModel.matrix_bits (every pod pair for one port) and, up to 1,000
  pods, ClusterModel.matrix (the same as a dict of dicts);
- decide: the per-cell ClusterModel.decide on a random sample, extrapolated to the
  whole matrix, to give the speed-up ratio of the index.

It also checks the sampled cells agree between both paths.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from harness.policy.engine import ClusterModel

APPS = [f"app{i}" for i in range(25)]
TIERS = ["web", "api", "db", "cache", "batch"]
TEAMS = ["red", "green", "blue", "gold"]


def generate(n_pods: int, n_policies: int, seed: int = 1) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    n_ns = max(2, n_pods // 25)
    objs: list[dict[str, Any]] = []
    for j in range(n_ns):
        labels = {"team": rnd.choice(TEAMS), "env": rnd.choice(["prod", "dev"])}
        objs.append({"kind": "Namespace", "metadata": {"name": f"ns{j}", "labels": labels}})
    for i in range(n_pods):
        ns = f"ns{rnd.randrange(n_ns)}"
        labels = {"app": rnd.choice(APPS), "tier": rnd.choice(TIERS)}
        if rnd.random() < 0.3:
            labels["version"] = rnd.choice(["v1", "v2"])
        port = rnd.choice([80, 8080, 9090])
        status = (
            {"podIP": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"} if rnd.random() < 0.97 else {}
        )
        objs.append(
            {
                "kind": "Pod",
                "metadata": {"name": f"pod{i}", "namespace": ns, "labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "ports": [
                                {"name": "http", "containerPort": port},
                                {"name": "metrics", "containerPort": 9100},
                            ],
                        }
                    ]
                },
                "status": status,
            }
        )
    for k in range(n_policies):
        ns = f"ns{rnd.randrange(n_ns)}"
        shape = rnd.randrange(8)
        target = {"matchLabels": {"app": rnd.choice(APPS)}}
        spec: dict[str, Any]
        if shape == 0:
            spec = {"podSelector": {}, "policyTypes": ["Ingress"]}
        elif shape == 1:
            peer = {"podSelector": {"matchLabels": {"tier": rnd.choice(TIERS)}}}
            spec = {
                "podSelector": target,
                "ingress": [{"from": [peer], "ports": [{"port": "http"}]}],
            }
        elif shape == 2:
            peer = {"namespaceSelector": {"matchLabels": {"team": rnd.choice(TEAMS)}}}
            spec = {"podSelector": target, "ingress": [{"from": [peer]}]}
        elif shape == 3:
            peer = {
                "namespaceSelector": {"matchLabels": {"env": "prod"}},
                "podSelector": {
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": rnd.sample(TIERS, 2)}
                    ]
                },
            }
            spec = {
                "podSelector": target,
                "ingress": [
                    {"from": [peer], "ports": [{"port": 8000, "endPort": 8100}, {"port": 80}]}
                ],
            }
        elif shape == 4:
            block = {"cidr": "10.0.0.0/16", "except": [f"10.0.{rnd.randrange(4)}.0/24"]}
            spec = {"podSelector": target, "ingress": [{"from": [{"ipBlock": block}]}]}
        elif shape == 5:
            expr = {"key": "version", "operator": rnd.choice(["Exists", "DoesNotExist", "NotIn"])}
            if expr["operator"] == "NotIn":
                expr["values"] = ["v1"]
            spec = {
                "podSelector": {"matchExpressions": [expr]},
                "ingress": [{"from": [{"namespaceSelector": {}}]}],
            }
        elif shape == 6:
            to = [
                {"podSelector": {"matchLabels": {"tier": rnd.choice(TIERS)}}},
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}},
            ]
            spec = {
                "podSelector": target,
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": to, "ports": [{"port": "http"}, {"port": 53, "protocol": "UDP"}]}
                ],
            }
        else:
            spec = {
                "podSelector": {"matchLabels": {"tier": rnd.choice(TIERS)}},
                "ingress": [{}],
                "egress": [
                    {"to": [{"namespaceSelector": {"matchLabels": {"team": rnd.choice(TEAMS)}}}]}
                ],
            }
        objs.append(
            {"kind": "NetworkPolicy", "metadata": {"name": f"np{k}", "namespace": ns}, "spec": spec}
        )
    return objs


def bench(n_pods: int, n_policies: int, sample: int, port: int | str = 80) -> dict[str, float]:
    objs = generate(n_pods, n_policies)
    t0 = time.perf_counter()
    cluster = ClusterModel.from_objects(objs)
    t_parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    bits = cluster.matrix_bits(port)
    t_bits = time.perf_counter() - t0
    t_dict = float("nan")
    if n_pods <= 1000:
        t0 = time.perf_counter()
        cluster.matrix(port)
        t_dict = time.perf_counter() - t0
    cells = n_pods * n_pods
    rnd = random.Random(7)
    pairs = [(rnd.randrange(n_pods), rnd.randrange(n_pods)) for _ in range(sample)]
    refs = [p.ref for p in cluster.pods]
    t0 = time.perf_counter()
    decided = [cluster.decide(refs[s], refs[d], port).allowed for s, d in pairs]
    t_decide = time.perf_counter() - t0
    mismatches = sum(bits.allowed(s, d) != ok for (s, d), ok in zip(pairs, decided, strict=True))
    per_cell_naive = t_decide / sample
    return {
        "pods": n_pods,
        "policies": n_policies,
        "cells": cells,
        "parse_s": t_parse,
        "matrix_bits_s": t_bits,
        "matrix_dict_s": t_dict,
        "cells_per_s": cells / t_bits,
        "naive_cells_per_s": 1 / per_cell_naive,
        "naive_full_s_estimate": per_cell_naive * cells,
        "ratio": per_cell_naive * cells / t_bits,
        "allowed_share": bits.count() / cells,
        "mismatches": mismatches,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="only the small sizes")
    args = parser.parse_args()
    sizes = [
        (100, 10),
        (100, 100),
        (1000, 10),
        (1000, 100),
        (1000, 1000),
        (5000, 100),
        (5000, 1000),
    ]
    if args.quick:
        sizes = sizes[:3]
    header = (
        f"{'pods':>5} {'pols':>5} {'cells':>10} {'parse s':>8} {'matrix s':>9} {'dict s':>7}"
        f" {'cells/s':>11} {'naive c/s':>10} {'naive est s':>11} {'ratio':>7}"
        f" {'allowed':>7} {'diff':>4}"
    )
    print(header)
    failed = False
    for n_pods, n_pols in sizes:
        r = bench(n_pods, n_pols, sample=3000 if n_pods <= 1000 else 1500)
        failed = failed or r["mismatches"] > 0
        print(
            f"{r['pods']:>5} {r['policies']:>5} {r['cells']:>10} {r['parse_s']:>8.3f}"
            f" {r['matrix_bits_s']:>9.3f} {r['matrix_dict_s']:>7.3f}"
            f" {r['cells_per_s']:>11,.0f} {r['naive_cells_per_s']:>10,.0f}"
            f" {r['naive_full_s_estimate']:>11.1f} {r['ratio']:>6.0f}x"
            f" {r['allowed_share']:>7.2f} {r['mismatches']:>4}"
        )
        sys.stdout.flush()
        if (n_pods, n_pols) == (1000, 1000):
            total = r["parse_s"] + r["matrix_dict_s"]
            print(
                f"  -> 1,000 pods x 1,000 pods, 1,000 policies: parse + matrix() = {total:.3f} s"
                f" (goal < 10 s)"
            )
    if failed:
        print("MISMATCH between matrix and decide on sampled cells", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
