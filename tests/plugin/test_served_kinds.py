"""Calico and cluster-wide policy scenarios run live where the cluster serves their kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import ClusterError
from harness.errors import NotFound
from harness.options import NetpolOptions
from harness.plugin import items
from harness.policy.model import extended_kinds
from harness.scenario.loader import load

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


class _Cluster:
    """Discovery as a cluster answers it: ``served`` kinds, NotFound for other groups."""

    served: set[tuple[str, str]] = set()
    broken = False

    def __init__(self, **_: Any) -> None:
        pass

    def kind_of(self, api_version: str, kind: str) -> object:
        if self.broken:
            raise ClusterError("discover: connection refused")
        if (api_version, kind) not in self.served:
            raise NotFound(f"discover {api_version}: 404", status=404)
        return object()


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[_Cluster]:
    import harness.live.cluster

    monkeypatch.setattr(harness.live.cluster, "Cluster", _Cluster)
    monkeypatch.setattr(items, "_SERVED", {})
    monkeypatch.setattr(items, "_CLUSTERS", {})
    _Cluster.served, _Cluster.broken = set(), False
    return _Cluster


def _options(tmp_path: Path) -> NetpolOptions:
    config = tmp_path / "kubeconfig"
    config.write_text("")
    return NetpolOptions(kubeconfig=str(config))


def test_skipped_where_the_kind_is_not_served(cluster: type[_Cluster], tmp_path: Path) -> None:
    scenario = load(SCENARIOS / "calico-pass.netpol.yaml")
    reason = items.skip_reason(scenario, _options(tmp_path))
    assert reason.startswith(
        "applies projectcalico.org/v3 GlobalNetworkPolicy, projectcalico.org/v3 Tier, which "
        "the cluster does not serve"
    ), reason
    assert items.skip_reason(scenario, NetpolOptions(static=True)) == ""  # static: predicted


def test_run_where_every_kind_is_served(cluster: type[_Cluster], tmp_path: Path) -> None:
    scenario = load(SCENARIOS / "calico-global-default-deny.netpol.yaml")
    kinds = extended_kinds(doc.body for doc in scenario.manifests)
    cluster.served = {(k.split(" ", 1)[0], k.split(" ", 1)[1]) for k in kinds}
    assert items.skip_reason(scenario, _options(tmp_path)) == ""
    # Only some served: skipped, naming the missing one only.
    missing = sorted(cluster.served)[0]
    cluster.served.discard(missing)
    items._SERVED.clear()
    reason = items.skip_reason(scenario, _options(tmp_path))
    assert reason.startswith(f"applies {' '.join(missing)}, which the cluster does not serve")


def test_a_cluster_that_cannot_be_asked_runs_the_cells(
    cluster: type[_Cluster], tmp_path: Path
) -> None:
    cluster.broken = True  # the run itself then reports the infrastructure error
    scenario = load(SCENARIOS / "cluster-network-policy-admin.netpol.yaml")
    assert items.skip_reason(scenario, _options(tmp_path)) == ""


def test_plain_scenarios_never_ask(cluster: type[_Cluster], tmp_path: Path) -> None:
    cluster.broken = True
    assert items.skip_reason(load(SCENARIOS / "dns.netpol.yaml"), _options(tmp_path)) == ""
    assert items._SERVED == {}
