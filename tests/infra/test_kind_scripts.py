"""scripts/kind-up and scripts/kind-down, run against fake kind/kubectl/docker/curl/netpol-harness.

No container runtime or network here: the fakes log their arguments, so the tests check
what the scripts would do and, above all, what they refuse to do (apply a manifest whose
checksum does not match, or any unpinned one in strict mode).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra._repo import ROOT

PROBE_CLIENT = (
    "curlimages/curl:8.11.1@sha256:c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69"
)
PROBE_SERVER = (
    "nginxinc/nginx-unprivileged:1.27-alpine"
    "@sha256:65e3e85dbaed8ba248841d9d58a899b6197106c23cb0ff1a132b7bfe0547e4c0"
)
NODE_IMAGE = "kindest/node:v1.0.0@sha256:" + "a" * 64

MANIFEST = """# fake calico.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: calico-config}
---
kind: DaemonSet
spec:
  template:
    spec:
      initContainers:
        - name: install-cni
          image: quay.io/calico/cni:v9.9.9
      containers:
        - name: calico-node
          image: quay.io/calico/node:v9.9.9
          env:
            # The default IPv4 pool to create on startup if none exists.
            # - name: CALICO_IPV4POOL_CIDR
            #   value: "192.168.0.0/16"
            - name: CALICO_DISABLE_FILE_LOGGING
              value: "true"
---
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: calico-kube-controllers
          image: "quay.io/calico/kube-controllers:v9.9.9"
---
kind: Deployment
metadata: {name: calico-webhooks, namespace: kube-system}
spec:
  template:
    spec:
      containers:
        - name: calico-webhooks
          image: quay.io/calico/webhooks:v9.9.9
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: calico-webhooks}
webhooks:
  - name: tiered-rbac.projectcalico.org
    clientConfig:
      # Replace with the CA bundle for the webhook TLS certificate.
      caBundle: ""
      service: {name: calico-webhooks, namespace: kube-system, path: /rbac}
"""
MANIFEST_IMAGES = [
    "quay.io/calico/cni:v9.9.9",
    "quay.io/calico/node:v9.9.9",
    "quay.io/calico/kube-controllers:v9.9.9",
    "quay.io/calico/webhooks:v9.9.9",
]
SHA = hashlib.sha256(MANIFEST.encode()).hexdigest()

FAKE_KIND = r"""#!/usr/bin/env bash
echo "kind $*" >> "$FAKE_LOG"
case "$1 $2" in
  "get clusters") [ -f "$FAKE_STATE/created" ] && cat "$FAKE_STATE/created"; exit 0 ;;
  "get nodes") echo "$4-control-plane"; echo "$4-worker"; echo "$4-worker2"; exit 0 ;;
  "create cluster") echo "$4" > "$FAKE_STATE/created"; exit 0 ;;
  "delete cluster") rm -f "$FAKE_STATE/created"; exit 0 ;;
  "load docker-image") [ -z "${FAKE_KIND_LOAD_FAILS:-}" ] ;;
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
line="docker"
for arg in "$@"; do line+=" ${arg//$'\n'/<NL>}"; done
echo "$line" >> "$FAKE_LOG"
case "$1" in
  info) [ -z "${FAKE_DOCKER_DOWN:-}" ] ;;
  run) touch "$FAKE_STATE/external"; echo 0123abcd ;;
  rm) rm -f "$FAKE_STATE/external" ;;
  container) [ -f "$FAKE_STATE/external" ] ;;
  inspect) echo 172.18.0.9 ;;
  image) [ "$2" = save ] && : > "$FAKE_STATE/image.tar" ;;
  exec)
    case "$*" in
      *"sysctl -n"*) echo 2 ;;
      *"/dev/tcp/"*) [ -z "${FAKE_EXTERNAL_DOWN:-}" ] ;;
    esac ;;
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
# The text format of `netpol-harness images` (harness/commands/images.py).
FAKE_HARNESS = f"""#!/usr/bin/env bash
echo "netpol-harness $*" >> "$FAKE_LOG"
[ "$*" = "images --format text" ] || exit 2
cat <<'EOF'
# probe: deployed by every live run; kind-ci: only the kind + Calico CI cluster
probe-client             probe    {PROBE_CLIENT}
probe-server             probe    {PROBE_SERVER}
kind-node                kind-ci  {NODE_IMAGE}
calico-node              kind-ci  quay.io/calico/node:v0.0.1 (tag only: pin a digest when mirroring)
EOF
"""


@dataclass
class Sandbox:
    repo: Path
    env: dict[str, str]
    log: Path
    state: Path
    fakebin: Path

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

    def calls_with(self, fragment: str) -> list[str]:
        return [c for c in self.calls() if fragment in c]

    @property
    def pin(self) -> Path:
        return self.repo / "scripts" / "calico.sha256"

    def set_pin(self, checksum: str) -> None:
        text = re.sub(
            r"(?m)^CALICO_SHA256=.*$", f'CALICO_SHA256="{checksum}"', self.pin.read_text()
        )
        self.pin.write_text(text)


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
    _write(fakebin / "netpol-harness", FAKE_HARNESS)
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
    return Sandbox(repo=repo, env=env, log=log, state=state, fakebin=fakebin)


def _pin_value(pin: Path, key: str) -> str:
    for line in pin.read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1].strip('"')
    raise AssertionError(f"{key} not in {pin}")


def _nothing_created(box: Sandbox) -> None:
    for fragment in ("kind create", " apply ", "docker pull", "docker run", "kind load"):
        assert not box.calls_with(fragment), f"{fragment!r} ran: {box.calls()}"


# ---------------------------------------------------------------- the pin


def test_the_shipped_pin_is_a_3_32_release_with_a_valid_or_empty_checksum() -> None:
    pin = ROOT / "scripts" / "calico.sha256"
    version = _pin_value(pin, "CALICO_VERSION")
    match = re.fullmatch(r"v3\.(\d+)\.(\d+)", version)
    assert match and int(match.group(1)) >= 32, version
    checksum = _pin_value(pin, "CALICO_SHA256")
    assert checksum == "" or re.fullmatch(r"[0-9a-f]{64}", checksum)
    assert version in pin.read_text().split("CALICO_VERSION=")[0], "say how the version was chosen"


def test_unpinned_manifest_is_applied_with_one_notice_naming_its_digest(box: Sandbox) -> None:
    box.set_pin("")
    up = box.run("kind-up")
    assert up.returncode == 0, up.stderr
    notices = [line for line in up.stdout.splitlines() if "not pinned" in line]
    assert len(notices) == 1, up.stdout
    assert SHA in notices[0] and notices[0].startswith("kind-up: notice:")
    assert "scripts/kind-up --pin" in notices[0]
    assert box.calls_with(" apply --server-side")


def test_unpinned_notice_is_a_github_annotation_on_actions(box: Sandbox) -> None:
    box.set_pin("")
    up = box.run("kind-up", GITHUB_ACTIONS="true")
    assert up.returncode == 0, up.stderr
    (notice,) = [line for line in up.stdout.splitlines() if "not pinned" in line]
    assert notice.startswith("::notice title=Calico manifest not pinned::") and SHA in notice


@pytest.mark.parametrize("how", ["flag", "env"])
def test_strict_refuses_an_unpinned_manifest_before_creating_anything(
    box: Sandbox, how: str
) -> None:
    box.set_pin("")
    result = (
        box.run("kind-up", "--strict") if how == "flag" else box.run("kind-up", CALICO_STRICT="1")
    )
    assert result.returncode == 1
    assert "strict mode: no SHA-256 is pinned" in result.stderr
    assert "scripts/kind-up --pin" in result.stderr
    _nothing_created(box)


def test_strict_accepts_a_pinned_matching_manifest(box: Sandbox) -> None:
    box.set_pin(SHA)
    up = box.run("kind-up", "--strict")
    assert up.returncode == 0, up.stderr
    assert f"calico-v3-crds.yaml verified (sha256 {SHA})" in up.stdout
    assert "not pinned" not in up.stdout


def test_pin_stores_the_checksum_keeps_the_comments_then_kind_up_builds_the_cluster(
    box: Sandbox,
) -> None:
    comments = [line for line in box.pin.read_text().splitlines() if line.startswith("#")]
    pinned = box.run("kind-up", "--pin")
    assert pinned.returncode == 0, pinned.stderr
    assert _pin_value(box.pin, "CALICO_SHA256") == SHA
    assert SHA in pinned.stdout
    assert [line for line in box.pin.read_text().splitlines() if line.startswith("#")] == comments
    assert not box.calls_with("kind "), "--pin must not touch a cluster"
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

    order = [
        index("curl "),
        index("netpol-harness images --format text"),
        index("docker pull"),
        index("kind create cluster --name netpol --config"),
        index("sysctl -qw net.ipv4.conf.all.rp_filter=1"),
        index("kind load docker-image"),
        index("kubectl --context kind-netpol apply --server-side"),
        index("rollout status daemonset/calico-node"),
        index("wait --for=condition=Ready nodes --all"),
        index("rollout status deployment/coredns"),
        index("docker run"),
        index("ip route replace 198.51.100.10/32"),
        index("/dev/tcp/198.51.100.10/443"),
        index("get namespace kube-system"),
    ]
    assert order == sorted(order), calls
    assert "https://raw.githubusercontent.com/projectcalico/calico/" in calls[index("curl ")]
    assert "kubectl context: kind-netpol" in up.stdout
    assert "external host: 198.51.100.10 (ports 80 443)" in up.stdout
    assert (
        "pytest scenarios/ -n auto --netpol-context kind-netpol --netpol-junit reports/junit.xml"
        in up.stdout
    )

    again = box.run("kind-up")  # idempotent: reuses the cluster, recreates the external host
    assert again.returncode == 0, again.stderr
    assert "exists; reusing it" in again.stdout
    assert len(box.calls_with("kind create")) == 1
    assert box.calls_with("docker rm --force netpol-external")


def test_checksum_mismatch_applies_nothing_strict_or_not(box: Sandbox) -> None:
    box.set_pin(SHA)
    for args in ((), ("--strict",)):
        result = box.run("kind-up", *args, FAKE_MANIFEST=MANIFEST + "# tampered\n")
        assert result.returncode == 1
        assert "checksum mismatch" in result.stderr
        assert SHA in result.stderr
    _nothing_created(box)


def test_env_checksum_overrides_the_file(box: Sandbox) -> None:
    box.set_pin("1" * 64)
    assert box.run("kind-up", CALICO_SHA256=SHA).returncode == 0
    bad = box.run("kind-up", CALICO_SHA256="0" * 64)
    assert bad.returncode == 1
    assert "checksum mismatch" in bad.stderr


def test_malformed_checksum_is_rejected(box: Sandbox) -> None:
    result = box.run("kind-up", CALICO_SHA256="not-a-checksum")
    assert result.returncode == 1
    assert "not 64 lowercase hex digits" in result.stderr
    _nothing_created(box)


def test_another_version_than_the_pinned_checksum_is_refused(box: Sandbox) -> None:
    box.set_pin(SHA)
    result = box.run("kind-up", CALICO_VERSION="v3.99.0")
    assert result.returncode == 1
    assert "CALICO_VERSION=v3.99.0 scripts/kind-up --pin" in result.stderr
    _nothing_created(box)


def test_another_version_without_any_checksum_is_downloaded_from_its_tag(box: Sandbox) -> None:
    box.set_pin("")
    up = box.run("kind-up", CALICO_VERSION="v3.99.0")
    assert up.returncode == 0, up.stderr
    url = "/projectcalico/calico/v3.99.0/manifests/calico-v3-crds.yaml"
    assert url in box.calls_with("curl ")[0]
    assert box.run("kind-up", "--strict", CALICO_VERSION="v3.99.0").returncode == 1


# ---------------------------------------------------------------- prerequisites


def test_missing_tool_is_named(box: Sandbox) -> None:
    (box.fakebin / "kind").unlink()
    result = box.run("kind-up")
    assert result.returncode == 1
    assert "'kind' is not installed" in result.stderr


def test_docker_daemon_down_is_explained(box: Sandbox) -> None:
    result = box.run("kind-up", FAKE_DOCKER_DOWN="1")
    assert result.returncode == 1
    assert "daemon is not reachable" in result.stderr


def test_missing_harness_cli_stops_before_creating_anything(box: Sandbox) -> None:
    (box.fakebin / "netpol-harness").unlink()
    result = box.run("kind-up", CALICO_SHA256=SHA)
    assert result.returncode == 1
    assert "netpol-harness is not installed" in result.stderr
    _nothing_created(box)


def test_harness_cli_is_taken_from_netpol_harness_env(box: Sandbox) -> None:
    moved = box.fakebin.parent / "elsewhere-netpol-harness"
    (box.fakebin / "netpol-harness").rename(moved)
    up = box.run("kind-up", CALICO_SHA256=SHA, NETPOL_HARNESS=str(moved))
    assert up.returncode == 0, up.stderr
    assert box.calls_with("netpol-harness images --format text")


def test_garbage_from_the_harness_cli_is_refused(box: Sandbox) -> None:
    _write(
        box.fakebin / "netpol-harness",
        "#!/usr/bin/env bash\necho 'probe-client probe Not:An Image'\n",
    )
    result = box.run("kind-up", CALICO_SHA256=SHA)
    assert result.returncode == 1
    assert "not an image reference" in result.stderr
    _write(box.fakebin / "netpol-harness", "#!/usr/bin/env bash\necho '# nothing'\n")
    result = box.run("kind-up", CALICO_SHA256=SHA)
    assert result.returncode == 1
    assert "listed no probe image" in result.stderr
    _nothing_created(box)


# ---------------------------------------------------------------- images


def test_probe_and_calico_images_are_pulled_and_loaded_not_the_node_image(box: Sandbox) -> None:
    up = box.run("kind-up", CALICO_SHA256=SHA)
    assert up.returncode == 0, up.stderr
    pulled = {c.split()[-1] for c in box.calls_with("docker pull")}
    loaded = {c.split()[-1] for c in box.calls_with("kind load docker-image --name netpol")}
    expected = {PROBE_CLIENT, PROBE_SERVER, *MANIFEST_IMAGES}
    assert pulled == expected
    assert loaded == expected
    assert NODE_IMAGE not in " ".join(box.calls_with("docker pull"))
    # the harness's stale Calico list is reported, not pulled
    assert "quay.io/calico/node:v0.0.1, which the Calico" in up.stderr
    assert "lists the node image" in up.stderr
    # every node is asked whether it resolves the preloaded references
    assert len(box.calls_with("crictl inspecti")) == 3 * len(expected)


def test_failed_kind_load_falls_back_to_a_single_platform_archive(box: Sandbox) -> None:
    up = box.run("kind-up", CALICO_SHA256=SHA, FAKE_KIND_LOAD_FAILS="1")
    assert up.returncode == 0, up.stderr
    saves = box.calls_with("docker image save --platform linux/")
    archives = box.calls_with("kind load image-archive --name netpol")
    assert len(saves) == len(archives) == 2 + len(MANIFEST_IMAGES)
    assert all(PROBE_CLIENT not in s or s.endswith(PROBE_CLIENT) for s in saves)


# ---------------------------------------------------------------- external host


def test_external_host_container_address_routes_and_checks(box: Sandbox) -> None:
    up = box.run("kind-up", CALICO_SHA256=SHA)
    assert up.returncode == 0, up.stderr
    (run,) = box.calls_with("docker run")
    assert "--name netpol-external" in run and "--network kind" in run
    assert "--cap-add NET_ADMIN" in run
    assert "--sysctl net.ipv4.ip_unprivileged_port_start=0" in run
    # the probe server image (what the sandbox's server pods run), started as nginx
    assert f"--entrypoint sh {PROBE_SERVER} -c " in run
    assert box.calls_with(
        "docker exec --user 0 netpol-external ip addr add 198.51.100.10/32 dev eth0"
    )
    routes = box.calls_with("ip route replace 198.51.100.10/32 via 172.18.0.9 dev eth0")
    assert sorted(r.split()[2] for r in routes) == [
        "netpol-control-plane",
        "netpol-worker",
        "netpol-worker2",
    ]
    for port in (80, 443):
        assert len(box.calls_with(f"/dev/tcp/198.51.100.10/{port}")) == 3


def test_unreachable_external_host_fails_the_run(box: Sandbox) -> None:
    result = box.run("kind-up", CALICO_SHA256=SHA, FAKE_EXTERNAL_DOWN="1")
    assert result.returncode == 1
    assert "cannot reach the external host 198.51.100.10:80" in result.stderr


def _responder_conf(box: Sandbox) -> str:
    (run,) = box.calls_with("docker run")
    # the fake docker logs its argv space-joined; the value runs up to --entrypoint
    return run.split("NGINX_CONF=", 1)[1].split(" --entrypoint ", 1)[0].replace("<NL>", "\n")


@pytest.mark.skipif(
    shutil.which("nginx") is None or shutil.which("curl") is None, reason="no nginx"
)
def test_external_host_answers_like_the_sandbox_one(box: Sandbox, tmp_path: Path) -> None:
    """Run the responder's nginx config on loopback (ports moved) and probe it like a cell."""
    assert box.run("kind-up", CALICO_SHA256=SHA).returncode == 0
    conf = _responder_conf(box)
    assert "listen 80;" in conf and "listen 443;" in conf
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{ports[0]};")
    conf = conf.replace("listen 443;", f"listen 127.0.0.1:{ports[1]};")
    conf = conf.replace("/tmp/", f"{tmp_path}/")
    (tmp_path / "external.conf").write_text(conf)
    proc = subprocess.Popen(
        [
            "nginx",
            "-p",
            f"{tmp_path}/",
            "-e",
            "/dev/null",
            "-c",
            str(tmp_path / "external.conf"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        bodies = []
        for port in ports:
            for _ in range(50):
                got = subprocess.run(
                    [
                        "curl",
                        "-s",
                        "--noproxy",
                        "*",
                        "--max-time",
                        "2",
                        f"http://127.0.0.1:{port}/",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if got.returncode == 0:
                    break
                subprocess.run(["sleep", "0.1"], check=False)
            bodies.append(got.stdout)
        assert bodies == [f"ok 127.0.0.1 {ports[0]}\n", f"ok 127.0.0.1 {ports[1]}\n"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---------------------------------------------------------------- kind-down


def test_cluster_name_is_overridable_and_kind_down_removes_both(box: Sandbox) -> None:
    up = box.run("kind-up", CALICO_SHA256=SHA, KIND_CLUSTER_NAME="pr42")
    assert up.returncode == 0, up.stderr
    assert "kubectl context: kind-pr42" in up.stdout
    assert box.calls_with("kind create cluster --name pr42")
    assert box.calls_with("--name pr42-external")
    down = box.run("kind-down", KIND_CLUSTER_NAME="pr42")
    assert down.returncode == 0, down.stderr
    assert "kind delete cluster --name pr42" in box.calls()
    assert "docker rm --force pr42-external" in box.calls()
    assert not (box.state / "external").exists()


def test_kind_down_without_a_cluster_is_a_no_op(box: Sandbox) -> None:
    result = box.run("kind-down")
    assert result.returncode == 0
    assert "no kind cluster named netpol; nothing to delete" in result.stdout
    assert "no external host container netpol-external" in result.stdout
    assert not box.calls_with("kind delete")
    assert not box.calls_with("docker rm")


def test_kind_down_dry_run_prints_and_runs_nothing(box: Sandbox) -> None:
    for name in ("kind", "docker"):
        (box.fakebin / name).unlink()
    result = box.run("kind-down", "--dry-run", KIND_CLUSTER_NAME="pr7")
    assert result.returncode == 0, result.stderr
    plus = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert plus == ["+ docker rm --force pr7-external", "+ kind delete cluster --name pr7"]
    assert box.calls() == []


def test_unknown_argument_is_an_error(box: Sandbox) -> None:
    for script in ("kind-up", "kind-down"):
        result = box.run(script, "--bogus")
        assert result.returncode == 1
        assert "unknown argument '--bogus'" in result.stderr
        helped = box.run(script, "--help")
        assert helped.returncode == 0
        assert "--dry-run" in helped.stdout


# ---------------------------------------------------------------- the Calico pool


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
    assert _pin_value(box.pin, "CALICO_SHA256") == SHA


def test_pool_follows_the_kind_config(box: Sandbox) -> None:
    config = box.repo / "kind-config.yaml"
    config.write_text(config.read_text().replace("10.244.0.0/16", "10.250.0.0/16"))
    assert box.run("kind-up", CALICO_SHA256=SHA).returncode == 0
    assert 'value: "10.250.0.0/16"' in (box.state / "applied.yaml").read_text()


def test_manifest_without_the_pool_block_is_refused_before_creating(box: Sandbox) -> None:
    plain = "# fake calico.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    good = hashlib.sha256(plain.encode()).hexdigest()
    result = box.run("kind-up", FAKE_MANIFEST=plain, CALICO_SHA256=good)
    assert result.returncode == 1
    assert "no commented CALICO_IPV4POOL_CIDR block" in result.stderr
    _nothing_created(box)


# ---------------------------------------------------------------- Calico's v3 CRDs


def test_v3_crd_manifest_gets_a_webhook_certificate_and_its_ca(box: Sandbox) -> None:
    up = box.run("kind-up", CALICO_SHA256=SHA)
    assert up.returncode == 0, up.stderr
    applied = (box.state / "applied.yaml").read_text()
    bundle = re.search(r'caBundle: "([^"]*)"', applied)
    assert bundle and bundle.group(1), "the CA went into the webhook configuration"
    import base64

    ca = base64.b64decode(bundle.group(1)).decode()
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
    secret = box.calls_with("create secret tls calico-webhooks-tls")
    assert len(secret) == 1 and "-n kube-system" in secret[0]
    # the Secret before the manifest, the webhook Deployment waited for after it
    calls = box.calls()
    first_apply = next(i for i, c in enumerate(calls) if "--server-side" in c)
    assert calls.index(secret[0]) < first_apply
    assert box.calls_with("rollout status deployment/calico-webhooks")


def test_a_v3_manifest_without_its_empty_ca_bundle_is_refused_before_anything(
    box: Sandbox,
) -> None:
    manifest = MANIFEST.replace('caBundle: ""', "caBundle: Zm9v")
    sha = hashlib.sha256(manifest.encode()).hexdigest()
    up = box.run("kind-up", CALICO_SHA256=sha, FAKE_MANIFEST=manifest)
    assert up.returncode == 1
    assert "has not exactly one empty caBundle" in up.stderr
    assert "CALICO_MANIFEST=calico.yaml" in up.stderr
    _nothing_created(box)


def test_the_classic_manifest_needs_no_certificate(box: Sandbox) -> None:
    up = box.run("kind-up", CALICO_SHA256=SHA, CALICO_MANIFEST="calico.yaml")
    assert up.returncode == 0, up.stderr
    assert box.calls_with("/manifests/calico.yaml")
    assert not box.calls_with("calico-webhooks-tls")
    assert not box.calls_with("rollout status deployment/calico-webhooks")
    assert 'caBundle: ""' in (box.state / "applied.yaml").read_text()


def test_an_unknown_manifest_name_is_refused(box: Sandbox) -> None:
    up = box.run("kind-up", "--dry-run", CALICO_MANIFEST="tigera-operator.yaml")
    assert up.returncode == 1
    assert "is not calico-v3-crds.yaml or calico.yaml" in up.stderr
