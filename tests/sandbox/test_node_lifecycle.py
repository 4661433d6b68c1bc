"""Node lifecycle: containers, exec semantics, deletion, stop and crash cleanup."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import pytest

from netpol_sandbox import netns as nsx
from netpol_sandbox.node import ImagePullError
from netpol_sandbox.node import Node
from netpol_sandbox.node import NodeConfig
from netpol_sandbox.node import PodNotFound
from tests.sandbox.nodekit import NEEDS_ROOT
from tests.sandbox.nodekit import NGINX
from tests.sandbox.nodekit import leftovers
from tests.sandbox.nodekit import pod
from tests.sandbox.nodekit import running_node

pytestmark = [NEEDS_ROOT, pytest.mark.sandbox]

SCRIPT = """cat > /tmp/nginx.conf <<'EOF'
user nginx;
events {}
http { server { listen 8090; location / { return 200 "from script\\n"; } } }
EOF
exec nginx -c /tmp/nginx.conf -g 'daemon off;'"""


def alive(pid: int) -> bool:
    return nsx.start_time(pid) is not None


def test_exec_semantics(tmp_path: Path) -> None:
    with running_node(tmp_path) as r:
        r.add_pod(pod("a", "curl"))
        r.add_pod(pod("a", "bb", "busybox:1.36"))
        rc, out, err = r.sh("a", "curl", "sh", "-c", "echo out; echo err >&2; exit 3")
        assert (rc, out, err) == (3, "out\n", "err\n")
        rc, _out, err = r.sh("a", "curl", "no-such-tool", "x")
        assert rc == 127 and "not found" in err
        rc, _out, err = r.sh("a", "bb", "curl", "http://x/")  # busybox has no curl
        assert rc == 127 and "not found" in err
        rc, out, _ = r.sh("a", "bb", "cat", "/etc/resolv.conf")
        assert "search a.svc.cluster.local" in out and r.node.dns_pod_ip() in out
        rc, out, _ = r.sh("a", "curl", "sh", "-c", "which nslookup timeout sleep nc curl")
        assert rc == 0 and len(out.split()) == 5
        with pytest.raises(PodNotFound):
            r.run(r.node.exec("a", "ghost", None, ["true"]))
        with pytest.raises(PodNotFound):
            r.run(r.node.exec("a", "curl", "sidecar", ["true"]))


def test_image_pull_error_creates_nothing(tmp_path: Path) -> None:
    with running_node(tmp_path) as r:
        before = leftovers(r.node.config.sandbox_id)
        with pytest.raises(ImagePullError) as info:
            r.run(r.node.run_pod(pod("a", "bad", "alpine:3.20")))
        assert info.value.reason == "ErrImagePull"
        assert leftovers(r.node.config.sandbox_id) == before


def test_nginx_command_script_and_default_config(tmp_path: Path) -> None:
    host_tmp = Path("/tmp/nginx.conf")
    existed = host_tmp.exists()
    with running_node(tmp_path) as r:
        r.add_pod(pod("a", "client"))
        r.add_pod(pod("a", "s", NGINX, {}, [{"containerPort": 8090}], ["sh", "-c", SCRIPT]))
        r.add_pod(pod("a", "u", "nginxinc/nginx-unprivileged:1.27-alpine"))
        rc, out, _ = r.sh("a", "client", "curl", "-s", f"http://{r.ip('a', 's')}:8090/")
        assert (rc, out) == (0, "from script\n")
        rc, out, _ = r.sh("a", "client", "curl", "-s", f"http://{r.ip('a', 'u')}:8080/")
        assert (rc, out) == (0, "ok 8080\n")
    assert host_tmp.exists() == existed  # the script's /tmp was private


def test_not_ready_until_listening_and_delete_pod_kills_and_removes(tmp_path: Path) -> None:
    with running_node(tmp_path) as r:
        body = pod("a", "web", NGINX, {}, [{"containerPort": 8080}])
        r.add_pod(body, wait=False)
        assert r.run(r.node.container_ready(pod("a", "unknown"))) is False
        r.wait_ready(body)
        rec = r.node._pods[("a", "web")]
        proc = rec.containers["main"].proc
        assert proc is not None and alive(proc.pid)
        netns = rec.netns
        assert netns in nsx.list_netns(netns)
        r.delete_pod("a", "web")
        assert not alive(proc.pid)
        assert nsx.list_netns(netns) == []
        assert r.run(r.node.container_ready(body)) is False


def test_stop_removes_everything(tmp_path: Path) -> None:
    pids: list[int] = []
    with running_node(tmp_path) as r:
        sid = r.node.config.sandbox_id
        r.add_pod(pod("a", "web", NGINX, {}, [{"containerPort": 8080}]))
        r.add_pod(pod("a", "client"))
        assert r.sh("a", "client", "true")[0] == 0  # makes the namespace's mount ns
        assert nsx.mounts_under(tmp_path)
        state = nsx.NodeState.load(tmp_path)
        assert state is not None
        pids = list(state.pids)
        assert len(pids) == 3  # dnsmasq, external nginx, pod nginx
        assert len(leftovers(sid)) == 5  # node, dns, ext, two pods
        r.run(r.node.stop())
        assert leftovers(sid) == []
        assert nsx.mounts_under(tmp_path) == []
        assert not any(alive(p) for p in pids)
        r.run(r.node.stop())  # idempotent
    assert not any(alive(p) for p in pids)


def test_cleanup_state_after_a_crash(tmp_path: Path) -> None:
    """The node never calls stop(): cleanup_state finds everything from the state file."""
    sid = secrets.token_hex(3)
    loop = asyncio.new_event_loop()
    node = Node(NodeConfig(tmp_path, sid, "10.241.0.0/16", "10.96.241.0/24"))
    try:
        loop.run_until_complete(node.start())
        loop.run_until_complete(node.run_pod(pod("a", "web", NGINX, {}, [{"containerPort": 80}])))
        loop.run_until_complete(node.run_pod(pod("a", "client")))
        proc = loop.run_until_complete(node.exec("a", "client", None, ["true"]))
        assert loop.run_until_complete(proc.wait()) == 0
        assert nsx.mounts_under(tmp_path)
        state = nsx.NodeState.load(tmp_path)
        assert state is not None
        pids = list(state.pids)
        assert all(alive(p) for p in pids)
        removed = Node.cleanup_state(tmp_path)
        assert leftovers(sid) == []
        assert nsx.mounts_under(tmp_path) == []
        assert not any(alive(p) for p in pids)
        assert f"netns nph{sid}-node" in removed
        assert sum(item.startswith("process ") for item in removed) >= len(pids)
        assert Node.cleanup_state(tmp_path) == []
    finally:
        Node.cleanup_state(tmp_path)
        loop.close()
    assert os.path.exists(tmp_path / "node-state.json")
