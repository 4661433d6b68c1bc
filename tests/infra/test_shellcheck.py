"""shellcheck on every shell script of the repository's tooling."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra._repo import ROOT

SCRIPTS = [*sorted(p for p in (ROOT / "scripts").iterdir() if p.is_file()), ROOT / ".ci" / "run"]


def test_the_scripts_exist_and_are_executable() -> None:
    for name in ("kind-up", "kind-down"):
        path = ROOT / "scripts" / name
        assert path.is_file()
        assert path.stat().st_mode & 0o111, f"{path} is not executable"
        head = path.read_text().splitlines()[:20]
        assert head[0] == "#!/usr/bin/env bash"
        assert "set -euo pipefail" in head


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck not installed (make apt)"
)
@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck_clean(path: Path) -> None:
    result = subprocess.run(
        ["shellcheck", "--severity=style", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck not installed (make apt)"
)
def test_shellcheck_would_catch_a_bug(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/*\n")
    result = subprocess.run(["shellcheck", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "SC2086" in result.stdout
