"""What the live stages need from a cluster, defined once: Protocols by capability.

:class:`harness.live.cluster.Cluster` implements all of them; each live module asks for
the capabilities it uses (the composites at the end), so a test fake implements only
those. Also the one object-reference type (:class:`ObjectRef`) used for cleanup.
Pure: no kubernetes import, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol


@dataclass(frozen=True)
class ObjectRef:
    """Identity of an object the harness created (for cleanup)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ObjectRef:
        meta = body.get("metadata") or {}
        return cls(
            str(body.get("apiVersion", "")),
            str(body.get("kind", "")),
            str(meta.get("name", "")),
            meta.get("namespace"),
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class ExecOutput(Protocol):
    """The result of one exec call."""

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...

    @property
    def exit_code(self) -> int: ...


class Creates(Protocol):
    def create(self, body: Mapping[str, Any], *, run_id: str | None = None) -> dict[str, Any]: ...


class Deletes(Protocol):
    def delete(self, ref: ObjectRef) -> bool: ...


class Labels(Protocol):
    def patch_labels(self, ref: ObjectRef, labels: Mapping[str, str | None]) -> dict[str, Any]: ...


class DeletesRuns(Protocol):
    def delete_run(self, run_id: str, timeout: float = ...) -> list[str]: ...


class ListsObjects(Protocol):
    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]: ...


class Snapshots(Protocol):
    def snapshot(
        self, namespaces: Iterable[str], extended: Iterable[tuple[str, str]] = ()
    ) -> list[dict[str, Any]]: ...


class GetsPods(Protocol):
    def get_pod(self, namespace: str, name: str) -> dict[str, Any]: ...


class ListsPods(Protocol):
    def list_pods(self, namespace: str, label_selector: str = "") -> list[dict[str, Any]]: ...


class WaitsReady(Protocol):
    def wait_pods_ready(
        self, pods: Sequence[tuple[str, str]], timeout: float = ..., interval: float = ...
    ) -> dict[tuple[str, str], dict[str, Any]]: ...


class Execs(Protocol):
    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = ...,
    ) -> ExecOutput: ...


class Ephemeral(Protocol):
    def add_ephemeral_container(
        self, namespace: str, pod: str, container: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    def wait_ephemeral_running(
        self,
        namespace: str,
        pod: str,
        container: str,
        timeout: float = ...,
        interval: float = ...,
    ) -> dict[str, Any]: ...


class Server(Protocol):
    @property
    def server(self) -> str: ...

    def version(self, timeout: float = ...) -> dict[str, Any]: ...

    def can_i(
        self,
        verb: str,
        group: str,
        resource: str,
        *,
        subresource: str = "",
        namespace: str = "",
    ) -> tuple[bool, str]: ...


# -- what each stage uses -------------------------------------------------------------------


class RunnerApi(Creates, Deletes, Labels, WaitsReady, Execs, Snapshots, Protocol):
    """:mod:`harness.live.runner`: deploy, wait, probe, read the live objects back."""


class InPlaceApi(RunnerApi, ListsPods, ListsObjects, Ephemeral, Protocol):
    """:mod:`harness.live.inplace`: the runner's, plus existing pods and ephemeral containers."""


class CheckApi(GetsPods, ListsPods, ListsObjects, Execs, Ephemeral, Snapshots, Protocol):
    """:mod:`harness.live.check` (``netpol-harness check``)."""


class PreflightApi(Server, Creates, ListsPods, Execs, DeletesRuns, Protocol):
    """:mod:`harness.live.preflight`."""


class CleanupApi(ListsObjects, Deletes, Protocol):
    """``netpol-harness cleanup``."""


class SessionApi(RunnerApi, Deletes, DeletesRuns, Protocol):
    """:mod:`harness.live.session`: run scenarios, then delete what they created."""
