"""Planning: Pod Security restricted probe pods, namespace mapping, labels, probes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.images import DEFAULT_IMAGES
from harness.images import Images
from harness.model import CREATED_ANNOTATION
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL
from harness.model import SCENARIO_LABEL
from harness.model import WORKLOAD_LABEL
from harness.model import PodRef
from harness.model import ProbeKind
from harness.model import Scenario
from harness.plan import build
from harness.plan import run_id_from
from tests.scenario.util import load_text
from tests.scenario.util import project
from tests.scenario.util import scenario_text

CREATED = "2026-01-02T03:04:05Z"

# ------------------------------------------------------------ Pod Security Standards

SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: Mapping[str, Any]) -> list[str]:
    """Violations of the Pod Security Standards "restricted" profile (baseline included)."""
    spec = pod["spec"]
    psc = spec.get("securityContext") or {}
    out: list[str] = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(f"{key} is set")
    for volume in spec.get("volumes") or []:
        types = set(volume) - {"name"}
        if "hostPath" in types:
            out.append(f"hostPath volume {volume['name']}")
        if not types <= RESTRICTED_VOLUMES:
            out.append(f"volume type {types - RESTRICTED_VOLUMES}")
    for sysctl in psc.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            out.append(f"unsafe sysctl {sysctl['name']}")
    if psc.get("runAsUser") == 0:
        out.append("pod runAsUser 0")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp == "Unconfined":
        out.append("pod seccomp Unconfined")
    containers = [
        *spec.get("containers", []),
        *spec.get("initContainers", []),
        *spec.get("ephemeralContainers", []),
    ]
    for c in containers:
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation not false")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"{name}: runAsNonRoot not true")
        if sc.get("runAsUser") == 0:
            out.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccomp {seccomp}")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{name}: adds capabilities {caps['add']}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{name}: hostPort")
        if (sc.get("procMount") or "Default") != "Default":
            out.append(f"{name}: procMount")
    return out


def test_the_checker_catches_violations() -> None:
    bad = {
        "spec": {
            "hostNetwork": True,
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
            "containers": [
                {
                    "name": "c",
                    "securityContext": {
                        "privileged": True,
                        "capabilities": {"add": ["NET_ADMIN"]},
                        "seccompProfile": {"type": "Unconfined"},
                    },
                    "ports": [{"containerPort": 80, "hostPort": 80}],
                }
            ],
        }
    }
    found = "\n".join(restricted_violations(bad))
    for needle in (
        "hostNetwork",
        "hostPath",
        "unsafe sysctl",
        "privileged",
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccomp Unconfined",
        "drop ALL",
        "NET_ADMIN",
        "hostPort",
    ):
        assert needle in found


# ------------------------------------------------------------ fixtures

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
    - from:
        - namespaceSelector:
            matchLabels: {kubernetes.io/metadata.name: front}
        - namespaceSelector:
            matchExpressions:
              - {key: kubernetes.io/metadata.name, operator: In, values: [front, kube-system]}
        - namespaceSelector:
            matchExpressions:
              - {key: tier, operator: In, values: [front]}
  egress:
    - to:
        - namespaceSelector:
            matchLabels: {kubernetes.io/metadata.name: kube-system}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    root = project(tmp_path)
    (root / "manifests" / "p.yaml").write_text(POLICY)
    expect = (
        "expect:\n  default: deny\n  allow:\n"
        "    - web -> svc:api:8080\n    - api -> dns\n    - web -> pay\n"
    )
    return load_text(
        root, scenario_text(manifests="manifests: [../manifests/p.yaml]\n", expect=expect)
    )


def test_probe_pods_satisfy_pod_security_restricted(scenario: Scenario) -> None:
    plan = build(scenario, "r1", created=CREATED)
    assert len(plan.pods) == 4
    for pod in plan.pods:
        assert restricted_violations(pod) == [], pod["metadata"]["name"]
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        assert spec["terminationGracePeriodSeconds"] == 1


def test_containers_per_role_and_ports(scenario: Scenario) -> None:
    plan = build(scenario, "r1", images=Images("c:1", "s:1"), created=CREATED)
    pods = {p["metadata"]["name"]: p for p in plan.pods}
    names = {n: [c["name"] for c in p["spec"]["containers"]] for n, p in pods.items()}
    assert names == {
        "web": ["server", "client"],
        "api": ["server", "client"],
        "db": ["server"],
        "job": ["client"],
    }
    api_server = pods["api"]["spec"]["containers"][0]
    assert api_server["image"] == "s:1"
    assert pods["job"]["spec"]["containers"][0]["image"] == "c:1"
    assert api_server["ports"] == [
        {"containerPort": 8080, "protocol": "TCP", "name": "http"},
        {"containerPort": 53, "protocol": "UDP"},
        {"containerPort": 9000, "protocol": "SCTP"},
    ]
    assert api_server["readinessProbe"]["tcpSocket"] == {"port": 8080}
    conf = api_server["env"][0]["value"]
    assert "listen 8080;" in conf and "listen 53 udp;" in conf and "9000" not in conf
    assert "exec nginx -c /tmp/nginx.conf" in api_server["command"][2]
    # ports below 1024 need the (restricted-safe) unprivileged port sysctl
    sysctls = {n: p["spec"]["securityContext"].get("sysctls") for n, p in pods.items()}
    assert sysctls["api"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    assert sysctls["web"] == sysctls["api"]
    assert sysctls["db"] is None and sysctls["job"] is None


def test_namespace_mapping(scenario: Scenario) -> None:
    plan = build(scenario, "ab12", created=CREATED)
    assert plan.namespace_map == {
        "front": "front-ab12",
        "back": "back-ab12",
        "kube-system": "kube-system",
    }
    assert [n["metadata"]["name"] for n in plan.namespaces] == ["front-ab12", "back-ab12"]
    front = plan.namespaces[0]["metadata"]
    assert front["labels"]["tier"] == "front"
    assert front["annotations"] == {CREATED_ANNOTATION: CREATED}
    assert {p["metadata"]["namespace"] for p in plan.pods} == {"front-ab12", "back-ab12"}
    (policy,) = plan.manifests
    body = policy.body
    assert body["metadata"]["namespace"] == "back-ab12"
    peers = body["spec"]["ingress"][0]["from"]
    assert peers[0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "front-ab12"
    }
    assert peers[1]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "front-ab12",
        "kube-system",
    ]
    assert peers[2]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "front"
    ]  # other keys untouched
    egress = body["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"]
    assert egress == {"kubernetes.io/metadata.name": "kube-system"}  # existing: untouched
    assert policy.source == scenario.manifests[0].source
    # the scenario itself is not modified
    assert scenario.manifests[0].body["metadata"]["namespace"] == "back"


def test_labels_on_everything(scenario: Scenario) -> None:
    plan = build(scenario, "r9", created=CREATED)
    common = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: "r9", SCENARIO_LABEL: "demo"}
    for obj in (*plan.namespaces, *plan.pods, *plan.services):
        labels = obj["metadata"]["labels"]
        assert labels.items() >= common.items(), obj["metadata"]["name"]
    for pod in plan.pods:
        name = pod["metadata"]["name"]
        assert pod["metadata"]["labels"][WORKLOAD_LABEL] == name
        assert pod["metadata"]["labels"]["app"] == name  # the workload's own labels


def test_services(scenario: Scenario) -> None:
    plan = build(scenario, "r1", created=CREATED)
    services = {s["metadata"]["name"]: s for s in plan.services}
    assert sorted(services) == ["api", "db", "web"]
    api = services["api"]
    assert api["metadata"]["namespace"] == "back-r1"
    assert api["spec"]["selector"] == {WORKLOAD_LABEL: "api"}
    assert api["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"},
        {"name": "udp-53", "port": 53, "targetPort": 53, "protocol": "UDP"},
    ]


def test_probes(scenario: Scenario) -> None:
    plan = build(scenario, "r1", created=CREATED)
    assert [p.id for p in plan.probes] == sorted(c.test_id("demo") for c in scenario.cells)
    probes = {p.cell.key: p for p in plan.probes}
    svc = probes["web->svc:api:8080/TCP"]
    assert (svc.kind, svc.host, svc.target_pod) == (
        ProbeKind.HTTP,
        "api.back-r1.svc.cluster.local.",
        None,
    )
    assert svc.source_pod == PodRef("front-r1", "web")
    dns = probes["api->dns:53/UDP"]
    assert (dns.kind, dns.host, dns.port, dns.protocol) == (
        ProbeKind.DNS,
        "kube-dns.kube-system.svc.cluster.local.",
        53,
        "UDP",
    )
    ext = probes["web->pay:443/TCP"]
    assert (ext.kind, ext.host) == (ProbeKind.TCP, "198.51.100.10")
    pod = probes["web->api:53/UDP"]
    assert (pod.kind, pod.host, pod.target_pod) == (ProbeKind.UDP, None, PodRef("back-r1", "api"))
    assert probes["job->db:5432/TCP"].kind is ProbeKind.HTTP


def test_build_is_deterministic_and_pure(scenario: Scenario) -> None:
    assert build(scenario, "r1", created=CREATED) == build(scenario, "r1", created=CREATED)
    assert (
        build(scenario, "r1", created=CREATED).probes
        != build(scenario, "r2", created=CREATED).probes
    )


def test_default_images_are_pinned_by_tag_and_digest() -> None:
    assert DEFAULT_IMAGES.client == (
        "curlimages/curl:8.11.1"
        "@sha256:c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69"
    )
    assert DEFAULT_IMAGES.server == (
        "nginxinc/nginx-unprivileged:1.27-alpine"
        "@sha256:65e3e85dbaed8ba248841d9d58a899b6197106c23cb0ff1a132b7bfe0547e4c0"
    )


def test_pull_secrets_go_on_every_probe_pod(scenario: Scenario) -> None:
    plan = build(scenario, "r1", created=CREATED, pull_secrets=("regcred", "mirror"))
    assert plan.pods
    for pod in plan.pods:
        assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    plain = build(scenario, "r1", created=CREATED)
    assert all("imagePullSecrets" not in pod["spec"] for pod in plain.pods)


@pytest.mark.parametrize("bad", ["", "UPPER", "toolong123", "a-b"])
def test_bad_run_id(scenario: Scenario, bad: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        build(scenario, bad, created=CREATED)


def test_run_id_from() -> None:
    a = run_id_from("f00dfeed", "gw0")
    assert a == run_id_from("f00dfeed", "gw0")
    assert a != run_id_from("f00dfeed", "gw1") != run_id_from("0ther", "gw1")
    assert len(a) == 8 and a.isalnum() and a == a.lower()


def test_the_client_memory_limit_caps_the_jobs_of_a_batch(scenario: Scenario) -> None:
    from harness import plan as planning

    assert planning.client_job_limit() == 40  # 64 MiB: 24 for the base, 1 per job
    assert planning.client_job_limit(128) == 104
    assert planning.client_job_limit(16) == 1
    pod = next(p for p in build(scenario, "r1", created=CREATED).pods if p["spec"]["containers"])
    client = next(c for c in pod["spec"]["containers"] if c["name"] == "client")
    assert client["resources"]["limits"]["memory"] == f"{planning.CLIENT_MEMORY_MIB}Mi"
