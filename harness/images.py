"""The container images the harness deploys as probe pods."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Images:
    """Image references for the probe containers.

    ``client`` runs the probes (needs ``sh``, ``curl``, ``nslookup``);
    ``server`` answers them (an unprivileged nginx with the stream module).
    """

    client: str
    server: str


DEFAULT_IMAGES = Images(
    client="curlimages/curl:8.11.1",
    server="nginxinc/nginx-unprivileged:1.27-alpine",
)
