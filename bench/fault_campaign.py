"""Fault campaign: do faults of the cluster ever turn into wrong verdicts?

Run as root: `.venv/bin/python bench/fault_campaign.py [--quick] [--out FILE]`.

Each row brings up a fresh sandbox with some fault knobs (see `netpol-harness sandbox up
--help`), runs the scenarios through pytest exactly as CI does (JUnit + JSON), and compares
every cell with the ground truth: the verdicts of the fault-free row (all pass). A *wrong
verdict* is a cell that ends PASS or FAIL but disagrees with the ground truth; a fault the
harness cannot get past must end as ERROR naming its cause. Acceptance: 0 wrong verdicts in
every row and every ERROR names a cause. Writes the table to bench/results/fault-campaign.md.
Exit code 1 if any row breaks the acceptance.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.images import DEFAULT_IMAGES
from tests.reliability import kit

#: ingress (default-deny-ingress), DNS + services (dns), egress + externals (api-egress),
#: ipBlock on services and pods (internal-lb)
#: A deliberately wrong expectation (ground truth: one FAIL): no fault may make it PASS.
WRONG = str(Path(__file__).resolve().parent / "fault-scenarios" / "wrong-allow.netpol.yaml")
FULL = [
    "default-deny-ingress.netpol.yaml",
    "dns.netpol.yaml",
    "api-egress.netpol.yaml",
    "internal-lb.netpol.yaml",
    WRONG,
]
QUICK = [*FULL[:2], WRONG]
#: The ground truth the fault-free row itself must show: every cell passes but these.
KNOWN_FAILS = frozenset({"wrong-allow::web->db:5432/TCP[allow]"})
#: A server pod per scenario that allow cells target (the crash row kills their nginx).
CRASH_PODS = ("other-*/outside", "production-*/web", "database-*/mysql", "production-*/public-api")
#: Words an ERROR's detail must contain to count as "naming its cause".
CAUSES = re.compile(
    r"exec|status|handshake|HTTP \d{3}|not Ready|ErrImagePull|ImagePullBackOff|image|"
    r"CrashLoopBackOff|restarted|refused|data path|timed out|timeout|broke",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Row:
    name: str
    flags: tuple[str, ...]
    #: "verdicts": every cell must end with the ground truth (no errors allowed either);
    #: "errors-ok": cells may end ERROR (with a cause) but never with a wrong verdict;
    #: "all-error": every cell must be ERROR (the fault is beyond any retry budget);
    #: "preflight-stop": the preflight stops the run with one message naming the cause.
    expect: str = "verdicts"
    pytest_args: tuple[str, ...] = ()


def rows() -> list[Row]:
    crash = [f for p in CRASH_PODS for f in ("--crash-pod", p)]
    return [
        Row("no faults (ground truth)", ()),
        Row("10% exec upgrade failures", ("--exec-upgrade-failure", "0.1", "--seed", "11")),
        Row("5% lost exit statuses", ("--exec-lost-status", "0.05", "--seed", "12")),
        Row(
            "5% API 429 (Retry-After) + 5% API 500",
            ("--api-429", "0.05", "--api-500", "0.05", "--seed", "13"),
        ),
        Row("10 s pod start delay", ("--pod-start-delay", "10")),
        Row("3 s policy programming delay", ("--policy-delay", "3")),
        Row(
            "server image never pulls (preflight on, the default)",
            ("--never-pull", DEFAULT_IMAGES.server),
            "preflight-stop",
        ),
        Row(
            "server image never pulls (--netpol-no-preflight)",
            ("--never-pull", DEFAULT_IMAGES.server),
            "all-error",
            ("--netpol-no-preflight",),
        ),
        Row("server pod crashes 2 s after Ready", ("--crash-after", "2", *crash), "errors-ok"),
        Row("server pod crashes 2.5 s after Ready", ("--crash-after", "2.5", *crash), "errors-ok"),
        Row(
            "combined: exec 10% + lost 5% + API 5%/5% + pods 10 s + policies 3 s",
            (
                "--exec-upgrade-failure",
                "0.1",
                "--exec-lost-status",
                "0.05",
                "--api-429",
                "0.05",
                "--api-500",
                "0.05",
                "--pod-start-delay",
                "10",
                "--policy-delay",
                "3",
                "--seed",
                "14",
            ),
        ),
    ]


@dataclass
class Outcome:
    row: Row
    cells: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    wrong: int = 0
    uncaused: int = 0
    causes: str = ""
    junit: bool = False
    exit_code: int = 0
    seconds: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        if self.row.expect == "preflight-stop":
            return self.cells == 0 and self.uncaused == 0 and self.exit_code not in (0, 1, 3)
        good = self.wrong == 0 and self.uncaused == 0 and self.junit and self.cells > 0
        if self.row.expect == "verdicts":
            good = good and self.errors == 0
        if self.row.expect == "all-error":
            good = good and self.errors == self.cells
        return good


def _cause(detail: str) -> str:
    for pattern, name in (
        (r"ErrImagePull|ImagePullBackOff|does not exist", "image pull"),
        (r"CrashLoopBackOff|restarted|broke while probing", "pod crashed"),
        (r"data path", "data path (setup)"),
        (r"lost exit status", "lost exit status"),
        (r"handshake failed", "exec upgrade"),
        (r"HTTP (429|500)", "API error"),
    ):
        if re.search(pattern, detail):
            return name
    return detail[:60]


def run_row(
    row: Row, scenarios: list[str], root: Path, truth: dict[str, str]
) -> tuple[Outcome, dict[str, str]]:
    """Run one row; (its outcome, cell id -> final status)."""
    out = Outcome(row)
    state = root / f"sbx{abs(hash(row.name)) % 10**6}"
    start = time.monotonic()
    with kit.sandbox(state, *row.flags) as kubeconfig:
        run = kit.run_pytest(kubeconfig, scenarios, state / "out", *row.pytest_args, timeout=1800)
        left = kit.leftovers(kubeconfig)
    out.seconds = time.monotonic() - start
    out.exit_code = run.returncode
    out.junit = run.junit.is_file() and "<testsuite" in run.junit.read_text()
    if not run.report.is_file():
        said = run.stdout + run.stderr
        if row.expect == "preflight-stop" and CAUSES.search(said):
            out.causes = f"preflight: {_cause(said)}"
            out.note = f"stopped by the preflight (exit {run.returncode}): " + " ".join(
                said.split()
            )[:160].replace("|", "/")
            return out, {}
        out.uncaused += 1
        out.note = f"no JSON report (exit {run.returncode}): {said[-300:]}"
        return out, {}
    results = kit.cells(run.report)
    causes: dict[str, int] = {}
    for cell_id, result in results.items():
        out.cells += 1
        if result.status == "pass":
            out.passed += 1
        elif result.status == "fail":
            out.failed += 1
        else:
            out.errors += 1
            if not CAUSES.search(result.detail):
                out.uncaused += 1
            name = _cause(result.detail)
            causes[name] = causes.get(name, 0) + 1
        want = truth.get(cell_id, "fail" if cell_id in KNOWN_FAILS else "pass")
        if result.status in ("pass", "fail") and result.status != want:
            out.wrong += 1
            print(f"  WRONG {cell_id}: {result.status} ({result.detail})", file=sys.stderr)
    out.causes = ", ".join(f"{n} x{k}" for n, k in sorted(causes.items())) or "-"
    if left:
        out.note = f"left behind: {', '.join(left[:5])}"
        out.uncaused += len(left)  # a leak breaks the acceptance too
    return out, {cell_id: r.status for cell_id, r in results.items()}


def table(outcomes: list[Outcome], scenarios: list[str], total: float) -> str:
    lines = [
        "# Fault campaign",
        "",
        "Scenarios: "
        + ", ".join(Path(s).name.removesuffix(".netpol.yaml") for s in scenarios)
        + " (wrong-allow holds one deliberately wrong allow: its ground truth is FAIL); "
        f"ground truth: the fault-free row. Total {total:.0f} s.",
        "Command: `.venv/bin/python bench/fault_campaign.py"
        + (" --quick`" if len(scenarios) < len(FULL) else "`"),
        "",
        "| fault | cells | pass | fail | error | wrong verdicts | errors without cause "
        "| error causes | JUnit | time | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.row.name} | {o.cells} | {o.passed} | {o.failed} | {o.errors} | {o.wrong} "
            f"| {o.uncaused} | {o.causes} | {'yes' if o.junit else 'NO'} | {o.seconds:.0f} s "
            f"| {'yes' if o.ok else 'NO'} |"
        )
    notes = [f"- {o.row.name}: {o.note}" for o in outcomes if o.note]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two scenarios instead of four")
    parser.add_argument(
        "--out", type=Path, default=kit.REPO / "bench" / "results" / "fault-campaign.md"
    )
    parser.add_argument("--only", default="", help="run only rows whose name contains this")
    args = parser.parse_args()
    if not kit.can_run_sandbox():
        print("the sandbox needs root, iproute2 and nftables", file=sys.stderr)
        return 2
    scenarios = QUICK if args.quick else FULL
    outcomes: list[Outcome] = []
    truth: dict[str, str] = {}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="netpol-faults-") as tmp:
        for row in rows():
            if args.only and args.only not in row.name and outcomes:
                continue
            print(f"== {row.name} {' '.join(row.flags)}", file=sys.stderr, flush=True)
            outcome, statuses = run_row(row, scenarios, Path(tmp), truth)
            if not outcomes:
                truth = statuses  # the fault-free row is the ground truth
            outcomes.append(outcome)
            print(
                f"   {outcome.cells} cells, {outcome.passed} pass, {outcome.failed} fail, "
                f"{outcome.errors} error ({outcome.causes}), {outcome.wrong} wrong, "
                f"{outcome.seconds:.0f} s {'' if outcome.ok else 'NOT OK'} {outcome.note}",
                file=sys.stderr,
                flush=True,
            )
    text = table(outcomes, scenarios, time.monotonic() - start)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
