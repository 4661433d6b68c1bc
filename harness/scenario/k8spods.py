"""Pod checks of the Kubernetes object validation: the fields a prediction reads.

A Pod's spec and containers are not checked in full: newer fields pass, keys that look
like a misspelt known one are errors, and the container ports and pod IPs (what the
policy engine reads) are checked as the API server would.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from harness.model import PROTOCOLS
from harness.scenario.checker import did_you_mean
from harness.scenario.checker import is_int
from harness.scenario.checker import port_name_problem
from harness.scenario.k8sbase import K8sChecker
from harness.scenario.yamlload import YMap
from harness.scenario.yamlload import echo

_POD_SPEC_KEYS = (
    "activeDeadlineSeconds",
    "affinity",
    "automountServiceAccountToken",
    "containers",
    "dnsConfig",
    "dnsPolicy",
    "enableServiceLinks",
    "ephemeralContainers",
    "hostAliases",
    "hostIPC",
    "hostNetwork",
    "hostPID",
    "hostUsers",
    "hostname",
    "imagePullSecrets",
    "initContainers",
    "nodeName",
    "nodeSelector",
    "os",
    "overhead",
    "preemptionPolicy",
    "priority",
    "priorityClassName",
    "readinessGates",
    "resourceClaims",
    "resources",
    "restartPolicy",
    "runtimeClassName",
    "schedulerName",
    "schedulingGates",
    "securityContext",
    "serviceAccount",
    "serviceAccountName",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "subdomain",
    "terminationGracePeriodSeconds",
    "tolerations",
    "topologySpreadConstraints",
    "volumes",
)
_CONTAINER_KEYS = (
    "args",
    "command",
    "env",
    "envFrom",
    "image",
    "imagePullPolicy",
    "lifecycle",
    "livenessProbe",
    "name",
    "ports",
    "readinessProbe",
    "resizePolicy",
    "resources",
    "restartPolicy",
    "securityContext",
    "startupProbe",
    "stdin",
    "stdinOnce",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "tty",
    "volumeDevices",
    "volumeMounts",
    "workingDir",
)


class PodChecks(K8sChecker):
    """The checks of a v1 Pod (spec keys, containers, ports, status IPs)."""

    def pod(self, doc: YMap) -> None:
        with self.collecting():
            self.keys(doc, ("apiVersion", "kind", "metadata", "spec", "status"), "Pod")
        spec = doc.get("spec")
        if spec is not None:
            spec = self.mapping(spec, doc.value_line("spec"), "spec")
            with self.collecting():
                self.near_miss_keys(spec, _POD_SPEC_KEYS, "spec")
            for field in ("containers", "initContainers"):
                if spec.get(field) is None:
                    continue
                items = self.listing(spec[field], spec.value_line(field), f"spec.{field}")
                for ci, container in enumerate(items):
                    with self.collecting():
                        self.container(container, items.item_line(ci), f"spec.{field}[{ci}]")
        status = doc.get("status")
        if status is not None:
            status = self.mapping(status, doc.value_line("status"), "status")
            with self.collecting():
                self.ip(status.get("podIP"), status.value_line("podIP"), "status.podIP")
            if status.get("podIPs") is not None:
                ips = self.listing(status["podIPs"], status.value_line("podIPs"), "status.podIPs")
                for i, entry in enumerate(ips):
                    with self.collecting():
                        entry = self.mapping(entry, ips.item_line(i), f"status.podIPs[{i}]")
                        self.ip(entry.get("ip"), entry.value_line("ip"), f"status.podIPs[{i}].ip")

    def ip(self, value: Any, line: int, what: str) -> None:
        if value is None or value == "":
            return
        try:
            ipaddress.ip_address(value if isinstance(value, str) else "-")
        except ValueError:
            raise self.fail(
                line, f"{what} {echo(value)} is not an IP address", "e.g. 10.0.0.5"
            ) from None

    def container(self, value: Any, line: int, what: str) -> None:
        container = self.mapping(value, line, what)
        with self.collecting():
            self.near_miss_keys(container, _CONTAINER_KEYS, what)
        if container.get("ports") is None:
            return
        ports = self.listing(container["ports"], container.value_line("ports"), f"{what}.ports")
        names: dict[str, int] = {}
        for j, port in enumerate(ports):
            where = f"{what}.ports[{j}]"
            with self.collecting():
                port = self.mapping(port, ports.item_line(j), where)
                with self.collecting():
                    self.keys(
                        port, ("containerPort", "hostPort", "hostIP", "name", "protocol"), where
                    )
                number = port.get("containerPort")
                if number is None:
                    raise self.fail(
                        port.line, f"{where} is missing 'containerPort'", "add containerPort: 8080"
                    )
                if not is_int(number) or not 1 <= number <= 65535:
                    raise self.fail(
                        port.value_line("containerPort"),
                        f"{where}.containerPort {echo(number)} is not a port number",
                        "use a number from 1 to 65535",
                    )
                self.port_protocol(port, where)
                name = port.get("name")
                if name is not None:
                    line = port.value_line("name")
                    problem = port_name_problem(str(name))
                    if not isinstance(name, str) or problem:
                        raise self.fail(
                            line, f"{where}.name {echo(name)} is not a valid port name: {problem}"
                        )
                    if name in names:
                        raise self.fail(
                            line,
                            f"{where}.name {echo(name)} is used twice "
                            f"(first at line {names[name]})",
                            "port names must be unique in a container",
                        )
                    names[name] = line

    def port_protocol(self, port: YMap, what: str) -> None:
        """The ``protocol`` of a container or NetworkPolicy port, when set: TCP, UDP, SCTP."""
        protocol = port.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            raise self.fail(
                port.value_line("protocol"),
                f"{what}.protocol {echo(protocol)} is not supported",
                did_you_mean(str(protocol).upper(), PROTOCOLS, "supported values"),
            )
