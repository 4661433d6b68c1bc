"""`netpol-harness preflight`: is this cluster fit for live runs?

Checks, in order, one line each: the API answers, the RBAC permissions of the
chosen mode are granted, the probe images pull, cluster DNS resolves, and the
CNI enforces NetworkPolicy (a canary deny). Exit 0 when all pass, 1 when one
fails, 2 when the kubeconfig cannot be loaded.
"""

from __future__ import annotations

import argparse
import sys

from harness.commands.arguments import add_cluster_options
from harness.commands.arguments import add_list_option


def configure(parser: argparse.ArgumentParser) -> None:
    add_cluster_options(parser)
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="check the permissions of in-place runs (manifests/rbac/in-place.yaml)",
    )
    parser.add_argument(
        "--skip-canary",
        action="store_true",
        help="only the API and RBAC checks: no pods, no policy (no image, DNS, CNI checks)",
    )
    parser.add_argument("--client-image", metavar="IMAGE", help="probe client image to try")
    parser.add_argument("--server-image", metavar="IMAGE", help="probe server image to try")
    add_list_option(
        parser, "--image-pull-secret", "NAME", "imagePullSecrets of the canary pods (repeatable)"
    )
    parser.add_argument(
        "--convergence",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="how long the canary deny may take to be enforced (default 20)",
    )


def run(args: argparse.Namespace) -> int:
    from harness.images import DEFAULT_IMAGES
    from harness.images import Images
    from harness.live.cluster import Cluster
    from harness.live.preflight import CheckResult
    from harness.live.preflight import Preflight
    from harness.live.preflight import PreflightSettings

    cluster = Cluster(kubeconfig=args.kubeconfig, context=args.context, retry_attempts=3)
    settings = PreflightSettings(
        mode="in-place" if args.in_place else "hermetic",
        canary=not args.skip_canary,
        images=Images(
            client=args.client_image or DEFAULT_IMAGES.client,
            server=args.server_image or DEFAULT_IMAGES.server,
        ),
        pull_secrets=tuple(
            name.strip() for item in args.image_pull_secret for name in item.split(",") if name
        ),
        convergence=args.convergence,
    )
    print(f"preflight of {cluster.describe()}", flush=True)

    def show(result: CheckResult) -> None:
        print(f"  {result.line}", flush=True)

    report = Preflight(cluster, settings, on_result=show).run()
    if report.cleanup:
        print(f"  warning: {report.cleanup}", file=sys.stderr)
    if report.ok:
        if args.skip_canary:
            print("preflight passed (API and RBAC only: images, DNS and the CNI were not checked)")
        else:
            print("preflight passed: the cluster is fit for live runs")
        return 0
    failed = ", ".join(r.name for r in report.failures)
    print(f"netpol-harness: preflight failed ({failed}): see the FAIL lines above", file=sys.stderr)
    return 1
