"""The sandbox's kubeconfig: one cluster (HTTPS on loopback, its own CA as
``certificate-authority-data``; plain HTTP with ``--insecure-http``), one bearer-token user."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "netpol-sandbox"


def render(
    server: str,
    token: str,
    user: str = "sandbox-admin",
    namespace: str = "default",
    ca_pem: bytes | None = None,
) -> dict[str, Any]:
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write(
    path: Path,
    server: str,
    token: str,
    user: str = "sandbox-admin",
    ca_pem: bytes | None = None,
) -> Path:
    """Write the kubeconfig (mode 0600, it holds a token) atomically."""
    text = yaml.safe_dump(render(server, token, user, ca_pem=ca_pem), sort_keys=False)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def with_token(source: Path, path: Path, token: str, user: str) -> Path:
    """A copy of the sandbox kubeconfig ``source`` (same server and CA) for another token."""
    cluster = read(source)
    return write(path, cluster.server, token, user, cluster.ca_pem)


class Cluster:
    """The cluster entry of a sandbox kubeconfig: server URL, CA (PEM or None) and token."""

    def __init__(self, server: str, ca_pem: bytes | None, token: str) -> None:
        self.server = server
        self.ca_pem = ca_pem
        self.token = token


def read(path: Path) -> Cluster:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cluster = (data.get("clusters") or [{}])[0].get("cluster") or {}
    user = (data.get("users") or [{}])[0].get("user") or {}
    ca = cluster.get("certificate-authority-data")
    return Cluster(
        str(cluster.get("server", "")),
        base64.b64decode(ca) if ca else None,
        str(user.get("token", "")),
    )
