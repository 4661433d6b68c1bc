"""The upstream Kubernetes e2e NetworkPolicy tests, transcribed as data.

Source: kubernetes/kubernetes ``test/e2e/network/netpol/network_policy.go`` (the
``Netpol`` SIG-network suites: TCP, ``[LinuxOnly]`` UDP and ``[Feature:SCTPConnectivity]``
SCTP) with its helpers ``model.go``, ``reachability.go``, ``truthtable.go`` and
``k8s_util.go``. This is our own transcription: the test names and the expected
truth tables are facts taken from upstream; the representation (and every line
of code here) is ours.

The upstream model, as transcribed:

- three namespaces ``x``, ``y``, ``z`` (upstream suffixes them per run; here they are
  plain), each labelled ``ns: <name>`` (plus the automatic
  ``kubernetes.io/metadata.name``);
- three pods ``a``, ``b``, ``c`` in each, labelled ``pod: <name>``, with one server
  container per probed (port, protocol) and container ports named
  ``serve-<port>-<protocol>`` (``serve-80-tcp``, ``serve-81-udp``...);
- a truth table starts "everything allowed" and each test lists the changes, in
  order (later ones win): ``ExpectPeer`` over namespace/pod patterns,
  ``ExpectAllIngress`` (every source to one pod), ``ExpectAllEgress`` (one pod to
  every destination), ``Expect`` (one cell);
- a pod to itself (loopback) is never checked (upstream ``ignoreLoopback``).

The current upstream file gives each test a reduced pod topology (for example
only x/a, x/b, y/a). We always use the full 3 x 3 model (as upstream did until
the topology was reduced), so a few tables are written in their 9-pod form
(noted per test: for example "x/b denied" becomes "x/b and x/c denied" when x/c
is selected the same way).

A test that changes the cluster between probes (updates or deletes a policy,
relabels a pod or a namespace) is several *steps*; each step is the complete
state at that point (policies, label changes) and the probes made in it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
PODS = tuple(f"{ns}/{pod}" for ns in NAMESPACES for pod in POD_NAMES)
PORTS = (80, 81)
PROTOCOLS = ("TCP", "UDP", "SCTP")
NAME_LABEL = "kubernetes.io/metadata.name"

#: upstream's ``makeLargeCIDRForIP``: the /4 that holds a pod IP. Our pod IPs are
#: 10.244.<ns>.<pod>, whose /4 is 0.0.0.0/4.
LARGE_CIDR_PREFIX = 4


def pod_ip(pod: str) -> str:
    """A fixed, distinct IP per model pod (the engine layer needs them for ipBlock tests)."""
    ns, name = pod.split("/")
    return f"10.244.{NAMESPACES.index(ns) + 1}.{POD_NAMES.index(name) + 10}"


def large_cidr(pod: str) -> str:
    net = ipaddress.ip_network(f"{pod_ip(pod)}/{LARGE_CIDR_PREFIX}", strict=False)
    return str(net)


def host_cidr(pod: str) -> str:
    return f"{pod_ip(pod)}/32"


def port_name(port: int, protocol: str) -> str:
    return f"serve-{port}-{protocol.lower()}"


# ------------------------------------------------------------------ truth tables


@dataclass(frozen=True)
class Change:
    """One change to the default-allow table: sources ``src`` to destinations ``dst``.

    A pattern is ``*`` (every pod), a namespace (``x``: its pods) or a pod (``x/a``).
    """

    src: str
    dst: str
    allowed: bool


def allow(src: str, dst: str) -> Change:
    return Change(src, dst, True)


def deny(src: str, dst: str) -> Change:
    return Change(src, dst, False)


def matches(pattern: str, pod: str) -> bool:
    if pattern == "*":
        return True
    if "/" in pattern:
        return pattern == pod
    return pod.split("/")[0] == pattern


def truth_table(changes: tuple[Change, ...]) -> dict[tuple[str, str], bool]:
    """Every (source, destination) pair except loopback -> allowed, after the changes."""
    table = {(s, d): True for s in PODS for d in PODS if s != d}
    for ch in changes:
        for s, d in table:
            if matches(ch.src, s) and matches(ch.dst, d):
                table[(s, d)] = ch.allowed
    return table


@dataclass(frozen=True)
class Probe:
    """One upstream ``ValidateOrFail``: probe every pod pair on one port and protocol."""

    port: int
    protocol: str
    changes: tuple[Change, ...] = ()

    def table(self) -> dict[tuple[str, str], bool]:
        return truth_table(self.changes)


def probe(port: int, *changes: Change, protocol: str = "TCP") -> Probe:
    return Probe(port, protocol, changes)


@dataclass(frozen=True)
class Step:
    """The cluster state at one point of a test, and the probes made there."""

    policies: tuple[Mapping[str, Any], ...]
    probes: tuple[Probe, ...]
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    pod_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # added labels
    what: str = ""


@dataclass(frozen=True)
class UpstreamTest:
    name: str  # the upstream ``It(...)`` text
    suite: str  # "TCP", "UDP" or "SCTP": which upstream Describe block
    exercises: str
    steps: tuple[Step, ...]
    needs_pod_ips: bool = False  # ipBlock built from live pod IPs
    note: str = ""  # how our 9-pod table differs in form from today's reduced topology

    def cells(self) -> int:
        return sum(len(p.table()) for s in self.steps for p in s.probes)


# ------------------------------------------------------------------ policy builders


def labels(**kv: str) -> dict[str, Any]:
    return {"matchLabels": dict(kv)}


def ns_is(name: str) -> dict[str, Any]:
    return {"matchLabels": {NAME_LABEL: name}}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


def peer(
    pods: Mapping[str, Any] | None = None, namespaces: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if pods is not None:
        out["podSelector"] = dict(pods)
    if namespaces is not None:
        out["namespaceSelector"] = dict(namespaces)
    return out


def ip_block(cidr: str, *except_: str) -> dict[str, Any]:
    block: dict[str, Any] = {"cidr": cidr}
    if except_:
        block["except"] = list(except_)
    return {"ipBlock": block}


def port(number: int | str | None = None, protocol: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if number is not None:
        out["port"] = number
    if protocol is not None:
        out["protocol"] = protocol
    return out


def rule(
    peers: list[dict[str, Any]] | None = None,
    ports: list[dict[str, Any]] | None = None,
    *,
    to: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if peers is not None:
        out["to" if to else "from"] = peers
    if ports is not None:
        out["ports"] = ports
    return out


def egress_rule(
    peers: list[dict[str, Any]] | None = None, ports: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return rule(peers, ports, to=True)


def netpol(
    name: str,
    selector: Mapping[str, Any],
    *,
    namespace: str = "x",
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    policy_types: list[str] | None = None,
) -> dict[str, Any]:
    """A NetworkPolicy the way upstream's builders make one.

    Giving ``ingress`` (even ``[]``) adds ``Ingress`` to policyTypes, ``egress`` adds
    ``Egress``, in that order; ``policy_types`` replaces the list.
    """
    spec: dict[str, Any] = {"podSelector": dict(selector)}
    types: list[str] = []
    if ingress is not None:
        spec["ingress"] = ingress
        types.append("Ingress")
    if egress is not None:
        spec["egress"] = egress
        types.append("Egress")
    spec["policyTypes"] = policy_types if policy_types is not None else types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


EVERY_POD: dict[str, Any] = {}  # an empty selector
POD_A = labels(pod="a")


def deny_ingress(name: str = "deny-ingress") -> dict[str, Any]:
    return netpol(name, EVERY_POD, ingress=[])


def deny_all(name: str = "deny-all") -> dict[str, Any]:
    return netpol(name, EVERY_POD, ingress=[], egress=[])


def one(
    policies: list[dict[str, Any]], *probes: Probe, what: str = "", **kw: Any
) -> tuple[Step, ...]:
    return (Step(tuple(policies), probes, what=what, **kw),)


# ------------------------------------------------------------------ the tests

# Reusable tables.
NS_Y_ONLY_TO_XA = (deny("x", "x/a"), deny("z", "x/a"))  # only namespace y reaches x/a
ONLY_XB_TO_XA = (deny("*", "x/a"), allow("x/b", "x/a"))

_P81_NS_Y = netpol(
    "allow-client-a-via-ns-selector",
    POD_A,
    ingress=[rule([peer(namespaces=ns_is("y"))], [port(81, "TCP")])],
)
_P80_NS_Y = netpol(
    "allow-client-a-via-ns-selector-80",
    POD_A,
    ingress=[rule([peer(namespaces=ns_is("y"))], [port(80, "TCP")])],
)
_PORT81_FROM_Y = (deny("x", "x/a"), allow("y", "x/a"), deny("z", "x/a"))
_ALLOW_ALL_INGRESS_X = netpol("allow-all", EVERY_POD, ingress=[{}])
_INGRESS_A_FROM_NS_Y_POD_A = netpol(
    "allow-ns-y-pod-a-via-namespace-pod-selector",
    POD_A,
    ingress=[rule([peer(pods=labels(pod="a"), namespaces=ns_is("y"))])],
)
_ONLY_YA_TO_XA = (deny("*", "x/a"), allow("y/a", "x/a"))
_CIDR_EXCEPT_XB = netpol(
    "allow-client-a-via-cidr-egress-rule",
    POD_A,
    egress=[egress_rule([ip_block(large_cidr("x/b"), host_cidr("x/b"))])],
)


TCP_TESTS: tuple[UpstreamTest, ...] = (
    UpstreamTest(
        "should support a 'default-deny-ingress' policy",
        "TCP",
        "empty podSelector, Ingress with no rules: namespace x isolated for ingress",
        one([deny_ingress()], probe(80, deny("*", "x"))),
    ),
    UpstreamTest(
        "should support a 'default-deny-all' policy",
        "TCP",
        "policyTypes Ingress+Egress with no rules: x isolated both ways",
        one([deny_all()], probe(80, deny("*", "x"), deny("x", "*"))),
    ),
    UpstreamTest(
        "should enforce policy to allow traffic from pods within server namespace based on "
        "PodSelector",
        "TCP",
        "ingress from a podSelector (same namespace only)",
        one(
            [netpol("x-a-allows-x-b", POD_A, ingress=[rule([peer(pods=labels(pod="b"))])])],
            probe(80, *ONLY_XB_TO_XA),
        ),
    ),
    UpstreamTest(
        "should enforce policy to allow ingress traffic for a target",
        "TCP",
        "default deny + allow-all-to-a ({podSelector: {}, namespaceSelector: {}}): policies add up",
        one(
            [
                netpol("deny-all", EVERY_POD, ingress=[]),
                netpol(
                    "allow-all-to-a",
                    POD_A,
                    ingress=[rule([peer(pods=EVERY_POD, namespaces=EVERY_POD)])],
                ),
            ],
            probe(80, deny("*", "x"), allow("*", "x/a")),
        ),
        note=(
            "9-pod form: upstream now lists x/b only (its topology has no x/c);"
            " x/c is isolated the same way"
        ),
    ),
    UpstreamTest(
        "should enforce policy to allow ingress traffic from pods in all namespaces",
        "TCP",
        "ingress from namespaceSelector {} (every namespace)",
        one(
            [
                netpol(
                    "allow-from-another-ns",
                    POD_A,
                    ingress=[rule([peer(namespaces=labels())])],
                )
            ],
            probe(80),
        ),
    ),
    UpstreamTest(
        "should enforce policy to allow traffic only from a different namespace, based on "
        "NamespaceSelector",
        "TCP",
        "ingress from a namespaceSelector (matchLabels on the name label)",
        one(
            [
                netpol(
                    "allow-client-a-via-ns-selector",
                    POD_A,
                    ingress=[rule([peer(namespaces=ns_is("y"))])],
                )
            ],
            probe(80, *NS_Y_ONLY_TO_XA),
        ),
    ),
    UpstreamTest(
        "should enforce policy based on PodSelector with MatchExpressions",
        "TCP",
        "podSelector matchExpressions In",
        one(
            [netpol("x-a-allows-x-b", POD_A, ingress=[rule([peer(pods=expr("pod", "In", "b"))])])],
            probe(80, *ONLY_XB_TO_XA),
        ),
    ),
    UpstreamTest(
        "should enforce policy based on NamespaceSelector with MatchExpressions",
        "TCP",
        "namespaceSelector matchExpressions In",
        one(
            [
                netpol(
                    "allow-ns-y-match-selector",
                    POD_A,
                    ingress=[rule([peer(namespaces=expr(NAME_LABEL, "In", "y"))])],
                )
            ],
            probe(80, *NS_Y_ONLY_TO_XA),
        ),
    ),
    UpstreamTest(
        "should enforce policy based on PodSelector or NamespaceSelector",
        "TCP",
        "two peers (OR): namespaceSelector NotIn [x], podSelector pod=b",
        one(
            [
                netpol(
                    "allow-ns-y-match-selector",
                    POD_A,
                    ingress=[
                        rule(
                            [
                                peer(namespaces=expr(NAME_LABEL, "NotIn", "x")),
                                peer(pods=labels(pod="b")),
                            ]
                        )
                    ],
                )
            ],
            probe(80, deny("x/a", "x/a"), deny("x/c", "x/a")),
        ),
    ),
    UpstreamTest(
        "should enforce policy based on PodSelector and NamespaceSelector",
        "TCP",
        "one peer with both selectors (AND): NotIn [x] and pod=b",
        one(
            [
                netpol(
                    "allow-ns-y-podselector-and-nsselector",
                    POD_A,
                    ingress=[
                        rule(
                            [
                                peer(
                                    pods=labels(pod="b"),
                                    namespaces=expr(NAME_LABEL, "NotIn", "x"),
                                )
                            ]
                        )
                    ],
                )
            ],
            probe(80, deny("*", "x/a"), allow("y/b", "x/a"), allow("z/b", "x/a")),
        ),
    ),
    UpstreamTest(
        "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
        "TCP",
        "AND peer with matchExpressions on both: NotIn [x] and pod In [b, c]",
        one(
            [
                netpol(
                    "allow-ns-y-z-pod-b-c",
                    POD_A,
                    ingress=[
                        rule(
                            [
                                peer(
                                    pods=expr("pod", "In", "b", "c"),
                                    namespaces=expr(NAME_LABEL, "NotIn", "x"),
                                )
                            ]
                        )
                    ],
                )
            ],
            probe(80, deny("x", "x/a"), deny("y/a", "x/a"), deny("z/a", "x/a")),
        ),
        note=(
            "9-pod form: z/a -> x/a denied as well (upstream's reduced topology has no z/a;"
            " older upstream lists it)"
        ),
    ),
    UpstreamTest(
        "should enforce policy based on any PodSelectors",
        "TCP",
        "two podSelector peers (OR) in one rule",
        one(
            [
                netpol(
                    "allow-ns-x-pod-b-c",
                    POD_A,
                    ingress=[rule([peer(pods=labels(pod="b")), peer(pods=labels(pod="c"))])],
                )
            ],
            probe(80, deny("*", "x/a"), allow("x/b", "x/a"), allow("x/c", "x/a")),
        ),
    ),
    UpstreamTest(
        "should enforce policy to allow traffic only from a pod in a different namespace based "
        "on PodSelector and NamespaceSelector",
        "TCP",
        "AND peer: namespace y and pod=a",
        one([_INGRESS_A_FROM_NS_Y_POD_A], probe(80, *_ONLY_YA_TO_XA)),
    ),
    UpstreamTest(
        "should enforce policy based on Ports",
        "TCP",
        "ingress from namespace y on port 81 only",
        one([_P81_NS_Y], probe(81, *_PORT81_FROM_Y)),
    ),
    UpstreamTest(
        "should enforce multiple, stacked policies with overlapping podSelectors",
        "TCP",
        "two policies on x/a for ports 81 then 80: per-port union",
        (
            Step(
                (_P81_NS_Y,),
                (probe(81, *_PORT81_FROM_Y), probe(80, deny("*", "x/a"))),
                what="only the port-81 policy",
            ),
            Step(
                (_P81_NS_Y, _P80_NS_Y),
                (probe(80, *_PORT81_FROM_Y),),
                what="the port-80 policy added",
            ),
        ),
    ),
    UpstreamTest(
        "should support allow-all policy",
        "TCP",
        "ingress [{}] on every pod: nothing restricted",
        one([_ALLOW_ALL_INGRESS_X], probe(80), probe(81)),
    ),
    UpstreamTest(
        "should allow ingress access on one named port",
        "TCP",
        "ingress on named port serve-81-tcp (protocol defaulted)",
        one(
            [netpol("allow-all", EVERY_POD, ingress=[rule(ports=[port("serve-81-tcp")])])],
            probe(81),
            probe(80, deny("*", "x")),
        ),
    ),
    UpstreamTest(
        "should allow ingress access from namespace on one named port",
        "TCP",
        "ingress from namespace y on named port serve-80-tcp",
        one(
            [
                netpol(
                    "allow-client-a-via-ns-selector-80",
                    POD_A,
                    ingress=[rule([peer(namespaces=ns_is("y"))], [port("serve-80-tcp", "TCP")])],
                )
            ],
            probe(80, *NS_Y_ONLY_TO_XA),
            probe(81, deny("*", "x/a")),
        ),
    ),
    UpstreamTest(
        "should allow egress access on one named port",
        "TCP",
        "egress on named port serve-80-tcp (resolved on the destination)",
        one(
            [netpol("allow-egress", EVERY_POD, egress=[egress_rule(ports=[port("serve-80-tcp")])])],
            probe(80),
            probe(81, deny("x", "*")),
        ),
    ),
    UpstreamTest(
        "should enforce updated policy",
        "TCP",
        "a policy updated from allow-all ingress to no ingress rules",
        (
            Step(
                (netpol("allow-all-mutate-to-deny-all", EVERY_POD, ingress=[{}]),),
                (probe(81),),
                what="ingress [{}]",
            ),
            Step(
                (netpol("allow-all-mutate-to-deny-all", EVERY_POD, ingress=[]),),
                (probe(81, deny("*", "x")),),
                what="updated: ingress []",
            ),
        ),
    ),
    UpstreamTest(
        "should allow ingress access from updated namespace",
        "TCP",
        "namespaceSelector on a label added to namespace y later",
        (
            Step(
                (
                    netpol(
                        "allow-client-a-via-ns-selector",
                        POD_A,
                        ingress=[rule([peer(namespaces=labels(ns2="updated"))])],
                    ),
                ),
                (probe(80, deny("*", "x/a")),),
                what="no namespace has ns2=updated",
            ),
            Step(
                (
                    netpol(
                        "allow-client-a-via-ns-selector",
                        POD_A,
                        ingress=[rule([peer(namespaces=labels(ns2="updated"))])],
                    ),
                ),
                (probe(80, deny("*", "x/a"), allow("y", "*")),),
                namespace_labels={"y": {"ns2": "updated"}},
                what="namespace y labelled ns2=updated",
            ),
        ),
    ),
    UpstreamTest(
        "should allow ingress access from updated pod",
        "TCP",
        "podSelector on labels pod x/b gets later",
        (
            Step(
                (
                    netpol(
                        "allow-client-a-via-pod-selector",
                        POD_A,
                        ingress=[rule([peer(pods=labels(pod="b", pod2="updated"))])],
                    ),
                ),
                (probe(80, deny("*", "x/a")),),
                what="x/b not yet labelled",
            ),
            Step(
                (
                    netpol(
                        "allow-client-a-via-pod-selector",
                        POD_A,
                        ingress=[rule([peer(pods=labels(pod="b", pod2="updated"))])],
                    ),
                ),
                (probe(80, *ONLY_XB_TO_XA),),
                pod_labels={"x/b": {"pod2": "updated"}},
                what="x/b labelled pod2=updated",
            ),
        ),
    ),
    UpstreamTest(
        "should deny ingress from pods on other namespaces",
        "TCP",
        "ingress from podSelector {} = same namespace only",
        one(
            [netpol("deny-empty-policy", EVERY_POD, ingress=[rule([peer(pods=labels())])])],
            probe(80, deny("y", "x"), deny("z", "x")),
        ),
    ),
    UpstreamTest(
        "should deny ingress access to updated pod",
        "TCP",
        "a pod becomes selected by a deny policy when relabelled",
        (
            Step(
                (netpol("deny-ingress-via-label-selector", labels(target="isolated"), ingress=[]),),
                (probe(80),),
                what="no pod has target=isolated",
            ),
            Step(
                (netpol("deny-ingress-via-label-selector", labels(target="isolated"), ingress=[]),),
                (probe(80, deny("*", "x/a")),),
                pod_labels={"x/a": {"target": "isolated"}},
                what="x/a labelled target=isolated",
            ),
        ),
    ),
    UpstreamTest(
        "should deny egress from pods based on PodSelector",
        "TCP",
        "Egress with no rules on pod=a",
        one([netpol("deny-egress-pod-a", POD_A, egress=[])], probe(80, deny("x/a", "*"))),
    ),
    UpstreamTest(
        "should deny egress from all pods in a namespace",
        "TCP",
        "Egress with no rules on every pod of x",
        one([netpol("deny-egress-ns-x", EVERY_POD, egress=[])], probe(80, deny("x", "*"))),
    ),
    UpstreamTest(
        "should work with Ingress, Egress specified together",
        "TCP",
        "one policy with ingress from pod=b and egress on port 80, policyTypes [Egress, Ingress]",
        one(
            [
                netpol(
                    "allow-client-a-via-pod-selector",
                    POD_A,
                    ingress=[rule([peer(pods=labels(pod="b"))])],
                    egress=[egress_rule(ports=[port(80)])],
                    policy_types=["Egress", "Ingress"],
                )
            ],
            probe(80, *ONLY_XB_TO_XA),
            probe(81, deny("*", "x/a"), deny("x/a", "*"), allow("x/b", "x/a")),
        ),
    ),
    UpstreamTest(
        "should support denying of egress traffic on the client side (even if the server "
        "explicitly allows this traffic)",
        "TCP",
        "egress of x/a to y/a only, while y/a and y/b admit x/a: both sides must allow",
        one(
            [
                netpol(
                    "allow-to-ns-y-pod-a",
                    POD_A,
                    egress=[egress_rule([peer(pods=labels(pod="a"), namespaces=ns_is("y"))])],
                ),
                netpol(
                    "allow-from-xa-on-ya-match-selector",
                    POD_A,
                    namespace="y",
                    ingress=[rule([peer(pods=labels(pod="a"), namespaces=ns_is("x"))])],
                ),
                netpol(
                    "allow-from-xa-on-yb-match-selector",
                    labels(pod="b"),
                    namespace="y",
                    ingress=[rule([peer(pods=labels(pod="a"), namespaces=ns_is("x"))])],
                ),
            ],
            probe(
                80,
                deny("x/a", "*"),
                deny("*", "y/a"),
                allow("x/a", "y/a"),
                deny("*", "y/b"),
            ),
        ),
    ),
    UpstreamTest(
        "should enforce egress policy allowing traffic to a server in a different namespace "
        "based on PodSelector and NamespaceSelector",
        "TCP",
        "egress to an AND peer (namespace y, pod=a)",
        one(
            [
                netpol(
                    "allow-to-ns-y-pod-a",
                    POD_A,
                    egress=[egress_rule([peer(pods=labels(pod="a"), namespaces=ns_is("y"))])],
                )
            ],
            probe(80, deny("x/a", "*"), allow("x/a", "y/a")),
        ),
    ),
    UpstreamTest(
        "should enforce ingress policy allowing any port traffic to a server on a specific "
        "protocol",
        "TCP",
        "a port entry with a protocol and no port: every TCP port, no UDP",
        one(
            [netpol("allow-ingress-by-proto", POD_A, ingress=[rule(ports=[port(protocol="TCP")])])],
            probe(80),
            probe(80, deny("*", "x/a"), protocol="UDP"),
        ),
    ),
    UpstreamTest(
        "should enforce multiple ingress policies with ingress allow-all policy taking precedence",
        "TCP",
        "ingress port 80 only, then an allow-all ingress policy added",
        (
            Step(
                (netpol("allow-ingress-port-80", EVERY_POD, ingress=[rule(ports=[port(80)])]),),
                (probe(81, deny("*", "x")),),
                what="port 80 only",
            ),
            Step(
                (
                    netpol("allow-ingress-port-80", EVERY_POD, ingress=[rule(ports=[port(80)])]),
                    netpol("allow-ingress", EVERY_POD, ingress=[{}]),
                ),
                (probe(81),),
                what="allow-all ingress added",
            ),
        ),
    ),
    UpstreamTest(
        "should enforce multiple egress policies with egress allow-all policy taking precedence",
        "TCP",
        "egress port 80 only, then an allow-all egress policy added",
        (
            Step(
                (
                    netpol(
                        "allow-egress-port-80", EVERY_POD, egress=[egress_rule(ports=[port(80)])]
                    ),
                ),
                (probe(81, deny("x", "*")),),
                what="port 80 only",
            ),
            Step(
                (
                    netpol(
                        "allow-egress-port-80", EVERY_POD, egress=[egress_rule(ports=[port(80)])]
                    ),
                    netpol("allow-egress", EVERY_POD, egress=[{}]),
                ),
                (probe(81),),
                what="allow-all egress added",
            ),
        ),
    ),
    UpstreamTest(
        "should stop enforcing policies after they are deleted",
        "TCP",
        "deny-all both ways, then every policy deleted",
        (
            Step((deny_all(),), (probe(80, deny("x", "*"), deny("*", "x")),), what="deny-all"),
            Step((), (probe(80),), what="policies deleted"),
        ),
    ),
    UpstreamTest(
        "should allow egress access to server in CIDR block",
        "TCP",
        "egress to an ipBlock /32 of pod y/b",
        one(
            [
                netpol(
                    "allow-client-a-via-cidr-egress-rule",
                    POD_A,
                    egress=[egress_rule([ip_block(host_cidr("y/b"))])],
                )
            ],
            probe(80, deny("x/a", "*"), allow("x/a", "y/b")),
        ),
        needs_pod_ips=True,
    ),
    UpstreamTest(
        "should enforce except clause while egress access to server in CIDR block",
        "TCP",
        "egress to the /4 around x/b except x/b/32",
        one([_CIDR_EXCEPT_XB], probe(80, deny("x/a", "x/b"))),
        needs_pod_ips=True,
    ),
    UpstreamTest(
        "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed",
        "TCP",
        "the except policy, then updated (same name) to allow x/b/32 only",
        (
            Step((_CIDR_EXCEPT_XB,), (probe(80, deny("x/a", "x/b")),), what="cidr /4 except x/b"),
            Step(
                (
                    netpol(
                        "allow-client-a-via-cidr-egress-rule",
                        POD_A,
                        egress=[egress_rule([ip_block(host_cidr("x/b"))])],
                    ),
                ),
                (probe(80, deny("x/a", "*"), allow("x/a", "x/b")),),
                what="updated to cidr x/b/32",
            ),
        ),
        needs_pod_ips=True,
    ),
    UpstreamTest(
        "should enforce policies to check ingress and egress policies can be controlled "
        "independently based on PodSelector",
        "TCP",
        "allow-all egress on x/a, then a deny-ingress policy on x/a added",
        (
            Step(
                (netpol("allow-egress-for-target", POD_A, egress=[{}]),),
                (probe(80),),
                what="egress [{}] on x/a",
            ),
            Step(
                (
                    netpol("allow-egress-for-target", POD_A, egress=[{}]),
                    netpol("deny-ingress-via-label-selector", POD_A, ingress=[]),
                ),
                (probe(80, deny("*", "x/a")),),
                what="ingress [] on x/a added",
            ),
        ),
    ),
    UpstreamTest(
        "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin "
        "doesn't support SCTP",
        "TCP",
        "default deny + an SCTP-only allow on port 81: TCP 81 stays blocked",
        one(
            [
                deny_ingress(),
                netpol(
                    "allow-only-sctp-ingress-on-port-81",
                    POD_A,
                    ingress=[rule(ports=[port(81, "SCTP")])],
                ),
            ],
            probe(81, deny("*", "x")),
        ),
    ),
    UpstreamTest(
        "should properly isolate pods that are selected by a policy allowing SCTP, even if the "
        "plugin doesn't support SCTP",
        "TCP",
        "an SCTP-only policy still isolates x/a for TCP",
        one(
            [
                netpol(
                    "allow-only-sctp-ingress-on-port-80",
                    POD_A,
                    ingress=[rule(ports=[port(80, "SCTP")])],
                )
            ],
            probe(81, deny("*", "x/a")),
        ),
    ),
    UpstreamTest(
        "should not allow access by TCP when a policy specifies only UDP",
        "TCP",
        "a UDP-only allow on port 81: TCP 81 blocked",
        one(
            [
                netpol(
                    "allow-only-udp-ingress-on-port-81",
                    POD_A,
                    ingress=[rule(ports=[port(81, "UDP")])],
                )
            ],
            probe(81, deny("*", "x/a")),
        ),
    ),
    UpstreamTest(
        "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels "
        "using default ns label",
        "TCP",
        "namespaceSelector on kubernetes.io/metadata.name (matchLabels)",
        one(
            [
                netpol(
                    "allow-client-a-via-ns-selector-for-immutable-ns-label",
                    POD_A,
                    ingress=[rule([peer(namespaces=ns_is("y"))])],
                )
            ],
            probe(80, *NS_Y_ONLY_TO_XA),
        ),
    ),
    UpstreamTest(
        "should enforce policy based on NamespaceSelector with MatchExpressions using default ns "
        "label",
        "TCP",
        "egress to namespaceSelector NotIn [y] on the name label",
        one(
            [
                netpol(
                    "allow-ns-y-match-selector-for-immutable-ns-label",
                    POD_A,
                    egress=[egress_rule([peer(namespaces=expr(NAME_LABEL, "NotIn", "y"))])],
                )
            ],
            probe(80, deny("x/a", "y")),
        ),
    ),
)


def _protocol_variants(proto: str) -> tuple[UpstreamTest, ...]:
    low = proto.lower()
    return (
        UpstreamTest(
            "should support a 'default-deny-ingress' policy",
            proto,
            f"default deny ingress, probed over {proto}",
            one([deny_ingress("deny-all")], probe(80, deny("*", "x"), protocol=proto)),
        ),
        UpstreamTest(
            "should enforce policy based on Ports",
            proto,
            f"ingress from namespace y on {proto} port 81",
            one(
                [
                    netpol(
                        "allow-ingress-on-port-81-ns-x",
                        POD_A,
                        ingress=[rule([peer(namespaces=ns_is("y"))], [port(81, proto)])],
                    )
                ],
                probe(81, *NS_Y_ONLY_TO_XA, protocol=proto),
            ),
        ),
        UpstreamTest(
            "should enforce policy to allow traffic only from a pod in a different namespace "
            "based on PodSelector and NamespaceSelector",
            proto,
            f"AND peer (namespace y, pod=a), probed over {proto} (rule has no ports: {low} "
            f"included)",
            one([_INGRESS_A_FROM_NS_Y_POD_A], probe(80, *_ONLY_YA_TO_XA, protocol=proto)),
        ),
    )


UDP_TESTS = _protocol_variants("UDP")
SCTP_TESTS = _protocol_variants("SCTP")
ALL_TESTS: tuple[UpstreamTest, ...] = TCP_TESTS + UDP_TESTS + SCTP_TESTS


def test_id(test: UpstreamTest) -> str:
    return f"{test.suite}: {test.name}"


def steps() -> Iterator[tuple[str, UpstreamTest, int, Step]]:
    """Every (id, test, step number, step): the id names the upstream test and the step."""
    for test in ALL_TESTS:
        for i, step in enumerate(test.steps, 1):
            suffix = f" [step {i}/{len(test.steps)}]" if len(test.steps) > 1 else ""
            yield test_id(test) + suffix, test, i, step


# ------------------------------------------------------------------ cluster objects


def namespace_objects(step: Step) -> list[dict[str, Any]]:
    out = []
    for ns in NAMESPACES:
        lab = {"ns": ns, **step.namespace_labels.get(ns, {})}
        out.append(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": lab}}
        )
    return out


def pod_labels(step: Step, pod: str) -> dict[str, str]:
    return {"pod": pod.split("/")[1], **step.pod_labels.get(pod, {})}


def pod_objects(step: Step) -> list[dict[str, Any]]:
    """The 9 model pods: one container per (port, protocol) with upstream's port names."""
    out = []
    for ref in PODS:
        ns, name = ref.split("/")
        containers = [
            {
                "name": f"cont-{p}-{proto.lower()}",
                "ports": [{"containerPort": p, "protocol": proto, "name": port_name(p, proto)}],
            }
            for p in PORTS
            for proto in PROTOCOLS
        ]
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": pod_labels(step, ref)},
                "spec": {"containers": containers},
                "status": {"podIP": pod_ip(ref)},
            }
        )
    return out


def objects(step: Step) -> list[Mapping[str, Any]]:
    return [*namespace_objects(step), *pod_objects(step), *step.policies]
