"""What a probe pod's /etc/resolv.conf says: the cluster domain and the nameserver.

Read once by the runner, the preflight and ``netpol-harness check``: clusters are not
always ``cluster.local``, and a node-local DNS cache changes the DNS path.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import plan as planning
from harness.errors import HarnessError
from harness.live.api import Execs
from harness.model import PodRef


@dataclass(frozen=True)
class Resolv:
    domain: str | None  # from the search line's svc.<domain>; None when unknown
    nameserver: str = ""


def read_resolv_conf(api: Execs, pod: PodRef, container: str) -> Resolv:
    """The pod's resolver settings; unknown (None, "") when it cannot be read."""
    try:
        out = api.exec(pod.namespace, pod.name, ["cat", "/etc/resolv.conf"], container=container)
    except HarnessError:
        return Resolv(None)
    if out.exit_code != 0:
        return Resolv(None)
    nameserver = next(
        (
            line.split()[1]
            for line in out.stdout.splitlines()
            if line.startswith("nameserver ") and len(line.split()) > 1
        ),
        "",
    )
    return Resolv(planning.cluster_domain_of(out.stdout), nameserver)
