"""`netpol-harness images`: lists the probe images and the kind CI cluster's images."""

from __future__ import annotations

import json
import re
import sys
import types

import pytest

from harness import cli
from harness.commands import images
from tests.infra._repo import KIND_CONFIG
from tests.infra._repo import ROOT
from tests.infra._repo import load_all


@pytest.fixture
def fake_images(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    defaults = types.SimpleNamespace(
        client="example.test/curl:1@sha256:" + "a" * 64, server="example.test/nginx:2"
    )
    module = types.ModuleType("harness.images")
    module.DEFAULT_IMAGES = defaults  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "harness.images", module)
    return defaults


def test_json_lists_every_image(
    fake_images: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["images", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_role = {i["role"]: i for i in data["images"]}
    assert by_role["probe-client"] == {
        "role": "probe-client",
        "image": fake_images.client,
        "use": "probe",
        "pinned": True,
    }
    assert by_role["probe-server"]["image"] == fake_images.server
    assert by_role["probe-server"]["pinned"] is False
    assert by_role["kind-node"]["image"] == images.KIND_NODE_IMAGE
    assert by_role["kind-node"]["use"] == "kind-ci"
    assert {"calico-node", "calico-cni", "calico-kube-controllers"} <= set(by_role)


def test_text_flags_unpinned_images(
    fake_images: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["images"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if not line.startswith("#")}
    assert fake_images.client in lines["probe-client"]
    assert "tag only" not in lines["probe-client"]
    assert "tag only" in lines["probe-server"]
    assert images.KIND_NODE_IMAGE in lines["kind-node"]


def test_probes_only(
    fake_images: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["images", "--probes-only", "--format", "json"]) == 0
    roles = [i["role"] for i in json.loads(capsys.readouterr().out)["images"]]
    assert roles == ["probe-client", "probe-server"]


def test_real_default_images_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.images import DEFAULT_IMAGES

    assert cli.main(["images", "--probes-only"]) == 0
    out = capsys.readouterr().out
    assert DEFAULT_IMAGES.client in out
    assert DEFAULT_IMAGES.server in out


def test_kind_node_image_matches_kind_config() -> None:
    (cfg,) = load_all(KIND_CONFIG)
    assert {n["image"] for n in cfg["nodes"]} == {images.KIND_NODE_IMAGE}


def test_calico_version_matches_the_scripts() -> None:
    # scripts/calico.sha256 is the one place the version is written (kind-up reads it)
    pin = (ROOT / "scripts" / "calico.sha256").read_text()
    assert f'CALICO_VERSION="{images.CALICO_VERSION}"' in pin
    for _, image in images.CALICO_IMAGES:
        # the registry and names Calico's calico.yaml uses since 3.32 (docs/ci.md)
        assert re.fullmatch(r"quay\.io/calico/[a-z-]+:v\d+\.\d+\.\d+", image)
        assert image.endswith(":" + images.CALICO_VERSION)
