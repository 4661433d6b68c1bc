"""``netpol-harness sandbox up|down|status|demo``: run the single-host stand-in cluster.

``up`` starts the daemon (python -m netpol_sandbox.daemon) in the background and returns
when the API answers and the DNS pod runs, printing the kubeconfig path. ``down`` stops it
(SIGTERM, then cleanup of whatever the node left). ``demo`` = up, pytest, down.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from netpol_sandbox import faults as faults_module
from netpol_sandbox.errors import ClusterError
from netpol_sandbox.errors import ConfigError
from netpol_sandbox.errors import SandboxError

DEFAULT_STATE = Path(".sandbox")


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (
        ("up", "start a sandbox cluster in the background; prints the kubeconfig path"),
        ("down", "stop the sandbox and remove everything it created"),
        ("status", "say whether the sandbox runs, its API address and pod count"),
        ("demo", "up, run pytest against it (args after --), down; exits with pytest's code"),
    ):
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help="default: .sandbox")
        if name in ("up", "demo"):
            sub.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for up")
            sub.add_argument(
                "--rbac", type=Path, default=None, help="JSON file of tokens and rules"
            )
            sub.add_argument("--node", default=None, help=argparse.SUPPRESS)
            faults_module.add_arguments(sub)
        if name == "demo":
            sub.add_argument(
                "pytest_args", nargs=argparse.REMAINDER, help="-- then pytest arguments"
            )


def run(args: argparse.Namespace) -> int:
    """Run one action; a :class:`SandboxError` is one line on stderr and exit code 2."""
    try:
        return _run(args)
    except SandboxError as exc:
        print(f"netpol-harness: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    action: str = args.action
    state_dir: Path = args.state_dir.resolve()
    if action == "up":
        print(up(state_dir, args))
        return 0
    if action == "down":
        for line in down(state_dir):
            print(line)
        return 0
    if action == "status":
        return status(state_dir)
    return demo(state_dir, args)


# -- helpers ---------------------------------------------------------------------------------
def read_info(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((state_dir / "sandbox.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def running_pid(state_dir: Path) -> int | None:
    try:
        pid = int((state_dir / "sandbox.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if b"netpol_sandbox.daemon" not in cmdline:
        return None  # a recycled pid: not ours
    return pid


def _get_json(url: str, state_dir: Path, timeout: float = 2.0) -> Any:
    """GET with the sandbox kubeconfig's token, verifying the server against its CA."""
    from netpol_sandbox import kubeconfig as kubeconfig_module

    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    headers: dict[str, str] = {}
    try:
        cluster = kubeconfig_module.read(state_dir / "kubeconfig")
    except (OSError, ValueError, AttributeError, IndexError):
        cluster = None
    if cluster is not None:
        if cluster.token:
            headers["Authorization"] = f"Bearer {cluster.token}"
        if cluster.ca_pem:
            context = ssl.create_default_context(cadata=cluster.ca_pem.decode())
            handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers=headers)
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def _log_tail(state_dir: Path, lines: int = 15) -> str:
    try:
        text = (state_dir / "sandbox.log").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


# -- actions -----------------------------------------------------------------------------------
def up(state_dir: Path, args: argparse.Namespace) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    kubeconfig = state_dir / "kubeconfig"
    if running_pid(state_dir) is not None and read_info(state_dir).get("ready"):
        return kubeconfig
    faults = faults_module.from_args(args)
    faults_file = state_dir / "faults.json"
    faults_file.write_text(faults.to_json())
    with contextlib.suppress(OSError):
        (state_dir / "sandbox.json").unlink()
    command = [
        sys.executable,
        "-m",
        "netpol_sandbox.daemon",
        "--state-dir",
        str(state_dir),
        "--faults",
        str(faults_file),
    ]
    if args.rbac:
        command += ["--rbac", str(args.rbac.resolve())]
    if args.node:
        command += ["--node", args.node]
    with open(state_dir / "daemon.out", "ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=os.getcwd(),
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            info = read_info(state_dir)
            raise ClusterError(
                f"the sandbox daemon exited with code {process.returncode}: "
                f"{info.get('error') or 'see ' + str(state_dir / 'sandbox.log')}\n"
                f"{_log_tail(state_dir)}"
            )
        info = read_info(state_dir)
        if info.get("ready") and info.get("server"):
            with contextlib.suppress(OSError, ValueError):
                _get_json(f"{info['server']}/version", state_dir)
                return kubeconfig
        time.sleep(0.1)
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    raise ClusterError(
        f"the sandbox did not come up within {args.timeout:g}s (see {state_dir / 'sandbox.log'}; "
        f"fix: raise --timeout)\n{_log_tail(state_dir)}"
    )


def down(state_dir: Path, timeout: float = 30.0) -> list[str]:
    said: list[str] = []
    pid = running_pid(state_dir)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            _reap(pid)
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            said.append(
                f"killed the sandbox daemon (pid {pid}): it did not stop within {timeout:g}s"
            )
        else:
            said.append(f"stopped the sandbox daemon (pid {pid})")
    else:
        said.append(f"no sandbox daemon running for {state_dir}")
    info = read_info(state_dir)
    node_spec = str(info.get("node") or "netpol_sandbox.node:Node")
    if node_spec == "netpol_sandbox.node:Node" and state_dir.exists():
        try:
            from netpol_sandbox import node as node_module

            removed = node_module.Node.cleanup_state(state_dir)
            said.extend(f"removed {item}" for item in removed)
        except ModuleNotFoundError:
            pass
    if info.get("id"):
        from netpol_sandbox.daemon import release_range

        release_range(str(info["id"]))
    with contextlib.suppress(OSError):
        (state_dir / "sandbox.pid").unlink()
    return said


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def status(state_dir: Path) -> int:
    pid = running_pid(state_dir)
    info = read_info(state_dir)
    if pid is None or not info.get("ready"):
        print(f"sandbox: not running ({state_dir})")
        return 1
    server = str(info.get("server"))
    try:
        pods = _get_json(f"{server}/api/v1/pods", state_dir)
        count = len(pods.get("items") or [])
    except (OSError, ValueError, urllib.error.URLError):
        count = -1
    print(f"sandbox: running (pid {pid}, id {info.get('id')})")
    print(f"api: {server}")
    print(f"kubeconfig: {info.get('kubeconfig')}")
    print(f"pods: {count if count >= 0 else 'unknown (the API did not answer)'}")
    print(f"address ranges: pods {info.get('pod_cidr')}, services {info.get('service_cidr')}")
    return 0


def demo(state_dir: Path, args: argparse.Namespace) -> int:
    extra = list(args.pytest_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    try:
        kubeconfig = up(state_dir, args)
        print(f"sandbox up: {kubeconfig}", flush=True)
        command = [sys.executable, "-m", "pytest", "--netpol-kubeconfig", str(kubeconfig)]
        pod_cidr = read_info(state_dir).get("pod_cidr")
        if pod_cidr and not any(a.startswith("--netpol-pod-cidr") for a in extra):
            command += ["--netpol-pod-cidr", str(pod_cidr)]  # for ${clusterPodCIDR}
        return subprocess.call([*command, *extra])
    except ConfigError:
        raise
    finally:
        for line in down(state_dir):
            print(line)
        # The rerun and kubectl lines printed above name this (now deleted) sandbox.
        print(
            "the demo sandbox is gone: to rerun cells or look around with kubectl, keep one "
            f"up: netpol-harness sandbox up --state-dir {state_dir}, then pytest "
            f"--netpol-kubeconfig {state_dir / 'kubeconfig'} --netpol-keep ... "
            f"(and netpol-harness sandbox down --state-dir {state_dir} when done)"
        )
