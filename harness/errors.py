"""The harness's own error types.

Every error a user can cause or meet is one of these, with a message that says
what happened, where, and how to fix it. The CLI and the pytest plugin print
``str(error)`` without a traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class ScenarioError(HarnessError):
    """A scenario (or a manifest it applies) is invalid. Found before any cluster call."""

    def __init__(self, path: str, line: int | None, message: str, fix: str = "") -> None:
        self.path = path
        self.line = line
        self.message = message
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = f"{where}: {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class ConfigError(HarnessError):
    """Bad options, kubeconfig, or environment."""


class ClusterError(HarnessError):
    """The cluster (API server, kubelet, CNI) failed us: never a policy verdict.

    ``status`` is the HTTP status of an API error (0 for transport errors);
    ``retryable`` tells the runner whether trying again is safe.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class NotFound(ClusterError):
    """404: the object does not exist."""


class Conflict(ClusterError):
    """409: AlreadyExists or a resourceVersion conflict."""


class Invalid(ClusterError):
    """422: the API server rejected the object."""


class Forbidden(ClusterError):
    """403: RBAC or admission (Pod Security) said no."""


class ExecError(ClusterError):
    """An exec call failed as a transport: no upgrade, lost status, timeout."""


class PodNotReady(ClusterError):
    """A pod did not become Ready in time; the message carries its conditions and events."""
