"""The sandbox's node agent: stored Pods -> network namespaces with real processes.

Topology (all inside namespaces of our own; the host's links, routes, sysctls
and nftables are never touched):

- ``nph<id>-node``: a bridge ``br0`` holding the gateway address (first host of
  the pod CIDR) with a fixed MAC (:func:`gateway_mac`, so it never follows its
  ports' addresses), ``ip_forward=1``, the ``inet nph<id>`` nft table (policy in
  ``forward``, Service ClusterIPs in ``prerouting`` DNAT), no ICMP redirects, and
  /32 routes to the simulated external hosts. No default route.
- ``nph<id>-p<N>``: one per pod; ``eth0`` is one end of a veth pair created in
  the node namespace (``vp<N>`` on the bridge); the pod IP as a /32 and every
  route via the gateway (routed like Calico: one neighbour per pod, not one per
  peer); IPv6 off on eth0 (no link-local address) and dropped by the node anyway.
- ``nph<id>-dns``: the kube-system DNS pod (dnsmasq, see dns.py).
- ``nph<id>-ext``: the "internet": every configured external address on one
  veth routed from the node, nginx answering HTTP on the configured ports.

Containers (netpol_sandbox/tools.py, docs/sandbox.md "Real image vs sandbox"): a
container's PATH holds its image's tools only: the busybox built like Alpine's by
``make deps`` (``sh`` is its ash, ``nc`` its netcat 1.10 clone), curl for the curl
image, nginx (with the stream module) for the nginx images. Processes run as the
container's user (``runAsUser``/``runAsGroup``, else the image's ``USER``: 100 for
curlimages/curl, 101 for nginx-unprivileged). nginx images run the real nginx (the
container's command/args when given, run with private /tmp, /run, /var/log/nginx and
/var/lib/nginx so a script writing /tmp/nginx.conf works; otherwise a config generated
from the declared TCP containerPorts answering ``ok <port>``); it serves UDP itself
(``stream {}``). Each pod's ``net.ipv4.ip_unprivileged_port_start`` is 0, as
containerd 2 and Docker set it in pod sandboxes, unless the pod's
``securityContext.sysctls`` say otherwise. curl and busybox containers have no
process of their own: their main command is not run, the container counts as
running, and ``exec`` runs commands in the pod namespace with the image's PATH:
``nsenter --net=<pod> --mount=<ns> -S uid -G gid`` where <ns> is a persistent mount
namespace per Kubernetes namespace with that namespace's resolv.conf bound over
/etc/resolv.conf (cheaper than `ip netns exec`, which copies the host's whole mount
table on every call).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from netpol_sandbox import enforce
from netpol_sandbox import netns as nsx
from netpol_sandbox import tools
from netpol_sandbox.dns import DnsServer
from netpol_sandbox.dns import build_hosts
from netpol_sandbox.dns import resolv_conf
from netpol_sandbox.endpoints import metadata_of
from netpol_sandbox.endpoints import pod_infos
from netpol_sandbox.images import Image
from netpol_sandbox.images import ImagePullError
from netpol_sandbox.images import resolve
from netpol_sandbox.images import run_as

__all__ = ["ImagePullError", "Node", "NodeConfig", "PodNotFound", "gateway_mac"]

log = logging.getLogger(__name__)

BRIDGE = "br0"
GATEWAY_OFFSET = 1
DNS_OFFSET = 10
POD_OFFSET = 16
DNS_POD = ("kube-system", "coredns-sandbox")
READY_GRACE = 3.0  # seconds after which a listening nginx counts as ready on any port

#: exec (already in the pod's network and its namespace's mount ns): set PATH, exec
EXEC_SCRIPT = 'PATH=$1; export PATH; shift; exec "$@"'

#: a container process: private /var/lib/nginx (= $1), /run, /var/log/nginx, /tmp
START_SCRIPT = """\
priv=$1 resolv=$2 bin=$3 uid=$4 gid=$5; shift 5
/bin/mkdir -p "$priv/tmp" "$priv/run" "$priv/log" "$priv/logs" "$priv/bin" || exit 126
fail() { echo "sandbox: cannot prepare the container filesystem" >&2; exit 126; }
/bin/mount --bind "$priv" /var/lib/nginx || fail
/bin/mount --bind "$bin" /var/lib/nginx/bin || fail
/bin/mount --bind "$resolv" /etc/resolv.conf || fail
/bin/mount --bind /var/lib/nginx/run /run || fail
if [ -d /var/log/nginx ]; then /bin/mount --bind /var/lib/nginx/log /var/log/nginx || fail; fi
/bin/mount --bind /var/lib/nginx/tmp /tmp || fail
cd /
PATH=/var/lib/nginx/bin NPH_PRIV=/var/lib/nginx
export PATH NPH_PRIV
if [ "$uid" = 0 ]; then exec "$@"; fi
exec SETPRIV --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all -- "$@"
""".replace("SETPRIV", tools.SETPRIV)

#: the pod sysctls a kubelet allows by default ("safe" sysctls) that live in the netns
SAFE_NET_SYSCTLS = frozenset(
    {
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
#: what containerd (2.x, enable_unprivileged_ports) and Docker set in every pod netns
DEFAULT_POD_SYSCTLS = {"ipv4/ip_unprivileged_port_start": "0"}
#: the image kinds that get a PATH directory
KINDS = ("curl", "busybox", "nginx")


def gateway_mac(sandbox_id: str, device: int) -> str:
    """A fixed, locally administered unicast MAC for a gateway-facing node device.

    ``02:6e:`` ("n") + the 3 bytes of the sandbox id + the device number: stable for
    the sandbox's life, distinct from the pods' ``0a:58:<ip>`` addresses.
    """
    try:
        raw = bytes.fromhex(sandbox_id.rjust(6, "0")[-6:])
    except ValueError:  # not the usual 6 hex digits: any stable 3 bytes will do
        raw = hashlib.sha256(sandbox_id.encode()).digest()[:3]
    return ":".join(f"{b:02x}" for b in (0x02, 0x6E, *raw, device & 0xFF))


class PodNotFound(LookupError):
    """exec/delete for a pod (or container) the node does not run."""


@dataclass(frozen=True)
class NodeConfig:
    state_dir: Path
    sandbox_id: str  # 6 hex
    pod_cidr: str  # e.g. "10.201.0.0/16"
    service_cidr: str  # e.g. "10.96.201.0/24"
    enforce: bool = True  # False = a CNI that ignores NetworkPolicy
    external_hosts: tuple[tuple[str, tuple[int, ...]], ...] = (("198.51.100.10", (80, 443)),)


@dataclass
class _Container:
    name: str
    image: Image
    tcp_ports: tuple[int, ...] = ()
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    uid: int = 0
    gid: int = 0
    udp_ports: tuple[int, ...] = ()


@dataclass
class _Pod:
    namespace: str
    name: str
    netns: str
    ip: str
    veth: str | None
    containers: dict[str, _Container] = field(default_factory=dict)
    directory: Path | None = None
    security: Mapping[str, Any] = field(default_factory=dict)  # the pod's securityContext


class Node:
    """The node agent (see module doc). All methods run in the daemon's event loop."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        net = ipaddress.IPv4Network(config.pod_cidr, strict=False)
        self._net = net
        self._gateway = str(net[GATEWAY_OFFSET])
        self._dns_ip = str(net[DNS_OFFSET])
        self.prefix = nsx.prefix_of(config.sandbox_id)
        self.node_ns = f"{self.prefix}node"
        self.dns_ns = f"{self.prefix}dns"
        self.ext_ns = f"{self.prefix}ext"
        self.table = f"nph{config.sandbox_id}"
        self.bridge_mac = gateway_mac(config.sandbox_id, 0)
        self.ext_gateway_mac = gateway_mac(config.sandbox_id, 1)
        self.dir = config.state_dir / "node"
        self._state: nsx.NodeState | None = None
        self._pods: dict[tuple[str, str], _Pod] = {}
        self._next_index = 0
        self._dns: DnsServer | None = None
        self._ext_proc: asyncio.subprocess.Process | None = None
        self._sem = asyncio.Semaphore(16)
        self._ruleset = ""
        self._rules: dict[str, enforce.PodRules] = {}  # per pod IP, as last applied
        self._ips: set[str] = set()  # pod IPs the last applied ruleset knew
        self._pending: tuple[list[Any], list[Any], list[Any], list[Any]] | None = None
        self._requested = 0
        self._applied = 0
        self._sync_error: tuple[int, BaseException] | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._cond = asyncio.Condition()
        self._resolv: dict[str, Path] = {}
        self._mntns: dict[str, Path] = {}
        self._mnt_lock = asyncio.Lock()
        self._stopped = False
        self._bin = tools.runtime_dir(config.sandbox_id) / "bin"

    # ------------------------------------------------------------ lifecycle

    def dns_pod_ip(self) -> str:
        return self._dns_ip

    def gateway_ip(self) -> str:
        return self._gateway

    @property
    def state(self) -> nsx.NodeState:
        if self._state is None:
            raise RuntimeError("Node.start() has not been called")
        return self._state

    async def start(self) -> None:
        """Node netns, bridge, nft table, DNS pod, external hosts."""
        await asyncio.to_thread(nsx.cleanup, self.config.state_dir, self.config.sandbox_id)
        problems = tools.host_problems()
        if problems:
            raise RuntimeError(
                "the sandbox cannot give pods their images' tools: " + "; ".join(problems)
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.dir / "pods", ignore_errors=True)
        self._bin = (
            await asyncio.to_thread(tools.write_runtime, self.config.sandbox_id, KINDS) / "bin"
        )
        self._state = nsx.NodeState.create(self.config.state_dir, self.config.sandbox_id)
        for name in (self.node_ns, self.dns_ns, self.ext_ns):
            self.state.add_netns(name)
        await nsx.ip_batch(f"netns add {n}" for n in (self.node_ns, self.dns_ns, self.ext_ns))
        await nsx.write_sysctls(
            self.node_ns,
            {
                "ipv6/conf/all/disable_ipv6": "1",
                "ipv6/conf/default/disable_ipv6": "1",
                "ipv4/ip_forward": "1",
                # pods are /32s routed through the node: no "go direct" redirects
                "ipv4/conf/all/send_redirects": "0",
                "ipv4/conf/default/send_redirects": "0",
            },
        )
        with contextlib.suppress(FileNotFoundError):
            await nsx.write_sysctls(self.node_ns, {"bridge/bridge-nf-call-iptables": "1"})
        plen = self._net.prefixlen
        node_cmds = [
            "link set lo up",
            # A fixed address: a bridge without one takes the lowest MAC of its ports and
            # changes it whenever that pod goes away, leaving every pod with a stale
            # neighbour entry for the gateway (up to ~40 s without connectivity).
            f"link add {BRIDGE} address {self.bridge_mac} type bridge",
            f"link set {BRIDGE} up",
            f"addr add {self._gateway}/{plen} dev {BRIDGE}",
            f"link add vdns type veth peer name eth0 netns {self.dns_ns}",
            f"link set vdns master {BRIDGE} up",
            # vext answers the external hosts' ARP for the gateway: fixed as well
            f"link add vext address {self.ext_gateway_mac} type veth"
            f" peer name eth0 netns {self.ext_ns}",
            "link set vext up",
        ]
        node_cmds += [f"route add {addr}/32 dev vext" for addr, _ in self.config.external_hosts]
        await nsx.ip_batch(node_cmds, self.node_ns)
        await nsx.ip_batch(self._pod_net_cmds(self._dns_ip), self.dns_ns)
        ext_cmds = ["link set lo up", "link set eth0 addrgenmode none"]
        ext_cmds += [f"addr add {addr}/32 dev eth0" for addr, _ in self.config.external_hosts]
        ext_cmds += ["link set eth0 up", f"route add default via {self._gateway} dev eth0 onlink"]
        await nsx.ip_batch(ext_cmds, self.ext_ns)
        for name in (self.dns_ns, self.ext_ns):
            await nsx.write_sysctls(name, {"ipv6/conf/all/disable_ipv6": "1"})
        self._ruleset = enforce.compile_ruleset([], [], [], self.table, enforce=self.config.enforce)
        await enforce.apply(self.node_ns, self._ruleset)
        self._dns = DnsServer(self.dir / "dns", self.dns_ns, self._dns_ip)
        self.state.add_pid(await self._dns.start())
        if self.config.external_hosts:
            await self._start_externals()
        await self._wait_infra_ready()

    async def _wait_infra_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dns_ok = self._dns is not None and await self._dns.ready()
            ext_ok = self._ext_proc is None or self._ext_ports() <= nsx.tcp_listening_ports(
                self._ext_proc.pid
            )
            if dns_ok and ext_ok:
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"sandbox DNS or external hosts did not start; see {self.dir}")

    def _ext_ports(self) -> set[int]:
        return {p for _, ports in self.config.external_hosts for p in ports}

    async def _start_externals(self) -> None:
        d = self.dir / "ext"
        (d / "tmp").mkdir(parents=True, exist_ok=True)
        servers = "".join(
            f"  server {{ listen {addr}:{port}; "
            f'location / {{ return 200 "ok {addr} $server_port\\n"; }} }}\n'
            for addr, ports in self.config.external_hosts
            for port in ports
        )
        (d / "nginx.conf").write_text(_nginx_conf(d, servers))
        self._ext_proc = await asyncio.create_subprocess_exec(
            nsx.IP,
            "netns",
            "exec",
            self.ext_ns,
            tools.NGINX,
            "-p",
            f"{d}/",
            "-e",
            str(d / "error.log"),
            "-c",
            str(d / "nginx.conf"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.state.add_pid(self._ext_proc.pid)

    async def stop(self) -> None:
        """Kill every process, delete every namespace (and with them links and the table)."""
        self._stopped = True
        if self._syncer is not None and not self._syncer.done():
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._syncer
        procs: list[asyncio.subprocess.Process] = []
        for pod in self._pods.values():
            procs += [c.proc for c in pod.containers.values() if c.proc is not None]
        if self._ext_proc is not None:
            procs.append(self._ext_proc)
        pids = {p.pid: None for p in procs if p.returncode is None}
        if self._dns is not None:
            await self._dns.stop()
        if pids:
            await asyncio.to_thread(nsx.kill_processes, dict(pids))
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                await p.wait()
        self._pods.clear()
        self._mntns.clear()
        self._ext_proc = None
        await asyncio.to_thread(nsx.cleanup, self.config.state_dir, self.config.sandbox_id)

    @staticmethod
    def cleanup_state(state_dir: Path) -> list[str]:
        """Remove leftovers of a crashed node (processes, namespaces); returns what it removed."""
        return nsx.cleanup(state_dir)

    # ------------------------------------------------------------ pods

    def _pod_net_cmds(self, ip: str) -> list[str]:
        # Routed like Calico: a /32 and everything via the node. A flat /16 would make
        # every pod ARP for every peer; the kernel's neighbour table is shared by all
        # namespaces (gc_thresh3, 1024 by default), so a 50x50 matrix overflowed it
        # and new connections were silently dropped. Now a pod needs one neighbour
        # (the gateway) and the node one per pod. The MAC derives from the IP (as the
        # CNI bridge plugin does: 0a:58 + the address): a reused IP keeps its MAC, so
        # the node's cached neighbour entry for it never points at a deleted pod.
        mac = "0a:58:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)
        return [
            "link set lo up",
            "link set eth0 addrgenmode none",
            f"link set eth0 address {mac}",
            f"addr add {ip}/32 dev eth0",
            "link set eth0 up",
            f"route add {self._gateway}/32 dev eth0",
            f"route add default via {self._gateway} dev eth0",
        ]

    def _address(self, index: int) -> str:
        offset = POD_OFFSET + index
        if offset >= self._net.num_addresses - 1:
            raise RuntimeError(f"pod CIDR {self._net} is full")
        return str(self._net[offset])

    @staticmethod
    def _is_dns_pod(pod: Mapping[str, Any]) -> bool:
        meta = metadata_of(pod)
        labels = meta.get("labels") or {}
        return meta.get("namespace") == "kube-system" and labels.get("k8s-app") == "kube-dns"

    async def run_pod(self, pod: dict[str, Any]) -> str:
        """Network namespace + veth + IP for the Pod, containers started. Returns the pod IP."""
        if self._stopped:
            raise RuntimeError("the node is stopped")
        meta = metadata_of(pod)
        ns, name = str(meta.get("namespace", "default")), str(meta.get("name", ""))
        key = (ns, name)
        if key in self._pods:
            return self._pods[key].ip
        if self._is_dns_pod(pod):
            self._pods[key] = _Pod(ns, name, self.dns_ns, self._dns_ip, None)
            return self._dns_ip
        spec = pod.get("spec") or {}
        containers: list[tuple[Mapping[str, Any], Image]] = []
        for c in spec.get("containers") or []:
            containers.append(
                (c, resolve(str(c.get("image") or "")))
            )  # ImagePullError before anything is made
        index = self._next_index
        self._next_index += 1
        ip = self._address(index)
        rec = _Pod(ns, name, f"{self.prefix}p{index}", ip, f"vp{index}")
        rec.directory = self.dir / "pods" / f"p{index}"
        security = spec.get("securityContext")
        rec.security = security if isinstance(security, Mapping) else {}
        self._pods[key] = rec
        self.state.add_netns(rec.netns)
        try:
            async with self._sem:
                await self._make_pod_net(rec)
                for c, image in containers:
                    await self._start_container(rec, c, image)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.delete_pod(ns, name)
            raise
        return ip

    async def _make_pod_net(self, rec: _Pod) -> None:
        await nsx.ip_batch([f"netns add {rec.netns}"])
        await nsx.ip_batch(
            [
                f"link add {rec.veth} master {BRIDGE} up type veth"
                f" peer name eth0 netns {rec.netns}",
                f"link set {rec.veth} type bridge_slave hairpin on",
            ],
            self.node_ns,
        )
        await nsx.write_sysctls(
            rec.netns,
            {
                "ipv6/conf/default/disable_ipv6": "1",
                "ipv6/conf/eth0/disable_ipv6": "1",
                **DEFAULT_POD_SYSCTLS,
                **_pod_sysctls(rec.security),
            },
        )
        await nsx.ip_batch(self._pod_net_cmds(rec.ip), rec.netns)

    async def _start_container(self, rec: _Pod, c: Mapping[str, Any], image: Image) -> None:
        cname = str(c.get("name") or f"c{len(rec.containers)}")
        tcp: list[int] = []
        udp: list[int] = []
        for p in c.get("ports") or []:
            number = p.get("containerPort")
            protocol = p.get("protocol") or "TCP"
            if isinstance(number, int) and protocol in ("TCP", "UDP"):
                (udp if protocol == "UDP" else tcp).append(number)
            elif protocol == "SCTP" and not tools.sctp_available():
                log.warning(
                    "pod %s/%s declares SCTP port %s: this kernel has no SCTP (modprobe sctp);"
                    " nothing serves it",
                    rec.namespace,
                    rec.name,
                    number,
                )
        uid, gid = run_as(image, c, rec.security)
        cont = _Container(cname, image, tuple(tcp), uid=uid, gid=gid, udp_ports=tuple(udp))
        rec.containers[cname] = cont
        if image.kind != "nginx":
            return  # curl/busybox: tracked as running; exec runs in the pod namespace
        assert rec.directory is not None
        priv = rec.directory / cname
        for sub in ("", "tmp", "run", "log", "logs", "bin"):
            (priv / sub).mkdir(parents=True, exist_ok=True)
            os.chown(priv / sub, uid, gid)
        # a private state dir (pytest's tmp_path is 0700) must not stop a non-root nginx:
        # it reaches its files through the bind mounts, never through these parents
        command = [str(a) for a in c.get("command") or []]
        args = [str(a) for a in c.get("args") or []]
        if command:
            argv = [*command, *args]
        else:
            ports = tcp or ([image.default_port] if image.default_port else [80])
            cont.tcp_ports = tuple(ports)
            servers = (
                "  server { "
                + " ".join(f"listen {p};" for p in ports)
                + ' location / { return 200 "ok $server_port\\n"; } }\n'
            )
            # declared UDP ports: nginx's stream module answers them (as the plan's config does)
            stream = "".join(f'  server {{ listen {p} udp; return "ok {p}\\n"; }}\n' for p in udp)
            (priv / "default.conf").write_text(_nginx_conf(Path("/var/lib/nginx"), servers, stream))
            argv = ["nginx"]
        logfile = priv / "container.log"
        logfile.touch()
        os.chown(logfile, uid, gid)  # `error_log /dev/stderr` reopens it as the container's user
        with open(logfile, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                nsx.IP,
                "netns",
                "exec",
                rec.netns,
                "/bin/sh",
                "-c",
                START_SCRIPT,
                "sh",
                str(priv),
                str(self._resolv_for(rec.namespace)),
                str(self._bin / "nginx"),
                str(uid),
                str(gid),
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                env=self._env(rec.name, "/var/lib/nginx/bin", image.home, c.get("env")),
            )
        cont.proc = proc
        cont.started = time.monotonic()
        self.state.add_pid(proc.pid)

    async def container_ready(self, pod: dict[str, Any]) -> bool:
        """True when every container runs and nginx listens on its declared TCP ports
        and has bound its declared UDP ports."""
        meta = metadata_of(pod)
        rec = self._pods.get((str(meta.get("namespace", "default")), str(meta.get("name", ""))))
        if rec is None:
            return False
        if rec.netns == self.dns_ns:
            return self._dns is not None and await self._dns.ready()
        for cont in rec.containers.values():
            proc = cont.proc
            if proc is None:
                continue
            if proc.returncode is not None or nsx.start_time(proc.pid) is None:
                return False
            if not set(cont.udp_ports) <= nsx.udp_bound_ports(proc.pid):
                return False
            if not cont.tcp_ports:
                continue  # nothing declared to listen on over TCP
            listening = nsx.tcp_listening_ports(proc.pid)
            if set(cont.tcp_ports) <= listening:
                continue
            if listening and time.monotonic() - cont.started > READY_GRACE:
                continue  # a command that listens elsewhere than it declared
            return False
        return True

    async def delete_pod(self, namespace: str, name: str) -> None:
        """Kill the pod's processes, then delete its veth and namespace."""
        rec = self._pods.pop((namespace, name), None)
        if rec is None or rec.netns == self.dns_ns:
            return
        procs = [c.proc for c in rec.containers.values() if c.proc is not None]
        pids: dict[int, int | None] = {p.pid: None for p in procs if p.returncode is None}
        for pid in nsx.pids_in_netns([rec.netns]):
            pids.setdefault(pid, nsx.start_time(pid))
        if pids:
            await asyncio.to_thread(nsx.kill_processes, pids)
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                await p.wait()
            self.state.drop_pid(p.pid)
        if rec.veth is not None:
            await nsx.ip_batch([f"link del {rec.veth}"], self.node_ns, force=True)
        await nsx.ip_batch([f"netns del {rec.netns}"], force=True)
        self.state.drop_netns(rec.netns)
        if rec.directory is not None:
            shutil.rmtree(rec.directory, ignore_errors=True)

    async def crash_containers(self, namespace: str, name: str) -> list[str]:
        """Fault injection: SIGKILL the pod's container processes.

        Nothing restarts them. Returns the names of the containers killed.
        """
        rec = self._pods.get((namespace, name))
        if rec is None or rec.netns == self.dns_ns:
            return []
        killed: list[str] = []
        for cont in rec.containers.values():
            proc = cont.proc
            if proc is None or proc.returncode is not None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                proc.kill()
            with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 5.0)
            self.state.drop_pid(proc.pid)
            killed.append(cont.name)
        return sorted(set(killed))

    async def start_ephemeral(
        self, namespace: str, name: str, container: Mapping[str, Any]
    ) -> None:
        """Register an ephemeral container of a running pod, so exec can run in it.

        Like curl/busybox containers it has no process of its own (its command is
        not run, so in the sandbox it never exits); exec runs in the pod's network
        namespace with its image's tools. ImagePullError for an unknown image.
        """
        rec = self._pods.get((namespace, name))
        if rec is None:
            raise PodNotFound(f"pod {namespace}/{name} is not running on the sandbox node")
        cname = str(container.get("name") or "")
        if cname and cname not in rec.containers:
            image = resolve(str(container.get("image") or ""))
            uid, gid = run_as(image, container, rec.security)
            rec.containers[cname] = _Container(cname, image, uid=uid, gid=gid)

    # ------------------------------------------------------------ exec

    async def _mount_ns_for(self, namespace: str) -> Path:
        """A persistent mount ns per Kubernetes namespace with its resolv.conf bound in.

        Joining it (nsenter --mount) is cheap; `ip netns exec` copies the whole host
        mount table (one nsfs mount per pod) on every call.
        """
        path = self._mntns.get(namespace)
        if path is None:
            async with self._mnt_lock:
                path = self._mntns.get(namespace)
                if path is None:
                    mnt = self.dir / "mnt"
                    if not self._mntns:
                        await nsx.make_private_dir_mount(mnt)
                    path = mnt / namespace
                    resolv = self._resolv_for(namespace)
                    await nsx.make_mount_ns(path, {"/etc/resolv.conf": resolv})
                    self._mntns[namespace] = path
        return path

    def _env(
        self,
        hostname: str,
        path: str,
        home: str = "/root",
        declared: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, str]:
        """A container's environment: the basics, then its declared ``env`` (plain values)."""
        env = {"PATH": path, "HOME": home, "HOSTNAME": hostname}
        for item in declared or ():
            name = item.get("name")
            if isinstance(name, str) and name and "valueFrom" not in item:
                env[name] = str(item.get("value", ""))
        env["PATH"] = path  # the image's tools, whatever the pod says
        return env

    def _resolv_for(self, namespace: str) -> Path:
        path = self._resolv.get(namespace)
        if path is None:
            path = self.dir / "resolv" / f"{namespace}.conf"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(resolv_conf(namespace, self._dns_ip))
            self._resolv[namespace] = path
        return path

    async def exec(
        self, namespace: str, name: str, container: str | None, argv: list[str]
    ) -> asyncio.subprocess.Process:
        """Run argv in the pod's namespace with its resolv.conf and its image's PATH."""
        rec = self._pods.get((namespace, name))
        if rec is None:
            raise PodNotFound(f"pod {namespace}/{name} is not running on the sandbox node")
        uid = gid = 0
        home = "/root"
        if rec.netns == self.dns_ns:
            kind = "busybox"
        else:
            if container is None:
                cont = next(iter(rec.containers.values()), None)
            else:
                cont = rec.containers.get(container)
            if cont is None:
                raise PodNotFound(f"container {container} is not valid for pod {name}")
            kind = cont.image.kind
            uid, gid, home = cont.uid, cont.gid, cont.image.home
        bindir = str(self._bin / kind)
        mntns = await self._mount_ns_for(namespace)
        return await asyncio.create_subprocess_exec(
            nsx.NSENTER,
            f"--net={nsx.netns_path(rec.netns)}",
            f"--mount={mntns}",
            f"--setuid={uid}",
            f"--setgid={gid}",
            "--wd=/",
            "/bin/sh",
            "-c",
            EXEC_SCRIPT,
            "sh",
            bindir,
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env(name, bindir, home),
        )

    # ------------------------------------------------------------ network

    def pod_ip(self, namespace: str, name: str) -> str | None:
        rec = self._pods.get((namespace, name))
        return rec.ip if rec else None

    async def sync_network(
        self,
        namespaces: list[dict[str, Any]],
        pods: list[dict[str, Any]],
        services: list[dict[str, Any]],
        policies: list[dict[str, Any]],
    ) -> None:
        """Program policies, Services and DNS for these objects (calls are coalesced)."""
        self._pending = (list(namespaces), list(pods), list(services), list(policies))
        self._requested += 1
        target = self._requested
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.create_task(self._sync_loop())
        async with self._cond:
            await self._cond.wait_for(lambda: self._applied >= target)
        if self._sync_error is not None and self._sync_error[0] >= target:
            raise self._sync_error[1]

    async def _sync_loop(self) -> None:
        while self._pending is not None:
            args, self._pending = self._pending, None
            generation = self._requested
            try:
                await self._apply(*args)
            except Exception as exc:
                log.exception("sync_network failed")
                self._sync_error = (generation, exc)
            async with self._cond:
                self._applied = generation
                self._cond.notify_all()

    def _with_ips(self, pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Pods as stored, with the IP the node gave them (the store may not have it yet)."""
        out: list[Mapping[str, Any]] = []
        seen_dns = False
        for pod in pods:
            meta = metadata_of(pod)
            rec = self._pods.get((str(meta.get("namespace", "default")), str(meta.get("name"))))
            status = pod.get("status") or {}
            if rec is not None and status.get("podIP") != rec.ip:
                pod = {**pod, "status": {**status, "podIP": rec.ip}}
            if (pod.get("status") or {}).get("podIP") == self._dns_ip:
                seen_dns = True
            out.append(pod)
        if not seen_dns:
            ns, name = DNS_POD
            out.append(
                {
                    "metadata": {"namespace": ns, "name": name, "labels": {"k8s-app": "kube-dns"}},
                    "spec": {"containers": []},
                    "status": {"podIP": self._dns_ip},
                }
            )
        return out

    async def _apply(
        self,
        namespaces: list[Any],
        pods: list[Any],
        services: list[Any],
        policies: list[Any],
    ) -> None:
        full = self._with_ips(pods)
        compiled = enforce.compile_sets(namespaces, full, policies if self.config.enforce else ())
        ruleset = enforce.compile_ruleset(
            namespaces,
            full,
            policies,
            self.table,
            services=services,
            enforce=self.config.enforce,
            compiled=compiled,
        )
        rules = enforce.pod_rules(compiled)
        ips = {p.ip for p in pod_infos(full)}
        # only the flows of pods whose own rules now deny more (and of pods gone)
        flows = enforce.flows_to_clear(self._rules, rules, self._ips, ips)
        if ruleset != self._ruleset:
            (self.dir / "ruleset.nft").write_text(ruleset)
            await enforce.apply(self.node_ns, ruleset, flows)
        elif flows:
            await enforce.clear_flows(self.node_ns, flows)
        self._ruleset, self._rules, self._ips = ruleset, rules, ips
        if flows:
            log.debug(
                "cleared flows to %s, from %s, of gone pods %s",
                sorted(flows.towards),
                sorted(flows.from_),
                sorted(flows.gone),
            )
        if self._dns is not None:
            self._dns.update(build_hosts(services, full))


def _pod_sysctls(security: Mapping[str, Any]) -> dict[str, str]:
    """The pod's ``securityContext.sysctls`` that belong to its network namespace."""
    out: dict[str, str] = {}
    for item in security.get("sysctls") or ():
        if not isinstance(item, Mapping):
            continue
        name, value = str(item.get("name") or ""), str(item.get("value") or "")
        if name in SAFE_NET_SYSCTLS and value:
            out[name.removeprefix("net.").replace(".", "/")] = value
    return out


def _nginx_conf(prefix: Path, servers: str, stream: str = "") -> str:
    """A self-contained nginx config (foreground; every path under ``prefix``)."""
    tmp = prefix / "tmp"
    tail = f"stream {{\n{stream}}}\n" if stream else ""
    return (
        "daemon off;\nworker_processes 1;\n"
        f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n  access_log off;\n"
        f"  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};\n"
        f"  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};\n"
        f"{servers}}}\n" + tail
    )
