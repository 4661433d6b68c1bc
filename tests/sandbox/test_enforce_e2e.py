"""NetworkPolicy enforcement end to end: real curl/nc/nslookup in pod namespaces.

curl exit codes: 0 connected, 28 dropped (connect timeout), 7 refused.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netpol_sandbox import netns as nsx
from tests.sandbox.nodekit import NEEDS_ROOT
from tests.sandbox.nodekit import NGINX
from tests.sandbox.nodekit import NodeRunner
from tests.sandbox.nodekit import namespace
from tests.sandbox.nodekit import pod
from tests.sandbox.nodekit import policy
from tests.sandbox.nodekit import running_node

pytestmark = [NEEDS_ROOT, pytest.mark.sandbox]

X_CLIENT = ("x", "client")
X_CLIENT2 = ("x", "client2")
Y_CLIENT = ("y", "client")
Z_CLIENT = ("z", "client")
EXTERNAL = "198.51.100.10"
WEB_PORTS: list[dict[str, Any]] = [
    {"name": "http", "containerPort": 8080},
    {"name": "alt", "containerPort": 8081},
    {"containerPort": 9001},
    {"containerPort": 9005},
    {"containerPort": 9006},
    {"name": "echo", "containerPort": 5353, "protocol": "UDP"},
]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRunner]:
    with running_node(tmp_path_factory.mktemp("enforce")) as r:
        r.namespaces = [
            namespace("x", {"team": "x"}),
            namespace("y", {"team": "y"}),
            namespace("z", {"team": "z"}),
            namespace("kube-system"),
        ]
        r.add_pod(pod("x", "client", labels={"app": "client"}))
        r.add_pod(pod("x", "client2", labels={"app": "client2"}))
        r.add_pod(pod("y", "client", labels={"app": "client"}))
        r.add_pod(pod("z", "client", labels={"app": "client"}))
        r.add_pod(pod("y", "web", NGINX, {"app": "web"}, WEB_PORTS))
        r.services = [
            {
                "metadata": {"namespace": "y", "name": "web"},
                "spec": {
                    "clusterIP": "10.96.240.20",
                    "selector": {"app": "web"},
                    "ports": [{"port": 80, "targetPort": "http"}],
                },
            }
        ]
        yield r


def web(r: NodeRunner, port: int) -> str:
    return f"http://{r.ip('y', 'web')}:{port}/"


def ingress_web(*rules: dict[str, Any]) -> dict[str, Any]:
    return policy(
        "y", "web-ingress", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": list(rules)}
    )


def test_no_policy_everything_connects_and_closed_port_is_refused(net: NodeRunner) -> None:
    net.sync([])
    assert net.curl(X_CLIENT, web(net, 8080)) == 0
    assert net.curl(Z_CLIENT, web(net, 8081)) == 0
    assert net.curl(X_CLIENT, web(net, 7070)) == 7


def test_default_deny_ingress_drops(net: NodeRunner) -> None:
    net.sync([policy("y", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})])
    assert net.curl(X_CLIENT, web(net, 8080)) == 28
    assert net.curl(Y_CLIENT, web(net, 8080)) == 28


def test_default_policy_type_is_ingress_only(net: NodeRunner) -> None:
    # no policyTypes, no egress: isolates ingress only, pods of y can still send
    net.sync([policy("y", "deny", {"podSelector": {}})])
    assert net.curl(X_CLIENT, web(net, 8080)) == 28
    assert net.curl(Y_CLIENT, f"http://{EXTERNAL}/") == 0


def test_allow_by_pod_selector_is_namespace_local(net: NodeRunner) -> None:
    net.sync([ingress_web({"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]})])
    assert net.curl(Y_CLIENT, web(net, 8080)) == 0
    assert net.curl(X_CLIENT, web(net, 8080)) == 28


def test_allow_by_namespace_selector(net: NodeRunner) -> None:
    net.sync([ingress_web({"from": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]})])
    assert net.curl(X_CLIENT, web(net, 8080)) == 0
    assert net.curl(X_CLIENT2, web(net, 8080)) == 0
    assert net.curl(Y_CLIENT, web(net, 8080)) == 28
    assert net.curl(Z_CLIENT, web(net, 8080)) == 28


def test_both_selectors_in_one_peer_mean_and(net: NodeRunner) -> None:
    peer = {
        "namespaceSelector": {"matchLabels": {"team": "x"}},
        "podSelector": {"matchLabels": {"app": "client"}},
    }
    net.sync([ingress_web({"from": [peer]})])
    assert net.curl(X_CLIENT, web(net, 8080)) == 0
    assert net.curl(X_CLIENT2, web(net, 8080)) == 28
    assert net.curl(Y_CLIENT, web(net, 8080)) == 28


def test_separate_peers_mean_or(net: NodeRunner) -> None:
    peers = [
        {"namespaceSelector": {"matchLabels": {"team": "x"}}},
        {"podSelector": {"matchLabels": {"app": "client"}}},
    ]
    net.sync([ingress_web({"from": peers})])
    assert net.curl(X_CLIENT, web(net, 8080)) == 0
    assert net.curl(X_CLIENT2, web(net, 8080)) == 0
    assert net.curl(Y_CLIENT, web(net, 8080)) == 0  # podSelector alone: the policy's namespace
    assert net.curl(Z_CLIENT, web(net, 8080)) == 28


def test_match_expressions(net: NodeRunner) -> None:
    peer = {
        "namespaceSelector": {
            "matchExpressions": [{"key": "team", "operator": "In", "values": ["x", "z"]}]
        },
        "podSelector": {
            "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["client2"]}]
        },
    }
    net.sync([ingress_web({"from": [peer]})])
    assert net.curl(X_CLIENT, web(net, 8080)) == 0
    assert net.curl(Z_CLIENT, web(net, 8080)) == 0
    assert net.curl(X_CLIENT2, web(net, 8080)) == 28
    assert net.curl(Y_CLIENT, web(net, 8080)) == 28


def test_ip_block_with_except(net: NodeRunner) -> None:
    block = {"cidr": "10.240.0.0/16", "except": [f"{net.ip(*X_CLIENT)}/32"]}
    net.sync([ingress_web({"from": [{"ipBlock": block}]})])
    assert net.curl(X_CLIENT, web(net, 8080)) == 28
    assert net.curl(X_CLIENT2, web(net, 8080)) == 0


def test_named_port(net: NodeRunner) -> None:
    net.sync([ingress_web({"ports": [{"port": "http"}]})])
    assert net.curl(X_CLIENT, web(net, 8080)) == 0
    assert net.curl(X_CLIENT, web(net, 8081)) == 28


def test_end_port_range(net: NodeRunner) -> None:
    net.sync([ingress_web({"ports": [{"port": 9000, "endPort": 9005, "protocol": "TCP"}]})])
    assert net.curl(X_CLIENT, web(net, 9001)) == 0
    assert net.curl(X_CLIENT, web(net, 9005)) == 0
    assert net.curl(X_CLIENT, web(net, 9006)) == 28
    assert net.curl(X_CLIENT, web(net, 8080)) == 28


def test_allowed_closed_port_is_refused(net: NodeRunner) -> None:
    net.sync([ingress_web({"ports": [{"port": 7070}]})])
    assert net.curl(X_CLIENT, web(net, 7070)) == 7


def test_udp_allowed_and_denied(net: NodeRunner) -> None:
    net.sync([ingress_web({"ports": [{"port": "echo", "protocol": "UDP"}]})])
    assert net.udp(X_CLIENT, net.ip("y", "web"), 5353) == "ok 5353\n"
    net.sync([ingress_web({"ports": [{"port": 5353, "protocol": "TCP"}]})])
    assert net.udp(X_CLIENT, net.ip("y", "web"), 5353) == ""


def test_service_cluster_ip_policy_sees_pod_ip(net: NodeRunner) -> None:
    net.sync([])
    assert net.curl(X_CLIENT, "http://web.y.svc.cluster.local/") == 0
    net.sync([ingress_web({"from": [{"namespaceSelector": {"matchLabels": {"team": "z"}}}]})])
    assert net.curl(X_CLIENT, "http://web.y/") == 28
    assert net.curl(Z_CLIENT, "http://web.y/") == 0


def test_service_hairpin_pod_reaches_itself(net: NodeRunner) -> None:
    # (Debian busybox wget crashes with -T; the in-pod default timeout is fine here)
    net.sync([])
    rc, out, _ = net.sh("y", "web", "wget", "-q", "-O", "-", "http://10.96.240.20/")
    assert (rc, out) == (0, "ok 8080\n")


def test_egress_deny_with_dns_allowed(net: NodeRunner) -> None:
    dns_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    allow_dns = policy(
        "x",
        "dns-only",
        {
            "podSelector": {"matchLabels": {"app": "client"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [dns_peer], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]}
            ],
        },
    )
    net.sync([allow_dns])
    rc, out, _ = net.sh(*X_CLIENT, "nslookup", "web.y.svc.cluster.local")
    assert rc == 0 and "10.96.240.20" in out
    assert net.curl(X_CLIENT, web(net, 8080)) == 28
    assert net.curl(X_CLIENT2, web(net, 8080)) == 0  # not selected
    deny_all = policy("x", "deny", {"podSelector": {}, "policyTypes": ["Egress"]})
    net.sync([deny_all])
    rc, out, _ = net.sh(*X_CLIENT, "nslookup", "-timeout=1", "web.y.svc.cluster.local")
    assert rc != 0 and "10.96.240.20" not in out


def test_stateful_return_traffic(net: NodeRunner) -> None:
    # y may open nothing, x accepts nothing; yet the replies of x -> y pass
    no_egress = policy("y", "no-egress", {"podSelector": {}, "policyTypes": ["Egress"]})
    client_ingress = policy("x", "no-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
    net.sync([no_egress, client_ingress])
    assert net.curl(X_CLIENT, web(net, 8080)) == 0
    # the same pods are isolated for new connections: would be 0 and 7 without the policies
    assert net.curl(Y_CLIENT, f"http://{EXTERNAL}/") == 28
    assert net.curl(X_CLIENT2, f"http://{net.ip(*X_CLIENT)}:8080/") == 28


def test_external_host_egress(net: NodeRunner) -> None:
    net.sync([])
    assert net.curl(X_CLIENT, f"http://{EXTERNAL}/") == 0
    allow = policy(
        "x",
        "to-external",
        {
            "podSelector": {"matchLabels": {"app": "client"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": f"{EXTERNAL}/32"}}], "ports": [{"port": 80}]}],
        },
    )
    net.sync([allow])
    assert net.curl(X_CLIENT, f"http://{EXTERNAL}:80/") == 0
    assert net.curl(X_CLIENT, f"http://{EXTERNAL}:443/") == 28
    net.sync([policy("x", "deny", {"podSelector": {}, "policyTypes": ["Egress"]})])
    assert net.curl(X_CLIENT, f"http://{EXTERNAL}/") == 28


def test_allowed_flow_is_cut_when_policy_changes(net: NodeRunner) -> None:
    """The server's ingress tightened: its tracked flows are cleared, the UDP flow is cut."""
    net.sync([])
    src = "sh", "-c", f"echo a | nc -u -w1 -p 40123 {net.ip('y', 'web')} 5353"
    assert net.sh(*X_CLIENT, *src)[1] == "ok 5353\n"
    net.sync([policy("y", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})])
    assert net.sh(*X_CLIENT, *src)[1] == ""


def _ip(netns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True)


def test_ipv6_link_local_path_is_closed(net: NodeRunner, tmp_path: Path) -> None:
    """Even with IPv6 forced back on in two pods, nothing passes the node over IPv6."""
    net.sync([])
    a = net.node._pods[X_CLIENT2].netns
    b = net.node._pods[("y", "web")].netns
    rc, out, _ = net.sh("y", "web", "cat", "/proc/net/if_inet6")
    assert "eth0" not in out  # no link-local address by default
    listener = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            b,
            "python3",
            "-c",
            "import socket;s=socket.socket(socket.AF_INET6);"
            "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
            "s.bind(('::',7777));s.listen()\nwhile True: s.accept()[0].close()",
        ],
    )
    try:
        for ns, addr in ((a, "fe80::a/64"), (b, "fe80::b/64")):
            net.run(nsx.write_sysctls(ns, {"ipv6/conf/eth0/disable_ipv6": "0"}))
            _ip(ns, "addr", "add", addr, "dev", "eth0", "nodad")
        # the same probe inside b's own namespace works: the listener is real
        local = ["curl", "-s", "-o", "/dev/null", "-m", "2", "-g", "http://[fe80::b%eth0]:7777/"]
        # The listener is real: inside b it accepts, then closes at once. curl sees the
        # hang-up as 52 (empty reply) or, when the close finds its request still unread
        # and the kernel answers with a reset, as 56 (recv failure): both come after a
        # completed handshake, which is what this checks.
        for _ in range(50):
            rc_local = subprocess.run(["ip", "netns", "exec", b, *local], check=False).returncode
            if rc_local in (52, 56):
                break
            time.sleep(0.05)
        assert rc_local in (52, 56)
        rc, _, _ = net.sh(
            *X_CLIENT2,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--connect-timeout",
            "0.5",
            "-g",
            "http://[fe80::b%eth0]:7777/",
        )
        assert rc == 28
    finally:
        listener.kill()
        listener.wait()
        for ns, addr in ((a, "fe80::a/64"), (b, "fe80::b/64")):
            subprocess.run(
                ["ip", "-n", ns, "addr", "del", addr, "dev", "eth0"],
                capture_output=True,
                check=False,
            )
            net.run(nsx.write_sysctls(ns, {"ipv6/conf/eth0/disable_ipv6": "1"}))


def test_enforce_false_ignores_policies(tmp_path: Path) -> None:
    with running_node(tmp_path, enforce=False) as r:
        r.add_pod(pod("a", "client"))
        r.add_pod(pod("b", "web", NGINX, {"app": "web"}, [{"containerPort": 8080}]))
        r.sync([policy("b", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})])
        assert r.curl(("a", "client"), f"http://{r.ip('b', 'web')}:8080/") == 0
