"""The pods the node programs rules for, as the dataplane sees them.

One reading of the stored pods for both dataplane compilers: the Kubernetes
NetworkPolicy sets (netpol_sandbox/enforce.py) and the tier chains of the Calico and
cluster-wide policies (netpol_sandbox/tiered.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

Obj = Mapping[str, Any]

#: Key of a policy (a copy handed to the node) limiting the pods it is programmed on, as
#: ``namespace/name`` strings (:attr:`PodInfo.key`): while a policy change propagates,
#: each pod follows the version it has taken up (see Controllers.programmed_policies).
#: Absent: every pod.
PROGRAMMED_ON = "__programmedOn"


#: Key of a pod (a copy handed to the node) holding the labels of its ServiceAccount,
#: which Calico's account selectors match (Felix learns them from the API, as here).
ACCOUNT_LABELS = "__serviceAccountLabels"


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str, int, str], ...]  # (name, number, protocol) of containerPorts
    service_account: str = "default"
    service_account_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``namespace/name``, as policy programming marks list pods."""
        return f"{self.namespace}/{self.name}"

    def named_port(self, name: str, protocol: str) -> int | None:
        for pname, number, proto in self.ports:
            if pname == name and proto == protocol:
                return number
        return None


def metadata_of(obj: Obj) -> Mapping[str, Any]:
    """An object's ``metadata`` (empty when missing or not a mapping)."""
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def pod_infos(pods: Iterable[Obj]) -> list[PodInfo]:
    """Pods that have an IPv4 address, with labels, declared ports and service account."""
    infos: list[PodInfo] = []
    for pod in pods:
        meta = metadata_of(pod)
        ip = (pod.get("status") or {}).get("podIP")
        if not isinstance(ip, str) or not ip or ":" in ip:
            continue
        spec = pod.get("spec") or {}
        ports: list[tuple[str, int, str]] = []
        for c in spec.get("containers") or []:
            for p in c.get("ports") or []:
                number = p.get("containerPort")
                if isinstance(number, int):
                    ports.append((str(p.get("name") or ""), number, p.get("protocol") or "TCP"))
        infos.append(
            PodInfo(
                meta.get("namespace", "default"),
                meta.get("name", ""),
                ip,
                dict(meta.get("labels") or {}),
                tuple(ports),
                str(spec.get("serviceAccountName") or "default"),
                dict(pod.get(ACCOUNT_LABELS) or {}),
            )
        )
    return infos
