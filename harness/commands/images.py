"""`netpol-harness images`: every container image the harness and its CI cluster use.

For mirroring into a private registry (air-gapped clusters, pull-rate limits):
the probe images come from :data:`harness.images.DEFAULT_IMAGES`; the kind node
image and the Calico images are what ``scripts/kind-up`` runs for the CI gate.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from dataclasses import dataclass
from typing import Literal

from harness.commands.arguments import add_format_option
from harness.errors import ConfigError

Use = Literal["probe", "kind-ci"]

#: kind node image of kind-config.yaml (Kubernetes v1.35.8, built for kind v0.33.0).
KIND_NODE_IMAGE = (
    "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
)
#: Calico release that scripts/kind-up installs (scripts/calico.sha256 pins its manifest).
CALICO_VERSION = "v3.32.4"
#: The images that release's calico-v3-crds.yaml runs, the manifest kind-up installs
#: (from quay.io since 3.32; calico.yaml runs the same but the webhooks). By tag, as the
#: manifest names them: its checksum pins the manifest's text, not the image contents
#: (mirror them by digest).
CALICO_IMAGES: tuple[tuple[str, str], ...] = (
    ("calico-cni", f"quay.io/calico/cni:{CALICO_VERSION}"),
    ("calico-node", f"quay.io/calico/node:{CALICO_VERSION}"),
    ("calico-kube-controllers", f"quay.io/calico/kube-controllers:{CALICO_VERSION}"),
    ("calico-webhooks", f"quay.io/calico/webhooks:{CALICO_VERSION}"),
)


@dataclass(frozen=True)
class ImageUse:
    role: str
    image: str
    use: Use
    pinned: bool  # referenced by digest (repository@sha256:...)


def _ref(role: str, image: str, use: Use) -> ImageUse:
    return ImageUse(role=role, image=image, use=use, pinned="@sha256:" in image)


def probe_images() -> tuple[ImageUse, ...]:
    """The probe images of :data:`harness.images.DEFAULT_IMAGES` (imported lazily)."""
    try:
        from harness.images import DEFAULT_IMAGES
    except ImportError as exc:  # pragma: no cover - only in a broken install
        raise ConfigError(f"cannot read the probe images (harness.images): {exc}") from exc
    return (
        _ref("probe-client", DEFAULT_IMAGES.client, "probe"),
        _ref("probe-server", DEFAULT_IMAGES.server, "probe"),
    )


def all_images() -> tuple[ImageUse, ...]:
    kind_ci = (
        _ref("kind-node", KIND_NODE_IMAGE, "kind-ci"),
        *(_ref(role, image, "kind-ci") for role, image in CALICO_IMAGES),
    )
    return probe_images() + kind_ci


def render_text(images: tuple[ImageUse, ...]) -> str:
    width = max(len(i.role) for i in images)
    lines = ["# probe: deployed by every live run; kind-ci: only the kind + Calico CI cluster"]
    for i in images:
        note = "" if i.pinned else "  (tag only: pin a digest when mirroring)"
        lines.append(f"{i.role:<{width}}  {i.use:<7}  {i.image}{note}")
    return "\n".join(lines) + "\n"


def render_json(images: tuple[ImageUse, ...]) -> str:
    return json.dumps({"images": [asdict(i) for i in images]}, indent=2) + "\n"


def configure(parser: argparse.ArgumentParser) -> None:
    add_format_option(
        parser, ("text", "json"), "text (default): one image per line; json: for scripts"
    )
    parser.add_argument(
        "--probes-only",
        action="store_true",
        help="only the images live runs deploy (not the kind CI cluster's)",
    )


def run(args: argparse.Namespace) -> int:
    images = probe_images() if args.probes_only else all_images()
    out = render_json(images) if args.format == "json" else render_text(images)
    sys.stdout.write(out)
    return 0
