"""What diff and generate read: pods from templates, replicas folded, empty sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.commands.inputs import load_pods
from harness.policy.workloads import group_pods
from harness.policy.workloads import template_pod
from harness.policy.workloads import workload_name
from tests.commands.kit import api_from_web
from tests.commands.kit import dump_pods
from tests.commands.kit import write
from tests.policy.builders import pod


def _meta(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": fields, "spec": {"containers": []}}


@pytest.mark.parametrize(
    ("metadata", "name"),
    [
        (  # a Deployment's pod: owner ReplicaSet web-5d8f7c9b6, its hash label
            {
                "name": "web-5d8f7c9b6-x2x8q",
                "labels": {"pod-template-hash": "5d8f7c9b6"},
                "ownerReferences": [
                    {"kind": "ReplicaSet", "name": "web-5d8f7c9b6", "controller": True}
                ],
            },
            "web",
        ),
        (  # a StatefulSet's pod
            {"name": "db-0", "ownerReferences": [{"name": "db", "controller": True}]},
            "db",
        ),
        ({"name": "agent-k2j4z", "generateName": "agent-"}, "agent"),  # no owner in the dump
        ({"name": "toolbox"}, "toolbox"),  # a bare pod
    ],
)
def test_a_pod_is_named_after_its_workload(metadata: dict[str, Any], name: str) -> None:
    assert workload_name(_meta(**metadata)) == name


def test_replicas_fold_and_names_stay_unique_per_namespace() -> None:
    web = [
        pod("shop", f"web-abc-{i}", {"app": "web", "pod-template-hash": "abc"}) for i in range(3)
    ]
    for p in web:
        p["metadata"]["generateName"] = "web-abc-"
    # another workload whose pods would also be called "web" (other labels)
    other = pod("shop", "web-def-0", {"app": "web", "track": "canary", "pod-template-hash": "def"})
    other["metadata"]["generateName"] = "web-def-"
    elsewhere = pod("ops", "web-1", {"app": "web"})
    elsewhere["metadata"]["generateName"] = "web-"
    groups = group_pods([*web, other, elsewhere])
    assert [(g.ref, dict(g.labels), g.members) for g in groups] == [
        ("shop/web", {"app": "web"}, ("web-abc-0", "web-abc-1", "web-abc-2")),
        ("shop/web-2", {"app": "web", "track": "canary"}, ("web-def-0",)),
        ("ops/web", {"app": "web"}, ("web-1",)),
    ]
    assert groups[0].pod["metadata"]["name"] == "web"  # the pod the engine sees


def test_pods_with_other_ports_are_other_workloads() -> None:
    a = pod("shop", "a", {"app": "x"}, ports=((None, 80, "TCP"),))
    b = pod("shop", "b", {"app": "x"}, ports=((None, 81, "TCP"),))
    c = pod("shop", "c", {"app": "x"}, ports=((None, 80, "TCP"),))
    assert [(g.name, g.members) for g in group_pods([a, b, c])] == [
        ("a", ("a", "c")),
        ("b", ("b",)),
    ]


def test_template_pods_of_every_workload_kind() -> None:
    template = {
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
    }
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        made = template_pod(
            {"kind": kind, "metadata": {"name": "x"}, "spec": {"template": template}}
        )
        assert made["metadata"] == {"name": "x", "namespace": "default", "labels": {"app": "x"}}
        assert made["spec"]["containers"][0]["ports"] == [{"containerPort": 80}]
    cron = template_pod(
        {
            "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "ops"},
            "spec": {"jobTemplate": {"spec": {"template": template}}},
        }
    )
    assert cron["metadata"] == {"name": "nightly", "namespace": "ops", "labels": {"app": "x"}}


def test_pods_without_an_address_get_a_synthetic_one(tmp_path: Path) -> None:
    objs = [pod("shop", "a", {"app": "a"}), pod("shop", "b", {"app": "b"}, "10.255.0.1")]
    pods = load_pods([str(write(tmp_path / "pods.yaml", *objs))])
    addresses = {g.ref: g.pod["status"]["podIP"] for g in pods.groups}
    assert addresses == {"shop/a": "10.255.0.2", "shop/b": "10.255.0.1"}  # taken ones skipped


def test_no_policies_before_is_a_side_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "none").mkdir()
    pods = write(tmp_path / "cluster.yaml", *dump_pods())
    after = write(tmp_path / "after.yaml", api_from_web())
    for before in (tmp_path / "none", Path("/dev/null")):
        code = main(["diff", str(before), str(after), "--pods", str(pods), "--format", "json"])
        out, err = capsys.readouterr()
        assert code == 1
        cells = [(c["source"], c["destination"]) for c in json.loads(out)["changes"]]
        assert cells == [("ops/toolbox", "shop/api-0"), ("shop/db-0", "shop/api-0")]
        assert f"BEFORE: no policies in {before}" in err
