"""scripts/kind-up and scripts/kind-down, run against fake kind/kubectl/docker/curl.

No container runtime or network here: the fakes log their arguments, so the
tests check what the scripts would do and, above all, what they refuse to do
(apply a manifest whose checksum is not pinned or does not match).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra._repo import ROOT

MANIFEST = """# fake calico.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: calico-config}
---
kind: DaemonSet
spec:
  template:
    spec:
      containers:
        - name: calico-node
          env:
            # The default IPv4 pool to create on startup if none exists.
            # - name: CALICO_IPV4POOL_CIDR
            #   value: "192.168.0.0/16"
            - name: CALICO_DISABLE_FILE_LOGGING
              value: "true"
"""

FAKE_KIND = r"""#!/usr/bin/env bash
echo "kind $*" >> "$FAKE_LOG"
case "$1 $2" in
  "get clusters") [ -f "$FAKE_STATE/created" ] && cat "$FAKE_STATE/created"; exit 0 ;;
  "get nodes") echo "$4-control-plane"; echo "$4-worker"; exit 0 ;;
  "create cluster") echo "$4" > "$FAKE_STATE/created"; exit 0 ;;
  "delete cluster") rm -f "$FAKE_STATE/created"; exit 0 ;;
esac
"""
FAKE_KUBECTL = r"""#!/usr/bin/env bash
echo "kubectl $*" >> "$FAKE_LOG"
prev=""
for arg in "$@"; do
  if [ "$prev" = "-f" ]; then cp "$arg" "$FAKE_STATE/applied.yaml"; fi
  prev="$arg"
done
case "$*" in
  *"get namespace kube-system"*) echo kube-system ;;
  *"get pods -l k8s-app=kube-dns"*) echo coredns-a coredns-b ;;
esac
exit 0
"""
FAKE_DOCKER = r"""#!/usr/bin/env bash
echo "docker $*" >> "$FAKE_LOG"
case "$1" in
  info) [ -z "${FAKE_DOCKER_DOWN:-}" ] ;;
  exec) case "$*" in *"sysctl -n"*) echo 2 ;; esac ;;
esac
"""
FAKE_CURL = r"""#!/usr/bin/env bash
echo "curl $*" >> "$FAKE_LOG"
out=""
while [ $# -gt 0 ]; do
  case "$1" in --output) out="$2"; shift ;; esac
  shift
done
printf '%s' "$FAKE_MANIFEST" > "$out"
"""


@dataclass
class Sandbox:
    repo: Path
    env: dict[str, str]
    log: Path
    state: Path

    def run(self, script: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **extra}
        return subprocess.run(
            [str(self.repo / "scripts" / script), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    @property
    def pin(self) -> Path:
        return self.repo / "scripts" / "calico.sha256"


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("kind-up", "kind-down", "calico.sha256"):
        shutil.copy2(ROOT / "scripts" / name, repo / "scripts" / name)
    shutil.copy2(ROOT / "kind-config.yaml", repo / "kind-config.yaml")
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    _write(fakebin / "kind", FAKE_KIND)
    _write(fakebin / "kubectl", FAKE_KUBECTL)
    _write(fakebin / "docker", FAKE_DOCKER)
    _write(fakebin / "curl", FAKE_CURL)
    state = tmp_path / "state"
    state.mkdir()
    log = tmp_path / "calls.log"
    env = {
        "PATH": f"{fakebin}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(log),
        "FAKE_STATE": str(state),
        "FAKE_MANIFEST": MANIFEST,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    return Sandbox(repo=repo, env=env, log=log, state=state)


def _pin_value(pin: Path, key: str) -> str:
    for line in pin.read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1].strip('"')
    raise AssertionError(f"{key} not in {pin}")


def test_the_shipped_pin_names_the_version_and_a_valid_or_empty_checksum() -> None:
    pin = ROOT / "scripts" / "calico.sha256"
    assert _pin_value(pin, "CALICO_VERSION").startswith("v3.")
    checksum = _pin_value(pin, "CALICO_SHA256")
    assert checksum == "" or (len(checksum) == 64 and set(checksum) <= set("0123456789abcdef"))


def test_refuses_an_unpinned_manifest_before_creating_anything(box: Sandbox) -> None:
    box.pin.write_text(box.pin.read_text().replace(_pin_line(box), 'CALICO_SHA256=""'))
    result = box.run("kind-up")
    assert result.returncode == 1
    assert "refusing to apply an unverified manifest" in result.stderr
    assert "scripts/kind-up --pin" in result.stderr
    calls = box.calls()
    assert not [c for c in calls if c.startswith("kind create")]
    assert not [c for c in calls if " apply " in c]


def _pin_line(box: Sandbox) -> str:
    return next(
        line for line in box.pin.read_text().splitlines() if line.startswith("CALICO_SHA256=")
    )


def test_pin_stores_the_checksum_then_kind_up_builds_the_cluster(box: Sandbox) -> None:
    pinned = box.run("kind-up", "--pin")
    assert pinned.returncode == 0, pinned.stderr
    expected = hashlib.sha256(MANIFEST.encode()).hexdigest()
    assert _pin_value(box.pin, "CALICO_SHA256") == expected
    assert expected in pinned.stdout
    assert not [c for c in box.calls() if c.startswith("kind ")], "--pin must not touch a cluster"
    if shutil.which("shellcheck"):
        check = subprocess.run(
            ["shellcheck", str(box.pin)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stdout

    up = box.run("kind-up")
    assert up.returncode == 0, up.stderr
    calls = box.calls()

    def index(fragment: str) -> int:
        matches = [i for i, c in enumerate(calls) if fragment in c]
        assert matches, f"no call with {fragment!r} in {calls}"
        return matches[0]

    create = index("kind create cluster --name netpol --config")
    rp_filter = index("sysctl -qw net.ipv4.conf.all.rp_filter=1")
    apply = index("kubectl --context kind-netpol apply --server-side")
    calico = index("rollout status daemonset/calico-node")
    nodes = index("wait --for=condition=Ready nodes --all")
    dns = index("rollout status deployment/coredns")
    assert create < rp_filter < apply < calico < nodes < dns
    assert "https://raw.githubusercontent.com/projectcalico/calico/" in calls[index("curl ")]
    assert "kubectl context: kind-netpol" in up.stdout
    assert (
        "pytest scenarios/ -n auto --netpol-context kind-netpol --netpol-junit reports/junit.xml"
        in up.stdout
    )

    again = box.run("kind-up")  # idempotent: reuses the cluster
    assert again.returncode == 0, again.stderr
    assert "exists; reusing it" in again.stdout
    assert len([c for c in box.calls() if c.startswith("kind create")]) == 1


def test_checksum_mismatch_applies_nothing(box: Sandbox) -> None:
    assert box.run("kind-up", "--pin").returncode == 0
    result = box.run("kind-up", FAKE_MANIFEST=MANIFEST + "# tampered\n")
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr
    assert not [c for c in box.calls() if c.startswith("kind create") or " apply " in c]


def test_env_checksum_overrides_the_file(box: Sandbox) -> None:
    good = hashlib.sha256(MANIFEST.encode()).hexdigest()
    assert box.run("kind-up", CALICO_SHA256=good).returncode == 0
    bad = box.run("kind-up", CALICO_SHA256="0" * 64)
    assert bad.returncode == 1
    assert "checksum mismatch" in bad.stderr


def test_malformed_checksum_is_rejected(box: Sandbox) -> None:
    result = box.run("kind-up", CALICO_SHA256="not-a-checksum")
    assert result.returncode == 1
    assert "not 64 lowercase hex digits" in result.stderr


def test_version_without_its_pin_is_refused(box: Sandbox) -> None:
    assert box.run("kind-up", "--pin").returncode == 0
    result = box.run("kind-up", CALICO_VERSION="v3.99.0")
    assert result.returncode == 1
    assert "CALICO_VERSION=v3.99.0 scripts/kind-up --pin" in result.stderr


def test_missing_tool_is_named(box: Sandbox) -> None:
    fakebin = Path(box.env["PATH"].split(":")[0])
    (fakebin / "kind").unlink()
    result = box.run("kind-up")
    assert result.returncode == 1
    assert "'kind' is not installed" in result.stderr


def test_docker_daemon_down_is_explained(box: Sandbox) -> None:
    result = box.run("kind-up", FAKE_DOCKER_DOWN="1")
    assert result.returncode == 1
    assert "daemon is not reachable" in result.stderr


def test_cluster_name_is_overridable(box: Sandbox) -> None:
    assert box.run("kind-up", "--pin").returncode == 0
    up = box.run("kind-up", KIND_CLUSTER_NAME="pr42")
    assert up.returncode == 0, up.stderr
    assert "kubectl context: kind-pr42" in up.stdout
    assert any(c.startswith("kind create cluster --name pr42") for c in box.calls())
    down = box.run("kind-down", KIND_CLUSTER_NAME="pr42")
    assert down.returncode == 0
    assert "kind delete cluster --name pr42" in box.calls()


def test_kind_down_without_a_cluster_is_a_no_op(box: Sandbox) -> None:
    result = box.run("kind-down")
    assert result.returncode == 0
    assert "nothing to delete" in result.stdout
    assert not [c for c in box.calls() if c.startswith("kind delete")]


def test_unknown_argument_is_an_error(box: Sandbox) -> None:
    for script in ("kind-up", "kind-down"):
        result = box.run(script, "--bogus")
        assert result.returncode == 1
        assert "unknown argument '--bogus'" in result.stderr
        assert box.run(script, "--help").returncode == 0


def test_calico_pool_is_set_to_the_kind_pod_subnet_after_verification(box: Sandbox) -> None:
    assert box.run("kind-up", "--pin").returncode == 0
    up = box.run("kind-up")
    assert up.returncode == 0, up.stderr
    applied = (box.state / "applied.yaml").read_text()
    # The commented default is replaced by the kind podSubnet, at the same indentation.
    assert (
        '            - name: CALICO_IPV4POOL_CIDR\n              value: "10.244.0.0/16"\n'
        in applied
    )
    assert "192.168.0.0/16" not in applied
    assert "CALICO_DISABLE_FILE_LOGGING" in applied  # the rest is untouched
    assert "CALICO_IPV4POOL_CIDR=10.244.0.0/16" in up.stdout
    # The pin is the checksum of the manifest as published, not of our edit.
    assert _pin_value(box.pin, "CALICO_SHA256") == hashlib.sha256(MANIFEST.encode()).hexdigest()


def test_pool_follows_the_kind_config(box: Sandbox) -> None:
    config = box.repo / "kind-config.yaml"
    config.write_text(config.read_text().replace("10.244.0.0/16", "10.250.0.0/16"))
    assert box.run("kind-up", "--pin").returncode == 0
    assert box.run("kind-up").returncode == 0
    assert 'value: "10.250.0.0/16"' in (box.state / "applied.yaml").read_text()


def test_manifest_without_the_pool_block_is_refused_before_creating(box: Sandbox) -> None:
    plain = "# fake calico.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    good = hashlib.sha256(plain.encode()).hexdigest()
    result = box.run("kind-up", FAKE_MANIFEST=plain, CALICO_SHA256=good)
    assert result.returncode == 1
    assert "no commented CALICO_IPV4POOL_CIDR block" in result.stderr
    assert not [c for c in box.calls() if c.startswith("kind create") or " apply " in c]
