"""A node agent stand-in for API tests: same interface as netpol_sandbox.node.Node, but exec
runs plain local subprocesses and pods get made-up IPs (no netns, no root)."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any


class ImagePullError(Exception):
    def __init__(self, message: str, reason: str = "ErrImagePull") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class PodNotFound(LookupError):
    pass


KNOWN = ("curlimages/curl", "nginx", "nginxinc/nginx-unprivileged", "busybox")


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name.rsplit(":", 1)[0]
    return name.removeprefix("docker.io/").removeprefix("library/")


class FakeNode:
    def __init__(self, config: Any = None, pod_cidr: str = "10.199.0.0/16") -> None:
        self.config = config
        cidr = getattr(config, "pod_cidr", None) or pod_cidr
        self._hosts = ipaddress.ip_network(cidr).hosts()
        next(self._hosts)
        self._dns = str(next(self._hosts))
        self.pods: dict[tuple[str, str], str] = {}
        #: ephemeral containers started, by pod: name -> image
        self.ephemeral: dict[tuple[str, str], dict[str, str]] = {}
        self.deleted: list[tuple[str, str]] = []
        self.syncs: list[tuple[int, int, int, int]] = []
        self.policies: list[dict[str, Any]] = []  # as of the last sync_network
        self.delete_delay = 0.0  # seconds delete_pod takes (tests of graceful deletion)
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def dns_pod_ip(self) -> str:
        return self._dns

    async def run_pod(self, pod: dict[str, Any]) -> str:
        if pod["metadata"].get("labels", {}).get("k8s-app") == "kube-dns":
            return self._dns
        for container in pod["spec"]["containers"]:
            if _repository(container["image"]) not in KNOWN:
                raise ImagePullError(
                    f'Failed to pull image "{container["image"]}": not found in the sandbox'
                )
        ip = str(next(self._hosts))
        self.pods[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = ip
        return ip

    async def container_ready(self, pod: dict[str, Any]) -> bool:
        return (pod["metadata"]["namespace"], pod["metadata"]["name"]) in self.pods

    async def delete_pod(self, namespace: str, name: str) -> None:
        await asyncio.sleep(self.delete_delay)
        self.pods.pop((namespace, name), None)
        self.ephemeral.pop((namespace, name), None)
        self.deleted.append((namespace, name))

    async def start_ephemeral(self, namespace: str, name: str, container: dict[str, Any]) -> None:
        """As Node.start_ephemeral: PodNotFound unless the pod runs, ImagePullError for an
        unknown image; a container already there is left as it is."""
        if (namespace, name) not in self.pods:
            raise PodNotFound(f"pod {namespace}/{name} is not running on the sandbox node")
        cname = str(container.get("name") or "")
        containers = self.ephemeral.setdefault((namespace, name), {})
        if cname and cname not in containers:
            image = str(container.get("image") or "")
            if _repository(image) not in KNOWN:
                raise ImagePullError(f'Failed to pull image "{image}": not found in the sandbox')
            containers[cname] = image

    async def exec(
        self, namespace: str, name: str, container: str | None, argv: list[str]
    ) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            return await asyncio.create_subprocess_exec(
                "sh",
                "-c",
                f'echo "{argv[0]}: not found" >&2; exit 127',
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )

    async def sync_network(
        self,
        namespaces: list[dict[str, Any]],
        pods: list[dict[str, Any]],
        services: list[dict[str, Any]],
        policies: list[dict[str, Any]],
    ) -> None:
        self.syncs.append((len(namespaces), len(pods), len(services), len(policies)))
        self.policies = policies

    @staticmethod
    def cleanup_state(state_dir: Path) -> list[str]:
        return []
