"""Probes: per-kind scripts, output parsing and verdict rules behind one table.

Which :class:`~harness.model.ProbeKind` a cell gets is decided once, by
:func:`harness.model.kind_for` (the scenario and plan stages use it too). Each
kind is one module: :mod:`~harness.probes.http` (curl: HTTP to a probe server,
or a bare TCP connect), :mod:`~harness.probes.udp` (nc -u) and
:mod:`~harness.probes.dns` (nslookup), each providing a
:class:`~harness.probes.spec.ProbeKindSpec` (the tool, its script part, its
classifier, which outcomes mean "reached", its rerun command); the table
:data:`~harness.probes.table.KINDS` maps a kind to its spec.
:mod:`~harness.probes.script` builds the one batched shell script per source pod
and reads its output lines; :mod:`~harness.probes.verdict` judges an observation
and writes the command that reruns a probe by hand.
"""

from __future__ import annotations

from harness.probes.dns import nslookup_argv
from harness.probes.http import CURL_PARALLEL_MAX
from harness.probes.http import CURL_PREFIX
from harness.probes.http import RESPONSE_ALLOWANCE
from harness.probes.http import curl_argv
from harness.probes.script import DEFAULT_SCRIPT_CONCURRENCY
from harness.probes.script import build_script
from harness.probes.script import classify
from harness.probes.script import curl_groups
from harness.probes.script import parse_output
from harness.probes.script import script_size
from harness.probes.script import script_timeout
from harness.probes.spec import LINE_PREFIX
from harness.probes.spec import ProbeCall
from harness.probes.spec import ProbeKindSpec
from harness.probes.table import KINDS
from harness.probes.table import spec_for
from harness.probes.udp import NO_UDP_TOOL
from harness.probes.udp import UDP_PAYLOAD
from harness.probes.verdict import address_of
from harness.probes.verdict import judge
from harness.probes.verdict import judge_detail
from harness.probes.verdict import rerun_command

__all__ = [
    "CURL_PARALLEL_MAX",
    "CURL_PREFIX",
    "DEFAULT_SCRIPT_CONCURRENCY",
    "KINDS",
    "LINE_PREFIX",
    "NO_UDP_TOOL",
    "RESPONSE_ALLOWANCE",
    "UDP_PAYLOAD",
    "ProbeCall",
    "ProbeKindSpec",
    "address_of",
    "build_script",
    "classify",
    "curl_argv",
    "curl_groups",
    "judge",
    "judge_detail",
    "nslookup_argv",
    "parse_output",
    "rerun_command",
    "script_size",
    "script_timeout",
    "spec_for",
]
