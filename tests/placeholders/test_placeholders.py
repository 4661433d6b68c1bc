"""Run-time values in manifests: the syntax, the loader's checks, static and live resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import placeholders
from harness import plan as planning
from harness.errors import ScenarioError
from harness.live.runner import Recorder
from harness.live.runner import Runner
from harness.live.runner import RunSettings
from harness.placeholders import Facts
from harness.placeholders import PlaceholderError
from harness.policy import static
from tests.live.fakes import FakeClock
from tests.live.fakes import FakeCluster
from tests.scenario.util import load_text
from tests.scenario.util import marked_line
from tests.scenario.util import project
from tests.scenario.util import scenario_text

FACTS = Facts(
    pod_ips={"web": "10.244.1.7", "api": "10.244.1.9", "db": "10.244.2.3", "v6": "fd00::5"},
    node_ips={"web": "172.18.0.3"},
    namespaces={"front": "front-r1"},
    pod_cidr="10.244.0.0/16",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${podIP:web}", "10.244.1.7"),
        ("${podCIDR:web}", "10.244.1.7/32"),
        ("${podCIDR:v6}", "fd00::5/128"),
        ("${cidrOf:web,api}", "10.244.1.0/28"),
        ("${cidrOf: web , db}", "10.244.0.0/22"),
        ("${cidrOf:web}", "10.244.1.7/32"),
        ("${nodeIP:web}", "172.18.0.3"),
        ("${namespace:front}", "front-r1"),
        ("${clusterPodCIDR}", "10.244.0.0/16"),
        ("from ${podIP:web} to ${podIP:api}", "from 10.244.1.7 to 10.244.1.9"),
        ("$${podIP:web} stays", "${podIP:web} stays"),
        ("no placeholder", "no placeholder"),
    ],
)
def test_values(text: str, expected: str) -> None:
    assert placeholders.resolve(text, FACTS) == expected


def test_resolve_walks_nested_objects_and_leaves_the_input_alone() -> None:
    body: dict[str, Any] = {
        "spec": {"egress": [{"to": [{"ipBlock": {"cidr": "${podCIDR:db}"}}]}], "n": 3}
    }
    out = placeholders.resolve(body, FACTS)
    assert out["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] == "10.244.2.3/32"
    assert body["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] == "${podCIDR:db}"
    assert out["spec"]["n"] == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${podIP:job}", "the run knows no pod IP for 'job'"),
        ("${nodeIP:api}", "no node IP for 'api'"),
        ("${cidrOf:web,v6}", "IPv4 and IPv6"),
        ("${cidrOf:web,job}", "no pod IP for 'job'"),
    ],
)
def test_unknown_facts_are_errors(text: str, message: str) -> None:
    with pytest.raises(PlaceholderError, match=message):
        placeholders.resolve(text, FACTS)


def test_cluster_pod_cidr_unknown_says_which_option_to_pass() -> None:
    with pytest.raises(PlaceholderError, match="--netpol-pod-cidr"):
        placeholders.resolve("${clusterPodCIDR}", Facts())


# ---------------------------------------------------------------- the loader

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ip-rules, namespace: back}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - ipBlock:
            cidr: CIDR
            except: EXCEPT
"""


def _load(tmp_path: Path, cidr: str, excepts: str = "[]") -> tuple[Any, str]:
    root = project(tmp_path)
    text = POLICY.replace("CIDR", cidr).replace("EXCEPT", excepts)
    (root / "manifests" / "p.yaml").write_text(text)
    scenario = scenario_text(
        manifests="manifests: [../manifests/p.yaml]\n",
        expect="expect:\n  allow: [web -> db:5432]\n",
    )
    return load_text(root, scenario), text


def test_the_manifest_keeps_what_was_written(tmp_path: Path) -> None:
    s, _ = _load(tmp_path, '"${cidrOf:web,api}"', '["${podCIDR:api}"]')
    block = s.manifests[0].body["spec"]["ingress"][0]["from"][0]["ipBlock"]
    assert block == {"cidr": "${cidrOf:web,api}", "except": ["${podCIDR:api}"]}


# (id, cidr, except, message part, fix part); the #! marks the offending line.
CASES = [
    (
        "unknown-name",
        '"${podIp:web}"  #!',
        "[]",
        "unknown placeholder ${podIp:web}",
        "Run-time values",
    ),
    ("unknown-workload", '"${podCIDR:wbe}"  #!', "[]", "workload 'wbe' is not declared", ""),
    ("no-argument", '"${podCIDR}"  #!', "[]", "needs a workload name", ""),
    ("argument-not-taken", '"${clusterPodCIDR:web}"  #!', "[]", "takes no argument", ""),
    ("two-workloads", '"${podCIDR:web,api}"  #!', "[]", "takes one workload", ""),
    # Validated with stand-in values, as the API server will validate the real ones:
    ("ip-is-not-a-cidr", '"${podIP:web}"  #!', "[]", "", ""),
    ("except-outside-cidr", '"${podCIDR:web}"', '["${podCIDR:api}"]  #!', "", ""),
]


@pytest.mark.parametrize(
    ("cidr", "excepts", "message", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_placeholder_errors_name_the_manifest_line(
    tmp_path: Path, cidr: str, excepts: str, message: str, fix: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        _load(tmp_path, cidr, excepts)
    text = POLICY.replace("CIDR", cidr).replace("EXCEPT", excepts)
    err = info.value
    assert err.path.endswith("p.yaml") and err.line == marked_line(text), str(err)
    assert message in err.message and fix in err.fix, str(err)


def test_no_placeholder_in_the_fields_that_name_the_object(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "manifests" / "p.yaml").write_text(
        POLICY.replace("ip-rules", "'${namespace:back}'")
        .replace("CIDR", "0.0.0.0/0")
        .replace("EXCEPT", "[]")
    )
    scenario = scenario_text(manifests="manifests: [../manifests/p.yaml]\n")
    with pytest.raises(ScenarioError, match=r"metadata.name cannot hold a placeholder"):
        load_text(root, scenario)


# ---------------------------------------------------------------- static and live


def test_static_and_live_resolve_the_same_rule(tmp_path: Path) -> None:
    s, _ = _load(tmp_path, '"${podCIDR:web}"')
    plan = planning.build(s, "r1", created="2026-12-01T00:00:00Z")
    # Static: web's synthetic address is the one the rule names, so web -> db holds.
    assert [holds for _, holds, _ in static.check_plan(plan)] == [True]
    # Live: the policy sent to the cluster names web's real pod IP.
    cluster = FakeCluster()
    clock = FakeClock()
    result = Runner(
        cluster,
        RunSettings(settle=0, settle_floor=0),
        recorder=Recorder(),
        clock=clock,
        sleep=clock.sleep,
    ).run(plan)
    assert not result.setup_error
    ips = {c["metadata"]["name"]: c for c in cluster.created}
    web_ip = cluster.pod_at  # the fake hands out 10.0.0.N in pod order
    sent = ips["ip-rules"]["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"]
    assert web_ip(sent.split("/")[0]) == "front-r1/web" and sent.endswith("/32")


def test_an_unknown_fact_live_is_a_setup_error_not_a_verdict(tmp_path: Path) -> None:
    s, _ = _load(tmp_path, '"${nodeIP:web}/32"')
    plan = planning.build(s, "r1", created="2026-12-01T00:00:00Z")
    cluster = FakeCluster()  # its pods have no status.hostIP
    clock = FakeClock()
    result = Runner(
        cluster, RunSettings(), recorder=Recorder(), clock=clock, sleep=clock.sleep
    ).run(plan)
    assert "no node IP for 'web'" in result.setup_error and "p.yaml" in result.setup_error
    assert {v.status.value for v in result.verdicts} == {"error"}
    assert not any(c.get("kind") == "NetworkPolicy" for c in cluster.created)  # nothing applied
