"""`netpol-harness check FROM TO:PORT[/PROTO]`: one live probe, its verdict and why.

FROM and TO are ``namespace/pod`` or ``namespace/label=value[,label=value]``.
Exit codes: 0 the expectation holds (without ``--expect``: a verdict was
reached), 1 it does not, 2 no verdict (bad arguments, no pod, exec/API failure).
Logic: :mod:`harness.live.check`.
"""

from __future__ import annotations

import argparse
import json
import sys

from harness.commands.arguments import add_cluster_options
from harness.commands.arguments import add_format_option


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="FROM", help="NAMESPACE/POD or NAMESPACE/LABEL=VALUE,...")
    parser.add_argument(
        "target", metavar="TO:PORT[/PROTO]", help="same as FROM, then :PORT (number or name)"
    )
    parser.add_argument("--expect", choices=("allow", "deny"), help="what should happen")
    add_cluster_options(parser)
    parser.add_argument(
        "--timeout", default="1s", metavar="DURATION", help="connect timeout (default 1s)"
    )
    add_format_option(parser, ("text", "json"))
    parser.add_argument("--client-image", metavar="IMAGE", help="image of an ephemeral probe")


def run(args: argparse.Namespace) -> int:
    from harness.errors import ConfigError
    from harness.errors import HarnessError
    from harness.images import DEFAULT_IMAGES
    from harness.images import Images
    from harness.live.check import Checker
    from harness.live.check import CheckError
    from harness.live.check import CheckRequest
    from harness.live.check import parse_endpoint
    from harness.live.check import parse_target
    from harness.scenario.loader import parse_duration

    try:
        timeout = parse_duration(args.timeout)
    except ValueError:
        timeout = -1.0
    if not 0.001 <= timeout <= 60:
        raise ConfigError(f"--timeout {args.timeout!r} is not a duration from 1ms to 60s (e.g. 2s)")
    source = parse_endpoint(args.source, "FROM")
    target, port, protocol = parse_target(args.target)
    request = CheckRequest(source, target, port, protocol, args.expect, timeout)
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=args.kubeconfig, context=args.context, retry_attempts=3)
    images = Images(client=args.client_image or DEFAULT_IMAGES.client, server=DEFAULT_IMAGES.server)
    try:
        result = Checker(cluster, images=images).check(request)
    except CheckError:
        raise
    except HarnessError as exc:
        raise CheckError(f"check {args.source} -> {args.target}: {exc}") from None
    if args.format == "json":
        json.dump(result.to_json(), sys.stdout, indent=2)
        print()
    else:
        print(result.text())
    return result.exit_code
