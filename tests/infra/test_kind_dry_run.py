"""`scripts/kind-up --dry-run`: what a real run would do, checked against the repository.

The dry run needs neither docker, kind, kubectl nor network: it runs here with only the
installed netpol-harness CLI (for the image list) and prints each command as "+ cmd".
Its output is then held against the scenarios (external hosts), the sandbox (same
external host), the Calico pin (one version everywhere) and docs/ci.md ("First run").
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.infra._repo import ROOT
from tests.infra._repo import WORKFLOWS

KIND_UP = ROOT / "scripts" / "kind-up"
PIN = ROOT / "scripts" / "calico.sha256"
CI_DOC = ROOT / "docs" / "ci.md"
CLI = Path(sys.executable).parent / "netpol-harness"
RFC1918 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
LOGGER = '#!/bin/sh\necho "$(basename "$0") $*" >> "$FAKE_LOG"\nexit 99\n'


def _pin(key: str) -> str:
    (value,) = re.findall(rf'(?m)^{key}="([^"]*)"$', PIN.read_text())
    return str(value)


def _dry_run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """kind-up --dry-run with docker/kind/kubectl/curl on PATH as loggers that fail."""
    fakebin = tmp_path / "bin"
    fakebin.mkdir(exist_ok=True)
    for tool in ("docker", "kind", "kubectl", "curl", "sha256sum"):
        (fakebin / tool).write_text(LOGGER)
        (fakebin / tool).chmod(0o755)
    base = {
        "PATH": f"{fakebin}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "NETPOL_HARNESS": str(CLI),
    }
    return subprocess.run(
        [str(KIND_UP), "--dry-run", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def dry(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    if not CLI.exists():
        pytest.skip(f"netpol-harness CLI not installed next to {sys.executable}")
    tmp = tmp_path_factory.mktemp("dry")
    result = _dry_run(tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp / "calls.log").exists(), "the dry run ran a real tool"
    return result


def _commands(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


def _steps(result: subprocess.CompletedProcess[str]) -> list[str]:
    return re.findall(r"(?m)^kind-up: step \d+: (.+)$", result.stdout)


def test_dry_run_shows_every_phase(dry: subprocess.CompletedProcess[str]) -> None:
    commands = _commands(dry)
    text = "\n".join(commands)
    assert any(c.startswith("kind create cluster --name netpol --config ") for c in commands)
    (url,) = re.findall(
        r"https://raw\.githubusercontent\.com/projectcalico/calico/(v[\d.]+)/manifests/calico-v3-crds\.yaml",
        text,
    )
    major, minor, _ = (int(p) for p in url[1:].split("."))
    assert (major, minor) >= (3, 31), url
    assert "kind load docker-image --name netpol " in text
    assert "docker pull" in text
    assert "kubectl --context kind-netpol apply --server-side" in text
    assert "rollout status daemonset/calico-node" in text
    assert "198.51.100.10" in text
    assert re.search(r"docker run .*--name netpol-external", text)
    assert "ip route replace 198.51.100.10/32" in text


def test_dry_run_preloads_what_netpol_harness_images_lists(
    dry: subprocess.CompletedProcess[str],
) -> None:
    listing = subprocess.run(
        [str(CLI), "images", "--format", "json"], capture_output=True, text=True, check=True
    )
    probes = {i["image"] for i in yaml.safe_load(listing.stdout)["images"] if i["use"] == "probe"}
    assert probes
    loaded = {c.split()[-1] for c in _commands(dry) if c.startswith("kind load docker-image")}
    pulled = {c.split()[-1] for c in _commands(dry) if c.startswith("docker pull")}
    assert probes <= loaded and probes <= pulled
    version = _pin("CALICO_VERSION")
    assert {f"quay.io/calico/{n}:{version}" for n in ("cni", "node", "kube-controllers")} <= loaded


def test_dry_run_needs_no_harness_cli_to_show_the_plan(tmp_path: Path) -> None:
    # a copy of the scripts without the repository's .venv (kind-up's last fallback)
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("scripts/kind-up", "scripts/calico.sha256", "kind-config.yaml"):
        shutil.copy2(ROOT / name, repo / name)
    result = subprocess.run(
        [str(repo / "scripts" / "kind-up"), "--dry-run"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if shutil.which("netpol-harness", path="/usr/bin:/bin"):
        pytest.skip("a netpol-harness is installed system-wide")
    assert result.returncode == 0, result.stderr
    assert "netpol-harness not found: a real run stops here" in result.stderr
    assert "+ kind create cluster --name netpol" in result.stdout
    assert r"+ kind load docker-image --name netpol \<probe-client-image\>" in result.stdout


def test_strict_dry_run_without_a_pin_refuses_like_a_real_run(tmp_path: Path) -> None:
    if not CLI.exists():
        pytest.skip("netpol-harness CLI not installed")
    pinned = _pin("CALICO_SHA256")
    result = _dry_run(tmp_path, "--strict")
    if pinned:
        assert result.returncode == 0
    else:
        assert result.returncode == 1
        assert "strict mode: no SHA-256 is pinned" in result.stderr
        assert "kind create cluster" not in result.stdout
    forced = _dry_run(tmp_path, "--strict", CALICO_SHA256="0" * 64)
    assert forced.returncode == 0, forced.stderr
    assert "compares the manifest's SHA-256 with the pinned 000" in forced.stdout


# ---------------------------------------------------------------- external hosts


def _served(dry: subprocess.CompletedProcess[str]) -> set[tuple[str, int]]:
    """(address, port) pairs the dry run checks from the nodes (it checks every one it serves)."""
    pairs = re.findall(r"/dev/tcp/([\d.]+)/(\d+)", dry.stdout)
    return {(a, int(p)) for a, p in pairs}


def test_every_public_external_of_the_scenarios_is_served_on_kind(
    dry: subprocess.CompletedProcess[str],
) -> None:
    wanted: set[tuple[str, int]] = set()
    for path in sorted((ROOT / "scenarios").glob("*.netpol.yaml")):
        doc = yaml.safe_load(path.read_text())
        for ext in doc.get("externals") or []:
            assert ext.get("protocol", "TCP") == "TCP", f"{path.name}: kind-up serves TCP only"
            if not any(ipaddress.ip_address(ext["address"]) in net for net in RFC1918):
                wanted.add((ext["address"], int(ext["port"])))
    assert ("198.51.100.10", 443) in wanted
    assert wanted <= _served(dry)


def _sandbox_external_hosts() -> set[tuple[str, int]] | None:
    pattern = re.compile(r'external_hosts:[^=]*=\s*\(\("([\d.]+)",\s*\(([\d,\s]+)\)\),?\)')
    for path in sorted(ROOT.glob("*/**/*.py")):
        if ".venv" in path.parts:
            continue
        match = pattern.search(path.read_text(encoding="utf-8", errors="replace"))
        if match:
            return {(match.group(1), int(p)) for p in match.group(2).replace(",", " ").split()}
    return None


def test_kind_serves_the_same_external_host_as_the_sandbox(
    dry: subprocess.CompletedProcess[str],
) -> None:
    sandbox = _sandbox_external_hosts()
    if sandbox is None:
        pytest.skip("no `external_hosts: ... = ((address, (ports)),)` default found in the sandbox")
    assert _served(dry) == sandbox


# ---------------------------------------------------------------- one Calico version


def test_the_calico_version_is_written_in_one_place() -> None:
    version = _pin("CALICO_VERSION")
    literal = re.compile(r"\bv?3\.\d+\.\d+\b")
    assert not literal.findall(KIND_UP.read_text()), "kind-up must read the version from the pin"
    workflow = (WORKFLOWS / "e2e-kind.yml").read_text()
    assert not [v for v in literal.findall(workflow) if v.lstrip("v") != version.lstrip("v")]
    # docs/ci.md names the pin; its "First run" steps carry the version the dry run prints
    assert f'CALICO_VERSION="{version}"' in CI_DOC.read_text()


def test_dry_run_uses_the_pinned_version(dry: subprocess.CompletedProcess[str]) -> None:
    version = _pin("CALICO_VERSION")
    assert f"/projectcalico/calico/{version}/manifests/calico-v3-crds.yaml" in dry.stdout


# ---------------------------------------------------------------- docs/ci.md "First run"


def test_first_run_walkthrough_lists_the_steps_kind_up_runs(
    dry: subprocess.CompletedProcess[str],
) -> None:
    doc = CI_DOC.read_text()
    assert "## First run" in doc
    section = doc.split("## First run", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"(?m)^(\d+)\. \*\*(.+?)\*\*", section)
    steps = _steps(dry)
    assert len(steps) >= 8
    assert [title for _, title in documented] == steps
    assert [int(n) for n, _ in documented] == list(range(1, len(steps) + 1))
