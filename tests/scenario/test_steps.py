"""The steps: section: each step's cells, and one clear error line for each mistake."""

# ruff: noqa: E501  (the case table keeps one YAML snippet per line)
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from tests.scenario.util import BASE_NAMESPACES
from tests.scenario.util import BASE_WORKLOADS
from tests.scenario.util import load_text
from tests.scenario.util import marked_line
from tests.scenario.util import project
from tests.scenario.util import scenario_text

POLICY = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-api, namespace: back}
spec: {podSelector: {matchLabels: {app: api}}, policyTypes: [Ingress]}
"""
OTHER = POLICY.replace("deny-api", "deny-db").replace("app: api", "app: db")

TOP = "expect:\n  default: allow\n"


def _steps(body: str, expect: str = TOP, manifests: str = "") -> str:
    return scenario_text(expect=expect, manifests=manifests) + "steps:\n" + body


def _project(tmp_path: Path) -> Path:
    root = project(tmp_path)
    (root / "manifests" / "deny-api.yaml").write_text(POLICY)
    (root / "manifests" / "deny-db.yaml").write_text(OTHER)
    return root


def test_steps_keep_change_or_replace_the_cells_before_them(tmp_path: Path) -> None:
    text = _steps(
        "  - name: deny-api\n"
        "    apply: [../manifests/deny-api.yaml]\n"
        "    changes:\n"
        "      deny: [web -> api:8080, '* -> api:53/UDP']\n"
        "  - name: again\n"  # no expect, no changes: the same cells again
        "  - name: whole\n"
        "    delete: [../manifests/deny-api.yaml]\n"
        "    label: [{workload: web, set: {tier: x}, remove: [app]}, {namespace: front, set: {team: a}}]\n"
        "    expect: {allow: [web -> db:5432]}\n"
    )
    s = load_text(_project(tmp_path), text)
    assert [st.name for st in s.steps] == ["deny-api", "again", "whole"]
    top = [c for c in s.cells if not c.step]
    by_step = {
        st.name: {c.key.split("::", 1)[1]: c.expect for c in s.cells if c.step == st.name}
        for st in s.steps
    }
    assert top and all(c.expect == "allow" for c in top)
    assert by_step["deny-api"]["web->api:8080/TCP"] == "deny"
    assert by_step["deny-api"]["web->db:5432/TCP"] == "allow"  # kept from the top level
    assert by_step["again"] == by_step["deny-api"]
    assert by_step["whole"] == {"web->db:5432/TCP": "allow"}
    # Probed in order: the top-level cells, then step by step.
    order = [c.step for c in s.cells]
    assert order == sorted(order, key=["", "deny-api", "again", "whole"].index)
    ids = {c.test_id(s.name) for c in s.cells}
    assert "demo::deny-api::web->api:8080/TCP[deny]" in ids
    whole = s.steps[2]
    assert [m.body["metadata"]["name"] for m in whole.delete] == ["deny-api"]
    assert [(ch.target, ch.name, dict(ch.set), ch.remove) for ch in whole.labels] == [
        ("workload", "web", {"tier": "x"}, ("app",)),
        ("namespace", "front", {"team": "a"}, ()),
    ]


def test_a_scenario_may_start_with_a_step_instead_of_expect(tmp_path: Path) -> None:
    text = scenario_text(expect="") + "steps:\n  - name: first\n    expect: {default: deny}\n"
    s = load_text(_project(tmp_path), text)
    assert s.cells and all(c.step == "first" for c in s.cells)


# (id, steps body (a #! marks the line of the error), message part, fix part)
CASES: list[tuple[str, str, str, str]] = [
    ("not-a-list", "  {name: x}  #!\n", "steps must be a list", ""),
    ("name-missing", "  - apply: [../manifests/deny-api.yaml]  #!\n", "'name'", "allow-dns"),
    ("name-bad", "  - name: Bad_Name  #!\n", "step name 'Bad_Name'", ""),
    ("name-reserved", "  - name: datapath  #!\n", "step name 'datapath' is reserved", "rename it"),
    ("name-twice", "  - name: a\n  - name: a  #!\n", "step 'a'", "unique"),
    (
        "unknown-key",
        "  - name: a\n    aply: []  #!\n",
        "unknown key 'aply' in a step",
        "did you mean 'apply'",
    ),
    (
        "expect-and-changes",
        "  - name: a\n    expect: {default: deny}\n    changes: {deny: [web -> api:8080]}  #!\n",
        "has both expect: and changes:",
        "changes:",
    ),
    (
        "changes-empty",
        "  - name: a\n    changes: {}  #!\n",
        "changes: lists no cell",
        "leave changes: out",
    ),
    (
        "changes-same",
        "  - name: a\n    changes:\n      allow:\n        - web -> api:8080  #!\n",
        "to allow, which it already is",
        "only what differs",
    ),
    (
        "changes-default",
        "  - name: a\n    changes:\n      default: deny  #!\n",
        "unknown key 'default'",
        "",
    ),
    (
        "delete-not-applied",
        "  - name: a\n    delete: [../manifests/deny-db.yaml]  #!\n",
        "deletes NetworkPolicy 'back/deny-db'",
        "apply it first",
    ),
    (
        "delete-missing-file",
        "  - name: a\n    delete: [../manifests/nope.yaml]  #!\n",
        "manifest '../manifests/nope.yaml' does not exist",
        "",
    ),
    (
        "label-unknown-workload",
        "  - name: a\n    label:\n      - {workload: wbe, set: {a: b}}  #!\n",
        "workload 'wbe' is not declared",
        "did you mean 'web'",
    ),
    (
        "label-existing-namespace",
        "  - name: a\n    label:\n      - {namespace: kube-system, set: {a: b}}  #!\n",
        "namespace 'kube-system' is existing",
        "creates",
    ),
    (
        "label-both-targets",
        "  - name: a\n    label:\n      - {workload: web, namespace: front, set: {a: b}}  #!\n",
        "exactly one of workload: or namespace:",
        "",
    ),
    (
        "label-nothing",
        "  - name: a\n    label:\n      - {workload: web}  #!\n",
        "changes nothing",
        "set:",
    ),
    (
        "label-set-and-remove",
        "  - name: a\n    label:\n      - {workload: web, set: {a: b}, remove: [a]}  #!\n",
        "both sets and removes 'a'",
        "",
    ),
    (
        "label-reserved",
        "  - name: a\n    label:\n      - workload: web\n        remove: [netpol-harness.dev/run]  #!\n",
        "is set by the harness",
        "",
    ),
    (
        "label-bad-value",
        "  - name: a\n    label:\n      - workload: web\n        set: {a: 'not ok!'}  #!\n",
        "",
        "",
    ),
]


@pytest.mark.parametrize(
    ("body", "message", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_step_errors_name_the_line_and_the_fix(
    tmp_path: Path, body: str, message: str, fix: str
) -> None:
    text = _steps(body, manifests="manifests: [../manifests/deny-api.yaml]\n")
    with pytest.raises(ScenarioError) as info:
        load_text(_project(tmp_path), text)
    err = info.value
    assert err.line == marked_line(text), str(err)
    assert message in err.message, str(err)
    assert fix in err.fix, str(err)


def test_the_first_step_needs_a_matrix_when_the_top_level_has_none(tmp_path: Path) -> None:
    text = (
        scenario_text(expect="")
        + "steps:\n  - name: first  #!\n    apply: [../manifests/deny-api.yaml]\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_text(_project(tmp_path), text)
    assert "nothing comes before it" in info.value.message
    assert info.value.line == marked_line(text)


def test_in_place_scenarios_cannot_have_steps(tmp_path: Path) -> None:
    workloads = "workloads:\n  - {name: web, namespace: front, selector: {app: web}}\n  - {name: api, namespace: back, selector: {app: api}, ports: [80]}\n"
    namespaces = (
        "namespaces:\n  - {name: front, existing: true}\n  - {name: back, existing: true}\n"
    )
    text = (
        scenario_text(
            namespaces=namespaces,
            workloads=workloads,
            externals="",
            expect="expect: {allow: [web -> api:80]}\n",
        )
        + "steps:  #!\n  - name: a\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_text(_project(tmp_path), text)
    assert "in-place scenario cannot have steps" in info.value.message
    assert info.value.line == marked_line(text)


def test_base_workloads_and_namespaces_are_what_the_cases_assume() -> None:
    # The cases above rely on these names; a change to the shared fixtures must show here.
    assert "name: web" in BASE_WORKLOADS and "name: front" in BASE_NAMESPACES
    assert "kube-system\n    existing: true" in BASE_NAMESPACES
