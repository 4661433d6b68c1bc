"""A scripted fake of harness.cluster.Cluster for runner/live tests.

The fake reads the probe script the runner sends (the real one from
harness.probes), finds each probe's target address and port, asks a
``network`` function what happens, and answers with ``NPH`` lines.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

_CALL = re.compile(r"^nph_[ud] (\d+) (.*) &$", re.M)
# One curl --parallel group: nph_c GROUP PARALLEL CONNECT_TIMEOUT MAX_TIME URL... &
_GROUP = re.compile(r"^nph_c (\d+) \d+ \S+ \S+ (.*) &$", re.M)
_HTTP = re.compile(r"http://\[?([^\]/']+?)\]?:(\d+)/")
_UDP = re.compile(r"^'?([^' ]+)'? (\d+) \d+$")
_DNS = re.compile(r"^'?([^' ]+)'? \d+$")

# (exit code, extra) of common outcomes, as the real tools print them.
CONNECTED = (0, "200 0.000123 ")
DROPPED = (28, "000 0.000000 Connection timed out after 1001 milliseconds")
REFUSED = (7, "000 0.000000 Failed to connect to x port 80: Connection refused")
NO_DNS = (6, "000 0.000000 Could not resolve host: x")


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_code: int


@dataclass(frozen=True)
class Probed:
    """What the fake saw in one script line."""

    pod: str  # namespace/name of the source pod
    address: str
    port: int
    kind: str  # http | udp | dns


Network = Callable[[Probed, int], tuple[int, str]]


def allow_all(probed: Probed, round_no: int) -> tuple[int, str]:
    return CONNECTED


@dataclass
class FakeCluster:
    network: Network = allow_all  # after the policies are applied
    datapath: Network = allow_all  # before (no policies: everything should connect)
    #: (namespace/pod, exec number for that pod) -> exception to raise
    exec_faults: Mapping[tuple[str, int], Exception] = field(default_factory=dict)
    #: probe indices whose line is dropped from the output, per (pod, exec number)
    lost_lines: Mapping[tuple[str, int], set[int]] = field(default_factory=dict)
    garbage: str = ""
    clock: Any = None  # a FakeClock advanced by exec_seconds per exec call
    exec_seconds: float = 0.0
    fail_create_kind: str = ""
    not_ready: Exception | None = None
    #: The domain on the search line of the pods' resolv.conf.
    cluster_domain: str = "cluster.local"
    resolv_reads: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)
    execs: list[tuple[str, str]] = field(default_factory=list)  # (pod, phase)
    policies_applied: bool = False
    deleted: list[Any] = field(default_factory=list)
    deleted_runs: list[str] = field(default_factory=list)
    #: (ObjectRef, label patch) per patch_labels call; fail_patch: raised instead.
    patched: list[tuple[Any, dict[str, str | None]]] = field(default_factory=list)
    fail_patch: Exception | None = None
    _counts: dict[str, int] = field(default_factory=dict)
    _ips: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------ facade

    def create(self, body: Mapping[str, Any], *, run_id: str | None = None) -> dict[str, Any]:
        if self.fail_create_kind and body.get("kind") == self.fail_create_kind:
            from harness.errors import Forbidden

            raise Forbidden(
                f"create {body['kind']}: pods is forbidden: violates PodSecurity", status=403
            )
        with self._lock:
            self.created.append(dict(body))
            if body.get("kind") == "NetworkPolicy":
                self.policies_applied = True
        return dict(body)

    def wait_pods_ready(
        self, pods: Sequence[tuple[str, str]], timeout: float = 0, interval: float = 0
    ) -> dict[tuple[str, str], dict[str, Any]]:
        if self.not_ready is not None:
            raise self.not_ready
        out = {}
        for i, (ns, name) in enumerate(pods):
            ip = f"10.0.0.{i + 2}"
            self._ips[ip] = f"{ns}/{name}"
            out[(ns, name)] = {
                "metadata": {"name": name, "namespace": ns},
                "status": {"phase": "Running", "podIP": ip},
            }
        return out

    def pod_at(self, ip: str) -> str:
        return self._ips.get(ip, ip)

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 0,
    ) -> Result:
        key = f"{namespace}/{pod}"
        if list(command) == ["cat", "/etc/resolv.conf"]:
            with self._lock:
                self.resolv_reads += 1
            domain = self.cluster_domain
            search = f"search {namespace}.svc.{domain} svc.{domain} {domain}"
            return Result(f"{search}\nnameserver 10.96.0.10\noptions ndots:5\n", "", 0)
        phase = "probe" if self.policies_applied else "datapath"
        with self._lock:
            n = self._counts.get(key, 0) + 1
            self._counts[key] = n
            self.execs.append((key, phase))
        if self.clock is not None:
            with self._lock:
                self.clock.now += self.exec_seconds
        fault = self.exec_faults.get((key, n))
        if fault is not None:
            raise fault
        assert command[:2] == ["sh", "-c"], command
        assert container == "client"
        lines = []
        lost = self.lost_lines.get((key, n), set())
        net = self.network if phase == "probe" else self.datapath
        round_no = self.round_of(key, phase)
        others: set[int] = set()
        for m in _CALL.finditer(command[2]):
            index, body = int(m.group(1)), m.group(2)
            others.add(index)
            probed = _parse(key, body)
            code, extra = net(probed, round_no)
            if probed.kind == "dns" and code == 0 and "Name:" not in extra:
                # what nslookup prints for an answer (the classifier reads the output)
                extra = f"Server: 10.96.0.10 Name: {probed.address} Address: 10.96.0.10"
            if index not in lost:
                lines.append(f"NPH {index} {code} 0.010 {extra}")
        # HTTP probes take the indices the UDP/DNS lines left free, in order (the
        # groups of harness.probes.curl_groups with one connect timeout); curl names
        # each transfer by group and position, as the real script's lines do.
        index = 0
        for m in _GROUP.finditer(command[2]):
            group = int(m.group(1))
            for number, http in enumerate(_HTTP.finditer(m.group(2))):
                while index in others:
                    index += 1
                probed = Probed(key, http.group(1), int(http.group(2)), "http")
                code, extra = net(probed, round_no)
                if index not in lost:
                    lines.append(f"NPC {group} {number} {code} 0.010 {extra}")
                index += 1
        if self.garbage:
            lines.insert(0, self.garbage)
        return Result("\n".join(lines) + "\n", "", 0)

    def round_of(self, key: str, phase: str) -> int:
        """How many probe-phase execs this pod has had (1-based)."""
        return sum(1 for k, p in self.execs if k == key and p == phase)

    def snapshot(
        self, namespaces: Iterable[str], extended: Iterable[tuple[str, str]] = ()
    ) -> list[dict[str, Any]]:
        wanted = set(namespaces)
        return [
            o
            for o in self.created
            if o.get("kind") in ("Namespace", "Pod", "NetworkPolicy")
            and (
                o["metadata"].get("namespace") in wanted
                or (o.get("kind") == "Namespace" and o["metadata"]["name"] in wanted)
            )
        ]

    def delete(self, ref: Any) -> bool:
        self.deleted.append(ref)
        return True

    def patch_labels(self, ref: Any, labels: Mapping[str, str | None]) -> dict[str, Any]:
        if self.fail_patch is not None:
            raise self.fail_patch
        with self._lock:
            self.patched.append((ref, dict(labels)))
        return {}

    def delete_run(self, run_id: str, timeout: float = 0) -> list[str]:
        self.deleted_runs.append(run_id)
        return []


def _parse(pod: str, body: str) -> Probed:
    m = _HTTP.search(body)
    if m:
        return Probed(pod, m.group(1), int(m.group(2)), "http")
    m = _UDP.match(body)
    if m:
        return Probed(pod, m.group(1), int(m.group(2)), "udp")
    m = _DNS.match(body)
    if m:
        return Probed(pod, m.group(1), 53, "dns")
    raise AssertionError(f"unrecognised probe line: {body}")


class FakeClock:
    """A clock that only moves when the runner sleeps (plus a fixed cost per read)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
