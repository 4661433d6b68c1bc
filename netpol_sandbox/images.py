"""Container image references -> what the sandbox runs for them.

There is no container runtime: an image maps to a *kind* of local runtime whose
tools stand in for the image's (docs/sandbox.md, "Real image vs sandbox"): the
busybox built from Debian's source the way Alpine configures it (``make deps``,
:mod:`netpol_sandbox.busybox_build`) for ``sh`` and the applets, the host's curl,
the host's nginx with the stream module. Each known image also carries the user
it runs as by default (its ``USER``) and its HOME. Any tag or digest of a known
repository maps; anything else fails like a pull would (ErrImagePull, then
ImagePullBackOff, with the message of :func:`resolve`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
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

#: the image's default user (uid, gid) and HOME: its Dockerfile's ``USER``
#: (curlimages/curl: ``curl_user``/``curl_group`` made by Alpine's ``adduser -S``;
#: nginx-unprivileged: ``nginx``, 101). A pod's ``runAsUser``/``runAsGroup`` win.
DEFAULT_USER: dict[str, tuple[int, int, str]] = {
    "curlimages/curl": (100, 101, "/home/curl_user"),
    "nginxinc/nginx-unprivileged": (101, 101, "/nonexistent"),
    "library/nginx": (0, 0, "/root"),
    "library/busybox": (0, 0, "/root"),
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
    uid: int = 0
    gid: int = 0
    home: str = "/root"


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
        # What containerd says for an image the registry does not have (the kubelet puts
        # it in the waiting message), then what the sandbox does have.
        full = f"{ref.registry}/{ref.repository}" + (f":{ref.tag}" if ref.tag else "")
        raise ImagePullError(
            f'Failed to pull image "{reference}": rpc error: code = NotFound desc = failed to '
            f'pull and unpack image "{full}": failed to resolve reference "{full}": '
            f"{full}: not found (the sandbox has: {known})"
        )
    uid, gid, home = DEFAULT_USER.get(ref.repository, (0, 0, "/root"))
    return Image(ref, kind, DEFAULT_HTTP_PORT.get(ref.repository), uid, gid, home)


def run_as(
    image: Image, container: Mapping[str, Any], pod_security: Mapping[str, Any] | None
) -> tuple[int, int]:
    """The (uid, gid) a container's processes run as, as a runtime decides it.

    ``securityContext.runAsUser``/``runAsGroup`` of the container, else of the pod,
    else the image's ``USER``. A uid other than the image's without a group gets
    gid 0 (a runtime takes the primary group from the image's /etc/passwd, where
    such a uid has no entry).
    """
    own = container.get("securityContext") or {}
    pod = pod_security or {}
    uid = _int_field(own, pod, "runAsUser")
    gid = _int_field(own, pod, "runAsGroup")
    if uid is None:
        uid = image.uid
    if gid is None:
        gid = image.gid if uid == image.uid else 0
    return uid, gid


def _int_field(first: Mapping[str, Any], second: Mapping[str, Any], name: str) -> int | None:
    for source in (first, second):
        value = source.get(name) if isinstance(source, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
