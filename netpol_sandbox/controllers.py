"""The cluster's control loops: the kubelet role (pod start, status, deletion), namespace
deletion, default service accounts (after ``service_account_delay``), Endpoints, and the
coalesced network sync to the node, where each pod takes up a NetworkPolicy change after its
own random delay (``policy_delay``, as each Calico Felix programs its node in its own time).

Everything is driven by store events; writes are deferred with ``call_soon`` so a listener
never writes while the store is still delivering an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import secrets
from typing import Any
from typing import Protocol

from netpol_sandbox.apierror import ApiError
from netpol_sandbox.apps import AppsControllers
from netpol_sandbox.defaults import qos_class
from netpol_sandbox.endpoints import ACCOUNT_LABELS
from netpol_sandbox.enforce import PROGRAMMED_ON
from netpol_sandbox.faults import Faults
from netpol_sandbox.kinds import POLICY_KINDS
from netpol_sandbox.kinds import Kind
from netpol_sandbox.kinds import find
from netpol_sandbox.selectors import selector_matches
from netpol_sandbox.store import Event
from netpol_sandbox.store import Obj
from netpol_sandbox.store import Store
from netpol_sandbox.store import now

log = logging.getLogger("netpol_sandbox")

MIRROR = "kubernetes.io/config.mirror"
NODE_NAME = "sandbox-node"
#: Resources whose changes reprogram the network (ServiceAccounts: their labels count
#: for Calico's account selectors).
NETWORK_KINDS = frozenset({"namespaces", "pods", "services", "serviceaccounts"})
BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: Coalescing delay of the network sync (pod/Service/namespace changes).
SYNC_COALESCE = 0.02


class NodeLike(Protocol):
    """What the cluster needs of the node agent (netpol_sandbox.node.Node or a fake)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def run_pod(self, pod: dict[str, Any]) -> str: ...

    async def container_ready(self, pod: dict[str, Any]) -> bool: ...

    async def delete_pod(self, namespace: str, name: str) -> None: ...

    async def start_ephemeral(
        self, namespace: str, name: str, container: dict[str, Any]
    ) -> None: ...

    async def exec(
        self, namespace: str, name: str, container: str | None, argv: list[str]
    ) -> asyncio.subprocess.Process: ...

    async def sync_network(
        self,
        namespaces: list[dict[str, Any]],
        pods: list[dict[str, Any]],
        services: list[dict[str, Any]],
        policies: list[dict[str, Any]],
    ) -> None: ...

    def dns_pod_ip(self) -> str: ...


def _kind(group: str, resource: str) -> Kind:
    kind = find(group, resource)
    assert kind is not None
    return kind


PODS = _kind("", "pods")
NAMESPACES = _kind("", "namespaces")
SERVICES = _kind("", "services")
ENDPOINTS = _kind("", "endpoints")
EVENTS = _kind("", "events")
SERVICEACCOUNTS = _kind("", "serviceaccounts")
NODES = _kind("", "nodes")

PodKey = tuple[str, str]


def _condition(type_: str, status: bool, reason: str = "") -> dict[str, Any]:
    cond: dict[str, Any] = {
        "type": type_,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now(),
    }
    if reason:
        cond["reason"] = reason
    return cond


class Controllers:
    def __init__(
        self,
        store: Store,
        node: NodeLike,
        faults: Faults,
        host_ip: str = "127.0.0.1",
        service_cidr: str | None = None,
    ) -> None:
        self.store = store
        self.node = node
        self.faults = faults
        self.host_ip = host_ip
        self.service_cidr = service_cidr
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starts: dict[PodKey, asyncio.Task[None]] = {}
        self._ran: set[PodKey] = set()
        self._killing: dict[PodKey, asyncio.Task[None]] = {}
        self._ephemeral: set[tuple[str, str, str]] = set()  # (namespace, pod, container)
        self._ns_deleting: dict[str, asyncio.Task[None]] = {}
        self._sync_task: asyncio.Task[None] | None = None
        self._sync_dirty = False
        self._endpoints_dirty: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Any = None
        self.syncs = 0
        self.rng = random.Random(faults.seed)
        # Per-pod policy programming: generation -> policies as of that change; each pod's
        # rules follow the generation it has taken up (after its own random delay).
        self._policy_gen = 0
        self._policy_snapshots: dict[int, list[Obj]] = {0: []}
        self._pod_gen: dict[PodKey, int] = {}
        self._lagging: set[asyncio.Task[None]] = set()
        self.apps = (
            AppsControllers(store, self._spawn, self.record_object_event)
            if faults.deployment_controller
            else None
        )

    # -- wiring ------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.store.subscribe(self._on_event)

    async def close(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        tasks = [t for t in (*self._tasks, *self._starts.values()) if not t.done()]
        if self._sync_task and not self._sync_task.done():
            tasks.append(self._sync_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    def _on_event(self, event: Event) -> None:
        assert self._loop is not None
        self._loop.call_soon(self._handle, event)

    def _handle(self, event: Event) -> None:
        resource = event.kind.resource
        meta = event.obj["metadata"]
        if event.kind in POLICY_KINDS:
            self._policy_changed()
        if self.apps is not None:
            self.apps.handle(event)
        if resource == "pods":
            key = (meta["namespace"], meta["name"])
            annotations = meta.get("annotations") or {}
            if event.type == "ADDED":
                self._pod_gen[key] = self._policy_gen  # a new endpoint: current policy
            if event.type == "DELETED":
                self._pod_gen.pop(key, None)
            if event.type == "ADDED" and MIRROR not in annotations:
                self._starts[key] = self._spawn(self._start_pod(key, meta["uid"]))
            if (
                event.type != "DELETED"
                and meta.get("deletionTimestamp")
                and key not in self._killing
            ):
                self._killing[key] = self._spawn(self._kill_pod(key, meta["uid"]))
            if event.type == "MODIFIED" and not meta.get("deletionTimestamp"):
                for c in (event.obj.get("spec") or {}).get("ephemeralContainers") or []:
                    ekey = (key[0], key[1], str(c.get("name")))
                    if ekey not in self._ephemeral:
                        self._ephemeral.add(ekey)
                        self._spawn(self._start_ephemeral(key, meta["uid"], copy.deepcopy(c)))
            if event.type == "DELETED":
                self._ephemeral = {e for e in self._ephemeral if (e[0], e[1]) != key}
        elif resource == "serviceaccounts":
            if event.type == "DELETED" and meta["name"] == "default":  # the controller re-creates
                self._spawn(self._service_account_later(meta["namespace"], 0.05))
        elif resource == "namespaces":
            name = meta["name"]
            if event.type == "ADDED":
                delay = self.faults.draw(self.rng, self.faults.service_account_delay)
                self._spawn(self._service_account_later(name, delay))
            if (
                event.type != "DELETED"
                and meta.get("deletionTimestamp")
                and name not in self._ns_deleting
            ):
                self._ns_deleting[name] = self._spawn(self._delete_namespace(name))
        if resource in ("pods", "services"):
            self._endpoints_dirty.add(meta.get("namespace", ""))
            assert self._loop is not None
            self._loop.call_soon(self._update_endpoints)
        if resource in NETWORK_KINDS or event.kind in POLICY_KINDS:
            self.schedule_sync()

    # -- bootstrap ---------------------------------------------------------------------
    async def bootstrap(self) -> None:
        """Namespaces default/kube-system/kube-public, the Node, the DNS pod and Service.

        The DNS pod is a mirror pod: the node runs it from start(); run_pod only registers it."""
        for name in BOOTSTRAP_NAMESPACES:
            if self.store.find(NAMESPACES, None, name) is None:
                self.store.create(NAMESPACES, None, {"metadata": {"name": name}})
            self._ensure_service_account(name)  # these are old on a real cluster: no delay
        self.store.create(
            NODES,
            None,
            {
                "metadata": {
                    "name": NODE_NAME,
                    "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"},
                },
                "spec": {},
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": self.host_ip},
                        {"type": "Hostname", "address": NODE_NAME},
                    ],
                    "conditions": [_condition("Ready", True, "KubeletReady")],
                    "nodeInfo": {
                        "kubeletVersion": "v1.32.0-sandbox",
                        "containerRuntimeVersion": "sandbox://1",
                    },
                },
            },
        )
        dns_ip = self.node.dns_pod_ip()
        pod = self.store.create(
            PODS,
            "kube-system",
            {
                "metadata": {
                    "name": "coredns-sandbox",
                    "labels": {"k8s-app": "kube-dns"},
                    "annotations": {MIRROR: "sandbox"},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "coredns",
                            "image": "registry.k8s.io/coredns/coredns:v1.11.3",
                            "ports": [
                                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                            ],
                        }
                    ],
                    "nodeName": NODE_NAME,
                },
            },
        )
        ip = await self.node.run_pod(copy.deepcopy(pod))
        self._ran.add(("kube-system", "coredns-sandbox"))
        self.store.set_status(
            PODS, "kube-system", "coredns-sandbox", self._running_status(pod, ip or dns_ip, True)
        )
        service: dict[str, Any] = {
            "metadata": {"name": "kube-dns", "labels": {"k8s-app": "kube-dns"}},
            "spec": {
                "selector": {"k8s-app": "kube-dns"},
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        }
        if self.service_cidr:
            import ipaddress

            service["spec"]["clusterIP"] = str(
                ipaddress.ip_network(self.service_cidr).network_address + 10
            )
        self.store.create(SERVICES, "kube-system", service)

    # -- kubelet -----------------------------------------------------------------------
    def _running_status(self, pod: Obj, ip: str, ready: bool) -> dict[str, Any]:
        spec = pod.get("spec") or {}
        started = now()
        statuses = [
            {
                "name": c.get("name"),
                "image": c.get("image"),
                "imageID": f"sandbox://{c.get('image')}",
                "containerID": f"sandbox://{secrets.token_hex(16)}",
                "ready": ready,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
                "lastState": {},
            }
            for c in spec.get("containers") or []
        ]
        return {
            "phase": "Running",
            "qosClass": qos_class(spec),
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": pod.get("status", {}).get("startTime") or started,
            "conditions": [
                _condition("PodReadyToStartContainers", True),
                _condition("Initialized", True),
                _condition("Ready", ready, "" if ready else "ContainersNotReady"),
                _condition("ContainersReady", ready, "" if ready else "ContainersNotReady"),
                _condition("PodScheduled", True),
            ],
            "containerStatuses": statuses,
            **(
                {"ephemeralContainerStatuses": pod["status"]["ephemeralContainerStatuses"]}
                if (pod.get("status") or {}).get("ephemeralContainerStatuses")
                else {}
            ),
        }

    def _current(self, key: PodKey, uid: str) -> Obj | None:
        pod = self.store.find(PODS, key[0], key[1])
        if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
            return None
        return pod

    async def _start_pod(self, key: PodKey, uid: str) -> None:
        pod = self._current(key, uid)
        if pod is None:
            return
        if not (pod.get("spec") or {}).get("nodeName"):
            scheduled = copy.deepcopy(pod)
            scheduled["spec"]["nodeName"] = NODE_NAME
            scheduled["status"] = {
                **(pod.get("status") or {}),
                "conditions": [_condition("PodScheduled", True)],
                "startTime": now(),
            }
            self.store.update_internal(PODS, scheduled)
        await asyncio.sleep(self.faults.draw(self.rng, self.faults.pod_start_delay))
        pod = self._current(key, uid)
        if pod is None:
            return
        images = [str(c.get("image", "")) for c in (pod.get("spec") or {}).get("containers") or []]
        blocked = next((image for image in images if self.faults.never_pulls(image)), None)
        if blocked is not None:
            await self._pull_failed(
                key,
                uid,
                blocked,
                f'Failed to pull image "{blocked}": rpc error: code = NotFound desc = '
                "failed to pull "
                f'and unpack image "{blocked}": not found',
            )
            return
        self._ran.add(key)
        try:
            ip = await self.node.run_pod(copy.deepcopy(pod))
        except Exception as exc:
            reason = getattr(exc, "reason", None)
            message = str(getattr(exc, "message", "") or exc)
            if isinstance(reason, str):
                image = next((i for i in images if i in message), images[0] if images else "")
                await self._pull_failed(key, uid, image, message)
            else:
                log.exception("run_pod %s/%s failed", *key)
                self._set_waiting(key, uid, "CreateContainerError", message)
            return
        pod = self._current(key, uid)
        if pod is None:
            return
        self.store.set_status(PODS, key[0], key[1], self._running_status(pod, ip, False))
        delay = 0.05
        while True:
            pod = self._current(key, uid)
            if pod is None:
                return
            try:
                ready = await self.node.container_ready(copy.deepcopy(pod))
            except Exception:
                log.exception("container_ready %s/%s failed", *key)
                ready = False
            if ready:
                pod = self._current(key, uid)
                if pod is not None:
                    self.store.set_status(PODS, key[0], key[1], self._running_status(pod, ip, True))
                    if self.faults.crashes(key[0], key[1]):
                        self._spawn(self._crash_later(key, uid, ip))
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _crash_later(self, key: PodKey, uid: str, ip: str) -> None:
        """The crash_after fault: kill the pod's containers; they stay down (CrashLoopBackOff)."""
        await asyncio.sleep(self.faults.crash_after)
        crash = getattr(self.node, "crash_containers", None)
        if self._current(key, uid) is None or crash is None:
            return
        killed = set(await crash(key[0], key[1]))
        pod = self._current(key, uid)
        if pod is None or not killed:
            return
        status = self._running_status(pod, ip, False)
        message = "back-off 5m0s restarting failed container"
        for cs in status["containerStatuses"]:
            if cs["name"] in killed:
                cs["restartCount"] = 1
                cs["started"] = False
                cs["state"] = {
                    "waiting": {"reason": "CrashLoopBackOff", "message": f"{message}={cs['name']}"}
                }
                cs["lastState"] = {
                    "terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now()}
                }
        self.store.set_status(PODS, key[0], key[1], status)
        for name in sorted(killed):
            self.record_event(key, uid, "Warning", "BackOff", f"{message}={name}")

    async def _start_ephemeral(self, key: PodKey, uid: str, container: dict[str, Any]) -> None:
        """kubelet: run an ephemeral container added to a running pod; report its status."""
        name = str(container.get("name"))
        for _ in range(200):  # a pod that is still starting: wait (bounded) until it runs
            pod = self._current(key, uid)
            if pod is None:
                return
            if key in self._ran and (pod.get("status") or {}).get("podIP"):
                break
            await asyncio.sleep(0.1)
        state: dict[str, Any]
        try:
            await self.node.start_ephemeral(key[0], key[1], container)
            state = {"running": {"startedAt": now()}}
        except Exception as exc:
            message = str(getattr(exc, "message", "") or exc)
            state = {
                "waiting": {
                    "reason": str(getattr(exc, "reason", "ErrImagePull")),
                    "message": message,
                }
            }
        pod = self._current(key, uid)
        if pod is None:
            return
        status = copy.deepcopy(pod.get("status") or {})
        statuses = [
            s for s in status.get("ephemeralContainerStatuses") or [] if s.get("name") != name
        ]
        statuses.append(
            {
                "name": name,
                "image": container.get("image"),
                "imageID": f"sandbox://{container.get('image')}",
                "containerID": f"sandbox://{secrets.token_hex(16)}",
                "ready": False,
                "restartCount": 0,
                "state": state,
                "lastState": {},
            }
        )
        status["ephemeralContainerStatuses"] = statuses
        self.store.set_status(PODS, key[0], key[1], status)

    def _set_waiting(self, key: PodKey, uid: str, reason: str, message: str) -> None:
        pod = self._current(key, uid)
        if pod is None:
            return
        spec = pod.get("spec") or {}
        status = {
            "phase": "Pending",
            "qosClass": qos_class(spec),
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "startTime": (pod.get("status") or {}).get("startTime") or now(),
            "conditions": [
                _condition("PodReadyToStartContainers", True),
                _condition("Initialized", True),
                _condition("Ready", False, "ContainersNotReady"),
                _condition("ContainersReady", False, "ContainersNotReady"),
                _condition("PodScheduled", True),
            ],
            "containerStatuses": [
                {
                    "name": c.get("name"),
                    "image": c.get("image"),
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": reason, "message": message}},
                    "lastState": {},
                }
                for c in spec.get("containers") or []
            ],
        }
        self.store.set_status(PODS, key[0], key[1], status)

    async def _pull_failed(self, key: PodKey, uid: str, image: str, message: str) -> None:
        self._set_waiting(key, uid, "ErrImagePull", message)
        self.record_event(key, uid, "Warning", "Failed", message)
        self.record_event(key, uid, "Warning", "Failed", "Error: ErrImagePull")
        await asyncio.sleep(1.0)
        # Since Kubernetes 1.32 the kubelet keeps the last pull error in the back-off
        # message (kubernetes/kubernetes#127918); the event keeps the short form.
        short = f'Back-off pulling image "{image}"'
        self._set_waiting(key, uid, "ImagePullBackOff", f"{short}: ErrImagePull: {message}")
        self.record_event(key, uid, "Normal", "BackOff", short)
        self.record_event(key, uid, "Warning", "Failed", "Error: ImagePullBackOff")

    def record_object_event(
        self, namespace: str, name: str, obj: Obj, type_: str, reason: str, message: str
    ) -> None:
        """An Event about any object (the ReplicaSet controller's FailedCreate ...)."""
        stamp = now()
        with contextlib.suppress(ApiError):
            self.store.create(
                EVENTS,
                namespace,
                {
                    "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": namespace},
                    "involvedObject": {
                        "kind": obj.get("kind"),
                        "apiVersion": obj.get("apiVersion"),
                        "namespace": namespace,
                        "name": name,
                        "uid": obj["metadata"].get("uid"),
                    },
                    "reason": reason,
                    "message": message,
                    "type": type_,
                    "count": 1,
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "source": {"component": "replicaset-controller"},
                    "reportingComponent": "replicaset-controller",
                },
                hooks=False,
            )

    def record_event(self, key: PodKey, uid: str, type_: str, reason: str, message: str) -> None:
        stamp = now()
        with contextlib.suppress(ApiError):  # the namespace is going away
            self.store.create(
                EVENTS,
                key[0],
                {
                    "metadata": {"name": f"{key[1]}.{secrets.token_hex(8)}", "namespace": key[0]},
                    "involvedObject": {
                        "kind": "Pod",
                        "apiVersion": "v1",
                        "namespace": key[0],
                        "name": key[1],
                        "uid": uid,
                    },
                    "reason": reason,
                    "message": message,
                    "type": type_,
                    "count": 1,
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "source": {"component": "kubelet", "host": NODE_NAME},
                    "reportingComponent": "kubelet",
                    "reportingInstance": NODE_NAME,
                },
                hooks=False,
            )

    async def _kill_pod(self, key: PodKey, uid: str) -> None:
        try:
            start = self._starts.pop(key, None)
            if start is not None:
                try:
                    await start
                except asyncio.CancelledError:
                    raise
                except Exception:  # already logged by _spawn
                    pass
            if key in self._ran:
                self._ran.discard(key)
                try:
                    await self.node.delete_pod(key[0], key[1])
                except Exception:
                    log.exception("delete_pod %s/%s failed", *key)
            pod = self.store.find(PODS, key[0], key[1])
            if pod is not None and pod["metadata"]["uid"] == uid:
                self.store.finalize(PODS, key[0], key[1])
        finally:
            self._killing.pop(key, None)

    # -- namespaces, service accounts, endpoints ---------------------------------------
    async def _service_account_later(self, namespace: str, delay: float) -> None:
        """The ServiceAccount controller: ``default`` appears some time after the namespace."""
        await asyncio.sleep(delay)
        ns = self.store.find(NAMESPACES, None, namespace)
        if ns is not None and not ns["metadata"].get("deletionTimestamp"):
            self._ensure_service_account(namespace)

    def _ensure_service_account(self, namespace: str) -> None:
        if self.store.find(SERVICEACCOUNTS, namespace, "default") is None:
            with contextlib.suppress(ApiError):
                self.store.create(
                    SERVICEACCOUNTS, namespace, {"metadata": {"name": "default"}}, hooks=False
                )

    async def _delete_namespace(self, name: str) -> None:
        from netpol_sandbox.kinds import KINDS

        try:
            while True:
                left = 0
                for kind in KINDS:
                    if not kind.namespaced:
                        continue
                    for obj in list(self.store.items(kind, name)):
                        left += 1
                        if not obj["metadata"].get("deletionTimestamp"):
                            with contextlib.suppress(ApiError):
                                self.store.delete(kind, name, obj["metadata"]["name"])
                if left == 0:
                    break
                await asyncio.sleep(0.05)
            self.store.finalize(NAMESPACES, None, name)
        finally:
            self._ns_deleting.pop(name, None)

    def _update_endpoints(self) -> None:
        dirty, self._endpoints_dirty = self._endpoints_dirty, set()
        for namespace in dirty:
            ns = self.store.find(NAMESPACES, None, namespace)
            if ns is None or ns["metadata"].get("deletionTimestamp"):
                continue
            pods = self.store.items(PODS, namespace)
            for service in self.store.items(SERVICES, namespace):
                if service["metadata"].get("deletionTimestamp"):
                    continue
                self._write_endpoints(service, pods)

    def _write_endpoints(self, service: Obj, pods: list[Obj]) -> None:
        spec = service.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            return
        meta = service["metadata"]
        groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            status = pod.get("status") or {}
            if not selector_matches({"matchLabels": selector}, labels) or not status.get("podIP"):
                continue
            if pod["metadata"].get("deletionTimestamp"):
                continue
            ports = tuple(_resolve_port(port, pod) for port in spec.get("ports") or [])
            if any(port[1] == 0 for port in ports):
                continue
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            address = {
                "ip": status["podIP"],
                "nodeName": NODE_NAME,
                "targetRef": {
                    "kind": "Pod",
                    "namespace": pod["metadata"]["namespace"],
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            group = groups.setdefault(ports, {"addresses": [], "notReadyAddresses": []})
            group["addresses" if ready else "notReadyAddresses"].append(address)
        subsets = []
        for ports, group in groups.items():
            subset: dict[str, Any] = {
                "ports": [
                    {**({"name": name} if name else {}), "port": number, "protocol": protocol}
                    for name, number, protocol in ports
                ]
            }
            for field in ("addresses", "notReadyAddresses"):
                if group[field]:
                    subset[field] = sorted(group[field], key=lambda a: a["ip"])
            subsets.append(subset)
        endpoints: dict[str, Any] = {
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": dict(meta.get("labels") or {}),
            },
            "subsets": subsets,
        }
        existing = self.store.find(ENDPOINTS, meta["namespace"], meta["name"])
        if existing is None:
            with contextlib.suppress(ApiError):
                self.store.create(ENDPOINTS, meta["namespace"], endpoints, hooks=False)
        elif existing.get("subsets") != subsets:
            updated = copy.deepcopy(existing)
            updated["subsets"] = subsets
            self.store.update_internal(ENDPOINTS, updated)

    # -- network -----------------------------------------------------------------------
    def _policy_changed(self) -> None:
        """A NetworkPolicy changed: a new generation, taken up by each pod after its own
        delay in ``policy_delay`` (pods whose rules it does not change see no difference)."""
        self._policy_gen += 1
        gen = self._policy_gen
        self._policy_snapshots[gen] = self._all_policies()
        for key in list(self._pod_gen):
            delay = self.faults.draw(self.rng, self.faults.policy_delay)
            if delay <= 0:
                self._pod_gen[key] = max(self._pod_gen[key], gen)
                continue
            task = self._spawn(self._take_up(key, gen, delay))
            self._lagging.add(task)
            task.add_done_callback(self._lagging.discard)
        self._forget_snapshots()

    async def _take_up(self, key: PodKey, gen: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if key in self._pod_gen and self._pod_gen[key] < gen:
            self._pod_gen[key] = gen
            self._forget_snapshots()
            self.schedule_sync()

    def _forget_snapshots(self) -> None:
        oldest = min(self._pod_gen.values(), default=self._policy_gen)
        for gen in [g for g in self._policy_snapshots if g < oldest and g != self._policy_gen]:
            del self._policy_snapshots[gen]

    def _all_policies(self) -> list[Obj]:
        """Every policy object the node programs (Kubernetes, Calico, network-policy-api)."""
        return [copy.deepcopy(p) for kind in POLICY_KINDS for p in self.store.items(kind)]

    def programmed_policies(self) -> list[Obj]:
        """The policies as the node must program them: for each policy generation some pods
        still follow, its policies marked with those pods (``enforce.PROGRAMMED_ON``).

        Pods without a generation (none known yet) follow the newest one."""
        current = {
            (p["metadata"]["namespace"], p["metadata"]["name"]) for p in self.store.items(PODS)
        }
        by_gen: dict[int, list[str]] = {}
        for key in current:
            gen = self._pod_gen.get(key, self._policy_gen)
            by_gen.setdefault(gen, []).append(f"{key[0]}/{key[1]}")
        if set(by_gen) <= {self._policy_gen}:  # everyone is up to date: the plain list
            return self._all_policies()
        out: list[Obj] = []
        for gen, keys in sorted(by_gen.items()):
            for policy in self._policy_snapshots.get(gen, []):
                marked = copy.deepcopy(policy)
                marked[PROGRAMMED_ON] = sorted(keys)
                out.append(marked)
        return out

    def schedule_sync(self) -> None:
        self._sync_dirty = True
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = self._spawn(self._sync_loop())

    async def _sync_loop(self) -> None:
        while self._sync_dirty:
            await asyncio.sleep(SYNC_COALESCE)
            self._sync_dirty = False
            namespaces, pods, services = (
                [copy.deepcopy(obj) for obj in self.store.items(kind)]
                for kind in (NAMESPACES, PODS, SERVICES)
            )
            accounts = {
                (sa["metadata"].get("namespace"), sa["metadata"].get("name")): dict(
                    sa["metadata"].get("labels") or {}
                )
                for sa in self.store.items(SERVICEACCOUNTS)
            }
            for pod in pods:
                account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
                pod[ACCOUNT_LABELS] = accounts.get((pod["metadata"].get("namespace"), account), {})
            try:
                await self.node.sync_network(namespaces, pods, services, self.programmed_policies())
                self.syncs += 1
            except Exception:
                log.exception("sync_network failed")

    async def settle(self) -> None:
        """Wait until every pod took up the latest policies and pending network syncs are
        done (for tests and the daemon's start)."""
        while True:
            if self._lagging:
                await asyncio.wait(set(self._lagging))
                continue
            if self._sync_task is not None and not self._sync_task.done():
                await asyncio.wait({self._sync_task})
                continue
            return


def _resolve_port(port: dict[str, Any], pod: Obj) -> tuple[str, int, str]:
    name = str(port.get("name") or "")
    protocol = str(port.get("protocol") or "TCP")
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return (name, target, protocol)
    if isinstance(target, str) and target.isdigit():
        return (name, int(target), protocol)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target and cport.get("protocol", "TCP") == protocol:
                return (name, int(cport.get("containerPort", 0)), protocol)
    return (name, 0, protocol)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("sandbox task failed", exc_info=task.exception())
