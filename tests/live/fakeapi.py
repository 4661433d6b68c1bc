"""A tiny scripted Kubernetes API server (aiohttp, loopback) for harness.live.cluster tests."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from aiohttp import web


@dataclass
class State:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> object
    #: queued responses per "METHOD path": list of (status, body, headers)
    script: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(
        default_factory=dict
    )
    requests: list[str] = field(default_factory=list)
    #: exec behaviour per pod name: "ok", "exit3", "nostatus", "hang", "404"
    exec_mode: dict[str, str] = field(default_factory=dict)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


def make_app(state: State) -> web.Application:
    async def exec_handler(request: web.Request) -> web.StreamResponse:
        pod = request.match_info["name"]
        mode = state.exec_mode.get(pod, "ok")
        state.requests.append(f"EXEC {pod}")
        if mode == "404":
            return web.json_response(
                _status(404, "NotFound", f'pods "{pod}" not found'), status=404
            )
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        command = request.query.getall("command")
        await ws.send_bytes(b"\x01" + json.dumps(command).encode() + b"\n")
        await ws.send_bytes(b"\x02" + b"to stderr\n")
        if mode == "hang":
            await asyncio.sleep(2)
        if mode == "ok":
            await ws.send_bytes(
                b"\x03" + json.dumps({"metadata": {}, "status": "Success"}).encode()
            )
        elif mode == "exit3":
            status = {
                "metadata": {},
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "message": "command terminated with non-zero exit code: exit status 3",
                "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
            }
            await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
        return ws

    async def handler(request: web.Request) -> web.Response:
        key = f"{request.method} {request.path}"
        state.requests.append(key)
        queued = state.script.get(key)
        if queued:
            status, body, headers = queued.pop(0)
            return web.json_response(body, status=status, headers=headers)
        if request.method == "POST":
            body = await request.json()
            path = f"{request.path}/{body['metadata']['name']}"
            if path in state.objects:
                return web.json_response(
                    _status(409, "AlreadyExists", f"{body['metadata']['name']} already exists"),
                    status=409,
                )
            body.setdefault("metadata", {})["resourceVersion"] = "1"
            state.objects[path] = body
            return web.json_response(body, status=201)
        if request.method == "PUT":
            body = await request.json()
            state.objects[request.path] = body
            return web.json_response(body)
        if request.method == "GET":
            if request.path in state.objects:
                return web.json_response(state.objects[request.path])
            prefix = request.path + "/"
            items = [o for p, o in state.objects.items() if p.startswith(prefix)]
            if items or request.path.endswith("s"):
                return web.json_response({"kind": "List", "items": items})
            return web.json_response(_status(404, "NotFound", "not found"), status=404)
        if request.method == "DELETE":
            if state.objects.pop(request.path, None) is None:
                return web.json_response(_status(404, "NotFound", "not found"), status=404)
            return web.json_response({"kind": "Status", "status": "Success"})
        return web.json_response(_status(405, "MethodNotAllowed", "no"), status=405)

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/exec", exec_handler)
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


@contextmanager
def serve(tmp_path: Path) -> Iterator[tuple[State, str]]:
    """Run the fake API on 127.0.0.1; yields (state, kubeconfig path)."""
    state = State()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(make_app(state))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "fake", "cluster": {"server": f"http://127.0.0.1:{holder['port']}"}}
                ],
                "users": [{"name": "fake", "user": {"token": "s3cr3t-token"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": "fake",
            }
        )
    )
    try:
        yield state, str(kubeconfig)
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
