"""The container images the harness deploys as probe pods.

The defaults are pinned by tag AND digest (``repository:tag@sha256:...``): a
container runtime pulls the digest (the tag is for people), so a re-pushed tag
can never change what a CI run deploys. ``netpol-harness images`` lists them for
mirroring; ``--netpol-client-image`` / ``--netpol-server-image`` override them
(e.g. with a mirror's copy) and ``--netpol-image-pull-secret`` adds
``imagePullSecrets`` to the probe pods for a private registry.
"""

from __future__ import annotations

from dataclasses import dataclass

#: curl 8.11.1 on Alpine 3.21 (the client): ``sh`` is busybox ash, ``nslookup`` and
#: ``nc`` are busybox applets (nc is the netcat 1.10 clone: UDP probes use ``nc -vv -u``,
#: whose output tells a reply, ICMP port unreachable and silence apart), plus ``curl``.
#: No bash, python3, perl, ncat or socat. Runs as uid 100 unless the pod says otherwise.
CLIENT_IMAGE = (
    "curlimages/curl:8.11.1@sha256:c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69"
)
#: nginx 1.27 on Alpine, running as a non-root user (uid 101 unless the pod says otherwise;
#: the server: HTTP, and UDP via the stream module built into the image). Ports below 1024
#: need ``net.ipv4.ip_unprivileged_port_start`` <= the port in the pod (the plan sets it).
SERVER_IMAGE = (
    "nginxinc/nginx-unprivileged:1.27-alpine"
    "@sha256:65e3e85dbaed8ba248841d9d58a899b6197106c23cb0ff1a132b7bfe0547e4c0"
)


@dataclass(frozen=True)
class Images:
    """Image references for the probe containers.

    ``client`` runs the probes (needs ``sh``, ``curl``, ``nslookup``);
    ``server`` answers them (an unprivileged nginx with the stream module).
    """

    client: str
    server: str


DEFAULT_IMAGES = Images(client=CLIENT_IMAGE, server=SERVER_IMAGE)
