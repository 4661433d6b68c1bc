"""Pod Security admission ("baseline" and "restricted" levels), enforced per namespace label
``pod-security.kubernetes.io/enforce``, with the real API server's rejection message shape:

    pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation
    != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netpol_sandbox.apierror import ApiError
from netpol_sandbox.kinds import Kind
from netpol_sandbox.kinds import find
from netpol_sandbox.store import Obj
from netpol_sandbox.store import Store

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
LEVELS = ("privileged", "baseline", "restricted")

_BASELINE_CAPS = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
_RESTRICTED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)

Container = dict[str, Any]


def _containers(spec: dict[str, Any]) -> list[Container]:
    out: list[Container] = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        out.extend(c for c in spec.get(field) or [] if isinstance(c, dict))
    return out


def _quoted(names: list[str]) -> str:
    noun = "container" if len(names) == 1 else "containers"
    return f"{noun} " + ", ".join(f'"{name}"' for name in names)


def _sc(container: Container) -> dict[str, Any]:
    value = container.get("securityContext")
    return value if isinstance(value, dict) else {}


def _host_namespaces(spec: dict[str, Any], containers: list[Container]) -> str | None:
    found = [f"{field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    return f"host namespaces ({', '.join(found)})" if found else None


def _privileged(spec: dict[str, Any], containers: list[Container]) -> str | None:
    bad = [str(c.get("name")) for c in containers if _sc(c).get("privileged") is True]
    if bad:
        return f"privileged ({_quoted(bad)} must not set securityContext.privileged=true)"
    return None


def _baseline_caps(spec: dict[str, Any], containers: list[Container]) -> str | None:
    parts = []
    for c in containers:
        added = [
            cap
            for cap in (_sc(c).get("capabilities") or {}).get("add") or []
            if cap not in _BASELINE_CAPS
        ]
        if added:
            caps = ", ".join(f'"{cap}"' for cap in added)
            parts.append(
                f'container "{c.get("name")}" must not include {caps} in '
                "securityContext.capabilities.add"
            )
    return f"non-default capabilities ({'; '.join(parts)})" if parts else None


def _host_path(spec: dict[str, Any], containers: list[Container]) -> str | None:
    bad = [
        str(v.get("name"))
        for v in spec.get("volumes") or []
        if isinstance(v, dict) and "hostPath" in v
    ]
    if bad:
        noun = "volume" if len(bad) == 1 else "volumes"
        return f"hostPath volumes ({noun} " + ", ".join(f'"{b}"' for b in bad) + ")"
    return None


def _host_ports(spec: dict[str, Any], containers: list[Container]) -> str | None:
    parts = []
    for c in containers:
        ports = [
            str(p.get("hostPort"))
            for p in c.get("ports") or []
            if isinstance(p, dict) and p.get("hostPort")
        ]
        if ports:
            parts.append(
                f'container "{c.get("name")}" uses hostPort{"s" if len(ports) > 1 else ""} '
                + ", ".join(ports)
            )
    return f"hostPort ({'; '.join(parts)})" if parts else None


def _escalation(spec: dict[str, Any], containers: list[Container]) -> str | None:
    bad = [
        str(c.get("name"))
        for c in containers
        if _sc(c).get("allowPrivilegeEscalation") is not False
    ]
    if bad:
        return (
            f"allowPrivilegeEscalation != false ({_quoted(bad)} must set "
            "securityContext.allowPrivilegeEscalation=false)"
        )
    return None


def _restricted_caps(spec: dict[str, Any], containers: list[Container]) -> str | None:
    no_drop = []
    adds = []
    for c in containers:
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            no_drop.append(str(c.get("name")))
        added = [cap for cap in caps.get("add") or [] if cap != "NET_BIND_SERVICE"]
        if added:
            names = ", ".join(f'"{cap}"' for cap in added)
            adds.append(
                f'container "{c.get("name")}" must not include {names} in '
                "securityContext.capabilities.add"
            )
    parts = []
    if no_drop:
        parts.append(f'{_quoted(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    parts.extend(adds)
    return f"unrestricted capabilities ({'; '.join(parts)})" if parts else None


def _volume_types(spec: dict[str, Any], containers: list[Container]) -> str | None:
    parts = []
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        types = [k for k in volume if k != "name" and k not in _RESTRICTED_VOLUMES]
        if types:
            parts.append(f'volume "{volume.get("name")}" uses restricted volume type "{types[0]}"')
    return f"restricted volume types ({'; '.join(parts)})" if parts else None


def _run_as_non_root(spec: dict[str, Any], containers: list[Container]) -> str | None:
    pod_sc = spec.get("securityContext") or {}
    pod_value = pod_sc.get("runAsNonRoot")
    explicit_false = [str(c.get("name")) for c in containers if _sc(c).get("runAsNonRoot") is False]
    unset = [str(c.get("name")) for c in containers if _sc(c).get("runAsNonRoot") is None]
    if pod_value is False:
        return "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"
    if explicit_false:
        return (
            f"runAsNonRoot != true ({_quoted(explicit_false)} must not set "
            "securityContext.runAsNonRoot=false)"
        )
    if pod_value is not True and unset:
        return (
            f"runAsNonRoot != true (pod or {_quoted(unset)} must set "
            "securityContext.runAsNonRoot=true)"
        )
    return None


def _run_as_user(spec: dict[str, Any], containers: list[Container]) -> str | None:
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        return "runAsUser=0 (pod must not set runAsUser=0)"
    bad = [str(c.get("name")) for c in containers if _sc(c).get("runAsUser") == 0]
    return f"runAsUser=0 ({_quoted(bad)} must not set runAsUser=0)" if bad else None


def _seccomp(spec: dict[str, Any], containers: list[Container]) -> str | None:
    allowed = ("RuntimeDefault", "Localhost")
    pod_type = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    if pod_type is not None and pod_type not in allowed:
        return (
            f'seccompProfile (pod must not set securityContext.seccompProfile.type to "{pod_type}")'
        )
    bad_set = []
    unset = []
    for c in containers:
        ctype = (_sc(c).get("seccompProfile") or {}).get("type")
        if ctype is None:
            if pod_type is None:
                unset.append(str(c.get("name")))
        elif ctype not in allowed:
            bad_set.append(
                f"{_quoted([str(c.get('name'))])} must not set "
                f'securityContext.seccompProfile.type to "{ctype}"'
            )
    if bad_set:
        return f"seccompProfile ({'; '.join(bad_set)})"
    if unset:
        return (
            f"seccompProfile (pod or {_quoted(unset)} must set securityContext.seccompProfile.type "
            'to "RuntimeDefault" or "Localhost")'
        )
    return None


Check = Callable[[dict[str, Any], list[Container]], str | None]

BASELINE: tuple[Check, ...] = (
    _host_namespaces,
    _privileged,
    _baseline_caps,
    _host_path,
    _host_ports,
)
RESTRICTED: tuple[Check, ...] = (
    *BASELINE,
    _escalation,
    _restricted_caps,
    _volume_types,
    _run_as_non_root,
    _run_as_user,
    _seccomp,
)


def violations(level: str, pod: Obj) -> list[str]:
    """The failed checks of ``level`` for a pod, each as the API server words it."""
    checks = {"restricted": RESTRICTED, "baseline": BASELINE}.get(level, ())
    spec = pod.get("spec") or {}
    containers = _containers(spec)
    return [message for check in checks if (message := check(spec, containers)) is not None]


class PodSecurity:
    """Store hook enforcing the namespace's Pod Security level on pod create."""

    def __init__(self, store: Store) -> None:
        self._store = store
        namespaces = find("", "namespaces")
        assert namespaces is not None
        self._namespaces = namespaces

    def hook(self, operation: str, kind: Kind, obj: Obj, old: Obj | None) -> None:
        if kind.resource != "pods" or operation != "create":
            return
        namespace = self._store.find(self._namespaces, None, obj["metadata"].get("namespace", ""))
        if namespace is None:
            return
        labels = namespace["metadata"].get("labels") or {}
        level = labels.get(ENFORCE_LABEL, "privileged")
        version = labels.get(VERSION_LABEL, "latest")
        found = violations(level, obj)
        if found:
            name = obj["metadata"].get("name", "")
            raise ApiError.forbidden(
                f'pods "{name}" is forbidden: violates PodSecurity "{level}:{version}": '
                + ", ".join(found),
                "pods",
                name,
            )


class ServiceAccountAdmission:
    """Store hook: the ServiceAccount admission plugin's check on pod create.

    A pod whose ``spec.serviceAccountName`` (defaulted to ``default``) does not exist in its
    namespace is refused, as kube-apiserver's plugin/pkg/admission/serviceaccount does::

        403 Forbidden: pods "x" is forbidden: error looking up service account
        NS/default: serviceaccount "default" not found

    Right after a namespace is created its ``default`` ServiceAccount does not exist yet
    (the ServiceAccount controller makes it asynchronously; ``service_account_delay``), so
    clients must retry. Mirror pods are exempt; a missing or terminating namespace is left to
    the namespace lifecycle check (404 / 403 "being terminated"), which comes first.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        namespaces = find("", "namespaces")
        accounts = find("", "serviceaccounts")
        assert namespaces is not None and accounts is not None
        self._namespaces = namespaces
        self._accounts = accounts

    def hook(self, operation: str, kind: Kind, obj: Obj, old: Obj | None) -> None:
        if kind.resource != "pods" or operation != "create":
            return
        meta = obj.get("metadata") or {}
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            return
        namespace = str(meta.get("namespace") or "default")
        ns = self._store.find(self._namespaces, None, namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        spec = obj.get("spec") or {}
        account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        if self._store.find(self._accounts, namespace, account) is not None:
            return
        name = str(meta.get("name") or "")
        generate = str(meta.get("generateName") or "")
        if generate and name.startswith(generate):
            name = ""  # admission runs before the name is generated
        subject = f'pods "{name}"' if name else "pods"
        raise ApiError.forbidden(
            f"{subject} is forbidden: error looking up service account {namespace}/{account}: "
            f'serviceaccount "{account}" not found',
            "pods",
            name,
        )
