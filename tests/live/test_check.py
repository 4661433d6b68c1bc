"""`netpol-harness check`: argument parsing, then real probes on a sandbox.

The sandbox workloads are "real" pods: web (curl image, has curl), db and other
(nginx image, no curl: probing from them needs an ephemeral container), and a
policy letting only app=web reach db on 8080. The sandbox adds 100 ms to every exec.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.live.check import Endpoint
from harness.live.check import parse_endpoint
from harness.live.check import parse_target
from tests.live import sbx

# ---------------------------------------------------------------- parsing


def test_parse_endpoint_forms() -> None:
    assert parse_endpoint("prod/web-0", "FROM") == Endpoint("prod", name="web-0")
    sel = parse_endpoint("prod/app=web,tier=front", "FROM")
    assert sel == Endpoint("prod", selector=(("app", "web"), ("tier", "front")))
    assert sel.selector_text == "app=web,tier=front"
    assert str(sel) == "prod/app=web,tier=front"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prod", "is not NAMESPACE/POD or NAMESPACE/LABELS"),
        ("Prod/web", "'Prod' is not a namespace name"),
        ("prod/app=web,=x", "'=x' is not LABEL=VALUE"),
        ("prod/Web_1", "'Web_1' is not a pod name"),
    ],
)
def test_parse_endpoint_errors_say_the_form(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="fix: write FROM as NAMESPACE/POD") as info:
        parse_endpoint(text, "FROM")
    assert message in str(info.value)


def test_parse_target_forms() -> None:
    assert parse_target("db/app=mysql:3306") == (
        Endpoint("db", selector=(("app", "mysql"),)),
        3306,
        "TCP",
    )
    assert parse_target("kube-system/k8s-app=kube-dns:53/udp")[1:] == (53, "UDP")
    assert parse_target("db/mysql-0:mysql/TCP")[1:] == ("mysql", "TCP")


def test_parse_target_named_forms() -> None:
    dns, port, proto = parse_target("dns")
    assert (dns.kind, port, proto) == ("dns", 53, "UDP")
    ext, port, proto = parse_target("198.51.100.10:443")
    assert (ext.kind, ext.address, port, proto) == ("external", "198.51.100.10", 443, "TCP")
    v6, port, _ = parse_target("[2001:db8::1]:53/UDP")
    assert (v6.kind, v6.address, port) == ("external", "2001:db8::1", 53)
    svc, port, _ = parse_target("svc:shop/db:8080")
    assert (svc.kind, svc.namespace, svc.name, str(svc)) == ("service", "shop", "db", "svc:shop/db")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1:80", "not an address a pod can probe"),
        ("198.51.100.10:https", "an address needs a port number"),
        ("svc:shop/app=db:80", "svc: takes NAMESPACE/SERVICE"),
    ],
)
def test_parse_named_target_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_target(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db/mysql-0", "needs a port"),
        ("db/mysql-0:70000", "port 70000 is not in 1-65535"),
        ("db/mysql-0:80/SCTP", "protocol 'SCTP' is not TCP or UDP"),
        ("db/mysql-0:Bad_Name", "'Bad_Name' is not a port number or name"),
    ],
)
def test_parse_target_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"fix: e\.g\.") as info:
        parse_target(text)
    assert message in str(info.value)


# ---------------------------------------------------------------- sandbox


def _create_workloads(kubeconfig: str) -> None:
    from harness.live.cluster import Cluster

    cluster = Cluster(kubeconfig=kubeconfig)
    security = {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})

    def pod(name: str, image: str, labels: dict[str, str], **container: Any) -> None:
        spec = {"name": "main", "image": image, "securityContext": security, **container}
        cluster.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "shop", "labels": labels},
                "spec": {"containers": [spec]},
            }
        )

    pod("web-0", "curlimages/curl:8.11.1", {"app": "web"}, command=["sleep", "3600"])
    nginx = "nginxinc/nginx-unprivileged:1.27-alpine"
    http = [{"containerPort": 8080, "name": "http"}]
    pod("db-0", nginx, {"app": "db"}, ports=http)
    pod("other-0", nginx, {"app": "other"}, ports=http)
    cluster.create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "db-from-web", "namespace": "shop"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "db"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                        "ports": [{"port": 8080}],
                    }
                ],
            },
        }
    )
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"selector": {"app": "db"}, "ports": [{"port": 8080, "targetPort": 8080}]},
        }
    )
    cluster.wait_pods_ready([("shop", "web-0"), ("shop", "db-0"), ("shop", "other-0")], 60)


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for path in sbx.sandbox(tmp_path_factory.mktemp("check"), "--exec-latency", "0.1"):
        _create_workloads(path)
        yield path


def _check(kubeconfig: str, *args: str) -> Any:
    return sbx.cli("check", *args, "--kubeconfig", kubeconfig)


@pytest.mark.sandbox
def test_allow_case_by_label_selector_exits_0(kubeconfig: str) -> None:
    result = _check(kubeconfig, "shop/app=web", "shop/app=db:8080", "--expect", "allow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check shop/web-0 -> shop/db-0" in result.stdout
    assert "verdict: connected" in result.stdout
    assert "expected allow: holds" in result.stdout
    assert "ALLOWED: shop/web-0 -> shop/db-0 port 8080/TCP" in result.stdout
    assert "shop/db-from-web ingress[0]" in result.stdout
    assert "rerun: kubectl exec -n shop web-0 -c main -- curl -sS" in result.stdout


@pytest.mark.sandbox
def test_deny_case_from_a_pod_without_curl_uses_an_ephemeral_container(kubeconfig: str) -> None:
    result = _check(kubeconfig, "shop/other-0", "shop/db-0:http", "--expect", "deny")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: dropped" in result.stdout
    assert "expected deny: holds" in result.stdout
    assert "probe ran in: shop/other-0 container netpol-probe-" in result.stdout
    assert "rerun: kubectl exec -n shop other-0 -c netpol-probe-" in result.stdout
    # A second check reuses the running ephemeral container (no second one is added).
    again = _check(kubeconfig, "shop/other-0", "shop/db-0:8080", "--format", "json")
    doc = json.loads(again.stdout)
    assert again.returncode == 0  # no --expect: a verdict was reached
    from harness.live.cluster import Cluster

    pod = Cluster(kubeconfig=kubeconfig).get_pod("shop", "other-0")
    names = [c["name"] for c in pod["spec"].get("ephemeralContainers") or []]
    assert len(names) == 1 and doc["container"] == names[0]
    assert (doc["outcome"], doc["predicted"], doc["holds"]) == ("dropped", "deny", None)


@pytest.mark.sandbox
def test_mismatch_exits_1_with_the_explanation(kubeconfig: str) -> None:
    result = _check(kubeconfig, "shop/app=other", "shop/db-0:8080", "--expect", "allow")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "expected allow: DOES NOT HOLD" in result.stdout
    assert "DENIED: shop/other-0 -> shop/db-0 port 8080/TCP" in result.stdout
    assert "isolated for ingress by shop/db-from-web" in result.stdout
    assert "blocked by: ingress" in result.stdout


@pytest.mark.sandbox
def test_unknown_pod_exits_2_with_a_clear_message(kubeconfig: str) -> None:
    result = _check(kubeconfig, "shop/nosuch", "shop/db-0:8080")
    assert result.returncode == 2
    assert "FROM pod shop/nosuch not found (fix: kubectl get pods -n shop" in result.stderr
    assert "Traceback" not in result.stderr
    none = _check(kubeconfig, "shop/app=web", "shop/app=nothing:8080")
    assert none.returncode == 2
    assert "TO shop/app=nothing: no pod matches" in none.stderr


@pytest.mark.sandbox
def test_refused_port_is_a_verdict_with_a_note(kubeconfig: str) -> None:
    result = _check(kubeconfig, "shop/web-0", "shop/other-0:9999", "--expect", "deny")
    assert result.returncode == 1
    assert "verdict: refused" in result.stdout
    assert "nothing listens on 9999/TCP" in result.stdout


@pytest.mark.sandbox
def test_dns_is_checked_with_a_lookup_not_a_datagram(kubeconfig: str) -> None:
    for target in ("dns", "kube-system/k8s-app=kube-dns:53/UDP"):
        result = _check(kubeconfig, "shop/web-0", target, "--expect", "allow")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "verdict: connected (nslookup answered)" in result.stdout
        assert "nslookup" in result.stdout  # the rerun line


@pytest.mark.sandbox
def test_external_addresses_and_services_are_targets(kubeconfig: str) -> None:
    ext = _check(kubeconfig, "shop/web-0", "198.51.100.10:443", "--expect", "allow")
    assert ext.returncode == 0, ext.stdout + ext.stderr
    assert "-> 198.51.100.10" in ext.stdout
    assert "the policies allow it" in ext.stdout
    svc = _check(kubeconfig, "shop/other-0", "svc:shop/db:8080", "--expect", "deny")
    assert svc.returncode == 0, svc.stdout + svc.stderr
    assert "db.shop.svc.cluster.local." in svc.stdout
    assert "the policies deny it" in svc.stdout, svc.stdout
