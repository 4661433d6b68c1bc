"""The one SIGTERM path: CI runners cancel with SIGTERM; it must clean up like Ctrl-C.

:func:`interrupt_on_sigterm` makes SIGTERM raise KeyboardInterrupt in the main thread
(pytest turns that into an orderly stop: sessionfinish, unconfigure, ``add_cleanup``
callbacks and ``finally`` blocks run); :func:`shield_sigterm` ignores it, saying so once,
while a bounded cleanup runs. Each returns its undo; both are no-ops outside the main
thread (signal handlers can only be set there).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TextIO

Handler = Callable[[int, FrameType | None], None]


def _swap(handler: Handler) -> Callable[[], None]:
    """Install ``handler`` for SIGTERM; returns the undo restoring the previous one."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        return lambda: None

    def undo() -> None:
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signal.SIGTERM, previous)

    return undo


def interrupt_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise KeyboardInterrupt in the main thread; returns the undo."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return _swap(on_term)


def shield_sigterm(out: TextIO) -> Callable[[], None]:
    """Ignore SIGTERM (saying so once on ``out``) until the returned undo runs."""
    said: list[bool] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        if not said:
            said.append(True)
            print("netpol: SIGTERM during cleanup: finishing the cleanup first", file=out)

    return _swap(on_term)
