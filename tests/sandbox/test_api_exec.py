"""pods/exec over websockets with the official client (v5/v4 channels, status, errors)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from tests.sandbox.conftest import TOKEN
from tests.sandbox.conftest import Api
from tests.sandbox.test_api_objects import pod_body
from tests.sandbox.test_api_objects import wait_for


def running_pod(api: Api, name: str = "e", namespace: str = "default") -> Any:
    core = api.core()
    core.create_namespaced_pod(namespace, pod_body(name))
    wait_for(lambda: core.read_namespaced_pod(name, namespace).status.phase == "Running", "running")
    return core


def run(
    core: Any, argv: list[str], name: str = "e", namespace: str = "default"
) -> tuple[str, str, int | None]:
    response = stream(
        core.connect_get_namespaced_pod_exec,
        name,
        namespace,
        command=argv,
        container="main",
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    response.run_forever(timeout=30)
    out, err = response.read_stdout(), response.read_stderr()
    code = response.returncode
    response.close()
    return out, err, code


@pytest.mark.parametrize("code", [0, 7, 28])
def test_exit_codes(api: Api, code: int) -> None:
    core = running_pod(api)
    assert run(core, ["sh", "-c", f"exit {code}"])[2] == code


def test_stdout_and_stderr_are_separate(api: Api) -> None:
    core = running_pod(api)
    out, err, code = run(core, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (out, err, code) == ("out\n", "err\n", 3)


def test_argv_survives_exactly(api: Api) -> None:
    core = running_pod(api)
    args = ["a b", "it's", 'say "hi"', "100%", "%{http_code}", "x;y", "&a=b", "ünï", ""]
    out, _, code = run(
        core, ["python3", "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *args]
    )
    assert code == 0
    import json

    assert json.loads(out) == args


def test_large_output(api: Api) -> None:
    core = running_pod(api)
    out, _, code = run(core, ["sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' 'x'"])
    assert code == 0
    assert len(out) == 5_000_000
    assert set(out) == {"x"}


def test_missing_binary_is_127(api: Api) -> None:
    core = running_pod(api)
    _, err, code = run(core, ["no-such-binary-here"])
    assert code == 127
    assert "not found" in err


def test_unknown_pod_is_404_before_upgrade(api: Api) -> None:
    core = api.core()
    with pytest.raises(ApiException) as err:
        run(core, ["true"], name="ghost")
    assert "404" in str(err.value)


def test_pending_pod_is_400(tmp_path: Any) -> None:
    from netpol_sandbox.faults import Faults
    from tests.sandbox.conftest import start_api

    gen = start_api(tmp_path, Faults(pod_start_delay=(30.0, 30.0), policy_delay=(0.01, 0.01)))
    api = next(gen)
    try:
        core = api.core()
        core.create_namespaced_pod("default", pod_body("slow"))
        status, data, _ = api.request(
            "GET", "/api/v1/namespaces/default/pods/slow/exec?command=true&stdout=true"
        )
        assert status == 400
        assert data["message"] == 'unable to upgrade connection: container not found ("main")'
        with pytest.raises(ApiException) as err:
            run(core, ["true"], name="slow")
        assert "400" in str(err.value)
    finally:
        with pytest.raises(StopIteration):
            next(gen)


def test_parallel_execs_with_one_client_per_thread(api: Api) -> None:
    running_pod(api)
    results: list[int | None] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        core = api.core()
        for _ in range(3):
            code = run(core, ["sh", "-c", f"exit {index}"])[2]
            with lock:
                results.append(code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = [code for code in results if code is not None]
    assert len(codes) == len(results), results  # every exec reported its exit status
    assert sorted(codes) == sorted([i for i in range(8) for _ in range(3)])


def test_v4_only_and_no_subprotocol(api: Api) -> None:
    import websocket

    running_pod(api)
    import ssl

    assert api.pki is not None
    url = api.url.replace("https://", "wss://") + (
        "/api/v1/namespaces/default/pods/e/exec?command=sh&command=-c&command=echo+hi%3B+exit+5"
        "&stdout=true&stderr=true"
    )
    for protocols in (["v4.channel.k8s.io"], None):
        ws = websocket.create_connection(
            url,
            subprotocols=protocols,
            timeout=10,
            header=[f"Authorization: Bearer {TOKEN}"],
            sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(api.pki.ca_cert)},
        )
        frames: dict[int, bytes] = {}
        while True:
            try:
                opcode, data = ws.recv_data()
            except websocket.WebSocketConnectionClosedException:
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if data:
                frames[data[0]] = frames.get(data[0], b"") + data[1:]
        ws.close()
        assert frames[1] == b"hi\n"
        assert b'"ExitCode", "message": "5"' in frames[3] or b'"message": "5"' in frames[3]
