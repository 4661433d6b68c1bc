"""One fault-free sandbox shared by the reliability tests that need no fault knobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import kit


@pytest.fixture(scope="session")
def sandbox_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not kit.can_run_sandbox():
        pytest.skip("the sandbox needs root, iproute2 and nftables")
    with kit.sandbox(tmp_path_factory.mktemp("reliability") / "sbx") as kubeconfig:
        yield kubeconfig
