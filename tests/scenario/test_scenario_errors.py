"""Every invalid scenario fails with ScenarioError naming the exact line and a fix."""

# ruff: noqa: E501  (the case tables keep one YAML snippet per line)
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from tests.scenario.util import BASE_EXPECT
from tests.scenario.util import BASE_NAMESPACES
from tests.scenario.util import BASE_WORKLOADS
from tests.scenario.util import load_text
from tests.scenario.util import marked_line
from tests.scenario.util import project
from tests.scenario.util import scenario_text

HEAD = "apiVersion: netpol-harness.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: demo\n"


def wl(extra: str) -> str:
    """The base workloads plus ``extra`` (more list items)."""
    return BASE_WORKLOADS + extra


def ex(*cells: str, default: str = "") -> str:
    text = "expect:\n"
    if default:
        text += f"  default: {default}\n"
    text += "  allow:\n" + "".join(f"    - {c}\n" for c in cells if not c.startswith("DENY "))
    denies = [c[5:] for c in cells if c.startswith("DENY ")]
    if denies:
        text += "  deny:\n" + "".join(f"    - {c}\n" for c in denies)
    return text


# (id, scenario_text keyword arguments, message part, fix part)
CASES: list[tuple[str, dict[str, str], str, str]] = [
    (
        "unknown-top-key",
        {"expect": BASE_EXPECT + "setings: {}  #!\n"},
        "unknown key 'setings' in the scenario",
        "did you mean 'settings'",
    ),
    (
        "unknown-workload-key",
        {"workloads": wl("  - name: x\n    namespace: back\n    lables: {a: b}  #!\n")},
        "unknown key 'lables' in a workload",
        "did you mean 'labels'",
    ),
    (
        "wrong-api-version",
        {"head": "apiVersion: v1  #!\nkind: Scenario\nmetadata: {name: demo}\n"},
        "apiVersion must be 'netpol-harness.dev/v1alpha1'",
        "apiVersion: netpol-harness.dev/v1alpha1",
    ),
    (
        "wrong-kind",
        {
            "head": "apiVersion: netpol-harness.dev/v1alpha1\nkind: Scenarios  #!\nmetadata: {name: a}\n"
        },
        "kind must be 'Scenario'",
        "kind: Scenario",
    ),
    (
        "missing-name",
        {
            "head": "apiVersion: netpol-harness.dev/v1alpha1\nkind: Scenario\nmetadata:\n  description: x  #!\n"
        },
        "metadata is missing 'name'",
        "add name:",
    ),
    (
        "name-too-long",
        {"head": HEAD.replace("name: demo", "name: " + "a" * 41 + "  #!")},
        "at most 40 characters",
        "three-tier",
    ),
    (
        "name-not-dns1123",
        {"head": HEAD.replace("name: demo", "name: Three_Tier  #!")},
        "DNS-1123 label",
        "three-tier",
    ),
    (
        "namespace-name-underscore",
        {"namespaces": "namespaces:\n  - name: front_end  #!\n" + BASE_NAMESPACES[11:]},
        "namespace name 'front_end'",
        "",
    ),
    (
        "duplicate-namespace",
        {"namespaces": BASE_NAMESPACES + "  - name: back  #!\n"},
        "namespace 'back' is declared twice (first at line",
        "remove one",
    ),
    (
        "workload-namespace-undeclared",
        {"workloads": wl("  - name: x\n    namespace: bak  #!\n    labels: {a: b}\n")},
        "namespace 'bak' is not declared",
        "did you mean 'back'",
    ),
    (
        "workload-in-existing-namespace",
        {"workloads": wl("  - name: x\n    namespace: kube-system  #!\n    labels: {a: b}\n")},
        "existing and can hold no probe workloads",
        "namespace the scenario creates",
    ),
    (
        "workload-name-dns1035",
        {"workloads": wl("  - name: 1web  #!\n    namespace: back\n    labels: {a: b}\n")},
        "must start with a lower case letter",
        "",
    ),
    (
        "workload-name-reserved",
        {"workloads": wl("  - name: dns  #!\n    namespace: back\n    labels: {a: b}\n")},
        "workload name 'dns' is reserved",
        "rename it",
    ),
    (
        "duplicate-workload",
        {"workloads": wl("  - name: web  #!\n    namespace: back\n    labels: {a: b}\n")},
        "workload 'web' is declared twice",
        "unique",
    ),
    (
        "labels-empty",
        {"workloads": wl("  - name: x\n    namespace: back\n    labels: {}  #!\n")},
        "labels must not be empty",
        "labels: {app: x}",
    ),
    (
        "label-value-not-string",
        {"workloads": wl("  - name: x\n    namespace: back\n    labels:\n      version: 1  #!\n")},
        "label value 1 must be a string",
        "quote it",
    ),
    (
        "label-value-too-long",
        {
            "workloads": wl(
                f"  - name: x\n    namespace: back\n    labels:\n      a: {'v' * 64}  #!\n"
            )
        },
        "at most 63 characters",
        "",
    ),
    (
        "label-key-invalid",
        {"workloads": wl("  - name: x\n    namespace: back\n    labels:\n      -bad: x  #!\n")},
        "label key '-bad'",
        "",
    ),
    (
        "label-reserved",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels:\n      netpol-harness.dev/run: x  #!\n"
            )
        },
        "is set by the harness",
        "remove it",
    ),
    (
        "namespace-label-metadata-name",
        {
            "namespaces": BASE_NAMESPACES
            + "  - name: extra\n    labels:\n      kubernetes.io/metadata.name: x  #!\n"
        },
        "set by the API server",
        "remove it",
    ),
    (
        "port-zero",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels: {a: b}\n    ports:\n      - 0  #!\n"
            )
        },
        "port 0 is out of range",
        "between 1 and 65535",
    ),
    (
        "port-too-big",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels: {a: b}\n    ports:\n      - {port: 65536}  #!\n"
            )
        },
        "port 65536 is out of range",
        "between 1 and 65535",
    ),
    (
        "port-protocol-lower-case",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels: {a: b}\n    ports:\n      - 80/tcp  #!\n"
            )
        },
        "'tcp' is not a protocol",
        "'TCP' (upper case)",
    ),
    (
        "port-name-invalid",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels: {a: b}\n    ports:\n      - port: 80\n        name: HTTP  #!\n"
            )
        },
        "port name 'HTTP' must be lower case",
        "",
    ),
    (
        "port-duplicate",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels: {a: b}\n    ports:\n      - 80\n      - 80/TCP  #!\n"
            )
        },
        "port 80/TCP is declared twice (first at line",
        "remove one",
    ),
    (
        "role-typo",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels: {a: b}\n    role: sever  #!\n    ports: [80]\n"
            )
        },
        "role 'sever' is not known",
        "did you mean 'server'",
    ),
    (
        "role-server-without-ports",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels: {a: b}\n    role: server  #!\n"
            )
        },
        "role server needs ports",
        "add ports",
    ),
    (
        "role-client-with-ports",
        {
            "workloads": wl(
                "  - name: x\n    namespace: back\n    labels: {a: b}\n    role: client  #!\n    ports: [80]\n"
            )
        },
        "a client serves no ports",
        "role: both",
    ),
    (
        "external-bad-address",
        {"externals": "externals:\n  - name: pay\n    address: 300.1.1.1  #!\n    port: 443\n"},
        "address '300.1.1.1' is not an IP address",
        "198.51.100.10",
    ),
    (
        "external-sctp",
        {
            "externals": "externals:\n  - name: pay\n    address: 198.51.100.1\n    port: 443\n    protocol: SCTP  #!\n"
        },
        "SCTP probes are not supported yet",
        "TCP or UDP",
    ),
    (
        "external-name-clash",
        {"externals": "externals:\n  - name: web  #!\n    address: 198.51.100.1\n    port: 443\n"},
        "external name 'web' is already used",
        "distinct name",
    ),
    (
        "settings-bad-duration",
        {"externals": "settings:\n  connectTimeout: fast  #!\n"},
        "settings.connectTimeout 'fast' is not a duration",
        '"500ms"',
    ),
    (
        "settings-unknown-key",
        {"externals": "settings:\n  convergance: 10s  #!\n"},
        "unknown key 'convergance' in settings",
        "did you mean 'convergence'",
    ),
    (
        "cell-unknown-source",
        {"expect": ex("wbe -> api:8080  #!")},
        "source 'wbe' is not a workload",
        "did you mean 'web'",
    ),
    (
        "cell-unknown-target",
        {"expect": ex("web -> apii:8080  #!")},
        "target 'apii' is not a workload",
        "did you mean 'api'",
    ),
    (
        "cell-source-server-only",
        {"expect": ex("db -> api:8080  #!")},
        "'db' is a server only",
        "role: both",
    ),
    (
        "cell-target-serves-nothing",
        {"expect": ex("web -> job  #!")},
        "target 'job' serves nothing",
        "declare ports",
    ),
    (
        "cell-port-not-served",
        {"expect": ex("web -> api:9999  #!")},
        "'api' does not serve port 9999",
        "8080/TCP (http)",
    ),
    (
        "cell-named-port-missing",
        {"expect": ex("web -> api:htp  #!")},
        "'api' has no port named 'htp'",
        "did you mean 'http'",
    ),
    (
        "cell-protocol-mismatch",
        {"expect": ex("web -> api:8080/UDP  #!")},
        "protocol mismatch",
        "/TCP",
    ),
    (
        "cell-sctp",
        {"expect": ex("web -> api:9000  #!")},
        "SCTP probes are not supported yet",
        "declared",
    ),
    (
        "cell-duplicate",
        {"expect": ex("web -> api:8080", "web -> api:http  #!")},
        "web->api:8080/TCP is listed twice (also at line",
        "remove one",
    ),
    (
        "cell-contradiction",
        {"expect": ex("web -> db:5432", "DENY web -> db:5432  #!")},
        "is deny here but allow at line",
        "more specific",
    ),
    (
        "cell-wildcard-contradiction",
        {"expect": ex('"* -> db:5432"', 'DENY "web -> *"  #!')},
        "web->db:5432/TCP is deny here but allow",
        "without '*'",
    ),
    ("cell-self", {"expect": ex("web -> web:80  #!")}, "cannot probe itself", ""),
    (
        "cell-bad-grammar",
        {"expect": ex("web => api  #!")},
        "is not SOURCE -> TARGET",
        "SOURCE -> TARGET[:PORT][/PROTO]",
    ),
    (
        "cell-unquoted-star",
        {"expect": ex("* -> db:5432  #!")},
        "invalid YAML",
        'quote values that start with "*"',
    ),
    (
        "cell-dns-port",
        {"expect": ex("web -> dns:80  #!")},
        "'dns' is probed on port 53, not 80",
        "web -> dns",
    ),
    ("cell-external-as-source", {"expect": ex("pay -> web  #!")}, "'pay' cannot be a source", ""),
    (
        "cell-structured-unknown-key",
        {"expect": ex("{from: web, too: api}  #!")},
        "unknown key 'too' in a cell",
        "did you mean 'to'",
    ),
    (
        "cell-wildcard-matches-nothing",
        {"expect": ex('"* -> *:7777"  #!')},
        "matches no cells",
        "check the names",
    ),
    (
        "default-typo",
        {"expect": "expect:\n  default: alow  #!\n"},
        "expect.default must be allow or deny",
        "did you mean 'allow'",
    ),
    (
        "empty-matrix",
        {"expect": "expect:  #!\n  allow: []\n"},
        "the matrix has no cells",
        "expect.default",
    ),
    (
        "missing-expect",
        {
            "head": "apiVersion: netpol-harness.dev/v1alpha1  #!\nkind: Scenario\nmetadata: {name: a}\n",
            "expect": "",
        },
        "the scenario is missing 'expect'",
        "add expect:",
    ),
    (
        "workloads-not-a-list",
        {"workloads": "workloads: web  #!\n"},
        "workloads must be a list, got a string",
        "",
    ),
    (
        "yaml-duplicate-key",
        {"expect": "expect:\n  default: deny\n  default: allow  #!\n"},
        "duplicate key 'default' (first at line",
        "keep one",
    ),
    ("yaml-tab", {"expect": "expect:\n\tdefault: deny  #!\n"}, "invalid YAML", "spaces, not tabs"),
]


@pytest.mark.parametrize(("case", "parts", "message", "fix"), CASES, ids=[c[0] for c in CASES])
def test_invalid_scenario(
    tmp_path: Path, case: str, parts: dict[str, str], message: str, fix: str
) -> None:
    root = project(tmp_path)
    text = scenario_text(**parts)
    with pytest.raises(ScenarioError) as info:
        load_text(root, text)
    err = info.value
    assert message in err.message, str(err)
    assert fix in err.fix, str(err)
    assert err.line == marked_line(text), str(err)
    assert err.path.endswith("s.netpol.yaml")
    assert str(err).startswith(f"{err.path}:{err.line}: ")


def test_at_least_35_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 35


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is empty") as info:
        load_text(project(tmp_path), "")
    assert info.value.line == 1


def test_two_documents(tmp_path: Path) -> None:
    text = scenario_text() + "---  #!\nkind: Scenario\n"
    with pytest.raises(ScenarioError, match="more than one YAML document") as info:
        load_text(project(tmp_path), text)
    assert info.value.line == marked_line(text) + 1
