"""netpol-harness: a live connectivity test harness for Kubernetes NetworkPolicies."""

from __future__ import annotations

__version__ = "0.1.0"
