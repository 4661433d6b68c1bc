"""The resolved ``--netpol-*`` options: one frozen object from the plugin to the live session.

The plugin (:mod:`harness.plugin.options`) reads and validates the command line and
ini values into :class:`NetpolOptions`; :class:`harness.live.session.LiveSession` takes
the object as it is, so a new option is one field here and one row in the option table.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.images import DEFAULT_IMAGES
from harness.images import Images


@dataclass(frozen=True)
class NetpolOptions:
    """The resolved netpol options (command line, else ini, else default)."""

    kubeconfig: str | None = None
    context: str | None = None
    junit: str | None = None
    report_json: str | None = None
    html: str | None = None
    markdown: str | None = None
    #: A previous run's JSON summary: cells whose observed outcome differs are listed.
    baseline: str | None = None
    #: Truth tables after the run: "auto" (failures only; all under -v), "all", "none".
    tables: str = "auto"
    keep: bool = False
    static: bool = False
    in_place: bool = False
    client_image: str = DEFAULT_IMAGES.client
    server_image: str = DEFAULT_IMAGES.server
    concurrency: int = 32
    connect_timeout: float | None = None
    convergence: float | None = None
    preflight: bool = True
    #: The cluster's pod network (``${clusterPodCIDR}``); "" unknown.
    pod_cidr: str = ""
    image_pull_secret: tuple[str, ...] = ()
    #: Scenarios a process deploys and probes at the same time.
    parallel_scenarios: int = 8
    #: Live run without a cluster: skip the cells (IDE discovery) instead of a usage error.
    allow_no_cluster: bool = False

    @property
    def images(self) -> Images:
        return Images(client=self.client_image, server=self.server_image)
