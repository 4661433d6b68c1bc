"""Files named almost like a scenario are not collected, and pytest says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.plugin.items import near_miss


@pytest.mark.parametrize(
    "name", ["a.netpol.yml", "a.netpol-yaml", "a.netpol.yaml.bak", "a.NETPOL.YAML", "a.netpol_yml"]
)
def test_near_misses_are_named(name: str) -> None:
    text = near_miss(Path(name))
    assert text is not None and "a.netpol.yaml" in text and "fix:" in text


@pytest.mark.parametrize("name", ["a.netpol.yaml", "a.yaml", "netpol.md", "a.netpolicy.yaml"])
def test_other_files_are_quiet(name: str) -> None:
    assert near_miss(Path(name)) is None


def test_collection_warns(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "web.netpol.yml").write_text("kind: Scenario\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "."],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    out = done.stdout + done.stderr
    assert "web.netpol.yml: not collected" in out and "rename it to web.netpol.yaml" in out, out
