"""Share of the corpus that gets the promised answer: python -m tests.inputs.measure [-v]."""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.inputs.corpus import CASES
from tests.inputs.corpus import run


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    kept = 0
    by_kind: Counter[str] = Counter()
    total_kind: Counter[str] = Counter()
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            broken = run(case, Path(tmp))
        total_kind[case.kind] += 1
        if not broken:
            kept += 1
            by_kind[case.kind] += 1
        elif verbose:
            print(f"BROKEN {case.kind}:{case.id}: {'; '.join(broken)}")
    for kind in sorted(total_kind):
        print(f"{kind:<11} {by_kind[kind]:>4} of {total_kind[kind]:>4}")
    print(f"promised answer: {kept} of {len(CASES)} ({100 * kept / len(CASES):.1f}%)")
    return 0 if kept == len(CASES) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
