"""``python -m netpol_sandbox.daemon --state-dir DIR``: the sandbox's long-running process.

One asyncio loop holds the API server (HTTPS on 127.0.0.1, a free port; its CA and
certificate are made at start in DIR/pki, see netpol_sandbox.pki), the store, the
controllers and the node agent. Writes DIR/kubeconfig, DIR/sandbox.pid, DIR/sandbox.json (id, port,
address ranges, readiness) and DIR/sandbox.log. SIGTERM/SIGINT: stop serving, node.stop(),
exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import importlib
import json
import logging
import os
import secrets
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from netpol_sandbox import faults as faults_module
from netpol_sandbox import pki as pki_module
from netpol_sandbox.admission import PodSecurity
from netpol_sandbox.admission import ServiceAccountAdmission
from netpol_sandbox.api import Server
from netpol_sandbox.api import make_app
from netpol_sandbox.apps import apps_hook
from netpol_sandbox.auth import Authenticator
from netpol_sandbox.controllers import Controllers
from netpol_sandbox.controllers import NodeLike
from netpol_sandbox.defaults import ServiceIPs
from netpol_sandbox.defaults import defaults_and_validation
from netpol_sandbox.faults import Faults
from netpol_sandbox.kubeconfig import write as write_kubeconfig
from netpol_sandbox.policy_kinds import PolicyKinds
from netpol_sandbox.store import Store

log = logging.getLogger("netpol_sandbox")

DEFAULT_NODE = "netpol_sandbox.node:Node"
FIRST_INDEX, LAST_INDEX = 200, 250


@dataclass(frozen=True)
class NodeSettings:
    """Same fields as netpol_sandbox.node.NodeConfig, for node factories without one."""

    state_dir: Path
    sandbox_id: str
    pod_cidr: str
    service_cidr: str
    enforce: bool = True


def registry_dir() -> Path:
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    path = base / "netpol-harness-sandboxes"
    path.mkdir(mode=0o755, exist_ok=True)
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_range(sandbox_id: str, state_dir: Path) -> int:
    """Pick a free /16 index (10.<i>.0.0/16 pods, 10.96.<i>.0/24 services) under a lock."""
    directory = registry_dir()
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        used: set[int] = set()
        for entry in directory.glob("*.json"):
            try:
                data = json.loads(entry.read_text())
            except (OSError, ValueError):
                continue
            if pid_alive(int(data.get("pid", 0))):
                used.add(int(data.get("index", -1)))
            else:
                entry.unlink(missing_ok=True)
        for index in range(FIRST_INDEX, LAST_INDEX + 1):
            if index not in used:
                (directory / f"{sandbox_id}.json").write_text(
                    json.dumps({"pid": os.getpid(), "index": index, "state_dir": str(state_dir)})
                )
                return index
    raise RuntimeError("no free address range: 51 sandboxes are running already")


def release_range(sandbox_id: str) -> None:
    with contextlib.suppress(OSError):
        (registry_dir() / f"{sandbox_id}.json").unlink()


def load_node(spec: str, settings: NodeSettings) -> NodeLike:
    module_name, _, class_name = spec.partition(":")
    module = importlib.import_module(module_name)
    node_class = getattr(module, class_name)
    config_class = getattr(module, "NodeConfig", None)
    config: Any = settings
    if config_class is not None:
        config = config_class(
            state_dir=settings.state_dir,
            sandbox_id=settings.sandbox_id,
            pod_cidr=settings.pod_cidr,
            service_cidr=settings.service_cidr,
            enforce=settings.enforce,
        )
    node: NodeLike = node_class(config)
    return node


def write_info(state_dir: Path, info: dict[str, Any]) -> None:
    path = state_dir / "sandbox.json"
    tmp = path.with_name("sandbox.json.tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True))
    os.replace(tmp, path)


def build_server(
    node: NodeLike, faults: Faults, auth: Authenticator, host_ip: str, service_cidr: str | None
) -> Server:
    """Store + hooks + controllers + API for a node (also used by the tests)."""
    import random

    store = Store()
    store.hooks.append(defaults_and_validation)
    store.hooks.append(PolicyKinds(store).hook)
    store.hooks.append(apps_hook)
    store.hooks.append(ServiceIPs(store, service_cidr).hook)
    store.hooks.append(ServiceAccountAdmission(store).hook)  # mutating phase: before PSA
    store.hooks.append(PodSecurity(store).hook)
    cluster = Controllers(store, node, faults, host_ip=host_ip, service_cidr=service_cidr)
    return Server(store, cluster, faults, auth, random.Random(faults.seed))


async def serve(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    faults = faults_module.from_args(args)
    sandbox_id = secrets.token_hex(3)
    index = claim_range(sandbox_id, state_dir)
    pod_cidr = f"10.{index}.0.0/16"
    service_cidr = f"10.96.{index}.0/24"
    host_ip = f"10.{index}.0.1"
    token = secrets.token_hex(24)
    tls = not faults.insecure_http
    auth = Authenticator.admin_only(token, tls=tls)
    if args.rbac:
        auth = auth.with_file(args.rbac)
    info: dict[str, Any] = {
        "id": sandbox_id,
        "pid": os.getpid(),
        "pod_cidr": pod_cidr,
        "service_cidr": service_cidr,
        "node": args.node,
        "ready": False,
        "faults": json.loads(faults.to_json()),
    }
    write_info(state_dir, info)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    settings = NodeSettings(state_dir, sandbox_id, pod_cidr, service_cidr, faults.enforce)
    node: NodeLike | None = None
    runner: web.AppRunner | None = None
    server: Server | None = None
    try:
        node = load_node(args.node, settings)
        await node.start()
        gateway = getattr(node, "gateway_ip", None)
        if callable(gateway):
            host_ip = str(gateway())
        server = build_server(node, faults, auth, host_ip, service_cidr)
        server.audit_path = state_dir / "audit.jsonl"  # every authorized request, one line
        server.cluster.start()
        await server.cluster.bootstrap()
        pki = pki_module.generate(state_dir / "pki") if tls else None
        runner = web.AppRunner(make_app(server), handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(
            runner,
            "127.0.0.1",
            args.port,
            ssl_context=pki.server_context() if pki is not None else None,
        )
        await site.start()
        port = runner.addresses[0][1]
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        kubeconfig = write_kubeconfig(
            state_dir / "kubeconfig",
            url,
            token,
            ca_pem=pki.ca_pem() if pki is not None else None,
        )
        info.update({"port": port, "server": url, "kubeconfig": str(kubeconfig), "ready": True})
        if pki is not None:
            info["ca"] = str(pki.ca_cert)
        write_info(state_dir, info)
        log.info(
            "sandbox %s serving on %s (pods %s, services %s)",
            sandbox_id,
            url,
            pod_cidr,
            service_cidr,
        )
        await stop.wait()
        log.info("stopping")
        return 0
    except Exception as exc:
        log.exception("sandbox failed")
        info.update({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        write_info(state_dir, info)
        return 1
    finally:
        if runner is not None:
            await runner.cleanup()
        if server is not None:
            await server.cluster.close()
        if node is not None:
            try:
                await node.stop()
            except Exception:
                log.exception("node.stop failed")
        release_range(sandbox_id)
        info.update({"ready": False, "stopped": True})
        write_info(state_dir, info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m netpol_sandbox.daemon")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rbac", type=Path, default=None)
    parser.add_argument("--node", default=DEFAULT_NODE, help=argparse.SUPPRESS)
    faults_module.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=state_dir / "sandbox.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    pid_file = state_dir / "sandbox.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        return asyncio.run(serve(args))
    finally:
        with contextlib.suppress(OSError):
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()


if __name__ == "__main__":
    sys.exit(main())
