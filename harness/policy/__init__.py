"""Network policy semantics, pure: predict and explain traffic.

NetworkPolicy (networking.k8s.io/v1), Calico projectcalico.org/v3 NetworkPolicy,
GlobalNetworkPolicy and Tier (calico.py, selectors.py), and the policy.networking.k8s.io
AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy
(cluster_policy.py), layered per direction as tiers.py describes.

    cluster = ClusterModel.from_objects(objects)       # Namespace, Pod, NetworkPolicy dicts
    cluster.decide("x/a", "y/b", 80, "TCP")       # -> Decision (.allowed, .explain())
    cluster.matrix(80, "TCP")                     # -> {src: {dst: allowed}} for every pod pair

No I/O happens here; harness/commands/predict.py reads files, static.py checks plans.
"""

from __future__ import annotations

from harness.policy.engine import ClusterModel
from harness.policy.explain import Decision
from harness.policy.explain import RuleMatch
from harness.policy.explain import SideVerdict

__all__ = ["ClusterModel", "Decision", "RuleMatch", "SideVerdict"]
