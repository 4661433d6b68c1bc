"""The API's conventions as plain data: where each kind lives, what a status means.

Pure (no kubernetes import): the kind table for REST paths, the harness error for an
HTTP status, the exit code in an exec status message, and scrubbing credentials from
error texts. :mod:`harness.live.cluster` uses these around the kubernetes client.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from harness.errors import ClusterError
from harness.errors import ConfigError
from harness.errors import Conflict
from harness.errors import ExecError
from harness.errors import Forbidden
from harness.errors import Invalid
from harness.errors import NotFound


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def collection(self, namespace: str | None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced:
            if not namespace:
                raise ConfigError(f"{self.kind} needs metadata.namespace")
            return f"{base}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{base}/{self.plural}"


KINDS: dict[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k
    for k in (
        Kind("v1", "Namespace", "namespaces", False),
        Kind("v1", "Pod", "pods", True),
        Kind("v1", "Service", "services", True),
        Kind("v1", "ConfigMap", "configmaps", True),
        Kind("v1", "Secret", "secrets", True),
        Kind("v1", "ServiceAccount", "serviceaccounts", True),
        Kind("v1", "Endpoints", "endpoints", True),
        Kind("v1", "Event", "events", True),
        Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
        Kind("rbac.authorization.k8s.io/v1", "Role", "roles", True),
        Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
        Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
        Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
        Kind("apps/v1", "Deployment", "deployments", True),
        Kind("apps/v1", "DaemonSet", "daemonsets", True),
        Kind("apps/v1", "StatefulSet", "statefulsets", True),
        Kind("apps/v1", "ReplicaSet", "replicasets", True),
    )
}


def status_message(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            data = json.loads(body)
        except ValueError:
            return body.strip()[:500]
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
        return body.strip()[:500]
    return ""


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    try:
        value = headers.get("Retry-After")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


#: The admission message while a new namespace has no ``default`` ServiceAccount yet.
_NO_SERVICE_ACCOUNT = re.compile(
    r'error looking up service account \S+: serviceaccount "?[^\s"]+"? not found'
)


def waits_for_service_account(exc: BaseException) -> bool:
    """Whether ``exc`` is the 403 a pod create gets until the namespace's ServiceAccount exists.

    The ServiceAccount controller creates ``default`` in a new namespace asynchronously
    (usually well under a second); until then admission refuses pods with 403 Forbidden
    "error looking up service account NS/default: serviceaccount "default" not found".
    That 403 heals by itself; every other 403 is final.
    """
    return isinstance(exc, Forbidden) and bool(_NO_SERVICE_ACCOUNT.search(str(exc)))


def error_from_status(
    status: int, message: str, *, what: str, headers: Any = None, reason: str = ""
) -> ClusterError:
    """The harness error for an HTTP status (0 = transport)."""
    text = f"{what}: {message}" if message else f"{what}: HTTP {status} {reason}".rstrip()
    if status == 404:
        return NotFound(text, status=404, reason=reason)
    if status == 409:
        return Conflict(text, status=409, reason=reason)
    if status == 422:
        return Invalid(text, status=422, reason=reason)
    if status == 403:
        return Forbidden(text, status=403, reason=reason)
    if status == 429:
        return ClusterError(
            text, status=429, reason=reason, retryable=True, retry_after=_retry_after(headers)
        )
    if status >= 500 or status == 0:
        return ClusterError(
            text, status=status, reason=reason, retryable=True, retry_after=_retry_after(headers)
        )
    return ClusterError(text, status=status, reason=reason)


def scrub(text: str) -> str:
    """Remove anything that looks like a credential from an error text."""
    text = re.sub(r"(?i)(token|password|client-key-data|bearer)\S*\s*[:=]?\s*\S+", r"\1 ***", text)
    return text[:300]


def exit_code_from_status(status: Any, what: str = "exec") -> int:
    """The exit code from the exec status channel (channel 3) text."""
    if not status:
        raise ExecError(f"{what}: lost exit status (no status channel message)", retryable=True)
    try:
        data = json.loads(status) if isinstance(status, str) else status
    except ValueError:
        raise ExecError(
            f"{what}: lost exit status (unreadable: {str(status)[:100]})", retryable=True
        ) from None
    if not isinstance(data, dict):
        raise ExecError(
            f"{what}: lost exit status (unexpected {type(data).__name__})", retryable=True
        )
    if data.get("status") == "Success":
        return 0
    if data.get("reason") == "NonZeroExitCode":
        for cause in (data.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
    raise ExecError(
        f"{what}: exec failed: {data.get('message') or data.get('reason') or data}",
        retryable=True,
    )
