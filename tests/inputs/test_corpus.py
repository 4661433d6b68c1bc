"""Every case of the corpus gets the promised answer (tests/inputs/corpus.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inputs.corpus import CASES
from tests.inputs.corpus import Case
from tests.inputs.corpus import run


def test_corpus_is_big_and_covers_every_input() -> None:
    assert len(CASES) >= 150
    assert {c.kind for c in CASES} == {"scenario", "manifest", "predict", "kubeconfig", "option"}
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}:{c.id}" for c in CASES])
def test_case_gets_the_promised_answer(case: Case, tmp_path: Path) -> None:
    broken = run(case, tmp_path)
    assert not broken, "; ".join(broken)
