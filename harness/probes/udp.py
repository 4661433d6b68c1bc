"""UDP probes: one datagram with the image's netcat (``nc -vv -u``) to a port that answers.

UDP has no handshake, so what the tool *says* is the verdict. The pinned client image's
``nc`` is busybox's netcat 1.10 clone (``CONFIG_NC_110_COMPAT``). Without ``-v`` it
prints nothing and exits 0 both when nothing answers and when the target's kernel
answers ICMP port unreachable: a closed port would read as DROPPED and a deny cell
would pass when nothing listens. With ``-vv`` it tells the three cases apart (recorded
on busybox 1.35 built as the image's, in ``tests/probes/test_udp_outputs.py``)::

    listening:  <reply>  net timeout  sent 21, rcvd 3           (exit 0)
    closed:     nc: net read: Connection refused  sent 21, rcvd 0   (exit 0)
    dropped:    net timeout  sent 21, rcvd 0                     (exit 0)
    REJECT (ICMP admin-prohibited): nc: net read: No route to host  sent 21, rcvd 0

After its stdin ends, this nc waits ``-w`` seconds twice before it gives up ("net
timeout"): a datagram nobody answers costs 2 x ``-w``, and so does one that was
answered. The script therefore runs it under busybox's ``timeout`` for ``-w`` seconds
(when the image's busybox has the applet): the reply window stays the connect timeout,
the probe ends after it, and nc, stopped by SIGTERM, still prints its summary (then
``punt!``; the script reads that exit as a normal end)::

    listening, stopped:  <reply>  sent 21, rcvd 3  punt!   (timeout exit 143)
    dropped, stopped:    sent 21, rcvd 0  punt!

The script puts the ``sent N, rcvd M`` summary first (so cutting the output to
:data:`~harness.probes.spec.MAX_EXTRA` characters never loses it), then the whole
output. ``rcvd`` > 0 is CONNECTED; "Connection refused" REFUSED (ICMP port
unreachable: the datagram reached the pod and nothing listens); an ICMP unreachable
of another kind REFUSED (a REJECT rule or no route); silence DROPPED. An image
without a UDP-capable nc exits :data:`NO_UDP_TOOL`: ERROR, never a verdict. A netcat
without the summary (not busybox) is read by its output alone.
"""

from __future__ import annotations

import re
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
#: Separates the summary line from the tool's whole output in a result line.
SEPARATOR = " | "

_FUNCTIONS = r"""U=none;T=
if command -v busybox >/dev/null 2>&1&&busybox nc --help 2>&1|grep -q -e '-u';then U=busybox
busybox --list 2>/dev/null|grep -qx timeout&&T=y
elif command -v nc >/dev/null 2>&1&&nc -h 2>&1|grep -q -e '-u' -e 'Uu';then U=nc;fi
nph_udp(){ case $U$T in
busyboxy)o=$(exec 2>/dev/null;printf 'PAYLOAD\n'|busybox timeout "$1" \
busybox nc -vv -u -w "$1" "$2" "$3" 2>&1)
r=$?;case $r:$o in 143:*punt!*)r=0;;esac;;
busybox)o=$(printf 'PAYLOAD\n'|busybox nc -vv -u -w "$1" "$2" "$3" 2>&1);r=$?;;
nc)o=$(printf 'PAYLOAD\n'|nc -vv -u -w "$1" "$2" "$3" 2>&1);r=$?;;
*)echo "no UDP-capable nc (busybox nc -u) in the client image";return NOUDP;;esac
t=$(printf '%s\n' "$o"|grep -e 'rcvd [0-9]');printf '%sSEP%s' "$t" "$o";return "$r";}
"""
_RUNNER = r"""nph_u(){ a=$(nph_now);o=$(nph_udp "$4" "$2" "$3");r=$?;nph_emit "$1";}
"""

_SUMMARY = re.compile(r"\bsent (\d+), rcvd (\d+)")
_UNREACHABLE = (
    "no route to host",
    "host is unreachable",
    "network is unreachable",
    "prohibited",
)
_BAD_NAME = ("bad address", "can't resolve", "name or service not known", "unknown host")


def command(index: int, call: ProbeCall) -> str:
    """The line running UDP probe ``index`` in the background."""
    wait = wait_seconds(call.connect_timeout)
    return f"nph_u {index} {shlex.quote(call.address)} {call.probe.port} {wait} &"


def _reply(output: str) -> str:
    """The tool's output without its own messages: what the server sent back."""
    text = _SUMMARY.sub(" ", output)
    text = re.sub(r"\S+ \(\S+:\d+\) open", " ", text)
    for noise in ("net timeout", "nc: net read:", "Connection refused", "punt!", "Terminated"):
        text = text.replace(noise, " ")
    return " ".join(text.split())


def classify(code: int, extra: str) -> tuple[Outcome, str]:
    """``nc -vv -u`` exit code and output (summary first) -> outcome and detail."""
    text = extra.strip()
    low = text.lower()
    summary, _, output = text.partition(SEPARATOR.strip())
    output = output.strip() or summary.strip()
    if code == NO_UDP_TOOL:
        return Outcome.ERROR, text
    if "invalid option" in low or "unrecognized option" in low or "usage:" in low:
        return Outcome.ERROR, f"nc does not support UDP: {text}"
    if any(n in low for n in _BAD_NAME):
        return Outcome.DNS_FAILURE, f"nc could not resolve the host: {output}"
    m = _SUMMARY.search(text)
    if m is not None:
        received = int(m.group(2))
        if received > 0:
            reply = _reply(output)[:40]
            return Outcome.CONNECTED, f"UDP reply ({received} bytes): {reply}"
        if "connection refused" in low:
            return Outcome.REFUSED, (
                "UDP: ICMP port unreachable (the datagram reached the pod; nothing listens "
                f"on the port) ({output})"
            )
        if any(n in low for n in _UNREACHABLE):
            return Outcome.REFUSED, (
                f"UDP: ICMP unreachable: a REJECT rule or a missing route ({output})"
            )
        if code in (0, 1):
            return Outcome.DROPPED, f"UDP: no reply ({output})"
        return Outcome.ERROR, f"nc exit {code}: {output}"
    # a netcat without busybox's summary line: its output alone
    if "refused" in low:
        return Outcome.REFUSED, f"UDP: ICMP port unreachable ({output})"
    if any(n in low for n in _UNREACHABLE):
        return (
            Outcome.REFUSED,
            f"UDP: ICMP unreachable: a REJECT rule or a missing route ({output})",
        )
    if code in (0, 1) and output:
        return Outcome.CONNECTED, f"UDP reply: {output[:40]}"
    if code in (0, 1):
        return Outcome.DROPPED, "UDP: no reply"
    return Outcome.ERROR, f"nc exit {code}: {output}"


def rerun(address: str, port: int, connect_timeout: float) -> str:
    wait = wait_seconds(connect_timeout)
    inner = f"printf '%s\\n' {UDP_PAYLOAD} | nc -vv -u -w {wait} {shlex.quote(address)} {port}"
    return "sh -c " + shlex.quote(inner)


UDP = ProbeKindSpec(
    ProbeKind.UDP,
    "nc",
    classify,
    rerun,
    functions=_FUNCTIONS.replace("PAYLOAD", UDP_PAYLOAD)
    .replace("NOUDP", str(NO_UDP_TOOL))
    .replace("SEP", SEPARATOR),
    runner=_RUNNER,
    command=command,
)
