"""manifests/rbac/*.yaml grant exactly the permissions harness/rbac.py documents."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness import rbac
from tests.infra._repo import MANIFESTS
from tests.infra._repo import load_all

RBAC_DIR = MANIFESTS / "rbac"
FILES = {
    "hermetic.yaml": (rbac.HERMETIC_CLUSTER_ROLE,),
    "in-place.yaml": (rbac.IN_PLACE_CLUSTER_ROLE, rbac.IN_PLACE_FALLBACK_CLUSTER_ROLE),
    "policy-kinds.yaml": (rbac.POLICY_KINDS_CLUSTER_ROLE,),
}


def _objects(kind: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(RBAC_DIR.glob("*.yaml")):
        for doc in load_all(path):
            if doc["kind"] == kind:
                key = doc["metadata"]["name"]
                if "namespace" in doc["metadata"]:
                    key = f"{doc['metadata']['namespace']}/{key}"
                out[key] = doc
    return out


def granted(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Expand a ClusterRole's rules into (verb, group, resource) triples."""
    keys: set[tuple[str, str, str]] = set()
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    keys.add((verb, group, resource))
    return keys


@pytest.mark.parametrize("name", sorted(rbac.CLUSTER_ROLES))
def test_cluster_role_matches_the_table(name: str) -> None:
    roles = _objects("ClusterRole")
    assert name in roles, f"ClusterRole {name} is missing from manifests/rbac/"
    table = {p.key for p in rbac.CLUSTER_ROLES[name]}
    yaml_keys = granted(roles[name])
    assert yaml_keys - table == set(), f"{name} grants more than harness/rbac.py documents"
    assert table - yaml_keys == set(), f"{name} lacks permissions harness/rbac.py needs"


def test_no_other_cluster_roles() -> None:
    assert set(_objects("ClusterRole")) == set(rbac.CLUSTER_ROLES)


def test_tables_have_no_duplicates_and_a_reason_each() -> None:
    for name, perms in rbac.CLUSTER_ROLES.items():
        counts = Counter(p.key for p in perms)
        assert [k for k, n in counts.items() if n > 1] == [], name
        assert all(p.why for p in perms), f"{name}: every permission says which step needs it"


def test_rules_use_no_wildcards_or_resource_names() -> None:
    for name, role in _objects("ClusterRole").items():
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{name}: wildcard in {field}"
            assert "resourceNames" not in rule
            assert "nonResourceURLs" not in rule


def test_exec_allows_both_transports() -> None:
    # WebSocket exec is a GET (verb get; since 1.35 also create), SPDY a POST (create).
    for perms in (rbac.HERMETIC_RULES, rbac.IN_PLACE_RULES):
        exec_verbs = {p.verb for p in perms if p.rbac_resource == "pods/exec"}
        assert exec_verbs == {"create", "get"}


def test_in_place_is_read_only_apart_from_probing() -> None:
    writes = {"create", "update", "patch", "delete", "deletecollection"}
    writing = {
        p.rbac_resource
        for p in rbac.IN_PLACE_RULES
        if p.verb in writes and p.group != "authorization.k8s.io"
    }
    assert writing == {"pods/ephemeralcontainers", "pods/exec"}
    assert all(p.scope == "namespace" for p in rbac.IN_PLACE_FALLBACK_RULES)


def test_bindings_point_at_existing_roles_and_accounts() -> None:
    roles = _objects("ClusterRole")
    accounts = _objects("ServiceAccount")
    bindings = _objects("ClusterRoleBinding")
    assert bindings, "no ClusterRoleBinding"
    bound = set()
    for name, binding in bindings.items():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": binding["roleRef"]["name"],
        }
        assert binding["roleRef"]["name"] in roles, name
        bound.add(binding["roleRef"]["name"])
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            assert f"{subject['namespace']}/{subject['name']}" in accounts, name
    assert bound == {
        rbac.HERMETIC_CLUSTER_ROLE,
        rbac.IN_PLACE_CLUSTER_ROLE,
        rbac.POLICY_KINDS_CLUSTER_ROLE,
    }
    # the fallback role (pods create/delete) is bound per namespace only, never cluster-wide
    assert rbac.IN_PLACE_FALLBACK_CLUSTER_ROLE not in bound


def test_service_accounts_are_the_documented_ones() -> None:
    accounts = _objects("ServiceAccount")
    assert set(accounts) == {
        f"{rbac.SYSTEM_NAMESPACE}/{rbac.HERMETIC_SERVICE_ACCOUNT}",
        f"{rbac.SYSTEM_NAMESPACE}/{rbac.IN_PLACE_SERVICE_ACCOUNT}",
    }
    assert all(sa["automountServiceAccountToken"] is False for sa in accounts.values())


@pytest.mark.parametrize("filename", sorted(FILES))
def test_every_rule_has_a_comment_saying_why(filename: str) -> None:
    lines = (RBAC_DIR / filename).read_text(encoding="utf-8").splitlines()
    rule_lines = [i for i, line in enumerate(lines) if re.match(r"^\s*- apiGroups:", line)]
    assert rule_lines
    for i in rule_lines:
        previous = lines[i - 1].strip()
        assert previous.startswith("#"), f"{filename}:{i + 1}: rule without a comment above it"


@pytest.mark.parametrize("filename", sorted(FILES))
def test_each_file_holds_its_roles(filename: str) -> None:
    docs = load_all(RBAC_DIR / filename)
    names = tuple(d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole")
    assert names == FILES[filename]


def test_rules_for_modes() -> None:
    assert rbac.rules_for("hermetic") == rbac.HERMETIC_RULES
    in_place = rbac.rules_for("in-place")
    assert set(in_place) == set(rbac.IN_PLACE_RULES) | set(rbac.IN_PLACE_FALLBACK_RULES)
    perm = rbac.Permission("create", "", "pods", "exec")
    assert perm.rbac_resource == "pods/exec"
    assert str(perm) == "create pods/exec (core)"


def test_granted_expands_rules() -> None:
    role = {"rules": [{"apiGroups": ["", "apps"], "resources": ["a", "b"], "verbs": ["get"]}]}
    assert granted(role) == {
        ("get", "", "a"),
        ("get", "", "b"),
        ("get", "apps", "a"),
        ("get", "apps", "b"),
    }


def test_docs_explain_every_role() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "rbac.md").read_text(encoding="utf-8")
    for name in rbac.CLUSTER_ROLES:
        assert name in text
    assert "kubectl create token" in text
