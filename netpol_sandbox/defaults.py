"""Defaulting and validation of objects on write, as the API server's registry does them.

``defaults_and_validation`` is a store hook. ``ServiceIPs`` is the ClusterIP allocator hook.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from netpol_sandbox.apierror import ApiError
from netpol_sandbox.kinds import Kind
from netpol_sandbox.store import Obj
from netpol_sandbox.store import Store

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_PROTOCOLS = ("SCTP", "TCP", "UDP")

Cause = tuple[str, str, str]


def _invalid_value(field: str, value: Any, message: str) -> Cause:
    return ("FieldValueInvalid", field, f'Invalid value: "{value}": {message}')


def _required(field: str) -> Cause:
    return ("FieldValueRequired", field, "Required value")


def _port_name_errors(name: str) -> list[str]:
    """validation.IsValidPortName (IANA_SVC_NAME): the messages, none when valid."""
    errors = []
    if len(name) > 15:
        errors.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.match(name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", name):
        errors.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _check_port_name(field: str, name: Any) -> list[Cause]:
    return [_invalid_value(field, name, msg) for msg in _port_name_errors(str(name))]


def _check_name(kind: Kind, name: str) -> list[Cause]:
    if not name:
        return []
    if kind.resource == "services":
        if len(name) > 63 or not _DNS1035.match(name):
            return [_invalid_value("metadata.name", name, _DNS1035_MSG)]
    elif kind.resource == "namespaces":
        if len(name) > 63 or not _LABEL.match(name):
            return [_invalid_value("metadata.name", name, _LABEL_MSG)]
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        return [_invalid_value("metadata.name", name, _SUBDOMAIN_MSG)]
    return []


def _check_labels(labels: Any) -> list[Cause]:
    causes: list[Cause] = []
    if labels is None:
        return causes
    if not isinstance(labels, dict):
        return [_invalid_value("metadata.labels", labels, "must be a map of strings")]
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if "/" in str(key) and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
            causes.append(_invalid_value("metadata.labels", key, "prefix part " + _SUBDOMAIN_MSG))
        if not _LABEL_NAME.match(name) or len(name) > 63:
            causes.append(
                _invalid_value(
                    "metadata.labels",
                    key,
                    "name part must consist of alphanumeric characters, "
                    "'-', '_' or '.', and must start and end with an alphanumeric character",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                _invalid_value(
                    "metadata.labels",
                    value,
                    "a valid label must be an empty string or consist of "
                    "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character",
                )
            )
    return causes


def _default_namespace(obj: Obj) -> None:
    name = obj["metadata"].get("name", "")
    labels = obj["metadata"].setdefault("labels", {}) or {}
    labels["kubernetes.io/metadata.name"] = name
    obj["metadata"]["labels"] = labels
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _default_container(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    resources = container.setdefault("resources", {})
    if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        requests = resources.setdefault("requests", {})  # SetDefaults_Pod: requests = limits
        if isinstance(requests, dict):
            for key, value in resources["limits"].items():
                requests.setdefault(key, value)
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe_field in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(probe_field)
        if isinstance(probe, dict):
            _default_probe(probe)


def _default_probe(probe: dict[str, Any]) -> None:
    """SetDefaults_Probe and SetDefaults_HTTPGetAction."""
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        if not probe.get(key):
            probe[key] = value
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http["path"] = http.get("path") or "/"
        http["scheme"] = http.get("scheme") or "HTTP"


def qos_class(spec: dict[str, Any]) -> str:
    """The pod's status.qosClass (GetPodQOS) from its (defaulted) containers' resources."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for c in containers:
        res = (c.get("resources") or {}) if isinstance(c, dict) else {}
        req = {k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        lim = {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        requests.update(req)
        limits.update(lim)
        if set(lim) != {"cpu", "memory"} or any(req.get(k, lim[k]) != lim[k] for k in lim):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _default_pod(obj: Obj, create: bool) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _default_container(container)
    if create:
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}


def _validate_pod(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not containers:
        causes.append(_required("spec.containers"))
    names: set[str] = set()
    for field in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(field) or []):
            where = f"spec.{field}[{index}]"
            if not isinstance(container, dict):
                causes.append(_invalid_value(where, container, "must be an object"))
                continue
            name = container.get("name")
            if not name:
                causes.append(_required(f"{where}.name"))
            elif len(str(name)) > 63 or not _LABEL.match(str(name)):
                causes.append(_invalid_value(f"{where}.name", name, _LABEL_MSG))
            elif name in names:
                causes.append(
                    ("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{name}"')
                )
            names.add(str(name or ""))
            if not container.get("image"):
                causes.append(_required(f"{where}.image"))
            for pindex, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort") if isinstance(port, dict) else None
                pwhere = f"{where}.ports[{pindex}]"
                if not isinstance(number, int) or not 0 < number < 65536:
                    causes.append(
                        _invalid_value(
                            f"{pwhere}.containerPort",
                            number,
                            "must be between 1 and 65535, inclusive",
                        )
                    )
                if not isinstance(port, dict):
                    continue
                if port.get("name"):
                    causes.extend(_check_port_name(f"{pwhere}.name", port["name"]))
                if port.get("protocol") not in _PROTOCOLS:
                    causes.append(_unsupported(f"{pwhere}.protocol", port.get("protocol")))
    if old is not None and not causes:
        causes.extend(_pod_update_forbidden(obj, old))
    return causes


def _pod_update_forbidden(obj: Obj, old: Obj) -> list[Cause]:
    def mutable_view(spec: dict[str, Any]) -> dict[str, Any]:
        view = {
            k: v
            for k, v in spec.items()
            if k not in ("ephemeralContainers", "activeDeadlineSeconds", "tolerations")
        }
        view["containers"] = [
            {k: v for k, v in c.items() if k != "image"} for c in view.get("containers") or []
        ]
        view["initContainers"] = [
            {k: v for k, v in c.items() if k != "image"} for c in view.get("initContainers") or []
        ]
        return view

    if mutable_view(obj.get("spec") or {}) != mutable_view(old.get("spec") or {}):
        return [
            (
                "FieldValueForbidden",
                "spec",
                "Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`,"
                "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                "(allow it to be set to 1 if it was previously negative)",
            )
        ]
    return []


def _default_service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec["type"] = spec.get("type") or "ClusterIP"
    spec["sessionAffinity"] = spec.get("sessionAffinity") or "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig") or {}
        if not (config.get("clientIP") or {}).get("timeoutSeconds"):
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if spec["type"] != "ExternalName":  # ExternalName: no ClusterIP, no IP families
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port["protocol"] = port.get("protocol") or "TCP"
            if "port" in port and port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port["port"]
    obj.setdefault("status", {"loadBalancer": {}})


def _validate_service(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    ports = spec.get("ports") or []
    names: set[str] = set()
    if not ports and spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
        causes.append(_required("spec.ports"))
    for index, port in enumerate(ports):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                _invalid_value(
                    f"spec.ports[{index}].port", number, "must be between 1 and 65535, inclusive"
                )
            )
        elif port.get("protocol") not in _PROTOCOLS:
            causes.append(_unsupported(f"spec.ports[{index}].protocol", port.get("protocol")))
        name = port.get("name") if isinstance(port, dict) else None
        if len(ports) > 1 and not name:
            causes.append(_required(f"spec.ports[{index}].name"))
        elif name:
            if not _DNS1035.match(str(name)) or len(str(name)) > 63:
                causes.append(_invalid_value(f"spec.ports[{index}].name", name, _DNS1035_MSG))
            elif name in names:
                causes.append(
                    (
                        "FieldValueDuplicate",
                        f"spec.ports[{index}].name",
                        f'Duplicate value: "{name}"',
                    )
                )
            names.add(str(name))
    return causes


def _unsupported(field: str, value: Any) -> Cause:
    allowed = ", ".join(f'"{p}"' for p in _PROTOCOLS)
    return (
        "FieldValueNotSupported",
        field,
        f'Unsupported value: "{value}": supported values: {allowed}',
    )


def _default_policy(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("podSelector", {})
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):  # SetDefaults_NetworkPolicy: len(spec.Egress) != 0
            types.append("Egress")
        spec["policyTypes"] = types
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            if isinstance(rule, dict):
                for port in rule.get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")


def _validate_selector(field: str, selector: Any) -> list[Cause]:
    if selector is None:
        return []
    if not isinstance(selector, dict):
        return [_invalid_value(field, selector, "must be a label selector")]
    causes = []
    for index, expr in enumerate(selector.get("matchExpressions") or []):
        where = f"{field}.matchExpressions[{index}]"
        op = expr.get("operator") if isinstance(expr, dict) else None
        values = expr.get("values") if isinstance(expr, dict) else None
        if op in ("In", "NotIn") and not values:
            causes.append(
                (
                    *_required(f"{where}.values")[:2],
                    "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                )
            )
        elif op in ("Exists", "DoesNotExist") and values:
            causes.append(
                (
                    "FieldValueForbidden",
                    f"{where}.values",
                    "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            causes.append(
                (
                    "FieldValueNotSupported",
                    f"{where}.operator",
                    f'Unsupported value: "{op}": supported values: '
                    '"In", "NotIn", "Exists", "DoesNotExist"',
                )
            )
    return causes


def _validate_policy(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes = _validate_selector("spec.podSelector", spec.get("podSelector"))
    types = spec.get("policyTypes") or []
    if len(types) > 2:
        causes.append(
            _invalid_value("spec.policyTypes", types, "may not specify more than two policyTypes")
        )
        types = []
    for tindex, ptype in enumerate(types):
        if ptype not in ("Ingress", "Egress"):
            causes.append(
                (
                    "FieldValueNotSupported",
                    f"spec.policyTypes[{tindex}]",
                    f'Unsupported value: "{ptype}": supported values: "Ingress", "Egress"',
                )
            )
    for direction, peers_field in (("ingress", "from"), ("egress", "to")):
        for rindex, rule in enumerate(spec.get(direction) or []):
            where = f"spec.{direction}[{rindex}]"
            for pindex, port in enumerate(rule.get("ports") or []):
                causes.extend(_validate_policy_port(f"{where}.ports[{pindex}]", port))
            for eindex, peer in enumerate(rule.get(peers_field) or []):
                ewhere = f"{where}.{peers_field}[{eindex}]"
                causes.extend(_validate_selector(f"{ewhere}.podSelector", peer.get("podSelector")))
                causes.extend(
                    _validate_selector(f"{ewhere}.namespaceSelector", peer.get("namespaceSelector"))
                )
                block = peer.get("ipBlock")
                selectors = [peer.get(k) for k in ("podSelector", "namespaceSelector")]
                if block is None and all(sel is None for sel in selectors):
                    causes.append(
                        ("FieldValueRequired", ewhere, "Required value: must specify a peer")
                    )
                if block is not None:
                    if any(sel is not None for sel in selectors):
                        causes.append(
                            (
                                "FieldValueForbidden",
                                ewhere,
                                "Forbidden: may not specify both ipBlock and another peer",
                            )
                        )
                    causes.extend(_validate_block(f"{ewhere}.ipBlock", block))
    return causes


def _validate_policy_port(where: str, port: dict[str, Any]) -> list[Cause]:
    """ValidateNetworkPolicyPort."""
    causes: list[Cause] = []
    if port.get("protocol") not in _PROTOCOLS:
        causes.append(_unsupported(f"{where}.protocol", port.get("protocol")))
    number = port.get("port")
    end = port.get("endPort")
    in_range = "must be between 1 and 65535, inclusive"
    if isinstance(number, int):
        if not 0 < number < 65536:
            causes.append(_invalid_value(f"{where}.port", number, in_range))
        if end is not None:
            if not isinstance(end, int) or end < number:
                causes.append(
                    _invalid_value(
                        f"{where}.endPort", end, "must be greater than or equal to `port`"
                    )
                )
            elif not 0 < end < 65536:
                causes.append(_invalid_value(f"{where}.endPort", end, in_range))
    elif number is not None:
        if end is not None:
            causes.append(
                _invalid_value(
                    f"{where}.endPort", end, "may not be specified when `port` is non-numeric"
                )
            )
        causes.extend(_check_port_name(f"{where}.port", number))
    elif end is not None:
        causes.append(
            _invalid_value(
                f"{where}.endPort", end, "may not be specified when `port` is not specified"
            )
        )
    return causes


def _validate_block(field: str, block: dict[str, Any]) -> list[Cause]:
    if not block.get("cidr"):
        return [_required(f"{field}.cidr")]
    try:
        net = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
    except ValueError:
        return [
            _invalid_value(
                f"{field}.cidr",
                block.get("cidr"),
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            )
        ]
    causes = []
    for index, text in enumerate(block.get("except") or []):
        try:
            sub = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            causes.append(
                _invalid_value(f"{field}.except[{index}]", text, "must be a valid CIDR value")
            )
            continue
        if sub.version != net.version or not sub.subnet_of(net) or sub == net:  # type: ignore[arg-type]
            causes.append(
                _invalid_value(
                    f"{field}.except[{index}]", text, "must be a strict subset of `cidr`"
                )
            )
    return causes


def defaults_and_validation(operation: str, kind: Kind, obj: Obj, old: Obj | None) -> None:
    """Store hook: default fields, then raise 422 Invalid with every cause found."""
    meta = obj["metadata"]
    if kind.resource == "namespaces":
        _default_namespace(obj)
    elif kind.resource == "pods":
        _default_pod(obj, operation == "create")
    elif kind.resource == "services":
        _default_service(obj)
    elif kind.resource == "networkpolicies" and kind.group == "networking.k8s.io":
        _default_policy(obj)
    causes = _check_name(kind, str(meta.get("name") or "")) + _check_labels(meta.get("labels"))
    if kind.resource == "pods":
        causes += _validate_pod(obj, old)
    elif kind.resource == "services":
        causes += _validate_service(obj)
    elif kind.resource == "networkpolicies" and kind.group == "networking.k8s.io":
        causes += _validate_policy(obj)
    if causes:
        raise ApiError.invalid(kind.kind, str(meta.get("name") or ""), causes, kind.group)


class ServiceIPs:
    """Allocates ClusterIPs from a CIDR (store hook); "None" for every Service when no CIDR."""

    def __init__(self, store: Store, cidr: str | None) -> None:
        self._store = store
        self._net = ipaddress.ip_network(cidr) if cidr else None

    def _used(self) -> set[str]:
        from netpol_sandbox.kinds import find

        kind = find("", "services")
        assert kind is not None
        return {str((svc.get("spec") or {}).get("clusterIP")) for svc in self._store.items(kind)}

    def hook(self, operation: str, kind: Kind, obj: Obj, old: Obj | None) -> None:
        if kind.resource != "services":
            return
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":  # a DNS alias: no ClusterIP at all
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            return
        if old is not None:
            old_ip = (old.get("spec") or {}).get("clusterIP")
            if spec.get("clusterIP") in (None, "", old_ip):
                spec["clusterIP"] = old_ip
                spec["clusterIPs"] = [old_ip]
                return
            raise ApiError.invalid(
                "Service",
                obj["metadata"].get("name", ""),
                [
                    _invalid_value(
                        "spec.clusterIPs[0]", spec.get("clusterIP"), "may not change once set"
                    )
                ],
            )
        wanted = spec.get("clusterIP")
        if wanted == "None":
            spec["clusterIPs"] = ["None"]
            return
        if self._net is None:
            spec["clusterIP"] = "None"
            spec["clusterIPs"] = ["None"]
            return
        used = self._used()
        if wanted:
            try:
                address = ipaddress.ip_address(str(wanted))
            except ValueError:
                address = None
            if address is None or address not in self._net:
                raise ApiError.invalid(
                    "Service",
                    obj["metadata"].get("name", ""),
                    [
                        _invalid_value(
                            "spec.clusterIPs",
                            wanted,
                            f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in "
                            f"the valid range. The range of valid IPs is {self._net}",
                        )
                    ],
                )
            if str(address) in used:
                raise ApiError.invalid(
                    "Service",
                    obj["metadata"].get("name", ""),
                    [
                        _invalid_value(
                            "spec.clusterIPs",
                            wanted,
                            f"failed to allocate IP {wanted}: provided IP is already allocated",
                        )
                    ],
                )
            spec["clusterIPs"] = [str(address)]
            return
        reserved = {str(self._net.network_address + 1), str(self._net.network_address + 10)}
        for host in self._net.hosts():
            if str(host) not in used and str(host) not in reserved:
                spec["clusterIP"] = str(host)
                spec["clusterIPs"] = [str(host)]
                return
        raise ApiError(
            500,
            "InternalError",
            "Internal error occurred: failed to allocate a serviceIP: range is full",
        )
