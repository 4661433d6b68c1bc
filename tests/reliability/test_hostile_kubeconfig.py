"""Bad kubeconfigs: one clear line naming the file and the fix, a non-zero exit, no traceback.

`pytest scenarios/x --netpol-kubeconfig BAD` as a user would type it (a subprocess). We run
as root, so "unreadable" is simulated by a directory, invalid YAML, binary garbage and
YAML that is not a kubeconfig; "points nowhere" by a closed localhost port.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability import kit

SCENARIO = str(kit.SCENARIOS / "dns.netpol.yaml")


def _pytest(kubeconfig: Path, *extra: str) -> tuple[int, str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            SCENARIO,
            "--netpol-kubeconfig",
            str(kubeconfig),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=kit.env(),
        cwd=kit.REPO,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _assert_clean_error(code: int, text: str, *needles: str) -> None:
    assert code not in (0, 1), text[-2000:]  # not a pass, not test failures
    assert code != 3, text[-2000:]  # not pytest's INTERNALERROR
    assert "Traceback" not in text and "INTERNALERROR" not in text, text[-2000:]
    assert "fix:" in text, text[-2000:]
    for needle in needles:
        assert needle in text, text[-2000:]


def test_missing_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    code, text = _pytest(path)
    _assert_clean_error(code, text, str(path), "no such file")


def test_kubeconfig_that_is_a_directory(tmp_path: Path) -> None:
    code, text = _pytest(tmp_path)
    _assert_clean_error(code, text, str(tmp_path))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"apiVersion: v1\nkind: Config\nclusters: [\n  - {name: x\n", ":4: the kubeconfig is not"),
        (b"- a\n- b\n", "not a kubeconfig"),
        (b"apiVersion: v1\nclusters: 5\n", "not a kubeconfig"),
        (bytes(range(128, 256)) * 3, "not a kubeconfig"),
        (b"", "empty"),
    ],
    ids=["invalid-yaml", "a-list", "wrong-types", "binary", "empty"],
)
def test_kubeconfig_that_is_not_one(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)
    code, text = _pytest(path)
    _assert_clean_error(code, text, str(path), needle)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connections are refused


def _kubeconfig_to(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\n"
        "users:\n- name: u\n  user: {token: nph-canary-closed-port}\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
    )
    return path


def test_kubeconfig_pointing_at_a_closed_port(tmp_path: Path) -> None:
    port = _closed_port()
    code, text = _pytest(_kubeconfig_to(tmp_path, port))
    _assert_clean_error(code, text, f"127.0.0.1:{port}", "Connection refused", "cannot reach")
    assert "nph-canary-closed-port" not in text


def test_closed_port_without_preflight_errors_every_cell(tmp_path: Path) -> None:
    port = _closed_port()
    code, text = _pytest(_kubeconfig_to(tmp_path, port), "--netpol-no-preflight")
    assert code == 1, text[-2000:]  # pytest: errors
    assert "Traceback" not in text and "INTERNALERROR" not in text, text[-2000:]
    summary = next(line for line in text.splitlines() if re.search(r"\d+ errors? in ", line))
    assert "8 errors" in summary and "failed" not in summary and "passed" not in summary, summary
    assert "Connection refused" in text
    assert "nph-canary-closed-port" not in text
