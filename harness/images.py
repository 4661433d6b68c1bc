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

#: curl 8.11.1 (the client: sh, curl, nslookup and nc from busybox).
CLIENT_IMAGE = (
    "curlimages/curl:8.11.1@sha256:c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69"
)
#: nginx 1.27 on Alpine, running as a non-root user (the server: HTTP and UDP via stream).
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
