"""How fast hostile and broken inputs are answered, as ratios against a valid load.

    .venv/bin/python bench/bench_inputs.py [--rounds 3]

Every case of the input corpus (tests/inputs/corpus.py: broken and hostile scenarios,
manifests, predict files, kubeconfigs, option values) is answered ``--rounds`` times;
the baseline, measured in the same process between the cases, is loading the guide's
three-tier scenario (a valid scenario with its manifests). Printed: the baseline, the
slowest cases and their ratio to it. A hostile input (an alias bomb, a 200,000-cell
wildcard, a deep nesting) must be refused in a time of the same order as a valid load,
never in time that grows with what it asks for.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.scenario.loader import load  # noqa: E402
from tests.inputs.corpus import CASES  # noqa: E402
from tests.inputs.corpus import answer  # noqa: E402

BASELINE = ROOT / "scenarios" / "three-tier.netpol.yaml"


def _seconds(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    baseline: list[float] = []
    times: dict[str, list[float]] = {}
    for case in CASES:  # warm-up, not timed: the first answers pay for lazy imports
        with tempfile.TemporaryDirectory() as tmp:
            answer(case, Path(tmp))
    for _ in range(args.rounds):
        for case in CASES:
            baseline.append(_seconds(lambda: load(BASELINE)))
            with tempfile.TemporaryDirectory() as tmp:
                took = _seconds(lambda c=case, t=tmp: answer(c, Path(t)))
            times.setdefault(f"{case.kind}:{case.id}", []).append(took)
    base = statistics.median(baseline)
    ranked = sorted(times.items(), key=lambda kv: -statistics.median(kv[1]))
    print(f"baseline (load {BASELINE.name}): median {base * 1000:.1f} ms over {len(baseline)}")
    print(f"{len(times)} cases x {args.rounds} rounds; slowest (median):")
    print(f"{'case':<48} {'ms':>8} {'x baseline':>11}")
    for name, values in ranked[: args.top]:
        median = statistics.median(values)
        print(f"{name:<48} {median * 1000:>8.1f} {median / base:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
