"""`netpol-harness diff --live AFTER`: the cluster's policies and pods as BEFORE (sandbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.images import DEFAULT_IMAGES
from tests.commands.kit import api_from_web
from tests.commands.kit import db_from
from tests.commands.kit import dump_pods
from tests.commands.kit import from_namespace
from tests.commands.kit import write
from tests.commands.test_diff import CHANGED
from tests.live import sbx


def _created(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as a user creates it: no status, a real image."""
    body = {k: v for k, v in obj.items() if k != "status"}
    if body["kind"] == "Pod":  # generateName kept: the web replicas are one workload
        body["spec"] = {
            "containers": [
                {**c, "image": DEFAULT_IMAGES.server, "name": "c"}
                for c in body["spec"]["containers"]
            ]
        }
    return body


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from harness.live.cluster import Cluster

    base = tmp_path_factory.mktemp("difflive")
    for kubeconfig in sbx.sandbox(base / "state"):
        cluster = Cluster(kubeconfig=kubeconfig)
        for obj in [*dump_pods(), api_from_web(), db_from("api")]:
            cluster.create(_created(obj))
        after = base / "after"
        write(after / "api.yaml", api_from_web())
        write(after / "db.yaml", db_from("web"))
        write(after / "ops.yaml", from_namespace("ops-to-api", "api", "ops"))
        same = base / "same"
        write(same / "api.yaml", api_from_web())
        write(same / "db.yaml", db_from("api"))
        yield kubeconfig, base


@pytest.mark.sandbox
def test_live_before_lists_exactly_the_cells_the_files_change(live: tuple[str, Path]) -> None:
    kubeconfig, base = live
    run = sbx.cli(
        "diff", "--live", str(base / "after"), "--kubeconfig", kubeconfig, "--format", "json"
    )
    assert run.returncode == 1, run.stdout + run.stderr
    document = json.loads(run.stdout)
    cells = [
        (c["source"], c["destination"], c["port"], c["protocol"], c["change"])
        for c in document["changes"]
    ]
    # The same cells as the file-based diff of the same change (the sandbox's own
    # kube-system pods are compared too, and do not change).
    assert cells == CHANGED
    assert document["before"].startswith("the live cluster (https://")
    assert "token" not in run.stdout.lower() and "token" not in run.stderr.lower()


@pytest.mark.sandbox
def test_files_equal_to_the_cluster_change_nothing(live: tuple[str, Path]) -> None:
    kubeconfig, base = live
    run = sbx.cli("diff", "--live", str(base / "same"), "--kubeconfig", kubeconfig)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no cell changes" in run.stdout.lower() or "0 cells change" in run.stdout.lower(), (
        run.stdout
    )


def test_live_takes_one_path_and_plain_diff_two(tmp_path: Path) -> None:
    from harness.cli import main

    assert main(["diff", "--live", "a", "b"]) == 2
    assert main(["diff", str(tmp_path)]) == 2
    assert main(["diff", "a", "b", "--context", "x", "--pods", "p"]) == 2


@pytest.mark.sandbox
def test_generate_live_freezes_the_cluster_and_passes_static(live: tuple[str, Path]) -> None:
    import subprocess
    import sys

    kubeconfig, base = live
    project = base / "gen"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    out = project / "shop.netpol.yaml"
    run = sbx.cli(
        "generate", "--live", "--kubeconfig", kubeconfig, "-o", str(out),
        "--namespace", "shop", "--namespace", "ops",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    text = out.read_text()
    assert "from the live cluster https://" in text
    assert "web" in text and "toolbox" in text and "api-0" not in text.split("workloads:")[0]
    # The live policies were copied beside it (they live in no file of the project).
    assert (project / "shop.policies.yaml").exists()
    static = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--netpol-static",
         str(out)],
        capture_output=True, text=True, cwd=project, env=sbx.env(), timeout=120, check=False,
    )  # fmt: skip
    assert static.returncode == 0, static.stdout + static.stderr
    # --selector narrows the pods (the API server applies it); the policies stay.
    narrow = project / "db.netpol.yaml"
    run = sbx.cli(
        "generate", "--live", "--kubeconfig", kubeconfig, "-o", str(narrow), "-l", "app in (db,api)"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    names = [
        ln.split("name:", 1)[1].split(",")[0].strip()
        for ln in narrow.read_text().splitlines()
        if "- {name:" in ln or ln.strip().startswith("- name:")
    ]
    assert names and any(n.startswith("db") for n in names), narrow.read_text()
    assert not any(n.startswith(("web", "toolbox")) for n in names), names
