"""Image references -> sandbox runtimes; unknown images fail like a pull."""

from __future__ import annotations

import pytest

from netpol_sandbox.images import ImagePullError
from netpol_sandbox.images import parse
from netpol_sandbox.images import resolve

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("reference", "kind"),
    [
        ("docker.io/curlimages/curl:8.11.1", "curl"),
        (f"curlimages/curl@{DIGEST}", "curl"),
        (f"curlimages/curl:8.11.1@{DIGEST}", "curl"),
        ("nginxinc/nginx-unprivileged:1.27-alpine", "nginx"),
        ("nginx", "nginx"),
        ("docker.io/library/nginx:latest", "nginx"),
        ("index.docker.io/library/nginx:1.27", "nginx"),
        ("busybox:1.36", "busybox"),
    ],
)
def test_known_images_map_with_any_tag_or_digest(reference: str, kind: str) -> None:
    assert resolve(reference).kind == kind


def test_parse_splits_registry_repository_tag_digest() -> None:
    ref = parse(f"registry.example.com:5000/team/app:v1@{DIGEST}")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "registry.example.com:5000",
        "team/app",
        "v1",
        DIGEST,
    )
    ref = parse("nginx")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "docker.io",
        "library/nginx",
        None,
        None,
    )
    assert parse("localhost/x:1").registry == "localhost"


def test_default_ports_of_stock_images() -> None:
    assert resolve("nginx").default_port == 80
    assert resolve("nginxinc/nginx-unprivileged").default_port == 8080


@pytest.mark.parametrize(
    "reference",
    ["ghcr.io/curlimages/curl:8", "quay.io/nginx", "alpine:3.20", "myorg/nginx"],
)
def test_unmapped_images_fail_to_pull(reference: str) -> None:
    with pytest.raises(ImagePullError) as info:
        resolve(reference)
    assert info.value.reason == "ErrImagePull"
    assert reference in info.value.message


@pytest.mark.parametrize("reference", ["", "Nginx", "nginx:bad tag", "nginx@sha256:xyz", " nginx"])
def test_invalid_references(reference: str) -> None:
    with pytest.raises(ImagePullError) as info:
        resolve(reference)
    assert info.value.reason == "InvalidImageName"
