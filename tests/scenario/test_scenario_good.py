"""Valid scenarios: defaults, wildcards, specificity, sorting, IDs, services, named ports."""

from __future__ import annotations

from pathlib import Path

from harness.model import Cell
from harness.model import Scenario
from harness.model import TargetKind
from harness.scenario.loader import parse_duration
from tests.scenario.util import load_text
from tests.scenario.util import project
from tests.scenario.util import scenario_text


def ids(scenario: Scenario) -> list[str]:
    return [c.test_id(scenario.name) for c in scenario.cells]


def by_key(scenario: Scenario) -> dict[str, Cell]:
    return {c.key: c for c in scenario.cells}


def test_default_deny_expands_clients_times_served_ports(tmp_path: Path) -> None:
    s = load_text(project(tmp_path), scenario_text(expect="expect:\n  default: deny\n"))
    # clients: web, api, job (db is server-only);
    # servers: web 80, api 8080 + 53/UDP (9000/SCTP is declared-only), db 5432
    assert ids(s) == [
        "demo::api->db:5432/TCP[deny]",
        "demo::api->web:80/TCP[deny]",
        "demo::job->api:53/UDP[deny]",
        "demo::job->api:8080/TCP[deny]",
        "demo::job->db:5432/TCP[deny]",
        "demo::job->web:80/TCP[deny]",
        "demo::web->api:53/UDP[deny]",
        "demo::web->api:8080/TCP[deny]",
        "demo::web->db:5432/TCP[deny]",
    ]
    assert all(c.origin == "default" and c.target.kind is TargetKind.POD for c in s.cells)
    assert {c.where.line for c in s.cells if c.where} == {31}  # the line of "default: deny"


def test_explicit_beats_default_and_specific_beats_wildcard(tmp_path: Path) -> None:
    expect = (
        "expect:\n"
        "  default: allow\n"
        "  allow:\n"
        "    - api -> db:5432\n"  # line 33: specific allow beats the wildcard deny
        "  deny:\n"
        '    - "* -> db:5432"\n'  # line 35
    )
    s = load_text(project(tmp_path), scenario_text(expect=expect))
    cells = by_key(s)
    assert cells["api->db:5432/TCP"].expect == "allow"
    assert cells["api->db:5432/TCP"].where is not None
    assert cells["api->db:5432/TCP"].where.line == 33
    assert cells["web->db:5432/TCP"].expect == "deny"
    assert cells["web->db:5432/TCP"].where.line == 35  # type: ignore[union-attr]
    assert cells["job->db:5432/TCP"].expect == "deny"
    assert cells["web->api:8080/TCP"].expect == "allow"
    assert cells["web->api:8080/TCP"].origin == "default"


def test_wildcards_exclude_self_and_overlapping_wildcards_agree(tmp_path: Path) -> None:
    expect = 'expect:\n  allow:\n    - "web -> *"\n    - "* -> web"\n    - "* -> db:5432"\n'
    s = load_text(project(tmp_path), scenario_text(expect=expect))
    assert sorted(by_key(s)) == [
        "api->db:5432/TCP",
        "api->web:80/TCP",
        "job->db:5432/TCP",
        "job->web:80/TCP",
        "web->api:53/UDP",
        "web->api:8080/TCP",
        "web->db:5432/TCP",
    ]


def test_services_dns_externals_named_ports_and_structured_cells(tmp_path: Path) -> None:
    expect = (
        "expect:\n"
        "  allow:\n"
        "    - web -> api:http\n"
        "    - web -> svc:api:8080/TCP\n"
        "    - api -> dns\n"
        "    - web -> pay\n"
        "    - {from: job, to: api, port: http, via: service}\n"
        "    - {from: job, to: api, port: 53, protocol: UDP}\n"
        "  deny:\n"
        "    - job -> web:*\n"
    )
    s = load_text(project(tmp_path), scenario_text(expect=expect))
    assert ids(s) == [
        "demo::api->dns:53/UDP[allow]",
        "demo::job->api:53/UDP[allow]",
        "demo::job->svc:api:8080/TCP[allow]",
        "demo::job->web:80/TCP[deny]",
        "demo::web->api:8080/TCP[allow]",
        "demo::web->pay:443/TCP[allow]",
        "demo::web->svc:api:8080/TCP[allow]",
    ]
    cells = by_key(s)
    assert cells["api->dns:53/UDP"].target.kind is TargetKind.DNS
    assert cells["web->pay:443/TCP"].target.kind is TargetKind.EXTERNAL
    assert cells["web->svc:api:8080/TCP"].target.kind is TargetKind.SERVICE


def test_target_without_port_means_every_probed_port(tmp_path: Path) -> None:
    s = load_text(project(tmp_path), scenario_text(expect="expect:\n  allow:\n    - web -> api\n"))
    assert sorted(by_key(s)) == ["web->api:53/UDP", "web->api:8080/TCP"]  # not 9000/SCTP


def test_model_fields(tmp_path: Path) -> None:
    text = scenario_text(
        externals="externals:\n  - {name: pay, address: '2001:db8::1', port: 443}\n"
        "settings: {connectTimeout: 500ms, convergence: 2m}\n"
    )
    s = load_text(project(tmp_path), text)
    assert s.name == "demo"
    assert s.settings.connect_timeout == 0.5 and s.settings.convergence_budget == 120.0
    api = s.workload("api")
    assert [(p.number, p.protocol, p.name) for p in api.ports] == [
        (8080, "TCP", "http"),
        (53, "UDP", None),
        (9000, "SCTP", None),
    ]
    assert (
        api.role == "both"
        and s.workload("job").role == "client"
        and s.workload("db").role == "server"
    )
    assert s.external("pay").address == "2001:db8::1"
    assert [n.name for n in s.namespaces if n.existing] == ["kube-system"]
    assert s.namespaces[0].labels == {"tier": "front"}


def test_parse_duration() -> None:
    assert parse_duration(2) == 2.0
    assert parse_duration("1.5") == 1.5
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1m") == 60.0
    for bad in ("", "1h", "-1", True, "fast"):
        try:
            parse_duration(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_loading_is_deterministic(tmp_path: Path) -> None:
    root = project(tmp_path)
    text = scenario_text(expect='expect:\n  default: deny\n  allow: ["* -> db:5432", web -> dns]\n')
    assert load_text(root, text) == load_text(root, text)


def test_the_documented_example_loads(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
    example = docs.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    root = project(tmp_path)
    (root / "manifests" / "policies").mkdir()
    (root / "manifests" / "policies" / "three-tier.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: deny, namespace: backend}\nspec: {podSelector: {}}\n"
    )
    s = load_text(root, example)
    assert s.name == "three-tier"
    assert by_key(s)["web->db:5432/TCP"].expect == "deny"
    assert by_key(s)["web->svc:api:8080/TCP"].expect == "allow"
    assert by_key(s)["api->payments-api:443/TCP"].expect == "allow"
