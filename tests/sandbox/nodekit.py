"""Test helpers for the sandbox node: a Node on its own event loop, pods, curl."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Coroutine
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from typing import TypeVar

import pytest

from netpol_sandbox import netns as nsx
from netpol_sandbox.node import Node
from netpol_sandbox.node import NodeConfig

T = TypeVar("T")

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(b) for b in ("nft", "nginx", "dnsmasq", "ip")),
    reason="needs root, nft, nginx and dnsmasq (run `make apt`)",
)

CURL = "curlimages/curl:8.11.1"
NGINX = "nginx:1.27"


def pod(
    ns: str,
    name: str,
    image: str = CURL,
    labels: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image}
    if ports:
        container["ports"] = ports
    if command:
        container["command"] = command
    return {
        "metadata": {"namespace": ns, "name": name, "labels": labels or {}},
        "spec": {"containers": [container]},
    }


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}}


def policy(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


SERVER_CONF = """\
worker_processes 1;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path /tmp/client_temp;
  proxy_temp_path /tmp/proxy_temp;
  fastcgi_temp_path /tmp/fastcgi_temp;
  uwsgi_temp_path /tmp/uwsgi_temp;
  scgi_temp_path /tmp/scgi_temp;
  server { listen 80; location / { return 200 "ok\\n"; } }
}
stream {
  server { listen 5353 udp; return "ok\\n"; }
}
"""
#: the harness's server container: the config from an env variable, then nginx
SERVER_COMMAND = [
    "sh",
    "-c",
    'printf "%s\\n" "$CONF" > /tmp/nginx.conf && exec nginx -c /tmp/nginx.conf -g "daemon off;"',
]
UNPRIVILEGED = "nginxinc/nginx-unprivileged:1.27-alpine"


def unprivileged_server(name: str, sysctls: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """An nginx-unprivileged pod like the harness's server: TCP 80 (HTTP), 5353/udp (stream)."""
    body = pod(
        "a",
        name,
        UNPRIVILEGED,
        {},
        [{"containerPort": 80}, {"containerPort": 5353, "protocol": "UDP"}],
        SERVER_COMMAND,
    )
    body["spec"]["containers"][0]["env"] = [{"name": "CONF", "value": SERVER_CONF}]
    if sysctls is not None:
        body["spec"]["securityContext"] = {"sysctls": sysctls}
    return body


class NodeRunner:
    """A started Node plus the objects the tests created, driven from sync test code."""

    def __init__(self, node: Node, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self.loop = loop
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.namespaces: list[dict[str, Any]] = []
        self.services: list[dict[str, Any]] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def add_pod(self, body: dict[str, Any], wait: bool = True) -> str:
        ip = self.run(self.node.run_pod(body))
        body = {**body, "status": {"podIP": ip, "phase": "Running"}}
        meta = body["metadata"]
        self.pods[(meta["namespace"], meta["name"])] = body
        if wait:
            self.wait_ready(body)
        return ip

    def wait_ready(self, body: dict[str, Any], timeout: float = 10.0) -> None:
        async def _wait() -> None:
            deadline = self.loop.time() + timeout
            while not await self.node.container_ready(body):
                if self.loop.time() > deadline:
                    raise AssertionError(f"pod {body['metadata']['name']} never became ready")
                await asyncio.sleep(0.02)

        self.run(_wait())

    def delete_pod(self, ns: str, name: str) -> None:
        self.run(self.node.delete_pod(ns, name))
        self.pods.pop((ns, name), None)

    def ip(self, ns: str, name: str) -> str:
        return str(self.pods[(ns, name)]["status"]["podIP"])

    def sync(
        self, policies: list[dict[str, Any]], services: list[dict[str, Any]] | None = None
    ) -> None:
        if services is not None:
            self.services = services
        self.run(
            self.node.sync_network(
                self.namespaces, list(self.pods.values()), self.services, policies
            )
        )

    def sh(self, ns: str, name: str, *argv: str) -> tuple[int, str, str]:
        async def _exec() -> tuple[int, str, str]:
            proc = await self.node.exec(ns, name, None, list(argv))
            out, err = await proc.communicate()
            assert proc.returncode is not None
            return proc.returncode, out.decode(), err.decode()

        return self.run(_exec())

    def curl(self, src: tuple[str, str], url: str, timeout: float = 0.4) -> int:
        rc, _out, _err = self.sh(
            *src, "curl", "-s", "-o", "/dev/null", "--connect-timeout", str(timeout), url
        )
        return rc

    def udp(self, src: tuple[str, str], host: str, port: int) -> str:
        _rc, out, _err = self.sh(*src, "sh", "-c", f"echo probe | nc -u -w1 {host} {port}")
        return out


def leftovers(sandbox_id: str) -> list[str]:
    return nsx.list_netns(nsx.prefix_of(sandbox_id))


@contextmanager
def running_node(state_dir: Path, *, enforce: bool = True) -> Iterator[NodeRunner]:
    """A started Node with a unique sandbox id; always torn down, also on failure."""
    sandbox_id = secrets.token_hex(3)
    config = NodeConfig(state_dir, sandbox_id, "10.240.0.0/16", "10.96.240.0/24", enforce=enforce)
    loop = asyncio.new_event_loop()
    node = Node(config)
    try:
        loop.run_until_complete(node.start())
        yield NodeRunner(node, loop)
    finally:
        try:
            loop.run_until_complete(node.stop())
        finally:
            Node.cleanup_state(state_dir)
            loop.close()
