"""What every probe kind module provides (:class:`ProbeKindSpec`), and a runnable probe.

A probe kind module (:mod:`~harness.probes.http`, :mod:`~harness.probes.udp`,
:mod:`~harness.probes.dns`) describes one way to probe: the tool it needs in the
client image, how the batched script runs it, how its exit code and output map
to an :class:`~harness.model.Outcome`, which outcomes mean "reached", and the
command a person runs to reproduce it. :mod:`harness.probes.table` maps each
:class:`~harness.model.ProbeKind` to its spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from harness.model import Outcome
from harness.model import Probe
from harness.model import ProbeKind

#: Prefix of the result line of a background-job probe (UDP/DNS), by probe index.
LINE_PREFIX = "NPH"
#: How many characters of a tool's output a result line carries.
MAX_EXTRA = 300


@dataclass(frozen=True)
class ProbeCall:
    """One probe made runnable: the probe and the concrete address to reach.

    ``address`` is the target pod's IP for pod targets, else ``probe.host``.
    """

    probe: Probe
    address: str
    connect_timeout: float = 1.0


@dataclass(frozen=True)
class ProbeKindSpec:
    """One probe kind: its tool, its part of the script, its classifier and verdict rule.

    A ``curl_batch`` kind runs in the script's shared ``curl --parallel`` process
    (one per connect timeout, :mod:`harness.probes.http`); any other kind is one
    background job per probe: ``functions`` and ``runner`` are the shell functions
    the script defines for it, ``command`` the job's line.
    """

    kind: ProbeKind
    tool: str  # the program the client image needs
    classify: Callable[[int, str], tuple[Outcome, str]]  # (exit code, output) -> outcome
    rerun: Callable[[str, int, float], str]  # (address, port, timeout) -> command to run
    #: Outcomes meaning the target was reached (allow expects one, deny none).
    reached: frozenset[Outcome] = frozenset({Outcome.CONNECTED})
    curl_batch: bool = False
    functions: str = ""  # shell helper functions (a background-job kind)
    runner: str = ""  # the shell function a job line calls (a background-job kind)
    command: Callable[[int, ProbeCall], str] | None = None  # (index, call) -> job line


def fmt_seconds(value: float) -> str:
    """Seconds for a command line: at most 3 decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def wait_seconds(timeout: float) -> int:
    """Whole seconds (at least 1) for tools that take no fractions (nc -w, nslookup)."""
    return max(1, math.ceil(timeout))
