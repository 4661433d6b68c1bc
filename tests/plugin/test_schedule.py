"""Which scenarios a process prefetches, and the deterministic worker assignment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.plugin import schedule

THREE = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {{name: {name}}}
namespaces: [{{name: ns}}]
workloads:
  - {{name: a, namespace: ns, labels: {{app: a}}, ports: [80]}}
  - {{name: b, namespace: ns, labels: {{app: b}}, ports: [80]}}
expect:
  default: deny
"""


def test_assign_is_deterministic_and_balanced() -> None:
    sizes = {
        "s/a.netpol.yaml": 10,
        "s/b.netpol.yaml": 9,
        "s/c.netpol.yaml": 2,
        "s/d.netpol.yaml": 1,
    }
    owner = schedule.assign(sizes, schedule.worker_ids(2))
    assert owner == schedule.assign(dict(reversed(sizes.items())), schedule.worker_ids(2))
    load: dict[str, int] = {}
    for unit, worker in owner.items():
        load[worker] = load.get(worker, 0) + sizes[unit]
    assert sorted(load.values()) == [11, 11]
    assert schedule.worker_ids(12)[:3] == ["gw0", "gw1", "gw10"]  # the order both sides use


def test_scope_of_groups_a_scenario_and_leaves_other_tests_alone() -> None:
    assert schedule.scope_of("x/a.netpol.yaml::web->db:80/TCP[allow]") == "x/a.netpol.yaml"
    assert schedule.scope_of("tests/test_x.py::test_one") == "tests/test_x.py::test_one"


@pytest.mark.parametrize(
    ("workerinput", "expected"),
    [
        (None, {"alpha", "beta", "gamma"}),  # no xdist: every scenario is ours
        ({"workerid": "gw0", "workercount": 2, "netpol_dist": "load"}, "gw0"),
        ({"workerid": "gw1", "workercount": 2, "netpol_dist": "load"}, "gw1"),
        ({"workerid": "gw0", "workercount": 2, "netpol_dist": "loadgroup"}, set()),
    ],
)
def test_a_process_prefetches_exactly_its_scenarios(
    pytester: pytest.Pytester, workerinput: dict[str, Any] | None, expected: Any
) -> None:
    (pytester.path / "pyproject.toml").write_text("")
    for name in ("alpha", "beta", "gamma"):
        (pytester.path / f"{name}.netpol.yaml").write_text(THREE.format(name=name))
    items, _ = pytester.inline_genitems("--netpol-static", ".")
    config = items[0].config
    if workerinput is not None:
        config.workerinput = workerinput  # type: ignore[attr-defined]
    schedule.select(config, items)
    got = {s.name for s in config.stash[schedule.PREFETCH_KEY]}
    if isinstance(expected, str):
        sizes = {schedule.scope_of(i.nodeid): 0 for i in items}
        for i in items:
            sizes[schedule.scope_of(i.nodeid)] += 1
        owner = schedule.assign(sizes, schedule.worker_ids(2))
        mine = {Path(u).name.split(".")[0] for u, w in owner.items() if w == expected}
        assert got == mine and got  # the worker's share, the same as the controller's
    else:
        assert got == expected


def test_a_scenario_the_run_skips_is_never_prefetched(pytester: pytest.Pytester) -> None:
    (pytester.path / "pyproject.toml").write_text("")
    (pytester.path / "alpha.netpol.yaml").write_text(THREE.format(name="alpha"))
    calico = THREE.format(name="calico").replace("expect:", "manifests: [p.yaml]\\nexpect:")
    (pytester.path / "calico.netpol.yaml").write_text(calico)
    (pytester.path / "p.yaml").write_text(
        "apiVersion: projectcalico.org/v3\\nkind: NetworkPolicy\\n"
        "metadata: {name: x, namespace: ns}\\nspec: {selector: all(), types: [Ingress]}\\n"
    )
    kubeconfig = pytester.path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\\n")
    items, _ = pytester.inline_genitems("--netpol-kubeconfig", str(kubeconfig), ".")
    config = items[0].config
    schedule.select(config, items)
    assert [s.name for s in config.stash[schedule.PREFETCH_KEY]] == ["alpha"]
