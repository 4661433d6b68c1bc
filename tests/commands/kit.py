"""Objects for the diff and generate tests: a small shop, as a dump and as manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.policy.builders import labels
from tests.policy.builders import ns
from tests.policy.builders import pod
from tests.policy.builders import policy


def write(path: Path, *objs: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    return path


def dump_pods() -> list[dict[str, Any]]:
    """Namespaces and pods as `kubectl get ns,pods -A -o yaml` has them (two web replicas)."""
    web = [
        pod("shop", f"web-5d8f7c9b6-{s}", {"app": "web", "pod-template-hash": "5d8f7c9b6"}, ip)
        for s, ip in (("abcde", "10.1.0.10"), ("fghij", "10.1.0.11"))
    ]
    for p in web:
        p["metadata"]["generateName"] = "web-5d8f7c9b6-"
        p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
    return [
        ns("shop", team="shop"),
        ns("ops"),
        *web,
        pod("shop", "api-0", {"app": "api"}, "10.1.0.20", (("http", 8080, "TCP"),)),
        pod("shop", "db-0", {"app": "db"}, "10.1.0.30", ((None, 5432, "TCP"),)),
        pod("ops", "toolbox", {"app": "toolbox"}, "10.1.0.40"),
    ]


def api_from_web() -> dict[str, Any]:
    return policy(
        "shop",
        "api-from-web",
        {
            "podSelector": labels(app="api"),
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": labels(app="web")}], "ports": [{"port": 8080}]}],
        },
    )


def db_from(*apps: str, name: str = "db-from-api") -> dict[str, Any]:
    return policy(
        "shop",
        name,
        {
            "podSelector": labels(app="db"),
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": labels(app=a)} for a in apps],
                    "ports": [{"port": 5432}],
                }
            ],
        },
    )


def from_namespace(name: str, target: str, namespace: str) -> dict[str, Any]:
    """An extra policy letting a whole namespace reach ``target`` (any port)."""
    return policy(
        "shop",
        name,
        {
            "podSelector": labels(app=target),
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": namespace}
                            }
                        }
                    ]
                }
            ],
        },
    )
