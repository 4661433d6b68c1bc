"""``pods/exec`` over websockets (v5/v4.channel.k8s.io, or no subprotocol): channel 1 stdout,
2 stderr, 3 the status JSON, then the server closes. Errors before the upgrade are Status
answers, as the real API server gives them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
from typing import TYPE_CHECKING
from typing import Any

from aiohttp import WSMsgType
from aiohttp import web

from netpol_sandbox.apierror import ApiError

if TYPE_CHECKING:
    from netpol_sandbox.api import Server

log = logging.getLogger("netpol_sandbox.exec")

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
CHUNK = 64 * 1024


def exit_status(argv: list[str], code: int) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
        f"[{shlex.join(argv)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _check_pod(pod: dict[str, Any], container: str | None) -> str:
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    containers = [str(c.get("name")) for c in spec.get("containers") or []]
    containers += [str(c.get("name")) for c in spec.get("ephemeralContainers") or []]
    chosen = container or (containers[0] if containers else "")
    if chosen not in containers:
        raise ApiError.bad_request(f"container {chosen} is not valid for pod {name}")
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        raise ApiError.bad_request(
            f"cannot exec into a container in a completed pod; current phase is {phase}"
        )
    if phase != "Running" or not status.get("podIP"):
        raise ApiError.bad_request(
            f'unable to upgrade connection: container not found ("{chosen}")'
        )
    return chosen


async def serve_exec(
    request: web.Request, server: Server, pod: dict[str, Any]
) -> web.StreamResponse:
    query = request.query
    argv = query.getall("command", [])
    if not argv:
        raise ApiError.bad_request("you must specify at least 1 command")
    container = _check_pod(pod, query.get("container") or None)
    want = {
        name: query.get(name, "false") in ("true", "1")
        for name in ("stdout", "stderr", "stdin", "tty")
    }
    ws = web.WebSocketResponse(protocols=PROTOCOLS, compress=False, autoping=True, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise ApiError.bad_request(
            "Upgrade request required: this server speaks exec over websockets only"
        )
    if server.roll(server.faults.exec_upgrade_failure):
        raise ApiError(
            500,
            "InternalError",
            "error dialing backend: injected fault (sandbox exec_upgrade_failure)",
        )
    await ws.prepare(request)
    meta = pod["metadata"]
    lock = asyncio.Lock()
    proc: asyncio.subprocess.Process | None = None

    async def send(channel: int, data: bytes) -> None:
        async with lock:
            await ws.send_bytes(bytes([channel]) + data)

    async def pump(stream: asyncio.StreamReader | None, channel: int, forward: bool) -> None:
        if stream is None:
            return
        while chunk := await stream.read(CHUNK):
            if forward:
                await send(channel, chunk)

    async def reader() -> None:
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    reading = asyncio.ensure_future(reader())
    try:
        if server.faults.exec_latency:
            await asyncio.sleep(server.faults.exec_latency)
        try:
            proc = await server.cluster.node.exec(
                meta["namespace"], meta["name"], container, list(argv)
            )
        except Exception as exc:
            log.exception("exec in %s/%s failed to start", meta["namespace"], meta["name"])
            await send(
                3,
                json.dumps(
                    {
                        "metadata": {},
                        "status": "Failure",
                        "reason": "InternalError",
                        "message": f"failed to exec in container: {exc}",
                    }
                ).encode(),
            )
            return ws
        pumps = asyncio.gather(
            pump(proc.stdout, 1, want["stdout"]), pump(proc.stderr, 2, want["stderr"])
        )
        waiters: set[asyncio.Future[Any]] = {pumps, reading}
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if pumps not in done:  # the client went away: stop the command
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            pumps.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pumps
            await proc.wait()
            return ws
        pumps.result()
        code = await proc.wait()
        if not server.roll(server.faults.exec_lost_status):
            await send(3, json.dumps(exit_status(list(argv), code)).encode())
    except (ConnectionResetError, asyncio.CancelledError):
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        raise
    finally:
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reading
    return ws
