"""Run-time values in manifests: ``${podIP:web}``, ``${podCIDR:web}``, ... Pure.

A manifest may refer to facts known only when the run is up. Each placeholder is
``${NAME}`` or ``${NAME:ARGUMENT}`` inside a string value (the whole value, or part
of it); ``$${`` writes a literal ``${``.

=====================  ===========================================================
``${podIP:W}``         the pod IP of workload W (``10.244.1.7``)
``${podCIDR:W}``       the same as a one-address network (``10.244.1.7/32``, ``/128``)
``${cidrOf:W1,W2}``    the smallest network holding the pod IPs of W1, W2, ...
``${nodeIP:W}``        the IP of the node W's pod runs on (``status.hostIP``)
``${namespace:N}``     the real (run-unique) name of scenario namespace N
``${clusterPodCIDR}``  the cluster's pod network (``--netpol-pod-cidr``)
=====================  ===========================================================

The loader checks every placeholder (name, arguments) and validates each object with
stand-in values (:func:`stand_in`); the live runner resolves them with the pods' real
addresses before it applies anything, ``--netpol-static`` with the plan's synthetic
addresses (:func:`resolve`): both see the same policies.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from harness.errors import HarnessError

#: ``${name}`` or ``${name:argument}``; ``$${`` is a literal.
PATTERN = re.compile(r"\$(\$?)\{([^{}]*)\}")
#: name -> (takes an argument, what the argument names)
KINDS: Mapping[str, tuple[bool, str]] = {
    "podIP": (True, "workload"),
    "podCIDR": (True, "workload"),
    "cidrOf": (True, "workloads"),
    "nodeIP": (True, "workload"),
    "namespace": (True, "namespace"),
    "clusterPodCIDR": (False, ""),
}


class PlaceholderError(HarnessError):
    """A placeholder that cannot be resolved (a fact the run does not know)."""


@dataclass(frozen=True)
class Placeholder:
    name: str
    args: tuple[str, ...]
    text: str  # as written: ``${podIP:web}``


@dataclass(frozen=True)
class Facts:
    """What a run knows: by scenario workload and namespace name."""

    pod_ips: Mapping[str, str] = field(default_factory=dict)
    node_ips: Mapping[str, str] = field(default_factory=dict)
    namespaces: Mapping[str, str] = field(default_factory=dict)
    pod_cidr: str = ""


def _parsed(m: re.Match[str]) -> Placeholder:
    """The placeholder a :data:`PATTERN` match (not a ``$${`` literal) stands for."""
    name, _, arg = m.group(2).partition(":")
    args = tuple(a.strip() for a in arg.split(",")) if arg else ()
    return Placeholder(name.strip(), args, m.group(0))


def found(text: str) -> Iterator[Placeholder]:
    """Every placeholder in ``text`` (literals ``$${...}`` left out)."""
    return (_parsed(m) for m in PATTERN.finditer(text) if not m.group(1))


def problem(p: Placeholder, workloads: Sequence[str], namespaces: Sequence[str]) -> str:
    """Why ``p`` is wrong in a scenario with these workloads and namespaces ("" if fine)."""
    if p.name not in KINDS:
        return f"unknown placeholder {p.text} (known: {', '.join(KINDS)})"
    takes, what = KINDS[p.name]
    if not takes:
        return f"{p.text} takes no argument" if p.args else ""
    if not p.args or any(not a for a in p.args):
        return f"{p.text} needs a {what.rstrip('s')} name: ${{{p.name}:NAME}}"
    if what != "workloads" and len(p.args) > 1:
        return f"{p.text} takes one {what} (cidrOf takes several)"
    known = namespaces if what == "namespace" else workloads
    for arg in p.args:
        if arg not in known:
            kind = "namespace" if what == "namespace" else "workload"
            return f"{p.text}: {kind} {arg!r} is not declared in the scenario"
    return ""


def _network(addresses: Sequence[str]) -> str:
    """The smallest network holding every address."""
    ips = [ipaddress.ip_address(a) for a in addresses]
    if len({ip.version for ip in ips}) > 1:
        raise PlaceholderError(f"cannot make one network of IPv4 and IPv6 addresses {addresses}")
    bits = ips[0].max_prefixlen
    prefix: int = bits
    while prefix > 0:
        net = ipaddress.ip_network(f"{ips[0]}/{prefix}", strict=False)
        if all(ip in net for ip in ips):
            return str(net)
        prefix -= 1
    return str(ipaddress.ip_network(f"{ips[0]}/0", strict=False))


def value(p: Placeholder, facts: Facts) -> str:
    """What ``p`` stands for in a run with ``facts``; PlaceholderError if unknown."""

    def one(table: Mapping[str, str], what: str) -> str:
        got = table.get(p.args[0])
        if not got:
            raise PlaceholderError(f"{p.text}: the run knows no {what} for {p.args[0]!r}")
        return got

    if p.name == "podIP":
        return one(facts.pod_ips, "pod IP")
    if p.name == "podCIDR":
        ip = ipaddress.ip_address(one(facts.pod_ips, "pod IP"))
        return f"{ip}/{ip.max_prefixlen}"
    if p.name == "cidrOf":
        missing = [a for a in p.args if not facts.pod_ips.get(a)]
        if missing:
            raise PlaceholderError(f"{p.text}: the run knows no pod IP for {missing[0]!r}")
        return _network([facts.pod_ips[a] for a in p.args])
    if p.name == "nodeIP":
        return one(facts.node_ips, "node IP")
    if p.name == "namespace":
        return one(facts.namespaces, "namespace")
    if p.name == "clusterPodCIDR":
        if not facts.pod_cidr:
            raise PlaceholderError(
                f"{p.text}: the cluster's pod network is not known: pass --netpol-pod-cidr "
                "(kind-config.yaml's podSubnet on kind)"
            )
        return facts.pod_cidr
    raise PlaceholderError(f"unknown placeholder {p.text}")


def substitute(text: str, lookup: Callable[[Placeholder], str]) -> str:
    """``text`` with each placeholder replaced by ``lookup(placeholder)``; ``$${`` -> ``${``."""

    def one(m: re.Match[str]) -> str:
        return "${" + m.group(2) + "}" if m.group(1) else lookup(_parsed(m))

    return PATTERN.sub(one, text)


def has_placeholders(body: Any) -> bool:
    if isinstance(body, str):
        return "${" in body
    if isinstance(body, Mapping):
        return any(has_placeholders(v) for v in body.values())
    if isinstance(body, list | tuple):
        return any(has_placeholders(v) for v in body)
    return False


def resolve(body: Any, facts: Facts) -> Any:
    """A copy of ``body`` with every placeholder in its string values resolved."""
    if isinstance(body, str):
        return substitute(body, lambda p: value(p, facts)) if "${" in body else body
    if isinstance(body, Mapping):
        return {k: resolve(v, facts) for k, v in body.items()}
    if isinstance(body, list | tuple):
        return [resolve(v, facts) for v in body]
    return body


def stand_in(workloads: Sequence[str], namespaces: Sequence[str]) -> Facts:
    """Plausible facts for validating a manifest when it is loaded (no run yet).

    Pod IPs in 10.255.0.0/16 (the scenario's pod network), one a workload in the
    order declared; node IPs outside it; namespaces with a run suffix of 8 characters.
    """
    return Facts(
        pod_ips={w: f"10.255.{i // 250}.{i % 250 + 1}" for i, w in enumerate(workloads)},
        node_ips={w: "172.31.0.1" for w in workloads},
        namespaces={n: f"{n}-00000000" for n in namespaces},
        pod_cidr="10.255.0.0/16",
    )
