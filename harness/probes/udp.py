"""UDP probes: one datagram with nc -u to a UDP port that answers (the probe server).

A reply is CONNECTED, silence DROPPED, "refused" (ICMP port unreachable) REFUSED;
an image without a UDP-capable nc (busybox nc -u, or nc -u) exits
:data:`NO_UDP_TOOL`: ERROR, never a verdict.
"""

from __future__ import annotations

import shlex

from harness.model import Outcome
from harness.model import ProbeKind
from harness.probes.spec import ProbeCall
from harness.probes.spec import ProbeKindSpec
from harness.probes.spec import wait_seconds

#: Exit code the script uses when no UDP-capable tool exists in the image.
NO_UDP_TOOL = 120
#: Payload of the UDP probe datagram.
UDP_PAYLOAD = "netpol-harness-probe"

_FUNCTIONS = r"""U=none
if command -v busybox >/dev/null 2>&1&&busybox nc --help 2>&1|grep -q -e '-u';then U=busybox
elif command -v nc >/dev/null 2>&1&&nc -h 2>&1|grep -q -e '-u' -e 'Uu';then U=nc;fi
nph_udp(){ case $U in
busybox)printf 'PAYLOAD\n'|busybox nc -u -w "$1" "$2" "$3" 2>&1;;
nc)printf 'PAYLOAD\n'|nc -u -w "$1" "$2" "$3" 2>&1;;
*)echo "no UDP-capable nc (busybox nc -u) in the client image";return NOUDP;;esac;}
"""
_RUNNER = r"""nph_u(){ a=$(nph_now);o=$(nph_udp "$4" "$2" "$3");r=$?;nph_emit "$1";}
"""


def command(index: int, call: ProbeCall) -> str:
    """The line running UDP probe ``index`` in the background."""
    wait = wait_seconds(call.connect_timeout)
    return f"nph_u {index} {shlex.quote(call.address)} {call.probe.port} {wait} &"


def classify(code: int, extra: str) -> tuple[Outcome, str]:
    low = extra.lower()
    if code == NO_UDP_TOOL:
        return Outcome.ERROR, extra.strip()
    if "refused" in low:
        return Outcome.REFUSED, f"UDP: ICMP port unreachable ({extra.strip()})"
    if "invalid option" in low or "usage:" in low:
        return Outcome.ERROR, f"nc does not support UDP: {extra.strip()}"
    if code in (0, 1) and extra.strip():
        return Outcome.CONNECTED, f"UDP reply: {extra.strip()[:40]}"
    if code in (0, 1):
        return Outcome.DROPPED, "UDP: no reply"
    return Outcome.ERROR, f"nc exit {code}: {extra.strip()}"


def rerun(address: str, port: int, connect_timeout: float) -> str:
    wait = wait_seconds(connect_timeout)
    inner = f"printf '%s\\n' {UDP_PAYLOAD} | nc -u -w {wait} {shlex.quote(address)} {port}"
    return "sh -c " + shlex.quote(inner)


UDP = ProbeKindSpec(
    ProbeKind.UDP,
    "nc",
    classify,
    rerun,
    functions=_FUNCTIONS.replace("PAYLOAD", UDP_PAYLOAD).replace("NOUDP", str(NO_UDP_TOOL)),
    runner=_RUNNER,
    command=command,
)
