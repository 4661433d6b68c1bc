"""Waiting for pods, with the rules of when to stop: Ready, a reason that never heals, time.

The polling is done through small reader protocols, so :class:`harness.live.cluster.Cluster`
takes these functions as its methods (the cluster is ``api``) and a test fake can be
waited on too. A pod that will not become Ready is a :class:`~harness.errors.PodNotReady`
describing it (phase, conditions, waiting reasons, events and the last log lines of its
unready containers). Cleanup waits too: :func:`delete_namespaces` deletes namespaces and
waits, bounded, until they are gone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Protocol

import tenacity

from harness.errors import ClusterError
from harness.errors import PodNotReady
from harness.live.api import ObjectRef
from harness.live.pods import FATAL_WAITING
from harness.live.pods import describe_pod
from harness.live.pods import fatal_reasons
from harness.live.pods import is_ready
from harness.live.pods import pull_trouble
from harness.live.pods import unready_containers
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL


class _PodReader(Protocol):
    def get_pod(self, namespace: str, name: str) -> dict[str, Any]: ...

    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]: ...

    def pod_events(self, namespace: str, name: str) -> list[str]: ...

    def pod_logs(self, namespace: str, name: str, container: str, tail: int = 5) -> list[str]: ...


class _NamespaceDeleter(Protocol):
    def list_namespaces(self, label_selector: str = "") -> list[dict[str, Any]]: ...

    def delete(self, ref: ObjectRef) -> bool: ...


def wait_pods_ready(
    api: _PodReader,
    pods: Sequence[tuple[str, str]],
    timeout: float = 120.0,
    interval: float = 0.5,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Wait until every (namespace, name) pod is Ready; return the pods.

    Raises PodNotReady naming each pod that is not Ready with its phase,
    conditions, container waiting reasons and Events. Fails early on waiting
    reasons that never heal (InvalidImageName, CreateContainerConfigError).
    """
    by_ns: dict[str, set[str]] = {}
    for ns, name in pods:
        by_ns.setdefault(ns, set()).add(name)
    latest: dict[tuple[str, str], dict[str, Any]] = {}

    def poll() -> bool:
        for ns, names in by_ns.items():
            for pod in api.list_pods(ns):
                name = (pod.get("metadata") or {}).get("name")
                if name in names:
                    latest[(ns, str(name))] = pod
        pending = [key for key in pods if not is_ready(latest.get(key))]
        for key in pending:
            current = latest.get(key)
            if current is not None and (
                fatal_reasons(current) or (current.get("status") or {}).get("phase") == "Failed"
            ):
                raise _not_ready(api, [key], latest, "will not start")
        return not pending

    try:
        tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda ok: not ok),
            stop=tenacity.stop_after_delay(timeout),
            wait=tenacity.wait_fixed(interval),
        )(poll)
    except tenacity.RetryError:
        pending = [key for key in pods if not is_ready(latest.get(key))]
        raise _not_ready(api, pending, latest, f"not Ready after {timeout:g}s") from None
    return {key: latest[key] for key in pods}


def _not_ready(
    api: _PodReader,
    keys: Sequence[tuple[str, str]],
    latest: Mapping[tuple[str, str], Mapping[str, Any]],
    why: str,
) -> PodNotReady:
    parts = []
    for ns, name in keys[:5]:
        pod = latest.get((ns, name))
        logs: dict[str, list[str]] = {}
        for container in unready_containers(pod):
            logs[container] = api.pod_logs(ns, name, container)
        parts.append(describe_pod(ns, name, pod, api.pod_events(ns, name), logs))
    more = f" (and {len(keys) - 5} more)" if len(keys) > 5 else ""
    return PodNotReady(f"pods {why}{more}:\n" + "\n".join(parts))


def wait_ephemeral_running(
    api: _PodReader,
    namespace: str,
    pod: str,
    container: str,
    timeout: float = 120.0,
    interval: float = 0.5,
) -> dict[str, Any]:
    """Wait until the pod's ephemeral ``container`` runs; returns the pod.

    Raises PodNotReady when it terminated, waits on a reason that never heals,
    or is not running within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while True:
        current = api.get_pod(namespace, pod)
        statuses = (current.get("status") or {}).get("ephemeralContainerStatuses") or []
        status = next((s for s in statuses if s.get("name") == container), None)
        state = (status or {}).get("state") or {}
        if "running" in state:
            return current
        if "terminated" in state:
            term = state["terminated"] or {}
            raise PodNotReady(
                f"ephemeral container {container} in {namespace}/{pod} terminated "
                f"({term.get('reason', '')} exit {term.get('exitCode', '?')})"
            )
        waiting = state.get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        pulling = (
            pull_trouble(
                {
                    "spec": current.get("spec") or {},
                    "status": {"ephemeralContainerStatuses": [status]},
                }
            )
            if status
            else None
        )
        if pulling is not None and pulling[1]:
            # A missing image or refused credentials: waiting cannot help, say so at once.
            raise PodNotReady(f"ephemeral container {container} in {namespace}/{pod}: {pulling[0]}")
        if reason in FATAL_WAITING or time.monotonic() >= deadline:
            why = pulling[0] if pulling else (f"waiting: {reason}" if reason else "no status yet")
            raise PodNotReady(
                f"ephemeral container {container} in {namespace}/{pod} is not running "
                f"after {timeout:g}s ({why})"
            )
        time.sleep(interval)


def delete_namespaces(
    api: _NamespaceDeleter, label_selector: str, timeout: float = 120.0, interval: float = 1.0
) -> list[str]:
    """Delete namespaces matching ``label_selector`` and wait until gone (bounded).

    Returns the names still present when the wait ran out (empty = all gone).
    """
    names = [str(ns["metadata"]["name"]) for ns in api.list_namespaces(label_selector)]
    for name in names:
        with contextlib.suppress(ClusterError):
            api.delete(ObjectRef("v1", "Namespace", name))
    deadline = time.monotonic() + timeout
    remaining = names
    while remaining and time.monotonic() < deadline:
        time.sleep(interval)
        try:
            present = {str(ns["metadata"]["name"]) for ns in api.list_namespaces(label_selector)}
        except ClusterError:
            continue
        remaining = [n for n in names if n in present]
    return remaining


def delete_run(api: _NamespaceDeleter, run_id: str, timeout: float = 120.0) -> list[str]:
    """Delete every namespace carrying ``run_id``'s run label; names left over."""
    return delete_namespaces(api, f"{RUN_LABEL}={run_id}", timeout)


def leftovers(api: _NamespaceDeleter) -> list[dict[str, Any]]:
    """Namespaces created by any harness run (managed-by label)."""
    return api.list_namespaces(f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
