"""One cell's observations while a run converges, and whether its answer flipped.

The runner (:mod:`harness.live.runner`) keeps a :class:`CellState` per probe: every
observation in order, the tries, the infrastructure errors, the confirmation state;
its verdict is read from it at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from harness.model import Observation
from harness.model import Outcome
from harness.model import Probe
from harness.model import Status
from harness.probes import judge


@dataclass
class CellState:
    probe: Probe
    history: list[Observation] = field(default_factory=list)
    tries: int = 0
    infra: int = 0
    at: float = 0.0  # seconds since the policies were applied, at the last observation
    confirm_note: str = ""
    confirming: bool = False  # the next observation is the confirmation
    confirmed: bool = False
    confirm_infra: int = 0  # broken confirmation attempts
    agreed_from: float | None = None  # start (s after the apply) of the round it first passed

    @property
    def last(self) -> Observation:
        return self.history[-1]

    def network_outcomes(self) -> list[Outcome]:
        return [o.outcome for o in self.history if o.outcome is not Outcome.ERROR]

    @property
    def flipped(self) -> bool:
        """Whether an observation disagreed with the expectation after one that agreed."""
        agreed = False
        for obs in self.history:
            status = judge(self.probe, obs.outcome)
            if status is Status.PASS:
                agreed = True
            elif status is Status.FAIL and agreed:
                return True
        return False
