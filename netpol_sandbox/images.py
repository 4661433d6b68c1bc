"""Container image references -> what the sandbox runs for them.

There is no container runtime: an image maps to a *kind* of local runtime
(the host's curl plus busybox applets, the host's nginx, busybox). Any tag or
digest of a known repository maps; anything else fails like a pull would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["curl", "nginx", "busybox"]

DEFAULT_REGISTRY = "docker.io"
_DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io"}

#: (registry, repository path) -> runtime kind
KNOWN: dict[tuple[str, str], Kind] = {
    ("docker.io", "curlimages/curl"): "curl",
    ("docker.io", "library/nginx"): "nginx",
    ("docker.io", "nginxinc/nginx-unprivileged"): "nginx",
    ("docker.io", "library/busybox"): "busybox",
}

#: default listen port of the stock image when a container declares none
DEFAULT_HTTP_PORT: dict[str, int] = {
    "library/nginx": 80,
    "nginxinc/nginx-unprivileged": 8080,
}

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


class ImagePullError(Exception):
    """The image cannot be "pulled": unknown repository or an invalid reference."""

    def __init__(self, message: str, reason: str = "ErrImagePull") -> None:
        self.reason = reason
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str  # path inside the registry, e.g. "library/nginx"
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class Image:
    ref: ImageRef
    kind: Kind
    default_port: int | None


def parse(reference: str) -> ImageRef:
    """Parse an image reference the way a container runtime does (docker.io default)."""
    text = reference.strip()
    if not text or text != reference or any(c.isspace() for c in text):
        raise ImagePullError(
            f'Failed to apply default image tag "{reference}": invalid reference format',
            reason="InvalidImageName",
        )
    rest, _, digest = text.partition("@")
    if _ and not _DIGEST.match(digest):
        raise ImagePullError(f'invalid digest in image "{reference}"', reason="InvalidImageName")
    first, slash, after = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, after
    else:
        registry, path = DEFAULT_REGISTRY, rest
    tag: str | None = None
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1 :]
        if not _TAG.match(tag):
            raise ImagePullError(f'invalid tag in image "{reference}"', reason="InvalidImageName")
    if not path or not all(_COMPONENT.match(c) for c in path.split("/")):
        raise ImagePullError(
            f'invalid reference format: repository name in "{reference}" must be lowercase',
            reason="InvalidImageName",
        )
    if registry in _DOCKER_HUB:
        registry = DEFAULT_REGISTRY
        if "/" not in path:
            path = f"library/{path}"
    return ImageRef(registry, path, tag, digest or None)


def resolve(reference: str) -> Image:
    """Map an image reference to a local runtime kind; ImagePullError when unknown."""
    ref = parse(reference)
    kind = KNOWN.get((ref.registry, ref.repository))
    if kind is None:
        known = ", ".join(sorted(f"{r}/{p}" for r, p in KNOWN))
        raise ImagePullError(
            f'Failed to pull image "{reference}": repository {ref.registry}/{ref.repository} '
            f"is not available in the sandbox (it has: {known})"
        )
    return Image(ref, kind, DEFAULT_HTTP_PORT.get(ref.repository))
