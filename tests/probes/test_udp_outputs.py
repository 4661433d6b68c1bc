"""UDP probes read the image's nc: recorded outputs, and the script live in the sandbox.

The outputs below were recorded (issue 12 item 7) from the harness's own script in a
curlimages/curl pod of the sandbox, whose nc is busybox 1.35 built as the image's
(``CONFIG_NC_110_COMPAT``, ``make deps``), against nginx's stream module on 5353/udp:
a listening port, a closed port (ICMP port unreachable), and both behind a policy
that drops them. A REJECT (``reject with icmp type admin-prohibited``) and a missing route
were recorded with the same nc between two network namespaces (nft in the target);
the result lines around them are the script's format. Without ``-v`` the same nc prints nothing
and exits 0 for the closed port: a deny cell would pass when nothing listens.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.model import Outcome
from harness.model import ProbeKind
from harness.model import Status
from harness.probes import ProbeCall
from harness.probes import build_script
from harness.probes import judge
from harness.probes import parse_output
from harness.probes.udp import classify
from tests.live.factory import make_probe
from tests.sandbox.nodekit import NEEDS_ROOT
from tests.sandbox.nodekit import pod
from tests.sandbox.nodekit import policy
from tests.sandbox.nodekit import running_node
from tests.sandbox.nodekit import unprivileged_server

RECORDED = {
    "listening": (
        "NPH 0 0 2.000 sent 21, rcvd 3 | 10.240.0.17 (10.240.0.17:5353) open ok "
        "net timeout sent 21, rcvd 3"
    ),
    "closed": (
        "NPH 0 0 0.000 sent 21, rcvd 0 | 10.240.0.17 (10.240.0.17:5354) open "
        "nc: net read: Connection refused sent 21, rcvd 0"
    ),
    "dropped": (
        "NPH 0 0 2.000 sent 21, rcvd 0 | 10.240.0.17 (10.240.0.17:5353) open "
        "net timeout sent 21, rcvd 0"
    ),
    "rejected": (
        "NPH 0 0 0.000 sent 21, rcvd 0 | 10.250.0.2 (10.250.0.2:9999) open "
        "nc: net read: No route to host sent 21, rcvd 0"
    ),
    "unreachable": (
        "NPH 0 1 0.000 sent 0, rcvd 0 | nc: 10.251.0.2 (10.251.0.2:9999): "
        "Network is unreachable sent 0, rcvd 0"
    ),
    "bad name": "NPH 0 1 0.000  | nc: bad address 'nope.a.svc.cluster.local'",
    # stopped by the script's `busybox timeout` after -w seconds (recorded on loopback
    # with the same busybox): the summary survives SIGTERM, then "punt!"
    "listening, stopped": (
        "NPH 0 0 1.029 sent 21, rcvd 3 | 127.0.0.1 (127.0.0.1:58844) open ok sent 21, rcvd 3 punt!"
    ),
    "dropped, stopped": (
        "NPH 0 0 1.032 sent 21, rcvd 0 | 127.0.0.1 (127.0.0.1:48895) open sent 21, rcvd 0 punt!"
    ),
    "no tool": "NPH 0 120 0.000 no UDP-capable nc (busybox nc -u) in the client image",
}


def _udp(port: int = 5353, expect: str = "deny") -> ProbeCall:
    probe = make_probe("s", "a", "b", port, expect, protocol="UDP", kind=ProbeKind.UDP)  # type: ignore[arg-type]
    return ProbeCall(probe, "10.240.0.17")


@pytest.mark.parametrize(
    ("case", "outcome", "needle"),
    [
        ("listening", Outcome.CONNECTED, "3 bytes): ok"),
        ("closed", Outcome.REFUSED, "port unreachable"),
        ("dropped", Outcome.DROPPED, "no reply"),
        ("rejected", Outcome.REFUSED, "REJECT"),
        ("unreachable", Outcome.REFUSED, "missing route"),
        ("bad name", Outcome.DNS_FAILURE, "resolve"),
        ("listening, stopped", Outcome.CONNECTED, "3 bytes): ok"),
        ("dropped, stopped", Outcome.DROPPED, "no reply"),
        ("no tool", Outcome.ERROR, "no UDP-capable nc"),
    ],
)
def test_recorded_outputs(case: str, outcome: Outcome, needle: str) -> None:
    call = _udp()
    [obs] = parse_output([call], RECORDED[case] + "\n")
    assert obs.outcome is outcome, obs.detail
    assert needle in obs.detail


def test_a_closed_port_fails_a_deny_cell() -> None:
    """The bug of issue 12: a closed port read as DROPPED passed a deny cell."""
    call = _udp(expect="deny")
    [obs] = parse_output([call], RECORDED["closed"] + "\n")
    assert judge(call.probe, obs.outcome) is Status.FAIL
    [obs] = parse_output([call], RECORDED["dropped"] + "\n")
    assert judge(call.probe, obs.outcome) is Status.PASS


def test_the_summary_survives_a_long_reply() -> None:
    """The summary comes first, so cutting the output never loses rcvd."""
    extra = "sent 21, rcvd 900 | 10.0.0.2 (10.0.0.2:53) open " + "x" * 250
    assert classify(0, extra[:300])[0] is Outcome.CONNECTED


@pytest.mark.parametrize(
    ("code", "extra", "outcome"),
    [
        (0, " | ok", Outcome.CONNECTED),  # a netcat without busybox's summary
        (1, " | ", Outcome.DROPPED),
        (1, " | nc: read: Connection refused", Outcome.REFUSED),
        (1, " | nc: invalid option -- 'v' Usage: nc", Outcome.ERROR),
    ],
)
def test_other_netcats_by_their_output(code: int, extra: str, outcome: Outcome) -> None:
    assert classify(code, extra)[0] is outcome


def test_script_asks_nc_for_its_verdict() -> None:
    script = build_script([_udp()])
    assert "nc -vv -u -w" in script


def test_nc_is_stopped_after_its_window_and_only_that_stop_is_normal() -> None:
    """busybox nc waits -w twice after stdin ends; the script stops it after one -w.

    The script reads exit 143 as a normal end only with nc's own "punt!" (nc stopped by
    the script's timeout, summary printed); any other 143 stays an error.
    """
    script = build_script([_udp()])
    assert 'busybox timeout "$1" \\\nbusybox nc -vv -u -w "$1"' in script
    assert "143:*punt!*)r=0" in script
    assert classify(143, "sent 21, rcvd 0 | killed")[0] is Outcome.ERROR


# ------------------------------------------------------------------ live, in the sandbox


@NEEDS_ROOT
@pytest.mark.sandbox
def test_probe_script_in_a_curl_pod_of_the_sandbox(tmp_path: Path) -> None:
    with running_node(tmp_path) as r:
        r.add_pod(pod("a", "client"))
        r.add_pod(unprivileged_server("s", []))
        ip = r.ip("a", "s")
        calls = [
            ProbeCall(
                make_probe("s", "a", "b", port, "deny", protocol="UDP", kind=ProbeKind.UDP), ip
            )
            for port in (5353, 5354)
        ]
        _rc, out, err = r.sh("a", "client", "sh", "-c", build_script(calls))
        assert [o.outcome for o in parse_output(calls, out, err)] == [
            Outcome.CONNECTED,
            Outcome.REFUSED,
        ], out
        r.sync([policy("a", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})])
        _rc, out, err = r.sh("a", "client", "sh", "-c", build_script(calls))
        assert [o.outcome for o in parse_output(calls, out, err)] == [
            Outcome.DROPPED,
            Outcome.DROPPED,
        ], out
