"""Fixtures for the sandbox API tests: an in-process API server (FakeNode, no netns) running
in its own thread and event loop, served over TLS with its own CA as ``sandbox up`` does
(``tls=False``: plain HTTP), and a kubeconfig for it."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pytest
from aiohttp import web

from netpol_sandbox import pki as pki_module
from netpol_sandbox.api import Server
from netpol_sandbox.api import make_app
from netpol_sandbox.auth import Authenticator
from netpol_sandbox.daemon import build_server
from netpol_sandbox.faults import Faults
from netpol_sandbox.kubeconfig import write as write_kubeconfig
from tests.sandbox.fakenode import FakeNode

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

TOKEN = "test-admin-token"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubernetes' Configuration reads HTTP(S)_PROXY; loopback must never go through one."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Api:
    url: str
    kubeconfig: Path
    server: Server
    node: FakeNode
    loop: asyncio.AbstractEventLoop
    pki: pki_module.Pki | None = None
    clients: list[ApiClient] = field(default_factory=list)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` inside the server's loop (for looking at the store) and return its result."""

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(10)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """A raw HTTP call (no proxy): (status, decoded JSON or text, headers)."""
        import json
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={
                "Content-Type": content_type,
                "Authorization": f"Bearer {TOKEN}",
                **(headers or {}),
            },
        )
        handlers: list[Any] = [urllib.request.ProxyHandler({})]
        if self.pki is not None:
            handlers.append(urllib.request.HTTPSHandler(context=self.pki.client_context()))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=30) as response:
                status, raw, got = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), dict(error.headers)
        try:
            return status, json.loads(raw), got
        except ValueError:
            return status, raw.decode(errors="replace"), got

    def settle(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.cluster.settle(), self.loop).result(30)

    def core(self) -> Any:
        """A fresh CoreV1Api (one ApiClient per caller: stream() is not thread-safe)."""
        from kubernetes import client

        api_client = new_client(self.kubeconfig)
        self.clients.append(api_client)
        return client.CoreV1Api(api_client)

    def networking(self) -> Any:
        from kubernetes import client

        api_client = new_client(self.kubeconfig)
        self.clients.append(api_client)
        return client.NetworkingV1Api(api_client)


def new_client(kubeconfig: Path | str) -> ApiClient:
    """An ApiClient of the official client from the kubeconfig file ``kubeconfig``."""
    from kubernetes import client
    from kubernetes import config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    assert isinstance(api_client, client.ApiClient)
    return api_client


_PKI: dict[str, pki_module.Pki] = {}


def session_pki(base: Path) -> pki_module.Pki:
    """One CA + server certificate for the whole test session (openssl takes ~0.2 s)."""
    if "pki" not in _PKI:
        _PKI["pki"] = pki_module.generate(base / "sandbox-test-pki")
    return _PKI["pki"]


def start_api(
    tmp_path: Path, faults: Faults, rbac: Path | None = None, *, tls: bool = True
) -> Iterator[Api]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}
    node = FakeNode(pod_cidr="10.199.0.0/16")
    pki = session_pki(tmp_path.parent) if tls else None
    auth = Authenticator.admin_only(TOKEN, tls=tls)
    if rbac is not None:
        auth = auth.with_file(rbac)

    async def setup() -> None:
        server = build_server(node, faults, auth, "10.199.0.1", "10.96.199.0/24")
        server.cluster.start()
        await server.cluster.bootstrap()
        runner = web.AppRunner(make_app(server), handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(
            runner, "127.0.0.1", 0, ssl_context=pki.server_context() if pki else None
        )
        await site.start()
        holder.update(server=server, runner=runner, port=runner.addresses[0][1])

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(setup())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    url = f"{'https' if pki else 'http'}://127.0.0.1:{holder['port']}"
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", url, TOKEN, ca_pem=pki.ca_pem() if pki else None
    )
    api = Api(url, kubeconfig, holder["server"], node, loop, pki)
    try:
        yield api
    finally:
        for api_client in api.clients:
            api_client.close()  # type: ignore[no-untyped-call]

        async def teardown() -> None:
            await holder["runner"].cleanup()
            await holder["server"].cluster.close()

        asyncio.run_coroutine_threadsafe(teardown(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


#: The API tests are about API semantics, not timing: every realistic delay stays on (so each
#: test must wait for what it needs: the ServiceAccount, Ready, the policy), but shortened
#: so a test file runs in seconds on a shared 2-core machine.
FAST = Faults(
    service_account_delay=(0.05, 0.2), pod_start_delay=(0.02, 0.1), policy_delay=(0.0, 0.05)
)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from start_api(tmp_path, FAST)


@pytest.fixture
def kubectl_env(api: Api) -> dict[str, str]:
    env = dict(os.environ)
    env["KUBECONFIG"] = str(api.kubeconfig)
    env["HOME"] = str(api.kubeconfig.parent)  # kubectl's discovery cache stays in tmp
    return env


def wait_service_account(core: Any, namespace: str, timeout: float = 10.0) -> None:
    """Wait for the namespace's ``default`` ServiceAccount, as a client must on a real
    cluster before it creates pods there (until then: 403 error looking up service account)."""
    import time

    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + timeout
    while True:
        try:
            core.read_namespaced_service_account("default", namespace)
            return
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.05)
