"""The node's dataplane stays put: a fixed gateway MAC, conntrack cleared per pod only.

Real network namespaces (root). Issue 11: the bridge took the lowest MAC of its ports and
changed it when that pod went away (pods then lost the gateway for up to ~40 s); every
policy change flushed the whole node's conntrack (replies of other scenarios' allowed
flows were judged as new and dropped).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netpol_sandbox import netns as nsx
from netpol_sandbox.node import BRIDGE
from netpol_sandbox.node import gateway_mac
from tests.sandbox.nodekit import NEEDS_ROOT
from tests.sandbox.nodekit import NGINX
from tests.sandbox.nodekit import NodeRunner
from tests.sandbox.nodekit import namespace
from tests.sandbox.nodekit import pod
from tests.sandbox.nodekit import policy
from tests.sandbox.nodekit import running_node

pytestmark = [NEEDS_ROOT, pytest.mark.sandbox]

EXTERNAL = "198.51.100.10"
LOWEST_MAC = "02:00:00:00:00:01"  # below any random (locally administered) veth address
UDP_PORTS: list[dict[str, Any]] = [
    {"containerPort": 80},
    {"name": "echo", "containerPort": 5353, "protocol": "UDP"},
]


def _ip(netns: str, *args: str) -> str:
    return subprocess.run(
        [nsx.IP, "-n", netns, *args], check=True, capture_output=True, text=True
    ).stdout


def _link_mac(netns: str, dev: str) -> str:
    match = re.search(r"link/ether ([0-9a-f:]{17})", _ip(netns, "link", "show", "dev", dev))
    assert match, f"no MAC for {dev} in {netns}"
    return match.group(1)


def _neighbour(netns: str, address: str) -> str:
    """The lladdr a namespace has cached for ``address`` ('' when none)."""
    match = re.search(r"lladdr ([0-9a-f:]{17})", _ip(netns, "neigh", "show", address))
    return match.group(1) if match else ""


def _bridge_ports(r: NodeRunner) -> dict[str, str]:
    out = _ip(r.node.node_ns, "-o", "link", "show", "master", BRIDGE)
    return dict(re.findall(r"^\d+: ([^@:]+)[@:].*?link/ether ([0-9a-f:]{17})", out, re.M))


def test_bridge_mac_is_fixed_and_survives_its_lowest_port_going_away(tmp_path: Path) -> None:
    with running_node(tmp_path) as r:
        node_ns = r.node.node_ns
        fixed = gateway_mac(r.node.config.sandbox_id, 0)
        assert _link_mac(node_ns, BRIDGE) == fixed == r.node.bridge_mac
        assert int(fixed.split(":")[0], 16) & 0b11 == 0b10  # locally administered unicast
        assert _link_mac(node_ns, "vext") == gateway_mac(r.node.config.sandbox_id, 1)

        web_ip = r.add_pod(pod("a", "web", NGINX, {"app": "web"}, [{"containerPort": 80}]))
        r.add_pod(pod("a", "client"))
        r.add_pod(pod("a", "victim"))
        r.sync([])
        victim = r.node._pods[("a", "victim")]
        client = r.node._pods[("a", "client")]
        assert victim.veth is not None
        # the victim's bridge port gets the lowest MAC of all ports: an unfixed bridge
        # would take it now, and lose it when the victim goes away
        _ip(node_ns, "link", "set", "dev", victim.veth, "address", LOWEST_MAC)
        ports = _bridge_ports(r)
        assert min(ports, key=lambda dev: ports[dev]) == victim.veth
        assert _link_mac(node_ns, BRIDGE) == fixed

        url = f"http://{web_ip}/"
        assert r.curl(("a", "client"), url, timeout=1) == 0
        assert r.curl(("a", "client"), f"http://{EXTERNAL}/", timeout=1) == 0
        assert _neighbour(client.netns, r.node.gateway_ip()) == fixed
        assert _neighbour(r.node.ext_ns, r.node.gateway_ip()) == r.node.ext_gateway_mac

        r.delete_pod("a", "victim")
        r.sync([])
        assert victim.veth not in _bridge_ports(r)
        assert _link_mac(node_ns, BRIDGE) == fixed
        # no waiting for a stale neighbour entry to time out: the very next try works
        assert _neighbour(client.netns, r.node.gateway_ip()) == fixed
        assert r.curl(("a", "client"), url, timeout=1) == 0
        assert r.curl(("a", "client"), f"http://{EXTERNAL}/", timeout=1) == 0


def test_sctp_container_ports_are_declared_only(tmp_path: Path) -> None:
    """An SCTP containerPort is not turned into a TCP listener (nor waited for)."""
    ports: list[dict[str, Any]] = [
        {"containerPort": 80},
        {"containerPort": 9000, "protocol": "SCTP"},
    ]
    with running_node(tmp_path) as r:
        ip = r.add_pod(pod("a", "web", NGINX, {"app": "web"}, ports))
        r.add_pod(pod("a", "client"))
        r.sync([])
        assert r.node._pods[("a", "web")].containers["main"].tcp_ports == (80,)
        assert r.curl(("a", "client"), f"http://{ip}:80/", timeout=1) == 0
        assert r.curl(("a", "client"), f"http://{ip}:9000/", timeout=1) == 7  # refused


# ---------------------------------------------------------------- conntrack


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRunner]:
    with running_node(tmp_path_factory.mktemp("conntrack")) as r:
        r.namespaces = [namespace("x"), namespace("y"), namespace("kube-system")]
        r.add_pod(pod("x", "a", labels={"app": "a"}))
        r.add_pod(pod("x", "b", labels={"app": "b"}))
        r.add_pod(pod("y", "web", NGINX, {"app": "web"}, UDP_PORTS))
        yield r


def _udp(r: NodeRunner, src: tuple[str, str], sport: int) -> str:
    line = f"echo probe | nc -u -w1 -p {sport} {r.ip('y', 'web')} 5353"
    return r.sh(*src, "sh", "-c", line)[1]


def _tracked(r: NodeRunner, src: tuple[str, str], sport: int) -> bool:
    """Whether the node has a conntrack entry for src's UDP flow from ``sport``."""
    _rc, out, _err = r.run(
        nsx.run(
            [
                nsx.NSENTER,
                f"--net={nsx.netns_path(r.node.node_ns)}",
                nsx.CONNTRACK,
                "-L",
                "-p",
                "udp",
                "--orig-src",
                r.ip(*src),
                "--sport",
                str(sport),
            ],
            check=False,
        )
    )
    return f"sport={sport}" in out


def test_policy_change_for_one_pod_keeps_other_pods_flows(net: NodeRunner) -> None:
    a, b = ("x", "a"), ("x", "b")
    # a is ingress-isolated: were its flow's entry lost, the next reply would be new and dropped
    isolate_a = policy("x", "a-ingress", {"podSelector": {"matchLabels": {"app": "a"}}})
    net.sync([isolate_a])
    assert _udp(net, a, 41001) == "ok 5353\n"
    assert _udp(net, b, 41002) == "ok 5353\n"
    assert _tracked(net, a, 41001) and _tracked(net, b, 41002)

    # a change that concerns only b's ingress: nothing of b's egress flow, nothing of a's
    b_ingress = policy("x", "b-ingress", {"podSelector": {"matchLabels": {"app": "b"}}})
    net.sync([isolate_a, b_ingress])
    assert _tracked(net, a, 41001)
    assert _tracked(net, b, 41002)  # b's ingress tightened; its flow *from* b is not judged by it

    # b's egress tightened: b's flow goes, a's stays
    b_egress = policy(
        "x", "b-egress", {"podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Egress"]}
    )
    net.sync([isolate_a, b_ingress, b_egress])
    assert not _tracked(net, b, 41002)
    assert _tracked(net, a, 41001)
    assert _udp(net, b, 41003) == ""  # and b's new flow is judged by the new rules

    # loosening (removing b's egress policy) clears nothing
    assert _udp(net, a, 41004) == "ok 5353\n"
    net.sync([isolate_a, b_ingress])
    assert _tracked(net, a, 41001) and _tracked(net, a, 41004)


def test_ingress_tightened_on_the_server_clears_flows_towards_it(net: NodeRunner) -> None:
    a = ("x", "a")
    net.sync([])
    assert _udp(net, a, 41011) == "ok 5353\n"
    assert _tracked(net, a, 41011)
    deny_web = policy("y", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})
    net.sync([deny_web])
    assert not _tracked(net, a, 41011)  # a flow *to* web: cleared with web's ingress change
    assert _udp(net, a, 41011) == ""
    net.sync([])
