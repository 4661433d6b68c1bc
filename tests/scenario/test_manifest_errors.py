"""Manifests a scenario applies: path rules, YAML and API-server-style validation."""

# ruff: noqa: E501  (the case tables keep one YAML snippet per line)
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from tests.scenario.util import load_text
from tests.scenario.util import marked_line
from tests.scenario.util import project
from tests.scenario.util import scenario_text

NP_HEAD = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: p
  namespace: back
"""


def np(spec: str) -> str:
    return NP_HEAD + "spec:\n" + spec


# (id, manifest text with a #! marker, message part, fix part)
MANIFEST_CASES: list[tuple[str, str, str, str]] = [
    (
        "port-out-of-range",
        np("  ingress:\n    - ports:\n        - port: 70000  #!\n"),
        "port 70000 is out of range",
        "1 and 65535",
    ),
    (
        "port-quoted-number",
        np("  ingress:\n    - ports:\n        - port: '80'  #!\n"),
        "not a valid port name",
        "without quotes",
    ),
    (
        "endport-smaller",
        np("  egress:\n    - ports:\n        - port: 8000\n          endPort: 7000  #!\n"),
        "endPort 7000 is smaller than port 8000",
        "greater than or equal",
    ),
    (
        "endport-named-port",
        np("  egress:\n    - ports:\n        - port: http\n          endPort: 9000  #!\n"),
        "needs a numeric port",
        "",
    ),
    (
        "endport-without-port",
        np("  egress:\n    - ports:\n        - endPort: 9000  #!\n"),
        "needs a port",
        "add port",
    ),
    (
        "protocol-icmp",
        np("  ingress:\n    - ports:\n        - protocol: ICMP  #!\n"),
        "protocol 'ICMP' is not supported",
        "TCP",
    ),
    (
        "cidr-invalid",
        np("  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.0/33  #!\n"),
        "'10.0.0.0/33' is not a valid CIDR",
        "",
    ),
    (
        "except-outside-cidr",
        np(
            "  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.0/8\n            except:\n              - 192.168.0.0/16  #!\n"
        ),
        "must be a strict subset of cidr",
        "",
    ),
    (
        "except-equal-cidr",
        np(
            "  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.0/8\n            except: [10.0.0.0/8]  #!\n"
        ),
        "strict subset",
        "",
    ),
    (
        "policy-types-typo",
        np("  policyTypes: [Ingres]  #!\n"),
        "policyTypes value 'Ingres' is not supported",
        "did you mean 'Ingress'",
    ),
    (
        "ipblock-with-selector",
        np(
            "  ingress:\n    - from:\n        - ipBlock: {cidr: 10.0.0.0/8}  #!\n          podSelector: {}\n"
        ),
        "may not combine ipBlock with a selector",
        "own list item",
    ),
    (
        "empty-peer",
        np("  ingress:\n    - from:\n        - {}  #!\n"),
        "must specify a peer",
        "podSelector",
    ),
    (
        "match-expressions-in-without-values",
        np("  podSelector:\n    matchExpressions:\n      - key: app  #!\n        operator: In\n"),
        "operator In needs values",
        "values",
    ),
    (
        "match-expressions-bad-operator",
        np(
            "  podSelector:\n    matchExpressions:\n      - key: app\n        operator: Exist  #!\n"
        ),
        "operator 'Exist' is not supported",
        "did you mean 'Exists'",
    ),
    (
        "unknown-spec-field",
        np("  podselector: {}  #!\n"),
        "unknown field 'podselector' in spec",
        "did you mean 'podSelector'",
    ),
    (
        "egress-with-from",
        np("  egress:\n    - from: []  #!\n"),
        "unknown field 'from'",
        "'ports', 'to'",
    ),
    (
        "name-uppercase",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: Allow_Web  #!\n  namespace: back\n",
        "NetworkPolicy name 'Allow_Web'",
        "",
    ),
    (
        "match-label-value-bad",
        np("  podSelector:\n    matchLabels:\n      app: 'web server'  #!\n"),
        "label value 'web server'",
        "",
    ),
    ("not-an-object", "apiVersion: v1  #!\nmetadata:\n  name: x\n", "missing 'kind'", "add kind"),
    ("list-not-object", "- a  #!\n- b\n", "must be a mapping, got a list", ""),
    (
        "namespace-undeclared",
        NP_HEAD.replace("namespace: back", "namespace: bakc  #!"),
        "namespace 'bakc' of NetworkPolicy 'p' is not declared",
        "did you mean 'back'",
    ),
    (
        "namespace-missing-two-created",
        "apiVersion: networking.k8s.io/v1  #!\nkind: NetworkPolicy\nmetadata:\n  name: p\n",
        "has no metadata.namespace and the scenario creates 2 namespaces",
        "set metadata.namespace",
    ),
    (
        "namespace-object",
        "apiVersion: v1  #!\nkind: Namespace\nmetadata:\n  name: extra\n",
        "Namespace objects are created by the harness",
        "namespaces:",
    ),
    # The line where the bracket is opened (the parser only notices a line later).
    ("invalid-yaml", "apiVersion: v1\nkind: [unclosed  #!\nmetadata: {}\n", "invalid YAML", ""),
    (
        "python-tag",
        "apiVersion: !!python/object/apply:os.system ['true']  #!\n",
        "YAML tag !!python/object/apply:os.system is not allowed",
        "remove the tag",
    ),
    (
        "np-old-api-version",
        "apiVersion: extensions/v1beta1  #!\nkind: NetworkPolicy\nmetadata: {name: p, namespace: back}\n",
        "not served by current clusters",
        "networking.k8s.io/v1",
    ),
]


def _load_with_manifest(
    tmp_path: Path, manifest: str | bytes, ref: str = "../manifests/m.yaml"
) -> None:
    root = project(tmp_path)
    target = root / "manifests" / "m.yaml"
    if isinstance(manifest, bytes):
        target.write_bytes(manifest)
    else:
        target.write_text(manifest)
    load_text(root, scenario_text(manifests=f"manifests:\n  - {ref}\n"))


@pytest.mark.parametrize(
    ("case", "manifest", "message", "fix"), MANIFEST_CASES, ids=[c[0] for c in MANIFEST_CASES]
)
def test_invalid_manifest(tmp_path: Path, case: str, manifest: str, message: str, fix: str) -> None:
    with pytest.raises(ScenarioError) as info:
        _load_with_manifest(tmp_path, manifest)
    err = info.value
    assert message in err.message, str(err)
    assert fix in err.fix, str(err)
    assert err.path.endswith("manifests/m.yaml"), str(err)
    assert err.line == marked_line(manifest), str(err)


def _scenario_line(text: str, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(text.splitlines()) if needle in line)


@pytest.mark.parametrize(
    ("ref", "message", "fix"),
    [
        ("../manifests/m.yml", "'../manifests/m.yml' does not exist", "did you mean 'm.yaml'"),
        ("../../outside.yaml", "leaves the project root", "pyproject.toml or .git"),
        ("/etc/hostname", "leaves the project root", ""),
        ("../manifests", "is a directory", ""),
    ],
)
def test_manifest_path_errors(tmp_path: Path, ref: str, message: str, fix: str) -> None:
    root = project(tmp_path / "proj")
    (root / "manifests" / "m.yaml").write_text(NP_HEAD)
    (tmp_path / "outside.yaml").write_text(NP_HEAD)
    text = scenario_text(manifests=f"manifests:\n  - {ref}\n")
    with pytest.raises(ScenarioError) as info:
        load_text(root, text)
    err = info.value
    assert message in err.message and fix in err.fix, str(err)
    assert err.path.endswith("s.netpol.yaml")  # the scenario names the bad reference
    assert err.line == _scenario_line(text, ref)


def test_symlink_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = project(tmp_path / "proj")
    (tmp_path / "secret.yaml").write_text(NP_HEAD)
    (root / "manifests" / "link.yaml").symlink_to(tmp_path / "secret.yaml")
    with pytest.raises(ScenarioError, match="leaves the project root"):
        load_text(root, scenario_text(manifests="manifests: [../manifests/link.yaml]\n"))


def test_manifest_over_1mib_is_refused_before_reading(tmp_path: Path) -> None:
    root = project(tmp_path)
    big = root / "manifests" / "m.yaml"
    with big.open("wb") as fh:  # a sparse 2 MiB file: its size is known without reading it
        fh.truncate(2 * 1024 * 1024)
    text = scenario_text(manifests="manifests:\n  - ../manifests/m.yaml\n")
    with pytest.raises(ScenarioError) as info:
        load_text(root, text)
    assert "2.0 MiB, larger than the 1 MiB limit" in info.value.message
    assert info.value.line == _scenario_line(text, "m.yaml")


def test_manifest_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        _load_with_manifest(tmp_path, NP_HEAD.encode() + b"  labels: {a: \xe9t\xe9}\n")
    assert "not UTF-8" in info.value.message
    assert info.value.line == 6


def test_manifest_without_namespace_defaults_to_the_only_created_one(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "manifests" / "m.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
    )
    namespaces = "namespaces:\n  - name: back\n  - name: kube-system\n    existing: true\n"
    workloads = "workloads:\n  - {name: a, namespace: back, labels: {app: a}, ports: [80]}\n"
    workloads += "  - {name: b, namespace: back, labels: {app: b}}\n"
    scenario = load_text(
        root,
        scenario_text(
            namespaces=namespaces,
            workloads=workloads,
            externals="",
            manifests="manifests: [../manifests/m.yaml]\n",
            expect="expect: {default: deny}\n",
        ),
    )
    (doc,) = scenario.manifests
    assert doc.body["metadata"]["namespace"] == "back"
    assert doc.source.line == 1 and doc.source.path.endswith("manifests/m.yaml")
    assert type(doc.body) is dict  # plain objects, ready for the API


def test_valid_network_policy_passes(tmp_path: Path) -> None:
    policy = np(
        "  podSelector: {matchLabels: {app: api}}\n"
        "  policyTypes: [Ingress, Egress]\n"
        "  ingress:\n"
        "    - from:\n"
        "        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: front}}\n"
        "          podSelector:\n"
        "            matchExpressions: [{key: app, operator: In, values: [web]}]\n"
        "        - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n"
        "      ports: [{port: 8080}, {port: http, protocol: TCP}, {port: 9000, endPort: 9100}]\n"
        "  egress:\n"
        "    - to: [{podSelector: {}}]\n"
        "---\n"
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\n"
    )
    _load_with_manifest(tmp_path, policy)
