"""The pytest plugin, black-box through pytester."""

from __future__ import annotations

import re
from typing import Any

import pytest

THREE_TIER = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: three-tier}
namespaces: [{name: front}, {name: back}]
workloads:
  - {name: web, namespace: front, labels: {app: web}, ports: [80]}
  - {name: api, namespace: back, labels: {app: api}, ports: [8080]}
  - {name: db, namespace: back, labels: {app: db}, role: server, ports: [5432]}
expect:
  default: deny
  allow:
    - web -> api:8080
    - api -> db:5432
"""

EGRESS = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: egress}
namespaces: [{name: app}]
workloads:
  - {name: pay, namespace: app, labels: {app: pay}}
externals:
  - {name: bank, address: 198.51.100.7, port: 443}
expect:
  allow: [pay -> dns]
  deny: [pay -> bank]
"""

THREE_TIER_IDS = [
    "scenarios/three-tier.netpol.yaml::api->db:5432/TCP[allow]",
    "scenarios/three-tier.netpol.yaml::api->web:80/TCP[deny]",
    "scenarios/three-tier.netpol.yaml::web->api:8080/TCP[allow]",
    "scenarios/three-tier.netpol.yaml::web->db:5432/TCP[deny]",
]
EGRESS_IDS = [
    "scenarios/egress.netpol.yaml::pay->bank:443/TCP[deny]",
    "scenarios/egress.netpol.yaml::pay->dns:53/UDP[allow]",
]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(pytester.path))  # no ~/.kube/config
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "three-tier.netpol.yaml").write_text(THREE_TIER)
    (pytester.path / "scenarios" / "egress.netpol.yaml").write_text(EGRESS)
    pytester.makeini("[pytest]\n")
    return pytester


def nodeids(lines: list[str]) -> list[str]:
    return sorted(line for line in lines if "::" in line and not line.startswith(" "))


def test_collect_only_lists_every_cell(project: pytest.Pytester) -> None:
    result = project.runpytest("--collect-only", "-q", "scenarios")
    assert result.ret == 0
    assert nodeids(result.outlines) == sorted(EGRESS_IDS + THREE_TIER_IDS)


def test_items_report_the_cell_line(project: pytest.Pytester) -> None:
    items = project.inline_genitems("scenarios/three-tier.netpol.yaml")[0]
    assert [i.name for i in items] == [i.split("::")[1] for i in THREE_TIER_IDS]  # cell order
    locations = {item.name: item.location for item in items}
    # explicit cells point at their entry, default cells at "default: deny" (0-based lines)
    assert locations["web->api:8080/TCP[allow]"] == (
        "scenarios/three-tier.netpol.yaml",
        11,
        "three-tier::web->api:8080/TCP[allow]",
    )
    assert locations["api->web:80/TCP[deny]"][1] == 9
    marks = {m.args for item in items for m in item.iter_markers("xdist_group")}
    assert marks == {("three-tier",)}


def test_xdist_keeps_node_ids_and_each_scenario_on_one_worker(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "-p",
        "xdist",
        "-n",
        "2",
        "-v",
        "-p",
        "no:cacheprovider",
        "--netpol-allow-no-cluster",
        "scenarios",
    )
    outcome = re.compile(r"^\[(gw\d+)\] .*?(SKIPPED|PASSED|FAILED) (\S+)")
    seen: dict[str, str] = {}
    for line in result.outlines:
        m = outcome.match(line)
        if m:
            seen[m.group(3)] = m.group(1)
    assert sorted(seen) == sorted(EGRESS_IDS + THREE_TIER_IDS), result.stdout.str()
    for ids in (THREE_TIER_IDS, EGRESS_IDS):
        assert len({seen[i] for i in ids}) == 1  # one worker per scenario
    result.assert_outcomes(skipped=6)


def test_a_live_run_without_a_cluster_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # a CI job without a kubeconfig fails
    err = result.stderr.str()
    assert "netpol: no cluster configured" in err
    assert "--netpol-kubeconfig PATH" in err
    assert "--netpol-static" in err
    assert "passed" not in result.stdout.str()  # nothing ran
    xdist = project.runpytest_subprocess("-p", "xdist", "-n", "2", "scenarios")
    assert xdist.ret == pytest.ExitCode.USAGE_ERROR
    assert "no cluster configured" in xdist.stderr.str()


def test_an_empty_kubeconfig_option_is_an_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--netpol-kubeconfig", "", "scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--netpol-kubeconfig is empty" in result.stderr.str()


def test_skip_without_a_cluster_only_when_asked(project: pytest.Pytester) -> None:
    result = project.runpytest("-rs", "--netpol-allow-no-cluster", "scenarios")
    result.assert_outcomes(skipped=6)
    out = result.stdout.str()
    assert "no cluster configured" in out
    assert "--netpol-kubeconfig PATH" in out
    assert "make demo" in out
    assert "scenarios/three-tier.netpol.yaml:" in out  # reported at the cell, not in the plugin


def test_bad_scenario_is_one_line_with_file_and_line(project: pytest.Pytester) -> None:
    bad = THREE_TIER.replace("    - api -> db:5432\n", "    - api -> dbb:5432\n")
    (project.path / "scenarios" / "bad.netpol.yaml").write_text(bad.replace("three-tier", "bad"))
    result = project.runpytest("scenarios")
    assert result.ret != 0
    out = result.stdout.str()
    expected = (
        "scenarios/bad.netpol.yaml:13: target 'dbb' is not a workload, an external or 'dns' "
        "(fix: did you mean 'db'?"
    )
    assert sum(expected in line for line in result.outlines) == 1  # one line, no traceback
    assert "ERROR scenarios/bad.netpol.yaml" in out  # the summary names the file
    assert "Traceback" not in out and "harness/" not in out
    assert "1 error" in out


def test_duplicate_scenario_names(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "copy.netpol.yaml").write_text(THREE_TIER)
    result = project.runpytest("--collect-only", "scenarios")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*scenarios/three-tier.netpol.yaml:3: scenario name 'three-tier' is also used by *copy*"]
    )


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--netpol-concurrency", "0"],
            "",
            "--netpol-concurrency '0' is not a number from 1 to 1024",
        ),
        ([], "netpol_concurrency = lots", "netpol_concurrency (ini) 'lots' is not a number"),
        ([], "netpol_concurrency = 0", "(fix: e.g. netpol_concurrency = 16)"),
        (["--netpol-connect-timeout", "2m"], "", "'2m' is not a duration from 0.001s to 60s"),
        (["--netpol-convergence", "soon"], "", "--netpol-convergence 'soon' is not a duration"),
        (
            ["--netpol-kubeconfig", "/nonexistent/kc"],
            "",
            "--netpol-kubeconfig /nonexistent/kc: no such file",
        ),
        (["--netpol-static", "--netpol-in-place"], "", "exclude each other"),
    ],
)
def test_bad_options_are_usage_errors(
    project: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    project.makeini(f"[pytest]\n{ini}\n")
    result = project.runpytest(*args, "scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert message in err and "fix:" in err
    assert "Traceback" not in err


def test_ini_twin_and_override(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nnetpol_static = true\n")
    assert "netpol: static predictions" in project.runpytest("--co", "scenarios").stdout.str()
    project.makeini("[pytest]\n")
    assert "netpol: no cluster configured" in project.runpytest("--co", "scenarios").stdout.str()


LIVE_CONFTEST = """
from harness.model import Outcome, Probe, PodRef, Status, Verdict, ProbeKind
from harness.plugin.gate import LIVE_KEY

class Fake:
    def verdict_for(self, scenario, cell):
        probe = Probe(cell.test_id(scenario.name), cell, ProbeKind.HTTP,
                      PodRef("ns", cell.source), cell.port, cell.protocol)
        if cell.key == "api->web:80/TCP":
            return Verdict(probe, Status.FAIL, Outcome.CONNECTED, tries=3, seconds=2.5,
                           explanation="no policy selects web",
                           rerun="kubectl exec -n ns api -- curl ...")
        if cell.key == "web->db:5432/TCP":
            return Verdict(probe, Status.ERROR, Outcome.ERROR, tries=1, seconds=0.1,
                           detail="exec: 500 from API")
        observed = Outcome.CONNECTED if cell.expect == "allow" else Outcome.DROPPED
        return Verdict(probe, Status.PASS, observed, tries=1, seconds=0.2)

def pytest_configure(config):
    config.stash[LIVE_KEY] = Fake()
"""


def test_live_verdicts_become_pass_fail_error(project: pytest.Pytester) -> None:
    project.makeconftest(LIVE_CONFTEST)
    kubeconfig = project.path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    result = project.runpytest(
        "--netpol-kubeconfig",
        str(kubeconfig),
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",  # pytester in-process re-imports harness
        "scenarios/three-tier.netpol.yaml",
    )
    result.assert_outcomes(passed=2, failed=1, errors=1)
    out = result.stdout.str()
    assert "api->web:80/TCP: expected deny, observed connected" in out
    assert "tries: 3 in 2.5s" in out
    assert "explanation: no policy selects web" in out
    # the rerun line carries the cluster this run used: it works when copied
    assert (
        f"rerun: pytest --netpol-kubeconfig {kubeconfig} "
        "'scenarios/three-tier.netpol.yaml::api->web:80/TCP[deny]'"
    ) in out
    assert "web->db:5432/TCP: no verdict (infrastructure): exec: 500 from API" in out
    assert "Traceback" not in out and "_pytest" not in out and "harness/" not in out


def test_static_mode_uses_the_policy_engine(project: pytest.Pytester) -> None:
    pytest.importorskip("harness.policy.static")
    (project.path / "scenarios" / "deny.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: deny-all, namespace: back}\n"
        "spec: {podSelector: {}, policyTypes: [Ingress]}\n"
    )
    text = THREE_TIER.replace("expect:", "manifests: [deny.yaml]\nexpect:")
    (project.path / "scenarios" / "three-tier.netpol.yaml").write_text(text)
    result = project.runpytest(
        "--netpol-static",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "scenarios/three-tier.netpol.yaml",
    )
    # only back is isolated: web->db (deny) holds; web->api and api->db (allow) fail,
    # and api->web (deny) fails because nothing isolates front
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        ["*web->api:8080/TCP: expected allow, the policies predict otherwise*"]
    )


def test_help_lists_every_option_and_ini_twin(project: pytest.Pytester) -> None:
    out = project.runpytest("--help").stdout.str()
    assert "NetworkPolicy connectivity tests" in out
    for name in (
        "kubeconfig",
        "context",
        "junit",
        "report-json",
        "keep",
        "static",
        "in-place",
        "client-image",
        "server-image",
        "concurrency",
        "connect-timeout",
        "convergence",
        "no-preflight",
        "image-pull-secret",
    ):
        assert f"--netpol-{name}" in out
        assert "netpol_" + name.replace("-", "_") in out


OPTIONS_CONFTEST = """
import json
from harness.plugin.options import options_of

def pytest_collection_modifyitems(config, items):
    o = options_of(config)
    print("OPTS", json.dumps([o.concurrency, o.keep, o.client_image, o.connect_timeout,
                              o.convergence, o.preflight]))
"""


def test_options_resolve_cli_over_ini_over_default(project: pytest.Pytester) -> None:
    project.makeconftest(OPTIONS_CONFTEST)
    project.makeini(
        "[pytest]\nnetpol_concurrency = 4\nnetpol_keep = true\nnetpol_convergence = 5s\n"
    )
    result = project.runpytest(
        "-s", "--co", "--netpol-concurrency", "8", "--netpol-connect-timeout", "250ms", "scenarios"
    )
    line = next(line for line in result.outlines if line.startswith("OPTS"))
    from harness.images import DEFAULT_IMAGES

    assert line == f'OPTS [8, true, "{DEFAULT_IMAGES.client}", 0.25, 5.0, true]'


PULL_SECRET_CONFTEST = """
from harness.plugin.options import options_of

def pytest_collection_modifyitems(config, items):
    print("SECRETS", ",".join(options_of(config).image_pull_secret))
"""


def test_image_pull_secret_repeatable_and_ini_comma_list(project: pytest.Pytester) -> None:
    project.makeconftest(PULL_SECRET_CONFTEST)
    result = project.runpytest(
        "-s",
        "--co",
        "--netpol-image-pull-secret",
        "regcred",
        "--netpol-image-pull-secret",
        "a,b",
        "scenarios",
    )
    assert "SECRETS regcred,a,b" in result.outlines
    project.makeini("[pytest]\nnetpol_image_pull_secret = one, two\n")
    result = project.runpytest("-s", "--co", "scenarios")
    assert "SECRETS one,two" in result.outlines


def test_image_pull_secret_bad_name_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--co", "--netpol-image-pull-secret", "Bad_Name", "scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--netpol-image-pull-secret 'Bad_Name' is not a Secret name*"])


SELECT_CONFTEST = """
import json
from harness.model import Outcome, Probe, PodRef, Status, Verdict, ProbeKind
from harness.plugin.gate import LIVE_KEY

SEEN = {}

class Fake:
    def verdict_for(self, scenario, cell):
        SEEN[scenario.name] = [sorted(c.key for c in scenario.cells),
                               sorted(w.name for w in scenario.workloads)]
        probe = Probe(cell.test_id(scenario.name), cell, ProbeKind.HTTP,
                      PodRef("ns", cell.source), cell.port, cell.protocol)
        observed = Outcome.CONNECTED if cell.expect == "allow" else Outcome.DROPPED
        return Verdict(probe, Status.PASS, observed, tries=1, seconds=0.2)

def pytest_configure(config):
    config.stash[LIVE_KEY] = Fake()

def pytest_unconfigure(config):
    print("SEEN " + json.dumps(SEEN, sort_keys=True))
"""


def _seen(result: pytest.RunResult) -> Any:
    import json

    line = next(line for line in result.outlines if line.startswith("SEEN "))
    return json.loads(line[5:])


def test_a_node_id_probes_only_its_cell_and_deploys_only_its_pods(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(SELECT_CONFTEST)
    kubeconfig = project.path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    result = project.runpytest(
        "-s",
        "--netpol-kubeconfig",
        str(kubeconfig),
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "scenarios/three-tier.netpol.yaml::web->api:8080/TCP[allow]",
    )
    result.assert_outcomes(passed=1)
    # the scenario the session got holds the one selected cell and the two pods it needs
    assert _seen(result) == {"three-tier": [["web->api:8080/TCP"], ["api", "web"]]}


def test_k_selection_cuts_the_scenario_too(project: pytest.Pytester) -> None:
    project.makeconftest(SELECT_CONFTEST)
    kubeconfig = project.path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    result = project.runpytest(
        "-s",
        "--netpol-kubeconfig",
        str(kubeconfig),
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "-k",
        "egress or (three and deny)",
        "scenarios",
    )
    result.assert_outcomes(passed=4, deselected=2)
    seen = _seen(result)
    assert seen["three-tier"][0] == ["api->web:80/TCP", "web->db:5432/TCP"]
    assert seen["egress"][0] == ["pay->bank:443/TCP", "pay->dns:53/UDP"]


def test_last_failed_reruns_exactly_the_failed_cells(project: pytest.Pytester) -> None:
    # No policies: every deny cell is predicted to fail.
    first = project.runpytest("--netpol-static", "scenarios/three-tier.netpol.yaml")
    first.assert_outcomes(passed=2, failed=2)
    again = project.runpytest("--netpol-static", "--lf", "scenarios/three-tier.netpol.yaml")
    again.assert_outcomes(failed=2, deselected=2)
    assert "rerun previous 2 failures" in again.stdout.str()
    ids = sorted(re.findall(r"FAILED (\S+)", again.stdout.str()))
    assert ids == sorted(i for i in THREE_TIER_IDS if i.endswith("[deny]"))


def test_collect_only_leaves_an_existing_report_untouched(project: pytest.Pytester) -> None:
    junit = project.path / "reports" / "junit.xml"
    junit.parent.mkdir()
    junit.write_text("<previous/>")
    result = project.runpytest("--co", "-q", "--netpol-junit", str(junit), "scenarios")
    assert result.ret == 0
    assert junit.read_text() == "<previous/>"


def test_static_runs_write_reports_with_exactly_the_cells_pytest_ran(
    project: pytest.Pytester,
) -> None:
    import json
    import xml.etree.ElementTree as ET

    junit, summary = project.path / "junit.xml", project.path / "summary.json"
    result = project.runpytest(
        "--netpol-static",
        "--netpol-junit",
        str(junit),
        "--netpol-report-json",
        str(summary),
        "-k",
        "three and allow",
        "scenarios",
    )
    result.assert_outcomes(passed=2, deselected=4)
    root = ET.parse(junit).getroot()
    names = sorted(c.get("name") or "" for c in root.iter("testcase"))
    assert names == ["api->db:5432/TCP[allow]", "web->api:8080/TCP[allow]"]
    assert root.get("tests") == "2"
    cells = [c for s in json.loads(summary.read_text())["scenarios"] for c in s["cells"]]
    assert len(cells) == 2
    assert all(c["explanation"] for c in cells)  # the deciding policy, passing cells too


def test_x_stops_early_and_the_report_holds_only_the_cells_that_ran(
    project: pytest.Pytester,
) -> None:
    import xml.etree.ElementTree as ET

    junit = project.path / "junit.xml"
    result = project.runpytest(
        "--netpol-static", "-x", "--netpol-junit", str(junit), "scenarios/three-tier.netpol.yaml"
    )
    outcomes = result.parseoutcomes()
    ran = outcomes.get("passed", 0) + outcomes.get("failed", 0)
    assert outcomes.get("failed") == 1 and ran < 4
    assert ET.parse(junit).getroot().get("tests") == str(ran)


CALICO_BAD = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: calico-bad}
namespaces: [{name: shop}]
workloads:
  - {name: web, namespace: shop, labels: {app: web}, ports: [80]}
manifests: [policy.yaml]
expect:
  default: deny
"""
CALICO_POLICY = """\
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: deny-web, namespace: shop}
spec:
  selector: app == 'web' &&
  types: [Ingress]
"""


def test_a_bad_calico_selector_is_one_line_with_its_file_and_line(
    project: pytest.Pytester,
) -> None:
    (project.path / "scenarios" / "calico-bad.netpol.yaml").write_text(CALICO_BAD)
    (project.path / "scenarios" / "policy.yaml").write_text(CALICO_POLICY)
    result = project.runpytest("--co", "scenarios/calico-bad.netpol.yaml")
    assert result.ret != 0
    out = result.stdout.str()
    assert "scenarios/policy.yaml:5:" in out, out
    assert "Traceback" not in out
