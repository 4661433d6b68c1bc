"""Names every part of the plan shares: the run id's shape, the probe UID, the cluster domain.

A leaf of :mod:`harness.plan`: the other plan modules import it, it imports none of them.
"""

from __future__ import annotations

import re

RUN_ID = re.compile(r"^[a-z0-9]{1,8}$")
#: The non-root user and group the probe containers run as.
PROBE_UID = 65532
#: The cluster domain the plan assumes; the runner reads the real one from a probe pod's
#: resolv.conf (search line) and rewrites the names (with_cluster_domain).
CLUSTER_DOMAIN = "cluster.local"
#: Service names are absolute (trailing dot): no search-list expansion, one lookup.
DNS_HOST = f"kube-dns.kube-system.svc.{CLUSTER_DOMAIN}."
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def check_run_id(run_id: str) -> None:
    """ValueError unless ``run_id`` matches :data:`RUN_ID`."""
    if not RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must match [a-z0-9]{{1,8}}")
