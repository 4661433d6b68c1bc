"""`netpol-harness cleanup`: only harness-labelled objects, filters, dry run (on a sandbox)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from harness.commands.cleanup import parse_age
from harness.commands.cleanup import selector
from harness.errors import ConfigError
from harness.model import CREATED_ANNOTATION
from harness.model import MANAGED_BY_LABEL
from harness.model import MANAGED_BY_VALUE
from harness.model import RUN_LABEL
from tests.live import sbx


def test_parse_age() -> None:
    assert parse_age("90s") == 90
    assert parse_age("30m") == 1800
    assert parse_age("1h30m") == 5400
    assert parse_age("2d") == 172800
    for bad in ("", "5", "5x", "-1h", "h"):
        with pytest.raises(ConfigError, match=r"fix: e\.g\. 30m"):
            parse_age(bad)


def test_selector_only_ever_matches_the_harness_label() -> None:
    assert selector(None) == f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
    assert selector("r1") == f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{RUN_LABEL}=r1"


# ---------------------------------------------------------------- sandbox

OURS = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
POLICY_SPEC = {"podSelector": {}, "policyTypes": ["Ingress"]}


def _ns(name: str, labels: dict[str, str], created: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if created:
        meta["annotations"] = {CREATED_ANNOTATION: created}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _policy(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": POLICY_SPEC,
    }


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from harness.live.cluster import Cluster

    for kubeconfig in sbx.sandbox(tmp_path_factory.mktemp("cleanup")):
        c = Cluster(kubeconfig=kubeconfig)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        c.create(_ns("prod", {"team": "a"}))  # someone else's namespace
        c.create(_ns("run1-web", {**OURS, RUN_LABEL: "r1"}, "2020-01-01T00:00:00Z"))
        c.create(_ns("run2-web", {**OURS, RUN_LABEL: "r2"}, now))
        c.create(_ns("lookalike", {RUN_LABEL: "r1"}))  # run label only: not ours
        c.create(_policy("theirs", "prod", {"team": "a"}))
        c.create(_policy("probe-r1", "prod", {**OURS, RUN_LABEL: "r1"}))
        c.create(_policy("inside", "run1-web", {**OURS, RUN_LABEL: "r1"}))
        yield kubeconfig, c


def _alive(c: Any, kind: str, namespace: str | None = None) -> set[str]:
    api = "v1" if kind == "Namespace" else "networking.k8s.io/v1"
    return {
        str(o["metadata"]["name"])
        for o in c.list_objects(api, kind, namespace)
        if not o["metadata"].get("deletionTimestamp")
    }


def _cleanup(kubeconfig: str, *args: str) -> Any:
    return sbx.cli("cleanup", "--kubeconfig", kubeconfig, *args)


@pytest.mark.sandbox
def test_dry_run_lists_only_labelled_objects_and_deletes_nothing(
    cluster: tuple[str, Any],
) -> None:
    kubeconfig, c = cluster
    before = _alive(c, "Namespace")
    result = _cleanup(kubeconfig, "--dry-run")
    assert result.returncode == 0, result.stderr
    listed = [line for line in result.stdout.splitlines() if line.startswith("would delete")]
    assert listed == [
        "would delete namespace run1-web (run r1, created 2020-01-01T00:00:00Z)",
        listed[1],
        listed[2],
    ]
    assert listed[1].startswith("would delete namespace run2-web (run r2, created ")
    assert listed[2].startswith("would delete networkpolicy prod/probe-r1 (run r1, created ")
    assert "lookalike" not in result.stdout and "theirs" not in result.stdout
    assert "inside" not in result.stdout  # goes with its namespace
    assert "dry run: 3 objects, nothing deleted" in result.stdout
    assert _alive(c, "Namespace") == before
    assert _alive(c, "NetworkPolicy", "prod") == {"theirs", "probe-r1"}


@pytest.mark.sandbox
def test_run_filter_then_age_filter_then_everything(cluster: tuple[str, Any]) -> None:
    kubeconfig, c = cluster
    result = _cleanup(kubeconfig, "--run", "r2")
    assert result.returncode == 0, result.stderr
    assert "deleting namespace run2-web" in result.stdout
    assert "run1-web" not in result.stdout and "probe-r1" not in result.stdout
    assert "run2-web" not in _alive(c, "Namespace")
    assert {"run1-web", "prod", "lookalike"} <= _alive(c, "Namespace")

    aged = _cleanup(kubeconfig, "--older-than", "1d")
    assert aged.returncode == 0, aged.stderr
    assert "deleting namespace run1-web (run r1, created 2020-01-01T00:00:00Z)" in aged.stdout
    assert "probe-r1" not in aged.stdout  # created just now
    assert "run1-web" not in _alive(c, "Namespace")

    rest = _cleanup(kubeconfig)
    assert rest.returncode == 0, rest.stderr
    assert "deleting networkpolicy prod/probe-r1" in rest.stdout
    assert _alive(c, "NetworkPolicy", "prod") == {"theirs"}
    assert {"prod", "lookalike"} <= _alive(c, "Namespace")
    again = _cleanup(kubeconfig)
    assert "nothing to clean up" in again.stdout


@pytest.mark.sandbox
def test_bad_run_id_is_an_argument_error(cluster: tuple[str, Any]) -> None:
    kubeconfig, _ = cluster
    result = _cleanup(kubeconfig, "--run", "R1;rm")
    assert result.returncode == 2
    assert "--run 'R1;rm' is not a run id" in result.stderr
