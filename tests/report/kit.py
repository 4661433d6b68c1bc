"""Scenario results for the report tests: real scenario files, hand-made verdicts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.model import Outcome
from harness.model import Probe
from harness.model import ScenarioResult
from harness.model import Status
from harness.model import Verdict
from harness.plan import build
from harness.scenario.loader import load

THREE = """\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {name: shop}
namespaces: [{name: shop}]
workloads:
  - {name: web, namespace: shop, labels: {app: web}, ports: [80]}
  - {name: api, namespace: shop, labels: {app: api}, ports: [8080]}
  - {name: db, namespace: shop, labels: {app: db}, role: server, ports: [5432]}
expect:
  default: deny
  allow:
    - web -> api:8080
    - api -> db:5432
"""


def named(name: str, text: str = THREE) -> str:
    """``text`` with the scenario renamed."""
    return text.replace("metadata: {name: shop}", f"metadata: {{name: {name}}}")


#: 12 workloads, long names, 2 ports each: 12 rows and 24 columns.
NAMES = [
    "web",
    "api",
    "db",
    "cache",
    "payments-reconciliation-worker",
    "ledger",
    "search-indexer",
    "notifications",
    "auth",
    "billing-frontend-canary",
    "metrics",
    "queue",
]


def twelve() -> str:
    rows = "\n".join(
        f"  - {{name: {n}, namespace: big, labels: {{app: {n}}}, ports: [80, 8443]}}" for n in NAMES
    )
    return f"""\
apiVersion: netpol-harness.dev/v1alpha1
kind: Scenario
metadata: {{name: twelve}}
namespaces: [{{name: big}}]
workloads:
{rows}
expect:
  default: deny
  allow:
    - web -> api:80
    - api -> db:8443
"""


Decide = Callable[[int, Probe], tuple[Status, Outcome, bool]]


def agree(i: int, p: Probe) -> tuple[Status, Outcome, bool]:
    """Every cell as expected."""
    return Status.PASS, Outcome.CONNECTED if p.cell.expect == "allow" else Outcome.DROPPED, False


def result(
    tmp: Path,
    text: str = THREE,
    decide: Decide = agree,
    *,
    name: str = "shop.netpol.yaml",
    seconds: float = 3.21987,
) -> ScenarioResult:
    """A scenario file written to ``tmp``, planned, and a verdict per probe by ``decide``."""
    path = tmp / name
    path.write_text(text)
    scenario = load(path, shown=f"scenarios/{name}")
    plan = build(scenario, "r1", created="2026-01-02T03:04:05Z")
    verdicts = []
    for i, p in enumerate(plan.probes):
        status, observed, flipped = decide(i, p)
        verb = "ALLOWED" if observed is Outcome.CONNECTED else "DENIED"
        verdicts.append(
            Verdict(
                probe=p,
                status=status,
                observed=observed,
                tries=2,
                seconds=1.23456 + i,
                detail="curl exit 28 (timeout)" if status is Status.FAIL else "probe broke",
                explanation=(
                    ""
                    if status is Status.ERROR
                    else f"{verb}: {p.cell.key}\n  ingress allows: by shop/np-{i} rule 1"
                ),
                rerun=f"kubectl exec -n ns {p.cell.source} -c client -- curl http://10.0.0.9/",
                flipped=flipped,
            )
        )
    return ScenarioResult(plan, tuple(verdicts), seconds=seconds)


def mixed(i: int, p: Probe) -> tuple[Status, Outcome, bool]:
    """Cell 0 fails, cell 1 errors, cell 2 passes but flipped; the rest agree."""
    if i == 0:
        wrong = Outcome.DROPPED if p.cell.expect == "allow" else Outcome.CONNECTED
        return Status.FAIL, wrong, True
    if i == 1:
        return Status.ERROR, Outcome.ERROR, False
    status, observed, _ = agree(i, p)
    return status, observed, i == 2
