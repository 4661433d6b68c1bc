"""Every YAML file of the infrastructure parses safely, and the kind config is what CI needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.infra._repo import KIND_CONFIG
from tests.infra._repo import MANIFESTS
from tests.infra._repo import ROOT
from tests.infra._repo import load_all
from tests.infra._repo import yaml_files

# Kubernetes 1.34-1.36: the range Calico 3.32 is tested against (docs/ci.md).
DIGEST = re.compile(r"^kindest/node:v1\.3[4-6]\.\d+@sha256:[0-9a-f]{64}$")


def test_the_file_list_covers_every_area() -> None:
    names = {str(p.relative_to(ROOT)) for p in yaml_files()}
    assert "kind-config.yaml" in names
    assert ".github/workflows/e2e-kind.yml" in names
    assert "manifests/rbac/hermetic.yaml" in names
    assert "manifests/rbac/in-place.yaml" in names
    # whatever policies exist right now are covered too
    for policy in MANIFESTS.joinpath("policies").glob("*.yaml"):
        assert str(policy.relative_to(ROOT)) in names


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_parses_with_safe_load_all(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert docs, f"{path} holds no YAML document"
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is a {type(doc).__name__}, not a mapping"


def test_safe_load_all_rejects_object_tags() -> None:
    # The parametrized test above would catch a python/object tag in one of our files.
    with pytest.raises(yaml.constructor.ConstructorError):
        list(yaml.safe_load_all("a: !!python/object/apply:os.system ['true']\n"))


def test_kind_config_is_for_calico() -> None:
    (cfg,) = load_all(KIND_CONFIG)
    assert cfg["kind"] == "Cluster"
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert cfg["networking"]["disableDefaultCNI"] is True
    # Inside 10.192.0.0/10, which the scenarios' ipBlock rules assume (scenarios/README.md);
    # scripts/kind-up sets Calico's pool to it.
    assert cfg["networking"]["podSubnet"] == "10.244.0.0/16"
    roles = [n["role"] for n in cfg["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    images = {n["image"] for n in cfg["nodes"]}
    assert len(images) == 1, "every node must run the same node image"
    (image,) = images
    assert DIGEST.match(image), f"node image {image!r} is not a pinned kindest/node v1.34-v1.36"
