"""Image references -> sandbox runtimes; unknown images fail like a pull."""

from __future__ import annotations

from pathlib import Path

import pytest

from netpol_sandbox import netns as nsx
from netpol_sandbox.images import ImagePullError
from netpol_sandbox.images import parse
from netpol_sandbox.images import resolve
from netpol_sandbox.images import run_as
from tests.sandbox.nodekit import NEEDS_ROOT
from tests.sandbox.nodekit import pod
from tests.sandbox.nodekit import policy
from tests.sandbox.nodekit import running_node
from tests.sandbox.nodekit import unprivileged_server

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("reference", "kind"),
    [
        ("docker.io/curlimages/curl:8.11.1", "curl"),
        (f"curlimages/curl@{DIGEST}", "curl"),
        (f"curlimages/curl:8.11.1@{DIGEST}", "curl"),
        ("nginxinc/nginx-unprivileged:1.27-alpine", "nginx"),
        ("nginx", "nginx"),
        ("docker.io/library/nginx:latest", "nginx"),
        ("index.docker.io/library/nginx:1.27", "nginx"),
        ("busybox:1.36", "busybox"),
    ],
)
def test_known_images_map_with_any_tag_or_digest(reference: str, kind: str) -> None:
    assert resolve(reference).kind == kind


def test_parse_splits_registry_repository_tag_digest() -> None:
    ref = parse(f"registry.example.com:5000/team/app:v1@{DIGEST}")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "registry.example.com:5000",
        "team/app",
        "v1",
        DIGEST,
    )
    ref = parse("nginx")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "docker.io",
        "library/nginx",
        None,
        None,
    )
    assert parse("localhost/x:1").registry == "localhost"


def test_default_ports_of_stock_images() -> None:
    assert resolve("nginx").default_port == 80
    assert resolve("nginxinc/nginx-unprivileged").default_port == 8080


def test_users_the_images_run_as_and_the_pods_override() -> None:
    curl = resolve("curlimages/curl:8.11.1")
    unprivileged = resolve("nginxinc/nginx-unprivileged:1.27-alpine")
    assert run_as(curl, {}, None) == (100, 101)
    assert run_as(unprivileged, {}, {}) == (101, 101)
    assert run_as(resolve("nginx"), {}, None) == (0, 0)
    pod_sc = {"runAsUser": 65532, "runAsGroup": 65532}
    assert run_as(curl, {}, pod_sc) == (65532, 65532)
    assert run_as(curl, {"securityContext": {"runAsUser": 7}}, pod_sc) == (7, 65532)
    assert run_as(unprivileged, {}, {"runAsUser": 1000}) == (1000, 0)  # no passwd entry


@pytest.mark.parametrize(
    "reference",
    ["ghcr.io/curlimages/curl:8", "quay.io/nginx", "alpine:3.20", "myorg/nginx"],
)
def test_unmapped_images_fail_to_pull(reference: str) -> None:
    with pytest.raises(ImagePullError) as info:
        resolve(reference)
    assert info.value.reason == "ErrImagePull"
    assert reference in info.value.message


@pytest.mark.parametrize("reference", ["", "Nginx", "nginx:bad tag", "nginx@sha256:xyz", " nginx"])
def test_invalid_references(reference: str) -> None:
    with pytest.raises(ImagePullError) as info:
        resolve(reference)
    assert info.value.reason == "InvalidImageName"


# ------------------------------------------------------------------ image-true pods (real node)


def _uids(netns: str) -> set[int]:
    uids: set[int] = set()
    for pid in nsx.pids_in_netns([netns]):
        with open(f"/proc/{pid}/status") as fh:
            line = next(ln for ln in fh if ln.startswith("Uid:"))
        uids.add(int(line.split()[1]))
    return uids


@NEEDS_ROOT
def test_curl_pod_has_exactly_the_images_tools(tmp_path: Path) -> None:
    with running_node(tmp_path) as r:
        r.add_pod(pod("a", "client"))
        rc, out, err = r.sh("a", "client", "sh", "-c", "command -v bash python3 perl ncat socat")
        assert (rc, out) != (0, "") and out == "", (out, err)
        tools = "sh nc nslookup timeout date sleep cat grep printf awk tr cut curl busybox"
        rc, out, _ = r.sh("a", "client", "sh", "-c", f"for t in {tools}; do command -v $t; done")
        assert rc == 0 and len(out.split()) == len(tools.split()), out
        # sh is busybox's ash, nc its netcat 1.10 clone (UDP, -v), not the host's
        rc, out, _ = r.sh("a", "client", "sh", "-c", 'readlink "$(command -v sh)"; nc --help 2>&1')
        assert out.splitlines()[0] == "busybox"
        assert "-u\tUDP mode" in out and "BusyBox" in out
        # nothing that acts on the host: no mount, reboot, ...
        rc, out, _ = r.sh("a", "client", "sh", "-c", "command -v mount reboot modprobe nsenter")
        assert out == ""


@NEEDS_ROOT
def test_exec_runs_as_the_images_user_or_the_pods(tmp_path: Path) -> None:
    with running_node(tmp_path) as r:
        r.add_pod(pod("a", "client"))
        restricted = pod("a", "restricted")
        restricted["spec"]["securityContext"] = {"runAsUser": 65532, "runAsGroup": 65532}
        r.add_pod(restricted)
        assert r.sh("a", "client", "id", "-u")[1] == "100\n"  # curl_user
        assert r.sh("a", "client", "id", "-g")[1] == "101\n"
        assert r.sh("a", "restricted", "sh", "-c", "id -u; id -g")[1] == "65532\n65532\n"
        # no capabilities left: a raw socket (ping) needs CAP_NET_RAW
        rc, _out, _err = r.sh("a", "restricted", "ping", "-c1", "-W1", r.node.gateway_ip())
        assert rc != 0


@NEEDS_ROOT
def test_nginx_unprivileged_runs_as_101_serves_udp_and_binds_80(tmp_path: Path) -> None:
    with running_node(tmp_path) as r:
        r.add_pod(pod("a", "client"))
        r.add_pod(unprivileged_server("s"))
        ip = r.ip("a", "s")
        assert r.sh("a", "client", "curl", "-s", f"http://{ip}:80/")[1] == "ok\n"
        assert r.udp(("a", "client"), ip, 5353) == "ok\n"  # nginx's stream module, not the node
        assert _uids(r.node._pods[("a", "s")].netns) == {101}


@NEEDS_ROOT
def test_unprivileged_port_start_from_the_pods_sysctls(tmp_path: Path) -> None:
    """With the kernel's default (1024) a non-root nginx cannot bind port 80."""
    with running_node(tmp_path) as r:
        body = unprivileged_server(
            "s", [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "1024"}]
        )
        r.add_pod(body, wait=False)
        with pytest.raises(AssertionError, match="never became ready"):
            r.wait_ready(body, timeout=3)
        rec = r.node._pods[("a", "s")]
        assert rec.directory is not None
        log = (rec.directory / "main" / "container.log").read_text()
        assert "Permission denied" in log


@NEEDS_ROOT
def test_udp_closed_dropped_and_listening_tell_apart_with_nc_vv(tmp_path: Path) -> None:
    """The image's nc prints nothing for a closed port without -v; -vv says which it was."""
    with running_node(tmp_path) as r:
        r.add_pod(pod("a", "client"))
        r.add_pod(unprivileged_server("s", []))
        ip = r.ip("a", "s")

        def nc(port: int, *flags: str) -> tuple[int, str]:
            line = f"printf 'probe\\n' | nc {' '.join(flags)} -u -w1 {ip} {port} 2>&1"
            rc, out, _ = r.sh("a", "client", "sh", "-c", line)
            return rc, out

        assert nc(5354) == (0, "")  # closed, no -v: silent, exit 0 (looks dropped)
        rc, closed = nc(5354, "-vv")
        assert rc == 0 and "Connection refused" in closed and "rcvd 0" in closed
        rc, listening = nc(5353, "-vv")
        assert rc == 0 and "ok" in listening and "rcvd 3" in listening
        r.sync([policy("a", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]})])
        rc, dropped = nc(5354, "-vv")
        assert rc == 0 and "net timeout" in dropped and "rcvd 0" in dropped
        assert "refused" not in dropped.lower()
