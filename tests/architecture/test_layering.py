"""The layering rules of pyproject.toml, checked by import-linter, and proven to bite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the two packages and pyproject.toml, to break on purpose."""
    for package in ("harness", "netpol_sandbox"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_contracts_hold_on_the_tree(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert result.stdout.count("KEPT") == 3


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("harness/model.py", "import kubernetes", "only harness.live.cluster imports"),
        ("harness/live/runner.py", "import kubernetes.client", "only harness.live.cluster imports"),
        ("harness/policy/engine.py", "import harness.live.runner", "harness stages flow one way"),
        ("harness/scenario/loader.py", "import harness.plan", "harness stages flow one way"),
        ("harness/model.py", "import harness.report.tables", "harness stages flow one way"),
        ("harness/plugin/hooks.py", "import netpol_sandbox.cli", "never import each other"),
        ("netpol_sandbox/node.py", "import harness.errors", "never import each other"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    _append(tree / module, line)
    result = _lint(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
