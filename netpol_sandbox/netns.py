"""Async helpers around `ip`, `nft`, `conntrack` and network namespaces.

Every network namespace and process the node agent creates is recorded in a
small JSON state file (``<state_dir>/node-state.json``) as it goes, so that
:func:`cleanup` can remove it all after a crash. Processes are identified by
pid *and* start time, so a recycled pid is never killed. The only host-visible
mounts besides ``/run/netns/<name>`` are the persistent mount namespaces under
``<state_dir>/node/mnt`` (one per Kubernetes namespace, for exec), which
:func:`cleanup` finds in /proc/self/mountinfo and unmounts.

Nothing here touches the host's own links, routes, sysctls or nftables: links
are created inside the sandbox's node namespace, sysctls are written from a
helper thread that has joined the target namespace (``setns``), and nft and
conntrack run inside the node namespace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import TypeVar

from netpol_sandbox import tools

NETNS_DIR = Path("/run/netns")
STATE_FILE = "node-state.json"
CLONE_NEWNET = 0x40000000

IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"
CONNTRACK = shutil.which("conntrack") or "/usr/sbin/conntrack"
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
MOUNT = shutil.which("mount") or "/bin/mount"
UMOUNT = shutil.which("umount") or "/bin/umount"

T = TypeVar("T")


class CommandError(RuntimeError):
    """A helper command (ip, nft, ...) failed."""

    def __init__(self, argv: list[str], rc: int, stderr: str) -> None:
        self.argv = argv
        self.rc = rc
        self.stderr = stderr
        super().__init__(f"{' '.join(argv[:6])} failed (exit {rc}): {stderr.strip()[:500]}")


# ---------------------------------------------------------------- commands


async def run(
    argv: list[str], *, stdin: bytes | None = None, check: bool = True
) -> tuple[int, str, str]:
    """Run a command; return (rc, stdout, stderr). Raise CommandError when check and rc != 0."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    rc = proc.returncode if proc.returncode is not None else -1
    if check and rc != 0:
        raise CommandError(argv, rc, err.decode(errors="replace"))
    return rc, out.decode(errors="replace"), err.decode(errors="replace")


async def ip_batch(lines: Iterable[str], netns: str | None = None, *, force: bool = False) -> None:
    """Run many `ip` commands in one process (`ip [-n NS] -batch -`)."""
    text = "".join(line + "\n" for line in lines)
    if not text:
        return
    argv = [IP]
    if netns is not None:
        argv += ["-n", netns]
    if force:
        argv.append("-force")
    argv += ["-batch", "-"]
    await run(argv, stdin=text.encode(), check=not force)


async def in_netns_cmd(netns: str, argv: list[str], *, stdin: bytes | None = None) -> str:
    """Run a command inside a namespace's network stack (nsenter --net, no mount ns)."""
    _rc, out, _err = await run(
        [NSENTER, f"--net={netns_path(netns)}", *argv], stdin=stdin, check=True
    )
    return out


async def nft_load(netns: str, text: str) -> None:
    """Load an nft script atomically inside ``netns``."""
    await in_netns_cmd(netns, [NFT, "-f", "-"], stdin=text.encode())


async def conntrack_delete(netns: str, filters: Iterable[tuple[str, str]]) -> None:
    """Delete the tracked flows of ``netns`` matching each ``(option, value)`` filter
    (``conntrack -D --orig-src 10.0.0.5``: one command each, a few at a time).

    conntrack exits 1 when nothing matched; that is not an error.
    """
    sem = asyncio.Semaphore(4)

    async def one(option: str, value: str) -> None:
        async with sem:
            argv = [NSENTER, f"--net={netns_path(netns)}", CONNTRACK, "-D", option, value]
            rc, _out, err = await run(argv, check=False)
            if rc not in (0, 1):
                raise CommandError(argv, rc, err)

    await asyncio.gather(*(one(option, value) for option, value in filters))


# ---------------------------------------------------------------- namespaces


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def list_netns(prefix: str) -> list[str]:
    """Names of the named network namespaces starting with ``prefix``."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(netns_path(name)).st_ino
    except OSError:
        return None


def pids_in_netns(names: Iterable[str]) -> list[int]:
    """Pids of every process whose network namespace is one of ``names``."""
    inodes = {i for i in (netns_inode(n) for n in names) if i is not None}
    if not inodes:
        return []
    me = os.getpid()
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            link = os.readlink(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        # "net:[4026532245]"
        try:
            ino = int(link[link.index("[") + 1 : link.index("]")])
        except ValueError:
            continue
        if ino in inodes:
            found.append(int(entry))
    return found


class _NetnsThread:
    """One helper thread that temporarily joins other network namespaces.

    ``setns`` only affects the calling thread, so the thread always returns to
    its own namespace before it runs the next job.
    """

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nph-netns")
        self._libc: Any = None
        self._lock = threading.Lock()

    def _setns(self, fd: int) -> None:
        if self._libc is None:
            self._libc = ctypes.CDLL(None, use_errno=True)
        if self._libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def _call(self, name: str, fn: Callable[[], T]) -> T:
        with self._lock:
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                target = os.open(netns_path(name), os.O_RDONLY)
                try:
                    self._setns(target)
                finally:
                    os.close(target)
                try:
                    return fn()
                finally:
                    try:
                        self._setns(home)
                    except OSError:
                        # never run another job on a thread stuck in a foreign namespace
                        self._pool.shutdown(wait=False)
                        self._pool = concurrent.futures.ThreadPoolExecutor(
                            1, thread_name_prefix="nph-netns"
                        )
                        raise
            finally:
                os.close(home)

    async def call(self, name: str, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._call, name, fn)


_THREAD = _NetnsThread()


async def call_in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a thread that has joined network namespace ``name``."""
    return await _THREAD.call(name, fn)


async def write_sysctls(name: str, values: dict[str, str]) -> None:
    """Write /proc/sys/net/... values inside namespace ``name`` (keys like 'ipv4/ip_forward')."""

    def _write() -> None:
        for key, value in values.items():
            with open(f"/proc/sys/net/{key}", "w") as fh:
                fh.write(value)

    await call_in_netns(name, _write)


def _proc_net_ports(pid: int, protocol: str, state: str | None) -> set[int]:
    """Local ports in ``/proc/PID/net/{protocol}{,6}``, of sockets in ``state`` (hex; None: any)."""
    ports: set[int] = set()
    for table in (protocol, f"{protocol}6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and (state is None or fields[3] == state):
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def tcp_listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state in the network namespace of process ``pid``."""
    return _proc_net_ports(pid, "tcp", "0A")


def udp_bound_ports(pid: int) -> set[int]:
    """UDP ports bound (any state) in the network namespace of process ``pid``."""
    return _proc_net_ports(pid, "udp", None)


# ---------------------------------------------------------------- mount namespaces


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below ``directory`` in our mount namespace, deepest first."""
    base = str(directory)
    found: list[str] = []
    try:
        with open("/proc/self/mountinfo") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if point == base or point.startswith(base + "/"):
            found.append(point)
    return sorted(found, key=lambda p: (-p.count("/"), p), reverse=False)


def unmount_under(directory: Path) -> list[str]:
    """Unmount everything at or below ``directory`` (persistent mount namespaces)."""
    removed: list[str] = []
    for point in mounts_under(directory):
        rc = subprocess.run([UMOUNT, point], capture_output=True, check=False).returncode
        if rc != 0:
            rc = subprocess.run([UMOUNT, "-l", point], capture_output=True, check=False).returncode
        if rc == 0:
            removed.append(f"mount {point}")
    return removed


async def make_private_dir_mount(directory: Path) -> None:
    """Bind ``directory`` onto itself with private propagation (for persistent mount ns files)."""
    directory.mkdir(parents=True, exist_ok=True)
    if str(directory) not in mounts_under(directory):
        await run([MOUNT, "--bind", str(directory), str(directory)])
    await run([MOUNT, "--make-private", str(directory)])


async def make_mount_ns(path: Path, binds: dict[str, Path]) -> None:
    """A persistent mount namespace at ``path`` (a file in a private mount) with bind mounts.

    ``binds`` maps target (e.g. /etc/resolv.conf) -> source file. Processes join it with
    ``nsenter --mount=path``: no per-exec copy of the host's mount table.
    """
    path.touch()
    script = "".join(f'{MOUNT} --bind "{src}" "{dst}" && ' for dst, src in binds.items())
    await run(
        [UNSHARE, f"--mount={path}", "--propagation", "private", "/bin/sh", "-c", script + "true"]
    )


# ---------------------------------------------------------------- processes


def start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    if fields and fields[0] == "Z":
        return None  # a zombie is as good as gone
    return int(fields[19])


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def kill_processes(pids: dict[int, int | None], *, grace: float = 2.0) -> list[int]:
    """TERM, then KILL after ``grace`` seconds, each pid (and its process group).

    ``pids`` maps pid -> start time; a pid whose start time differs is not ours
    any more and is skipped. Returns the pids that were signalled. Waits until
    they are gone.
    """
    ours = [
        p for p, st in pids.items() if (cur := start_time(p)) is not None and cur == (st or cur)
    ]
    for pid in ours:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(start_time(p) is not None for p in ours):
        time.sleep(0.02)
    for pid in ours:
        if start_time(pid) is not None:
            _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(start_time(p) is not None for p in ours):
        time.sleep(0.02)
    return ours


# ---------------------------------------------------------------- state file


@dataclass
class NodeState:
    """What the node agent created, persisted after every change."""

    path: Path
    sandbox_id: str
    netns: list[str]
    pids: dict[int, int | None]

    @classmethod
    def create(cls, state_dir: Path, sandbox_id: str) -> NodeState:
        state = cls(state_dir / STATE_FILE, sandbox_id, [], {})
        state.save()
        return state

    @classmethod
    def load(cls, state_dir: Path) -> NodeState | None:
        path = state_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        pids = {int(p): (int(s) if s is not None else None) for p, s in raw.get("pids", [])}
        return cls(path, str(raw.get("sandbox_id", "")), list(raw.get("netns", [])), pids)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "sandbox_id": self.sandbox_id,
            "netns": self.netns,
            "pids": [[p, s] for p, s in sorted(self.pids.items())],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=1))
        os.replace(tmp, self.path)

    def add_netns(self, name: str) -> None:
        if name not in self.netns:
            self.netns.append(name)
            self.save()

    def drop_netns(self, name: str) -> None:
        if name in self.netns:
            self.netns.remove(name)
            self.save()

    def add_pid(self, pid: int) -> None:
        self.pids[pid] = start_time(pid)
        self.save()

    def drop_pid(self, pid: int) -> None:
        if self.pids.pop(pid, 0) != 0:
            self.save()


def prefix_of(sandbox_id: str) -> str:
    return f"nph{sandbox_id}-"


def _sandbox_id_from(state_dir: Path) -> str:
    node = NodeState.load(state_dir)
    if node is not None and node.sandbox_id:
        return node.sandbox_id
    for name in ("sandbox.json", "state.json"):  # the daemon's files
        try:
            raw = json.loads((state_dir / name).read_text())
        except (OSError, ValueError):
            continue
        for key in ("sandbox_id", "id"):
            value = raw.get(key) if isinstance(raw, dict) else None
            if isinstance(value, str) and len(value) == 6 and value.isalnum():
                return value
    return ""


def cleanup(state_dir: Path, sandbox_id: str | None = None) -> list[str]:
    """Remove every process and namespace the node of ``state_dir`` left behind.

    Synchronous (usable from `sandbox down` after a crash). Kills recorded pids
    (if their start time still matches) and every process living in one of the
    sandbox's namespaces, then deletes the namespaces (node first: that takes
    the bridge, veths and nft table with it). Returns what it removed.
    """
    state = NodeState.load(state_dir)
    sid = sandbox_id or _sandbox_id_from(state_dir)
    names: set[str] = set(state.netns if state else [])
    if sid:
        names.update(list_netns(prefix_of(sid)))
    names = {n for n in names if netns_path(n).exists()}
    removed: list[str] = []
    pids: dict[int, int | None] = dict(state.pids) if state else {}
    for pid in pids_in_netns(names):
        pids.setdefault(pid, start_time(pid))
    for pid in kill_processes(pids):
        removed.append(f"process {pid}")
    ordered = sorted(names, key=lambda n: (not n.endswith("-node"), n))
    if ordered:
        text = "".join(f"netns del {n}\n" for n in ordered)
        subprocess.run(
            [IP, "-force", "-batch", "-"], input=text.encode(), capture_output=True, check=False
        )
        for n in ordered:
            if netns_path(n).exists():  # fall back to one call each
                subprocess.run([IP, "netns", "del", n], capture_output=True, check=False)
            if not netns_path(n).exists():
                removed.append(f"netns {n}")
    removed += unmount_under(state_dir / "node" / "mnt")
    if sid and tools.remove_runtime(sid):
        removed.append(f"runtime {tools.runtime_dir(sid)}")
    if state is not None:
        state.netns = [n for n in state.netns if netns_path(n).exists()]
        state.pids = {p: s for p, s in state.pids.items() if start_time(p) is not None}
        state.save()
    return removed
