"""The sandbox's kubeconfig: one cluster (plain HTTP on loopback), one bearer-token user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "netpol-sandbox"


def render(
    server: str, token: str, user: str = "sandbox-admin", namespace: str = "default"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write(path: Path, server: str, token: str, user: str = "sandbox-admin") -> Path:
    """Write the kubeconfig (mode 0600, it holds a token) atomically."""
    text = yaml.safe_dump(render(server, token, user), sort_keys=False)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path
