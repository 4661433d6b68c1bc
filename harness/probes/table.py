"""THE table of probe kinds: ``ProbeKind -> ProbeKindSpec``.

Which kind a cell gets is decided once, by :func:`harness.model.kind_for`; how a
kind is run, read and judged is its row here. Adding a probe kind is one module
(like :mod:`harness.probes.udp`) and one row.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.model import ProbeKind
from harness.probes import dns
from harness.probes import http
from harness.probes import udp
from harness.probes.spec import ProbeKindSpec

#: Every probe kind, in script order (the background-job kinds define their shell
#: functions in this order).
KINDS: Mapping[ProbeKind, ProbeKindSpec] = {
    ProbeKind.HTTP: http.HTTP,
    ProbeKind.TCP: http.TCP,
    ProbeKind.UDP: udp.UDP,
    ProbeKind.DNS: dns.DNS,
}


def spec_for(kind: ProbeKind) -> ProbeKindSpec:
    """The spec of ``kind``; ValueError for a kind without a row."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown probe kind {kind!r}") from None
