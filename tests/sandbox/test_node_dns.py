"""Cluster DNS: records built from objects, and dnsmasq answering in the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from netpol_sandbox.dns import build_hosts
from netpol_sandbox.dns import resolv_conf
from tests.sandbox.nodekit import NEEDS_ROOT
from tests.sandbox.nodekit import NGINX
from tests.sandbox.nodekit import NodeRunner
from tests.sandbox.nodekit import pod
from tests.sandbox.nodekit import running_node


def svc(ns: str, name: str, cluster_ip: str | None, selector: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


def running(ns: str, name: str, ip: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "labels": labels}, "status": {"podIP": ip}}


def test_build_hosts_services_headless_and_pods() -> None:
    pods = [
        running("prod", "w1", "10.1.0.5", {"app": "web"}),
        running("prod", "w2", "10.1.0.6", {"app": "web"}),
        running("dev", "w3", "10.1.0.7", {"app": "web"}),
        {"metadata": {"namespace": "prod", "name": "pending", "labels": {"app": "web"}}},
    ]
    text = build_hosts(
        [
            svc("prod", "web", "10.96.0.5", {"app": "web"}),
            svc("prod", "headless", "None", {"app": "web"}),
            svc("prod", "noclusterip", None, {"app": "web"}),
        ],
        pods,
    )
    lines = text.splitlines()
    assert "10.96.0.5 web.prod.svc.cluster.local" in lines
    assert "10.1.0.5 headless.prod.svc.cluster.local" in lines
    assert "10.1.0.6 headless.prod.svc.cluster.local" in lines
    assert "10.1.0.7 headless.prod.svc.cluster.local" not in lines  # other namespace
    assert "10.1.0.5 noclusterip.prod.svc.cluster.local" in lines
    assert "10.1.0.5 10-1-0-5.prod.pod.cluster.local" in lines
    assert "10.1.0.7 10-1-0-7.dev.pod.cluster.local" in lines
    assert len(lines) == 8


def test_resolv_conf_like_the_kubelet() -> None:
    text = resolv_conf("prod", "10.1.0.10")
    assert text.splitlines() == [
        "search prod.svc.cluster.local svc.cluster.local cluster.local",
        "nameserver 10.1.0.10",
        "options ndots:5 timeout:1 attempts:1",
    ]


@pytest.fixture(scope="module")
def dns_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRunner]:
    with running_node(tmp_path_factory.mktemp("dns")) as r:
        r.add_pod(pod("prod", "client"))
        r.add_pod(pod("prod", "web", NGINX, {"app": "web"}, [{"containerPort": 8080}]))
        yield r


@NEEDS_ROOT
@pytest.mark.sandbox
def test_dnsmasq_answers_services_pods_and_nxdomain(dns_net: NodeRunner) -> None:
    r = dns_net
    web_ip = r.ip("prod", "web")
    r.sync([], [svc("prod", "web", "10.96.240.9", {"app": "web"})])
    rc, out, _ = r.sh("prod", "client", "nslookup", "web.prod.svc.cluster.local")
    assert rc == 0 and "10.96.240.9" in out
    dashed = web_ip.replace(".", "-")
    rc, out, _ = r.sh("prod", "client", "nslookup", f"{dashed}.prod.pod.cluster.local")
    assert rc == 0 and web_ip in out
    rc, out, _ = r.sh("prod", "client", "nslookup", "nothere.prod.svc.cluster.local")
    assert rc != 0 and "NXDOMAIN" in out
    # the search path of the pod's resolv.conf (curl uses the libc resolver)
    assert r.curl(("prod", "client"), "http://web:80/") == 0


@NEEDS_ROOT
@pytest.mark.sandbox
def test_dns_reloads_on_change(dns_net: NodeRunner) -> None:
    r = dns_net
    r.sync([], [])
    rc, out, _ = r.sh("prod", "client", "nslookup", "late.prod.svc.cluster.local")
    assert rc != 0
    r.sync([], [svc("prod", "late", "None", {"app": "web"})])  # headless: the pod IP
    rc, out, _ = r.sh("prod", "client", "nslookup", "late.prod.svc.cluster.local")
    assert rc == 0 and r.ip("prod", "web") in out
