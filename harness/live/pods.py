"""Pure helpers over pod objects (plain dicts as the API returns them); no I/O.

One readiness rule (:func:`is_ready`) for every stage that waits for, chooses or
checks a pod; what a pod's status says when it is not Ready (:func:`describe_pod`,
:func:`fatal_reasons`) and what went wrong with it since (:func:`pod_trouble`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from harness.model import RUN_LABEL
from harness.plan import EPHEMERAL_PREFIX

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

#: Container waiting reasons that will not fix themselves while we wait.
FATAL_WAITING = frozenset({"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"})


def is_ready(pod: Mapping[str, Any] | None) -> bool:
    """THE readiness rule: Running, has an IP, not being deleted, condition Ready=True."""
    if not pod:
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        return False
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(
        c.get("type") == "Ready" and str(c.get("status")) == "True"
        for c in status.get("conditions") or []
    )


def _waiting(pod: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    status = pod.get("status") or {}
    statuses = (
        (status.get("initContainerStatuses") or [])
        + (status.get("containerStatuses") or [])
        + (status.get("ephemeralContainerStatuses") or [])
    )
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            out.append(
                (str(cs.get("name")), str(waiting["reason"]), str(waiting.get("message", "")))
            )
    return out


#: Pull errors (in the waiting message) that say the image does not exist: waiting cannot help.
_MISSING_IMAGE = re.compile(
    r"code = NotFound|manifest unknown|repository does not exist|: not found", re.IGNORECASE
)
#: Pull errors that retrying will not cure either: credentials, access, a bad name.
_REFUSED_PULL = re.compile(
    r"unauthorized|authentication required|access denied|denied: |403 Forbidden|"
    r"invalid reference format",
    re.IGNORECASE,
)
PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff"})


def pull_trouble(pod: Mapping[str, Any]) -> tuple[str, bool] | None:
    """The first image pull problem of a pod: (what, permanent), or None.

    Permanent: the image does not exist or the registry refuses us (name, credentials,
    access): waiting cannot help, say so at once. Anything else (timeouts, resets, a
    registry's 5xx or rate limit) is transient: the kubelet retries, so do we, until
    the caller's own deadline.
    """
    images = {
        str(c.get("name")): str(c.get("image"))
        for key in ("containers", "initContainers", "ephemeralContainers")
        for c in (pod.get("spec") or {}).get(key) or []
    }
    for container, reason, message in _waiting(pod):
        if reason not in PULL_REASONS and reason != "InvalidImageName":
            continue
        image = images.get(container, "?")
        text = f"image {image} cannot be pulled ({reason})"
        if message.strip():
            text += f": {message.strip()[:300]}"
        permanent = (
            reason == "InvalidImageName"
            or bool(_MISSING_IMAGE.search(message))
            or bool(_REFUSED_PULL.search(message))
        )
        return text, permanent
    return None


def fatal_reasons(pod: Mapping[str, Any]) -> list[str]:
    out = []
    for container, reason, message in _waiting(pod):
        if reason in FATAL_WAITING:
            out.append(f"{container}: {reason}")
        elif reason in ("ErrImagePull", "ImagePullBackOff") and _MISSING_IMAGE.search(message):
            out.append(f"{container}: {reason} (the image does not exist)")
    return out


def unready_containers(pod: Mapping[str, Any] | None) -> list[str]:
    if not pod:
        return []
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return [str(cs.get("name")) for cs in statuses if not cs.get("ready")]


def describe_pod(
    namespace: str,
    name: str,
    pod: Mapping[str, Any] | None,
    events: Sequence[str],
    logs: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """One paragraph about a pod that is not Ready (phase, conditions, waiting, events)."""
    if pod is None:
        return f"  {namespace}/{name}: not found"
    status = pod.get("status") or {}
    lines = [f"  {namespace}/{name}: phase {status.get('phase', 'Unknown')}"]
    for cond in status.get("conditions") or []:
        if str(cond.get("status")) != "True":
            extra = " ".join(str(cond.get(k)) for k in ("reason", "message") if cond.get(k))
            lines.append(f"    condition {cond.get('type')}={cond.get('status')} {extra}".rstrip())
    waiting = {c for c, _, _ in _waiting(pod)}
    for container, reason, message in _waiting(pod):
        lines.append(f"    container {container} waiting: {reason} {message}".rstrip())
    for cs in status.get("containerStatuses") or []:
        cname = str(cs.get("name"))
        if cname in waiting or cs.get("ready"):
            continue
        state = cs.get("state") or {}
        if "running" in state:
            lines.append(f"    container {cname} running but not ready (readiness probe failing)")
        elif "terminated" in state:
            term = state["terminated"] or {}
            lines.append(
                f"    container {cname} terminated: {term.get('reason', '')} "
                f"exit {term.get('exitCode', '?')}, restarts {cs.get('restartCount', 0)}"
            )
    lines.extend(f"    event {e}" for e in events)
    for container, tail in (logs or {}).items():
        lines.extend(f"    log {container}: {line}" for line in tail)
    return "\n".join(lines)


def choose_pod(pods: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The first (by name) Running and Ready pod that is not being deleted nor ours."""
    candidates = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or RUN_LABEL in (meta.get("labels") or {}):
            continue
        if is_ready(pod):
            candidates.append(pod)
    return min(candidates, key=lambda p: str(p["metadata"]["name"]), default=None)


def named_port(pod: Mapping[str, Any], name: str, protocol: str) -> int | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == name and (p.get("protocol") or "TCP") == protocol:
                number = p.get("containerPort")
                return int(number) if isinstance(number, int) else None
    return None


def running_ephemeral(pod: Mapping[str, Any]) -> str:
    """The name of a running ephemeral probe container of ours in ``pod`` ('' if none)."""
    statuses = (pod.get("status") or {}).get("ephemeralContainerStatuses") or []
    for cs in sorted(statuses, key=lambda s: str(s.get("name"))):
        name = str(cs.get("name") or "")
        if name.startswith(EPHEMERAL_PREFIX) and "running" in (cs.get("state") or {}):
            return name
    return ""


def default_container(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    wanted = (meta.get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if wanted in names:
        return str(wanted)
    return names[0] if names else ""


def _restarts(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(cs.get("restartCount") or 0) for cs in statuses)


def pod_trouble(before: Mapping[str, Any], after: Mapping[str, Any] | None) -> str:
    """What went wrong with a pod since ``before`` (when it was Ready); "" if nothing."""
    if after is None:
        return "the pod is gone"
    meta = after.get("metadata") or {}
    status = after.get("status") or {}
    problems: list[str] = []
    if meta.get("deletionTimestamp"):
        problems.append("the pod is being deleted")
    old_ip = (before.get("status") or {}).get("podIP")
    new_ip = status.get("podIP")
    if old_ip and new_ip and old_ip != new_ip:
        problems.append(f"pod IP changed from {old_ip} to {new_ip}")
    phase = status.get("phase")
    if phase and phase != "Running":
        problems.append(f"phase {phase}")
    was, now = _restarts(before), _restarts(after)
    if now > was:
        problems.append(f"containers restarted (restartCount {was} -> {now})")
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state:
            waiting = state.get("waiting") or {}
            problems.append(f"container {cs.get('name')} waiting: {waiting.get('reason', '?')}")
        elif "terminated" in state:
            term = state.get("terminated") or {}
            problems.append(
                f"container {cs.get('name')} terminated: {term.get('reason', '?')} "
                f"exit {term.get('exitCode', '?')}"
            )
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready" and str(cond.get("status")) != "True":
            problems.append("not Ready")
    return ", ".join(problems)
