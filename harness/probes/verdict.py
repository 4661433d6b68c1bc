"""Verdicts: one observation against the cell's expectation, and how to rerun a probe."""

from __future__ import annotations

import shlex

from harness.model import Observation
from harness.model import Outcome
from harness.model import Probe
from harness.model import Status
from harness.probes.table import spec_for


def address_of(probe: Probe, pod_ips: dict[str, str] | None = None) -> str:
    """The address a probe targets: ``probe.host``, or the target pod's IP."""
    if probe.host:
        return probe.host
    if probe.target_pod is None:
        raise ValueError(f"probe {probe.id} has neither a host nor a target pod")
    key = str(probe.target_pod)
    if pod_ips is None or key not in pod_ips:
        raise KeyError(f"no IP known for target pod {key} of probe {probe.id}")
    return pod_ips[key]


def judge(probe: Probe, outcome: Outcome) -> Status:
    """PASS/FAIL of one observation against the cell's expectation; ERROR stays ERROR.

    allow expects an outcome the probe kind counts as reached (CONNECTED; for a DNS
    probe also DNS_FAILURE: an NXDOMAIN answer means port 53 was reachable); deny
    expects DROPPED (REFUSED on a deny cell is a FAIL: the packet reached the host).
    """
    if outcome is Outcome.ERROR:
        return Status.ERROR
    reached = outcome in spec_for(probe.kind).reached
    if probe.cell.expect == "allow":
        return Status.PASS if reached else Status.FAIL
    return Status.PASS if outcome is Outcome.DROPPED else Status.FAIL


def judge_detail(probe: Probe, observation: Observation) -> str:
    """A human sentence about the observation for a verdict's detail."""
    outcome = observation.outcome
    expect = probe.cell.expect
    base = observation.detail
    if outcome is Outcome.DNS_FAILURE and outcome not in spec_for(probe.kind).reached:
        return (
            f"DNS failed for {probe.host or 'the target'}: the name did not resolve, so this is "
            f"not a verdict on port {probe.port} ({base})"
        )
    if outcome is Outcome.REFUSED and expect == "allow" and "reject" not in base.lower():
        return (
            f"port closed: the packet reached the target, but nothing listens on port "
            f"{probe.port}/{probe.protocol} (check the port; a policy deny drops, it does not "
            f"refuse) ({base})"
        )
    if outcome is Outcome.REFUSED and expect == "deny":
        return f"refused: the packet reached the target host, a deny should drop it ({base})"
    if outcome is Outcome.DROPPED and expect == "allow":
        return f"dropped: expected a connection ({base})"
    if outcome is Outcome.CONNECTED and expect == "deny":
        return f"connected: expected the traffic to be dropped ({base})"
    return base


def rerun_command(
    probe: Probe,
    pod_ip_or_host: str,
    namespace: str,
    pod: str,
    container: str = "client",
    connect_timeout: float = 1.0,
) -> str:
    """The exact kubectl command reproducing one probe by hand."""
    q = shlex.quote
    prefix = f"kubectl exec -n {q(namespace)} {q(pod)} -c {q(container)} -- "
    return prefix + spec_for(probe.kind).rerun(pod_ip_or_host, probe.port, connect_timeout)
