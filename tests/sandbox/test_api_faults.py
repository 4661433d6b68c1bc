"""Fault knobs: injected 429/500 (with Retry-After), exec upgrade failures and lost exit
statuses, and loading the knobs from files and flags."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from netpol_sandbox.controllers import PODS
from netpol_sandbox.errors import ConfigError
from netpol_sandbox.faults import Faults
from netpol_sandbox.faults import add_arguments
from netpol_sandbox.faults import from_args
from tests.sandbox.conftest import Api
from tests.sandbox.conftest import start_api
from tests.sandbox.test_api_exec import run
from tests.sandbox.test_api_objects import pod_body
from tests.sandbox.test_api_objects import wait_for


def faulty(tmp_path: Path, **knobs: Any) -> Iterator[Api]:
    return start_api(
        tmp_path, Faults(pod_start_delay=(0.01, 0.01), policy_delay=(0.01, 0.01), seed=1, **knobs)
    )


def finish(gen: Iterator[Api]) -> None:
    with pytest.raises(StopIteration):
        next(gen)


def test_api_429_has_retry_after_and_spares_discovery(tmp_path: Path) -> None:
    gen = faulty(tmp_path, api_429=1.0)
    api = next(gen)
    try:
        status, data, headers = api.request("GET", "/api/v1/namespaces")
        assert status == 429
        assert headers.get("Retry-After") == "1"
        assert data["reason"] == "TooManyRequests"
        for path in ("/version", "/api", "/api/v1", "/apis", "/apis/networking.k8s.io/v1"):
            assert api.request("GET", path)[0] == 200, path
        with pytest.raises(ApiException) as err:
            api.core().list_namespace()
        assert err.value.status == 429
        assert err.value.headers is not None
        assert err.value.headers["Retry-After"] == "1"
    finally:
        finish(gen)


def test_api_500(tmp_path: Path) -> None:
    gen = faulty(tmp_path, api_500=1.0)
    api = next(gen)
    try:
        with pytest.raises(ApiException) as err:
            api.core().read_namespace("default")
        assert err.value.status == 500
    finally:
        finish(gen)


def test_faults_do_not_hit_internal_work(tmp_path: Path) -> None:
    gen = faulty(tmp_path, api_500=0.5)
    api = next(gen)
    try:
        core = api.core()
        for _ in range(20):
            try:
                core.create_namespaced_pod("default", pod_body("p"))
                break
            except ApiException as exc:
                assert exc.status == 500
        wait_for(lambda: ("default", "p") in api.node.pods, "pod started despite API faults")
        pod = api.call(lambda: api.server.store.get(PODS, "default", "p"))
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"] == api.node.pods[("default", "p")]
    finally:
        finish(gen)


def test_exec_lost_status_breaks_returncode(tmp_path: Path) -> None:
    gen = faulty(tmp_path, exec_lost_status=1.0)
    api = next(gen)
    try:
        core = api.core()
        core.create_namespaced_pod("default", pod_body("e"))
        wait_for(
            lambda: core.read_namespaced_pod("e", "default").status.phase == "Running", "running"
        )
        with pytest.raises(TypeError):
            run(core, ["sh", "-c", "echo hi; exit 3"])
    finally:
        finish(gen)


def test_exec_upgrade_failure(tmp_path: Path) -> None:
    gen = faulty(tmp_path, exec_upgrade_failure=1.0)
    api = next(gen)
    try:
        core = api.core()
        core.create_namespaced_pod("default", pod_body("e"))
        wait_for(
            lambda: core.read_namespaced_pod("e", "default").status.phase == "Running", "running"
        )
        with pytest.raises(ApiException) as err:
            run(core, ["true"])
        assert "500" in str(err.value)
    finally:
        finish(gen)


def test_load_toml_json_and_flags(tmp_path: Path) -> None:
    toml = tmp_path / "f.toml"
    toml.write_text('api_429 = 0.25\nnever_pull = ["evil/*"]\nenforce = false\nseed = 3\n')
    loaded = Faults.load(toml)
    assert (loaded.api_429, loaded.never_pull, loaded.enforce, loaded.seed) == (
        0.25,
        ("evil/*",),
        False,
        3,
    )
    assert loaded.never_pulls("evil/img:1") and not loaded.never_pulls("nginx:1")
    as_json = tmp_path / "f.json"
    as_json.write_text(loaded.to_json())
    assert Faults.load(as_json) == loaded
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--faults", str(toml), "--api-500", "0.5", "--pod-start-delay", "0"])
    combined = from_args(args)
    assert (combined.api_429, combined.api_500, combined.pod_start_delay) == (
        0.25,
        0.5,
        (0.0, 0.0),
    )
    assert from_args(parser.parse_args([])) == Faults()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api_249 = 0.1\n", "unknown fault knob 'api_249'"),
        ("api_429 = 2\n", "must be a fraction between 0 and 1"),
        ("pod_start_delay = -1\n", "must be zero or more seconds"),
        ("enforce = 1\n", "must be true or false"),
        ("api_429 = \n", "not valid TOML"),
    ],
)
def test_bad_fault_files_name_the_file_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        Faults.load(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)
