"""The one POSIX sh script per source pod that runs its probes, and reading its output.

Pure: no I/O. The runner builds a script with :func:`build_script`, runs it in
the source pod's ``client`` container with one exec call, and hands the output
to :func:`parse_output`, which returns exactly one :class:`Observation` per
probe (ERROR for any probe whose result line is missing or malformed).

Every probe prints exactly one line. Background-job probes (UDP, DNS: one job
each, :mod:`~harness.probes.udp`, :mod:`~harness.probes.dns`)::

    NPH <index> <exit code> <seconds> <extra>

curl probes (HTTP/TCP, :mod:`~harness.probes.http`: all of a script's run by ONE
``curl --parallel`` process per connect timeout, "group"; ``urlnum`` is the URL's
position in the group)::

    NPC <group> <urlnum> <exit code> <seconds> <extra>

``extra`` is the tool's own summary (curl: ``http_code time_connect errormsg``;
nc/nslookup: the first bytes of their output), flattened to one line. Exit 127
(the tool is missing), garbage or a signal is ERROR, never a verdict; every other
code is read by the probe kind's ``classify`` (:mod:`harness.probes.table`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from harness.model import Observation
from harness.model import Outcome
from harness.probes import http
from harness.probes.spec import LINE_PREFIX
from harness.probes.spec import MAX_EXTRA
from harness.probes.spec import ProbeCall
from harness.probes.table import KINDS
from harness.probes.table import spec_for

#: How many probes one script runs at the same time (per source pod). Deny probes
#: only wait on timers, and all HTTP probes share one curl process, so this is high:
#: a source pod's whole batch usually runs in one wave of one connect timeout.
DEFAULT_SCRIPT_CONCURRENCY = 128

# The helpers of every background-job probe: the time, and its one result line.
_JOB_FNS = r"""nph_now(){ t=$(date +%s.%N 2>/dev/null)
case $t in *N*|'')t=$(date +%s);;esac;echo "$t";}
nph_emit(){ b=$(nph_now);s=$(awk -v a="$a" -v b="$b" 'BEGIN{d=b-a;if(d<0)d=0;printf "%.3f",d}')
x=$(printf '%s' "$o"|tr '\r\n\t' '   '|cut -c1-MAXEXTRA)
printf 'PREFIX %s %s %s %s\n' "$1" "$r" "$s" "$x";}
"""


def _job_prelude() -> str:
    """Every background-job kind's shell functions (then their runners), in table order."""
    jobs = [spec for spec in KINDS.values() if not spec.curl_batch]
    common = _JOB_FNS.replace("PREFIX", LINE_PREFIX).replace("MAXEXTRA", str(MAX_EXTRA))
    text = common + "".join(s.functions for s in jobs) + "".join(s.runner for s in jobs)
    return text.rstrip("\n")


_JOB_PRELUDE = _job_prelude()


def _is_curl(call: ProbeCall) -> bool:
    return spec_for(call.probe.kind).curl_batch


def _command(index: int, call: ProbeCall) -> str:
    """The one line running background-job probe ``index``."""
    command = spec_for(call.probe.kind).command
    if command is None:
        raise ValueError(f"unknown probe kind {call.probe.kind!r}")
    return command(index, call)


def curl_groups(calls: Sequence[ProbeCall]) -> list[list[int]]:
    """Indices of the curl (HTTP/TCP) calls, one group per connect timeout, in index order.

    Each group is ONE ``curl --parallel`` process in the script; curl names a transfer
    by its position in the group (``%{urlnum}``), :func:`parse_output` maps it back.
    """
    groups: dict[float, list[int]] = {}
    for index, call in enumerate(calls):
        if _is_curl(call):
            groups.setdefault(call.connect_timeout, []).append(index)
    return list(groups.values())


def build_script(calls: Sequence[ProbeCall], concurrency: int = DEFAULT_SCRIPT_CONCURRENCY) -> str:
    """One POSIX sh script running ``calls`` concurrently, ``concurrency`` at a time.

    HTTP/TCP probes: one ``curl --parallel`` process per connect timeout runs all of
    them at once (at most ``concurrency`` connections open at a time), printing
    ``NPC <group> <urlnum> <exit code> <seconds> <extra>`` per transfer; curl never
    retries; the options are those of :func:`~harness.probes.http.curl_argv` (the
    rerun command). UDP and DNS probes print ``NPH <index> ...`` from background jobs
    run in waves of ``concurrency`` (POSIX sh has no ``wait -n``) alongside. Every
    line is written with a single ``printf`` (one short write, atomic on the exec pipe).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    lines: list[str] = []
    groups = curl_groups(calls)
    others = [i for i, call in enumerate(calls) if not _is_curl(call)]
    if groups:
        lines.append(http.CURL_FUNCTION)
    if others:
        lines.append(_JOB_PRELUDE)
    parallel = min(concurrency, http.CURL_PARALLEL_MAX)
    for number, group in enumerate(groups):
        timeout = calls[group[0]].connect_timeout
        urls = [http.url(calls[i].address, calls[i].probe.port) for i in group]
        lines.append(http.group_line(number, parallel, timeout, urls))
    if others:
        lines.append("(")
        for start in range(0, len(others), concurrency):
            for index in others[start : start + concurrency]:
                lines.append(_command(index, calls[index]))
            lines.append("wait")
        lines.append(") &")
    lines.append("wait")
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def script_size(calls: Sequence[ProbeCall]) -> int:
    """Characters one script takes in the exec URL (percent-encoded), for batching."""
    return len(quote(build_script(calls), safe=""))


def script_timeout(
    calls: Sequence[ProbeCall], concurrency: int = DEFAULT_SCRIPT_CONCURRENCY
) -> float:
    """An upper bound of how long a script may run (for the exec's hard timeout)."""
    if not calls:
        return 5.0
    waves = math.ceil(len(calls) / min(concurrency, http.CURL_PARALLEL_MAX))
    worst = max(c.connect_timeout for c in calls) + http.RESPONSE_ALLOWANCE + 2.0
    return waves * worst + 10.0


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class _Line:
    code: int
    seconds: float
    extra: str


_LINE = re.compile(r"^NPH (\d+) (-?\d+) ([0-9]+(?:\.[0-9]+)?)(?: (.*))?$")
_CURL_LINE = re.compile(r"^NPC (\d+) (\d+) (-?\d+) ([0-9]+(?:\.[0-9]+)?)(?: (.*))?$")
_CURL_MISSING = re.compile(r"^NPC (\d+) missing$")


def classify(call: ProbeCall, code: int, extra: str) -> tuple[Outcome, str]:
    """Map one probe's exit code and output to an Outcome and a detail."""
    if code == 127:
        return Outcome.ERROR, f"exit 127: the probe tool is missing in the client image ({extra})"
    return spec_for(call.probe.kind).classify(code, extra)


def parse_output(calls: Sequence[ProbeCall], stdout: str, stderr: str = "") -> list[Observation]:
    """Exactly one Observation per call, in order.

    A probe without exactly one well-formed result line gets ERROR (an
    infrastructure failure: the exec broke or the script was cut off).
    ``NPC <group> <urlnum>`` lines (the curl batch) are mapped back to the probe
    index through :func:`curl_groups`. Other lines are ignored (the last one is
    quoted as a hint when a result is missing and stderr is empty).
    """
    groups = curl_groups(calls)
    found: dict[int, list[_Line]] = {}
    noise: list[str] = []
    for raw in stdout.splitlines():
        text = raw.rstrip("\r")
        m = _LINE.match(text)
        if m:
            index = int(m.group(1))
            if index < len(calls):
                found.setdefault(index, []).append(
                    _Line(int(m.group(2)), float(m.group(3)), (m.group(4) or "").strip())
                )
            continue
        m = _CURL_LINE.match(text)
        if m:
            group, number = int(m.group(1)), int(m.group(2))
            if group < len(groups) and number < len(groups[group]):
                found.setdefault(groups[group][number], []).append(
                    _Line(int(m.group(3)), float(m.group(4)), (m.group(5) or "").strip())
                )
            continue
        m = _CURL_MISSING.match(text)
        if m and int(m.group(1)) < len(groups):
            for index in groups[int(m.group(1))]:
                found.setdefault(index, []).append(_Line(127, 0.0, "curl: not found"))
            continue
        if text.strip():
            noise.append(text.strip())
    hint = stderr.strip().splitlines()[-1][:200] if stderr.strip() else ""
    if not hint and noise:
        hint = noise[-1][:200]
    observations: list[Observation] = []
    for index, call in enumerate(calls):
        lines = found.get(index, [])
        if len(lines) != 1:
            what = "no result line" if not lines else f"{len(lines)} result lines"
            detail = f"{what} for probe {index} in the exec output"
            if hint:
                detail += f" (output: {hint})" if hint in noise[-1:] else f" (stderr: {hint})"
            observations.append(Observation(call.probe.id, Outcome.ERROR, detail))
            continue
        line = lines[0]
        outcome, detail = classify(call, line.code, line.extra)
        observations.append(Observation(call.probe.id, outcome, detail, line.seconds))
    return observations
