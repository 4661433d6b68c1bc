"""Cluster DNS for the sandbox: dnsmasq in the DNS pod's namespace.

Records (A only), built from the stored objects by :func:`build_hosts`:

- ``<svc>.<ns>.svc.cluster.local`` -> the Service's ClusterIP, or the ready
  endpoint pod IPs for a headless Service (clusterIP None or empty);
- ``<a-b-c-d>.<ns>.pod.cluster.local`` -> the pod IP.

Every other name under ``cluster.local`` gets NXDOMAIN (``--local``). Changes
rewrite the hosts file and SIGHUP dnsmasq, which re-reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netpol_sandbox import netns as nsx
from netpol_sandbox.endpoints import metadata_of
from netpol_sandbox.enforce import selector_matches as matches

DOMAIN = "cluster.local"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def pod_ip(pod: Mapping[str, Any]) -> str | None:
    ip = (pod.get("status") or {}).get("podIP")
    return ip if isinstance(ip, str) and ip else None


def service_ips(service: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> list[str]:
    """The addresses a Service name resolves to."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return []
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip and cluster_ip != "None":
        return [cluster_ip]
    return [ip for p in endpoints(service, pods) if (ip := pod_ip(p))]


def endpoints(
    service: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Pods backing a Service: same namespace, selector matches, have an IP, not terminating."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if not selector:
        return []
    ns = metadata_of(service).get("namespace", "default")
    found = []
    for pod in pods:
        meta = metadata_of(pod)
        if meta.get("namespace", "default") != ns or meta.get("deletionTimestamp"):
            continue
        if pod_ip(pod) and matches({"matchLabels": selector}, meta.get("labels") or {}):
            found.append(pod)
    return found


def build_hosts(services: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]]) -> str:
    """The dnsmasq hosts file text: one ``IP name`` line per record, sorted."""
    lines: set[str] = set()
    for svc in services:
        meta = metadata_of(svc)
        name, ns = meta.get("name"), meta.get("namespace", "default")
        for address in service_ips(svc, pods):
            lines.add(f"{address} {name}.{ns}.svc.{DOMAIN}")
    for pod in pods:
        ip = pod_ip(pod)
        if ip and ":" not in ip:
            ns = metadata_of(pod).get("namespace", "default")
            lines.add(f"{ip} {ip.replace('.', '-')}.{ns}.pod.{DOMAIN}")
    return "".join(line + "\n" for line in sorted(lines))


def resolv_conf(namespace: str, nameserver: str) -> str:
    """A pod's /etc/resolv.conf, as the kubelet writes it for dnsPolicy ClusterFirst."""
    return (
        f"search {namespace}.svc.{DOMAIN} svc.{DOMAIN} {DOMAIN}\n"
        f"nameserver {nameserver}\n"
        "options ndots:5 timeout:1 attempts:1\n"
    )


class DnsServer:
    """dnsmasq answering for cluster.local inside one network namespace."""

    def __init__(self, directory: Path, netns: str, ip: str) -> None:
        self.directory = directory
        self.netns = netns
        self.ip = ip
        self.hosts_path = directory / "hosts"
        self._hosts = ""
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def argv(self) -> list[str]:
        d = self.directory
        return [
            nsx.IP,
            "netns",
            "exec",
            self.netns,
            DNSMASQ,
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            f"--addn-hosts={self.hosts_path}",
            f"--local=/{DOMAIN}/",
            "--domain-needed",
            "--no-negcache",
            f"--listen-address={self.ip}",
            "--bind-interfaces",
            f"--pid-file={d / 'dnsmasq.pid'}",
            "--user=root",
            f"--log-facility={d / 'dnsmasq.log'}",
        ]

    async def start(self, hosts: str = "") -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write(hosts)
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self._proc.pid

    def _write(self, hosts: str) -> None:
        tmp = self.hosts_path.with_suffix(".tmp")
        tmp.write_text(hosts)
        os.replace(tmp, self.hosts_path)
        self._hosts = hosts

    def update(self, hosts: str) -> bool:
        """Replace the records; returns True when they changed (dnsmasq was told to reload)."""
        if hosts == self._hosts:
            return False
        self._write(hosts)
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGHUP)
        return True

    async def ready(self) -> bool:
        """True once dnsmasq listens on port 53 (it binds TCP and UDP together)."""
        if self._proc is None or self._proc.returncode is not None:
            return False
        return 53 in nsx.tcp_listening_ports(self._proc.pid)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            await asyncio.to_thread(nsx.kill_processes, {proc.pid: None})
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
