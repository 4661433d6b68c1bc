"""When a cluster call is tried again, and after how long: the retry rules in one place.

:class:`harness.live.cluster.Cluster` runs every safe call (reads, deletes, creates)
through :func:`retrying`: a harness error marked retryable (429, 5xx, transport) is
tried again with exponential backoff, never sooner than the server's Retry-After.
:func:`until_service_account` retries a pod create refused only because its new
namespace has no ServiceAccount yet. Pure: no kubernetes import; it only sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

from harness.errors import ClusterError
from harness.errors import Forbidden
from harness.live.apistatus import waits_for_service_account

T = TypeVar("T")


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ClusterError) and exc.retryable


class _RetryAfterWait(tenacity.wait.wait_base):
    """Exponential backoff, but at least the server's Retry-After."""

    def __init__(self, base: float, cap: float) -> None:
        self._exp = tenacity.wait_exponential(multiplier=base, max=cap)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        delay = float(self._exp(retry_state))
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            if isinstance(exc, ClusterError) and exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, 30.0))
        return delay


def retrying(fn: Callable[[], T], *, attempts: int, base: float, cap: float) -> T:
    """``fn()``, tried up to ``attempts`` times while it raises a retryable ClusterError."""
    retryer = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_retryable),
        stop=tenacity.stop_after_attempt(attempts),
        wait=_RetryAfterWait(base, cap),
        reraise=True,
    )
    return retryer(fn)


def until_service_account(fn: Callable[[], T], wait: float) -> T:
    """``fn()``, again for up to ``wait`` seconds while the namespace's ServiceAccount is missing.

    A pod in a namespace created a moment ago is refused (403) until the ServiceAccount
    controller made ``default`` (:func:`~harness.live.apistatus.waits_for_service_account`);
    every other error is raised at once.
    """
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return fn()
        except Forbidden as exc:
            if not waits_for_service_account(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
