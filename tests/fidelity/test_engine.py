"""Fidelity, engine layer: the policy engine against upstream's e2e truth tables.

For every transcribed upstream test (``upstream.py``), every step and every probe,
every pod pair of the 3 x 3 model except loopback (72 cells per probe) must get
the engine's decision that upstream expects. Both engine paths are checked:
``ClusterModel.decide`` (one cell, from the policy text) and
``ClusterModel.matrix`` (the bitset index). Parametrized by the upstream test
name, so a failure names the upstream test and lists the cells that disagree.
"""

from __future__ import annotations

import pytest

from harness.policy.engine import ClusterModel
from tests.fidelity import upstream as up

STEPS = list(up.steps())


def _mismatches(model: ClusterModel, step: up.Step, *, via_matrix: bool) -> list[str]:
    bad = []
    for pr in step.probes:
        matrix = model.matrix(pr.port, pr.protocol) if via_matrix else None
        for (src, dst), expected in sorted(pr.table().items()):
            if matrix is not None:
                got = matrix[src][dst]
            else:
                got = model.decide(src, dst, pr.port, pr.protocol).allowed
            if got != expected:
                want = "allow" if expected else "deny"
                bad.append(f"{src} -> {dst}:{pr.port}/{pr.protocol}: upstream {want}, engine {got}")
    return bad


@pytest.mark.parametrize(
    ("test", "step"), [(t, s) for _, t, _, s in STEPS], ids=[i for i, *_ in STEPS]
)
def test_engine_decide_matches_upstream(test: up.UpstreamTest, step: up.Step) -> None:
    model = ClusterModel.from_objects(up.objects(step))
    bad = _mismatches(model, step, via_matrix=False)
    assert not bad, f"{up.test_id(test)} ({step.what or 'single step'}):\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("test", "step"), [(t, s) for _, t, _, s in STEPS], ids=[i for i, *_ in STEPS]
)
def test_engine_matrix_matches_upstream(test: up.UpstreamTest, step: up.Step) -> None:
    model = ClusterModel.from_objects(up.objects(step))
    bad = _mismatches(model, step, via_matrix=True)
    assert not bad, f"{up.test_id(test)} ({step.what or 'single step'}):\n" + "\n".join(bad)


# ------------------------------------------------------------------ the transcription itself


def test_transcription_size() -> None:
    """48 upstream tests (42 TCP, 3 UDP, 3 SCTP), 58 steps, 65 probes of 72 cells."""
    assert len(up.TCP_TESTS) == 42
    assert len(up.UDP_TESTS) == len(up.SCTP_TESTS) == 3
    assert len({up.test_id(t) for t in up.ALL_TESTS}) == len(up.ALL_TESTS)
    assert len(STEPS) == 58
    probes = [p for _, _, _, s in STEPS for p in s.probes]
    assert len(probes) == 65
    assert sum(t.cells() for t in up.ALL_TESTS) == 65 * 72


def test_model_matches_upstream() -> None:
    """3 namespaces x 3 pods, ports 80/81, port names serve-<port>-<proto>, distinct IPs."""
    assert up.PODS == ("x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c")
    assert len({up.pod_ip(p) for p in up.PODS}) == 9
    assert up.large_cidr("x/b") == "0.0.0.0/4"
    assert up.port_name(81, "TCP") == "serve-81-tcp"
    step = up.Step((), ())
    model = ClusterModel.from_objects(up.objects(step))
    assert model.namespace_labels("y") == {"ns": "y", up.NAME_LABEL: "y"}
    assert model.pod("z/c").labels == {"pod": "c"}


def test_truth_table_changes_apply_in_order() -> None:
    """Later changes win, as upstream's Expect* calls overwrite earlier ones."""
    table = up.truth_table((up.deny("*", "x/a"), up.allow("x/b", "x/a")))
    assert table[("x/b", "x/a")] is True
    assert table[("y/a", "x/a")] is False
    assert table[("x/a", "y/a")] is True
    assert ("x/a", "x/a") not in table  # loopback is never checked
    assert len(table) == 72
