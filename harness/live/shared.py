"""Runs that apply the same cluster-wide singleton take turns.

A BaselineAdminNetworkPolicy must be named ``default`` and the ``default`` Tier is
Calico's own: a run cannot rename them (as it renames GlobalNetworkPolicies, Tiers and
the other cluster-wide policies), so two runs applying one at once would replace each
other's object and delete it under each other. :class:`SharedObjects` holds one lock
per object: a thread lock inside the process (scenarios of one session run in
threads), and an exclusive ``flock`` on a file named after the API server and the
object, so pytest-xdist workers and other runs on the same machine wait too. Runs on
other machines are not covered (docs/calico.md says so).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from contextlib import suppress
from pathlib import Path

LOCK_DIR_ENV = "NETPOL_LOCK_DIR"


def lock_dir() -> Path:
    return Path(
        os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "netpol-harness-locks"
    )


class SharedObjects:
    def __init__(self, server: str) -> None:
        self.server = server
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _thread_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def path(self, key: str) -> Path:
        digest = hashlib.sha256(f"{self.server}\n{key}".encode()).hexdigest()[:24]
        return lock_dir() / f"{digest}.lock"

    @contextmanager
    def held(self, keys: Sequence[str]) -> Iterator[None]:
        """Hold every lock of ``keys`` (in sorted order: no two runs wait on each other)."""
        taken: list[tuple[threading.Lock, int]] = []
        try:
            for key in sorted(set(keys)):
                lock = self._thread_lock(key)
                lock.acquire()
                try:
                    path = self.path(key)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
                except OSError:
                    lock.release()
                    raise
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    lock.release()
                    raise
                taken.append((lock, fd))
            yield
        finally:
            for lock, fd in reversed(taken):
                with suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                lock.release()
