"""Cluster-wide singletons: runs rename what they can and take turns on the rest."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.live.shared import LOCK_DIR_ENV
from harness.live.shared import SharedObjects
from harness.model import ManifestDoc
from harness.plan import shared_objects
from harness.plan import tier_name
from harness.plan.manifests import map_manifest


def _doc(body: dict[str, object]) -> ManifestDoc:
    return ManifestDoc(body, "t.yaml:1")  # type: ignore[arg-type]


def test_tiers_and_their_policies_get_the_run_id() -> None:
    tier = map_manifest(
        _doc({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "sec"}}),
        {},
        "abc12345",
    )
    gnp = map_manifest(
        _doc(
            {
                "apiVersion": "projectcalico.org/v3",
                "kind": "NetworkPolicy",
                "metadata": {"name": "sec.block", "namespace": "prod"},
                "spec": {"tier": "sec"},
            }
        ),
        {"prod": "prod-abc12345"},
        "abc12345",
    )
    assert tier.body["metadata"]["name"] == "sec-abc12345" == tier_name("sec", "abc12345")
    assert gnp.body["spec"]["tier"] == "sec-abc12345"
    assert gnp.body["metadata"]["name"] == "sec-abc12345.block"
    assert tier_name("default", "abc12345") == "default"


def test_the_singletons_are_found() -> None:
    docs = [
        _doc(
            {
                "apiVersion": "policy.networking.k8s.io/v1alpha1",
                "kind": "BaselineAdminNetworkPolicy",
                "metadata": {"name": "default"},
            }
        ),
        _doc(
            {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "default"}}
        ),
        _doc({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "sec"}}),
        _doc(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "default"},
            }
        ),
    ]
    assert shared_objects(docs) == ["BaselineAdminNetworkPolicy/default", "Tier/default"]


def test_runs_take_turns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path))
    # two sessions (as two processes would), one object: never inside at the same time
    first, second = SharedObjects("https://a"), SharedObjects("https://a")
    inside: list[int] = []
    overlap: list[bool] = []

    def run(shared: SharedObjects, n: int) -> None:
        with shared.held(["BaselineAdminNetworkPolicy/default"]):
            inside.append(n)
            overlap.append(len(inside) > 1)
            time.sleep(0.05)
            inside.remove(n)

    threads = [threading.Thread(target=run, args=(s, i)) for i, s in enumerate([first, second] * 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert overlap == [False] * 6
    # another cluster's object of the same name is another lock
    assert first.path("x") != SharedObjects("https://b").path("x")
